package text

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestEncodeRoundTrip encodes the terms every recorded conversation
// decodes to and decodes the bytes again: the same terms must come back,
// framed alike (a POP3 list after LIST, a memcached block after set).
func TestEncodeRoundTrip(t *testing.T) {
	lim := wrappers.Limits{MaxFrame: 4096, MaxBinary: 1024}
	for _, fam := range Families() {
		for _, file := range conversationFiles(fam) {
			t.Run(fam.Name+"/"+strings.TrimSuffix(filepath.Base(file), ".conv"), func(t *testing.T) {
				turns := decodeConversation(fam, readConversation(t, file), lim)
				var chunks []chunk
				var want []string
				for _, tn := range turns {
					if tn.Err != "" {
						break // a malformed stream has no terms to encode
					}
					var data []byte
					for _, d := range tn.Want {
						kind, text, _ := strings.Cut(d, " ")
						if kind != wrappers.Unknown.String() {
							continue // filler
						}
						var err error
						if data, err = fam.AppendEncode(data, tn.Side, term.MustParse(text)); err != nil {
							t.Fatalf("%v", err)
						}
						want = append(want, d)
					}
					if len(data) > 0 {
						chunks = append(chunks, chunk{tn.Side, data})
					}
				}
				var got []string
				for _, tn := range decodeConversation(fam, chunks, lim) {
					if tn.Err != "" {
						t.Fatalf("decoding the encoded bytes: %s", tn.Err)
					}
					got = append(got, tn.Want...)
				}
				if !slices.Equal(got, want) {
					t.Errorf("round trip:\n got %q\nwant %q", got, want)
				}
			})
		}
	}
}

// TestEncodeRefuses: terms the wire cannot carry are errors, not bytes
// that decode to something else.
func TestEncodeRefuses(t *testing.T) {
	for _, c := range []struct {
		fam  *Family
		side wrappers.Side
		t    string
		err  string
	}{
		{SMTP, wrappers.Client, `{mail, "FROM:<a@b> SIZE=1"}`, "is not one word"},
		{SMTP, wrappers.Client, `{helo, "a\r\nRSET"}`, "line break"},
		{SMTP, wrappers.Server, `{1000, "x"}`, "not three digits"},
		{FTP, wrappers.Client, `{retr, "a", "b"}`, "not a tuple of 3"},
		{POP3, wrappers.Server, `{err, "x", ["a"]}`, "only +OK"},
		{IRC, wrappers.Client, `{privmsg, "#a b", "hi"}`, "only the last parameter"},
		{IRC, wrappers.Client, `{privmsg, {x}, "hi"}`, "not a word"},
		{Memcached, wrappers.Client, `{get, ""}`, "not one word"},
	} {
		_, err := c.fam.AppendEncode(nil, c.side, term.MustParse(c.t))
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s %s: error %v, want one saying %q", c.fam.Name, c.t, err, c.err)
		}
	}
}

// TestEncodeExamples pins the bytes of a few terms as the docs show them.
func TestEncodeExamples(t *testing.T) {
	for _, c := range []struct {
		fam  *Family
		side wrappers.Side
		t    string
		want string
	}{
		{SMTP, wrappers.Client, `{mail, "FROM:<a@b>"}`, "MAIL FROM:<a@b>\r\n"},
		{SMTP, wrappers.Client, `{data, <<".x\r\nbye">>}`, "..x\r\nbye\r\n.\r\n"},
		{SMTP, wrappers.Server, `{250, ["a", "b"]}`, "250-a\r\n250 b\r\n"},
		{FTP, wrappers.Client, `{retr, "my file.txt"}`, "RETR my file.txt\r\n"},
		{POP3, wrappers.Server, `{ok, "2", ["1 5", ".x"]}`, "+OK 2\r\n1 5\r\n..x\r\n.\r\n"},
		{IRC, wrappers.Client, `{privmsg, "#a", "hi there"}`, "PRIVMSG #a :hi there\r\n"},
		{IRC, wrappers.Server, `{from, "irc.x", {1, "joe", "Welcome"}}`, ":irc.x 001 joe Welcome\r\n"},
		{Memcached, wrappers.Client, `{set, "k", "0", "0", "2", <<"hi">>}`, "set k 0 0 2\r\nhi\r\n"},
		{Memcached, wrappers.Server, `[{value, "k", "0", "2", <<"hi">>}]`, "VALUE k 0 2\r\nhi\r\nEND\r\n"},
		{Memcached, wrappers.Server, `{client_error, "bad"}`, "CLIENT_ERROR bad\r\n"},
		{Line, wrappers.Server, `{250, "ok"}`, "250 ok\r\n"},
	} {
		got, err := c.fam.AppendEncode(nil, c.side, term.MustParse(c.t))
		if err != nil || string(got) != c.want {
			t.Errorf("%s %s: %q, %v; want %q", c.fam.Name, c.t, got, err, c.want)
		}
	}
}
