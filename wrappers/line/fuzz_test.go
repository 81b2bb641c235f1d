package line

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

func FuzzLineDecode(f *testing.F) {
	for _, st := range smtpSession {
		f.Add([]byte(st.In))
	}
	f.Add([]byte("220 hi\r\n354 go\r\n250-a\r\n250 b\r\n"))
	f.Add([]byte("DATA\r\nx\r\n..y\r\n.\r\nQUIT\r\n"))
	f.Add([]byte("BDAT 3 LAST\r\nabcNOOP\r\n"))
	opts := wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxDepth: 8, MaxBinary: 1024}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := wiretest.CheckBytes(Wire{}, opts, data); err != nil {
			t.Fatal(err)
		}
	})
}
