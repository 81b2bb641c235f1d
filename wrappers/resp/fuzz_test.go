package resp

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

func FuzzRESPDecode(f *testing.F) {
	f.Add([]byte(clientStream))
	f.Add([]byte(serverStream))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
	f.Add([]byte("|1\r\n+a\r\n:1\r\n%1\r\n~1\r\n#t\r\n=7\r\ntxt:abc\r\n"))
	f.Add([]byte("$?\r\n;2\r\nab\r\n;0\r\n*?\r\n(123\r\n,1.5\r\n.\r\n"))
	f.Add([]byte("SET \"a\\x41\" 'b\\'c'\r\n"))
	opts := wrappers.Options{Limits: wrappers.Limits{MaxFrame: 4096, MaxDepth: 8, MaxBinary: 1024}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := wiretest.CheckBytes(Wire{}, opts, data); err != nil {
			t.Fatal(err)
		}
	})
}
