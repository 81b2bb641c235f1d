package text

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/wiretest"
)

// A conversation file (testdata/FAMILY/NAME.conv) is the bytes of a
// conversation in the order they were sent: "> bytes" from the client,
// "< bytes" from the server, with \r, \n, \t, \\ and \xNN escapes, each
// chunk holding whole messages; "#" lines are comments. The test feeds the
// chunks to one session's decoders in that order, as a proxy would see
// them, and writes every message (or error) to NAME.golden.

// chunk is one line of a conversation file.
type chunk struct {
	side wrappers.Side
	data []byte
}

func readConversation(t testing.TB, path string) []chunk {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var chunks []chunk
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		side := wrappers.Client
		switch {
		case strings.HasPrefix(line, "> "):
		case strings.HasPrefix(line, "< "):
			side = wrappers.Server
		default:
			t.Fatalf("%s:%d: a line starts with \"> \", \"< \" or \"#\"", path, n)
		}
		data, err := unescape(line[2:])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		chunks = append(chunks, chunk{side, data})
	}
	return chunks
}

func unescape(s string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("\\x needs two hex digits")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			b = append(b, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b, nil
}

// feed is a reader that hands out what the test fed it, and reports
// starvation instead of blocking: a chunk must hold whole messages.
type feed struct {
	data []byte
	done bool // no more chunks: the end of the stream
}

var errStarved = errors.New("the decoder read past its chunk (a chunk must hold whole messages)")

func (f *feed) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		if f.done {
			return 0, io.EOF
		}
		return 0, errStarved
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// decodeConversation runs a conversation through one session of fam and
// returns its turns with what the decoders made of each chunk.
func decodeConversation(fam *Family, chunks []chunk, lim wrappers.Limits) []wiretest.Turn {
	s := NewWire(fam).NewSession(wrappers.Options{Limits: lim})
	feeds := map[wrappers.Side]*feed{wrappers.Client: {}, wrappers.Server: {}}
	decs := map[wrappers.Side]wrappers.Decoder{
		wrappers.Client: s.ClientDecoder(feeds[wrappers.Client]),
		wrappers.Server: s.ServerDecoder(feeds[wrappers.Server]),
	}
	var turns []wiretest.Turn
	for _, c := range chunks {
		tn := wiretest.Turn{Side: c.side, In: string(c.data)}
		feeds[c.side].data = append(feeds[c.side].data, c.data...)
		for tn.Err == "" && (len(feeds[c.side].data) > 0 || decs[c.side].(wrappers.Bufferer).Buffered() > 0) {
			m, err := decs[c.side].Next()
			var fe *wrappers.FrameError
			switch {
			case errors.As(err, &fe):
				tn.Err, tn.Limit = fe.Msg, fe.Limit
			case err != nil:
				tn.Err = "not a FrameError: " + err.Error()
			default:
				tn.Want = append(tn.Want, wiretest.Describe(m))
			}
		}
		turns = append(turns, tn)
		if tn.Err != "" {
			break // the stream cannot be read further
		}
	}
	return turns
}

// render writes turns as a golden file shows them: "> " for what the
// client sent, "< " for the server, one line per message or error.
func render(turns []wiretest.Turn) string {
	var out strings.Builder
	for _, tn := range turns {
		mark := ">"
		if tn.Side == wrappers.Server {
			mark = "<"
		}
		for _, w := range tn.Want {
			fmt.Fprintf(&out, "%s %s\n", mark, w)
		}
		if tn.Err != "" {
			fmt.Fprintf(&out, "%s error: %s\n", mark, tn.Err)
		}
	}
	return out.String()
}

// TestConversations decodes every conversation under testdata/FAMILY/,
// compares the result with its golden file, and has wiretest check that
// the same comes out however the bytes arrive.
func TestConversations(t *testing.T) {
	lim := wrappers.Limits{MaxFrame: 4096, MaxBinary: 1024}
	for _, fam := range Families() {
		files := conversationFiles(fam)
		if len(files) == 0 {
			t.Errorf("no conversations for %s under testdata/%s", fam.Name, fam.Name)
		}
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".conv")
			t.Run(fam.Name+"/"+name, func(t *testing.T) {
				turns := decodeConversation(fam, readConversation(t, file), lim)
				golden.Check(t, strings.TrimSuffix(file, ".conv")+".golden", []byte(render(turns)))
				conv := wiretest.Conversation{Name: name, Options: wrappers.Options{Limits: lim}, Turns: turns}
				if err := wiretest.TestWire(NewWire(fam), conv); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// conversationFiles lists the conversations of fam.
func conversationFiles(fam *Family) []string {
	files, _ := filepath.Glob(filepath.Join("testdata", fam.Name, "*.conv"))
	return files
}
