package fileserver_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy/fileserver"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

func start(t *testing.T, cfg fileserver.Config) string {
	t.Helper()
	addr, stop, err := fileserver.Listen(context.Background(), "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr.String()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// call sends req (text notation) encoded as UBF(A) and returns the reply
// frame as the server wrote it.
func call(t *testing.T, c net.Conn, r *bufio.Reader, req string) string {
	t.Helper()
	b, err := ubf.AppendEncode(nil, term.MustParse(req))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write %s: %v", req, err)
	}
	return readFrame(t, r)
}

func readFrame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading reply: %v (got %q)", err, line)
	}
	return line
}

// reply renders the expected reply (text notation) as the server must
// write it on the wire.
func reply(t *testing.T, text string) string {
	t.Helper()
	b, err := ubf.AppendEncode(nil, term.MustParse(text))
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestConversations(t *testing.T) {
	addr := start(t, fileserver.Config{Files: map[string]string{"a.txt": "one\ntwo\n", "empty": ""}})
	type step struct{ req, want string }
	tests := []struct {
		name  string
		steps []step
	}{
		{"conforming", []step{
			{`{open, "a.txt", read}`, `{{ok, 1}, ready}`},
			{`{read_line, 1}`, `{{ok, "one"}, ready}`},
			{`{read_line, 1}`, `{{ok, "two"}, ready}`},
			{`{read_line, 1}`, `{eof, atEof}`},
			{`{rewind, 1}`, `{true, ready}`},
			{`{read_line, 1}`, `{{ok, "one"}, ready}`},
			{`info`, `{"file server: 2 files, 1 open", ready}`},
			{`{close, 1}`, `{true, stop}`},
		}},
		{"silly: a read after close is answered", []step{
			{`{open, "a.txt", read}`, `{{ok, 1}, ready}`},
			{`{close, 1}`, `{true, stop}`},
			{`{read_line, 1}`, `{{ok, "one"}, ready}`},
		}},
		{"no such file", []step{
			{`{open, "nope", read}`, `{{error, "nope: no such file"}, stop}`},
		}},
		{"file name as a list of character codes", []step{
			{`{open, [97, 46, 116, 120, 116], read}`, `{{ok, 1}, ready}`},
		}},
		{"write mode opens an empty file", []step{
			{`{open, "new", write}`, `{{ok, 1}, ready}`},
			{`{read_line, 1}`, `{eof, atEof}`},
		}},
		{"empty file", []step{
			{`{open, "empty", read}`, `{{ok, 1}, ready}`},
			{`{read_line, 1}`, `{eof, atEof}`},
		}},
		{"handles count up", []step{
			{`{open, "a.txt", read}`, `{{ok, 1}, ready}`},
			{`{open, "a.txt", read}`, `{{ok, 2}, ready}`},
			{`{read_line, 2}`, `{{ok, "one"}, ready}`},
		}},
		{"bad requests", []step{
			{`{read_line, 7}`, `{{error, "bad file handle 7"}, start}`},
			{`{read_line, x}`, `{{error, "bad file handle x"}, start}`},
			{`{open, "a.txt", append}`, `{{error, "mode must be read or write, got append"}, start}`},
			{`{open, 42, read}`, `{{error, "file name must be a string, got 42"}, start}`},
			{`hello`, `{{error, "unknown request hello"}, start}`},
			{`{}`, `{{error, "unknown request {}"}, start}`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, r := dial(t, addr)
			for _, s := range tt.steps {
				if got, want := call(t, c, r, s.req), reply(t, s.want); got != want {
					t.Errorf("%s: got %q, want %q", s.req, got, want)
				}
			}
		})
	}
}

func TestPipelinedAndEvents(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	addr := start(t, fileserver.Config{
		Files: map[string]string{"a.txt": "one\n"},
		OnRequest: func(req term.Term) {
			mu.Lock()
			seen = append(seen, req.String())
			mu.Unlock()
		},
	})
	c, r := dial(t, addr)
	// Two requests and a client event in one write, split across frames
	// the way any byte stream may be.
	if _, err := io.WriteString(c, `{'open',"a.txt",'read'}$ {'event_in','ping'}$`+"\n"+`{'read_line',1}$`); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{{ok, 1}, ready}`, `{{ok, "one"}, ready}`} {
		if got := readFrame(t, r); got != reply(t, want) {
			t.Errorf("got %q, want %s", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(seen, " "), `{open, "a.txt", read} {read_line, 1}`; got != want {
		t.Errorf("OnRequest saw %s, want %s (events are not requests)", got, want)
	}
}

func TestMalformedInputEndsConnection(t *testing.T) {
	addr := start(t, fileserver.Config{})
	c, r := dial(t, addr)
	if _, err := io.WriteString(c, "{1.5}$"); err != nil {
		t.Fatal(err)
	}
	if b, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after a malformed frame: read %q, %v; want EOF", b, err)
	}
	// The server goes on serving others.
	c2, r2 := dial(t, addr)
	if got := call(t, c2, r2, `{open, "notes.txt", read}`); got != reply(t, `{{ok, 1}, ready}`) {
		t.Errorf("second connection: got %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	addr := start(t, fileserver.Config{IdleTimeout: 100 * time.Millisecond})
	_, r := dial(t, addr)
	began := time.Now()
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
}

func TestStopClosesConnections(t *testing.T) {
	addr, stop, err := fileserver.Listen(context.Background(), "127.0.0.1:0", fileserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, r := dial(t, addr.String())
	// The probe that must find no server after the stop finds this one
	// before it: its silence then means the server is gone.
	req, err := ubf.AppendEncode(nil, term.MustParse(`{open, "notes.txt", read}`))
	if err != nil {
		t.Fatal(err)
	}
	answer := reply(t, "{{ok, 1}, ready}")
	if !realservice.Answers(addr.String(), req, answer, 5*time.Second) {
		t.Fatalf("the file server does not answer the probe before stop")
	}
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return")
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("open connection after stop: %v, want EOF", err)
	}
	if realservice.Answers(addr.String(), req, answer, 500*time.Millisecond) {
		t.Errorf("the file server still answers on %s after stop", addr)
	}
}

// TestGreeting: with Greeting, every connection starts with the UBF(C)
// greeting naming the service, before any request; without, the client
// speaks first.
func TestGreeting(t *testing.T) {
	c, r := dial(t, start(t, fileserver.Config{Greeting: "file_server"}))
	if got, want := readFrame(t, r), reply(t, `{'ubf1.0', "file_server", "the file server of the talk: open, read_line, rewind, close, info"}`); got != want {
		t.Errorf("greeting %q, want %q", got, want)
	}
	if got, want := call(t, c, r, `{open, "notes.txt", read}`), reply(t, "{{ok, 1}, ready}"); got != want {
		t.Errorf("after the greeting: %q, want %q", got, want)
	}
	c, r = dial(t, start(t, fileserver.Config{}))
	if got, want := call(t, c, r, `{open, "notes.txt", read}`), reply(t, "{{ok, 1}, ready}"); got != want {
		t.Errorf("without a greeting: %q, want %q", got, want)
	}
}
