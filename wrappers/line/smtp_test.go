package line

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// relay is a TCP relay that decodes each direction with one line session
// and forwards each frame's Raw once it is decoded, as the proxy does, so
// that the server's 354 reaches the client only after the session knows
// the body comes next.
type relay struct {
	ln       net.Listener
	mu       sync.Mutex
	sessions [][]string // per connection, the decoded messages in order: "> call ..." / "< reply ..."
	errs     []error
	done     []chan struct{}
}

func startRelay(t *testing.T, upstream string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			i := len(r.sessions)
			r.sessions = append(r.sessions, nil)
			r.errs = append(r.errs, nil)
			done := make(chan struct{})
			r.done = append(r.done, done)
			r.mu.Unlock()
			sess := Wire{}.NewSession(wrappers.Options{})
			var wg sync.WaitGroup
			wg.Add(2)
			pump := func(dec wrappers.Decoder, dst net.Conn, arrow string) {
				defer wg.Done()
				defer dst.(*net.TCPConn).CloseWrite()
				for {
					m, err := dec.Next()
					if err != nil {
						if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
							r.mu.Lock()
							r.errs[i] = err
							r.mu.Unlock()
						}
						return
					}
					r.mu.Lock()
					r.sessions[i] = append(r.sessions[i], arrow+" "+m.Kind.String()+" "+m.Term.String())
					r.mu.Unlock()
					if _, err := dst.Write(m.Raw); err != nil {
						return
					}
				}
			}
			go pump(sess.ClientDecoder(c), u, ">")
			go pump(sess.ServerDecoder(u), c, "<")
			go func() {
				wg.Wait()
				c.Close()
				u.Close()
				close(done)
			}()
		}
	}()
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

// wait returns the messages of the n-th connection once it has ended.
func (r *relay) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		var done chan struct{}
		if n < len(r.done) {
			done = r.done[n]
		}
		r.mu.Unlock()
		if done != nil {
			select {
			case <-done:
			case <-time.After(time.Until(deadline)):
				t.Fatalf("relayed connection %d did not end within 15s", n)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.errs[n] != nil {
				t.Fatalf("relayed connection %d: decode: %v", n, r.errs[n])
			}
			return r.sessions[n]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no relayed connection %d within 15s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// matchAll checks got against want, where a want ending in "*" matches any
// message with that prefix.
func matchAll(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		w := want[i]
		if strings.HasSuffix(w, "*") {
			ok = strings.HasPrefix(got[i], strings.TrimSuffix(w, "*"))
		} else {
			ok = got[i] == w
		}
	}
	if !ok {
		t.Errorf("decoded conversation:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRealSMTP(t *testing.T) {
	addr, serverOut := realservice.SMTP(t)
	r := startRelay(t, addr)

	t.Run("swaks sends a mail", func(t *testing.T) {
		swaks, err := exec.LookPath("swaks")
		if err != nil {
			t.Skip("swaks is not installed (Debian package swaks)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, swaks, "--server", r.addr(), "--helo", "client.test",
			"--from", "joe@example.com", "--to", "ann@example.org,bob@example.org",
			"--header", "Subject: through the relay", "--body", "hello\n.dotted line\nbye").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		got := r.wait(t, 0)
		matchAll(t, got, []string{
			`< event {220, "*`,
			`> call {ehlo, "client.test"}`,
			`< reply {250, ["*`,
			`> call {mail, "FROM:<joe@example.com>"}`,
			`< reply {250, "OK"}`,
			`> call {rcpt, "TO:<ann@example.org>"}`,
			`< reply {250, "OK"}`,
			`> call {rcpt, "TO:<bob@example.org>"}`,
			`< reply {250, "OK"}`,
			`> call data`,
			`< reply {354, "End data with <CR><LF>.<CR><LF>"}`,
			`> call {data, <<"Date: *`,
			`< reply {250, "OK"}`,
			`> call quit`,
			`< reply {221, "Bye"}`,
		})
		// The body as the server stores it: dot-stuffing undone.
		var body string
		for _, g := range got {
			if strings.HasPrefix(g, "> call {data, ") {
				body = g
			}
		}
		if !strings.Contains(body, `Subject: through the relay\r\n`) || !strings.Contains(body, `\r\nhello\r\n.dotted line\r\nbye\r\n`) {
			t.Errorf("body term: %s", body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(serverOut.String(), ".dotted line") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(serverOut.String(), "Subject: through the relay") {
			t.Errorf("the server did not print the mail:\n%s", serverOut.String())
		}
	})

	t.Run("errors and resets", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", r.addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		br := bufio.NewReader(c)
		expect := func(code string) {
			t.Helper()
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("waiting for %s: %v", code, err)
				}
				if strings.HasPrefix(line, code+" ") {
					return
				}
				if !strings.HasPrefix(line, code+"-") {
					t.Fatalf("waiting for %s, got %q", code, line)
				}
			}
		}
		say := func(s string) {
			t.Helper()
			if _, err := c.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		expect("220")
		for _, step := range []struct{ send, code string }{
			{"HELO client.test\r\n", "250"},
			{"RCPT TO:<a@b>\r\n", "503"}, // before MAIL
			{"MAIL FROM:<x@y>\r\n", "250"},
			{"RSET\r\n", "250"},
			{"NOOP\r\n", "250"},
			{"BOGUS command\r\n", "500"},
			{"QUIT\r\n", "221"},
		} {
			say(step.send)
			expect(step.code)
		}
		c.Close()
		matchAll(t, r.wait(t, 1), []string{
			`< event {220, "*`,
			`> call {helo, "client.test"}`,
			`< reply {250, "*`,
			`> call {rcpt, "TO:<a@b>"}`,
			`< reply {503, "Error: need MAIL command"}`,
			`> call {mail, "FROM:<x@y>"}`,
			`< reply {250, "OK"}`,
			`> call rset`,
			`< reply {250, "OK"}`,
			`> call noop`,
			`< reply {250, "OK"}`,
			`> call {bogus, "command"}`,
			`< reply {500, "Error: command \"BOGUS\" not recognized"}`,
			`> call quit`,
			`< reply {221, "Bye"}`,
		})
	})
}
