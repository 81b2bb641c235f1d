package proxy_test

// End-to-end tests of ubfproxy in front of a real SMTP server (Python's
// aiosmtpd debugging server, which prints each mail it receives) with
// contracts/smtp.con: swaks sends a mail through the proxy; a client that
// sends RCPT before MAIL is off-spec.

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/contracts"
	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

func smtpContract(tb testing.TB) *contract.Contract {
	tb.Helper()
	src, err := contracts.FS.ReadFile("smtp.con")
	if err != nil {
		tb.Fatal(err)
	}
	c, diags := contract.Compile("contracts/smtp.con", src, contract.Options{})
	if c == nil || diags.HasErrors() {
		tb.Fatalf("contracts/smtp.con: %v", diags)
	}
	return c
}

// smtpClient is a bare SMTP client that reads whole replies.
type smtpClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func smtpDial(t *testing.T, addr string) *smtpClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	return &smtpClient{t: t, c: c, r: bufio.NewReader(c)}
}

// reply reads one (possibly multi-line) reply; "" when the connection
// closed first.
func (s *smtpClient) reply() string {
	s.t.Helper()
	var all strings.Builder
	for {
		l, err := s.r.ReadString('\n')
		all.WriteString(l)
		if err != nil {
			return all.String()
		}
		if len(l) < 4 || l[3] != '-' {
			return all.String()
		}
	}
}

// do sends a line and returns the reply.
func (s *smtpClient) do(line string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		s.t.Fatalf("send %q: %v", line, err)
	}
	return s.reply()
}

func TestSMTPThroughProxy(t *testing.T) {
	server, serverOut := realservice.SMTP(t)
	var logs realservice.Output
	start := func(mode proxy.Mode) string {
		_, addr := serveProxy(t, proxy.Config{
			Contract: smtpContract(t), Upstream: server, Wire: text.NewWire(text.SMTP), Mode: mode,
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})
		return addr
	}
	kill, reject := start(proxy.Kill), start(proxy.Reject)

	t.Run("swaks sends a mail", func(t *testing.T) {
		swaks, err := exec.LookPath("swaks")
		if err != nil {
			t.Skip("swaks is not installed (Debian package swaks)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, swaks, "--server", kill, "--helo", "client.test",
			"--from", "joe@example.com", "--to", "ann@example.org,bob@example.org",
			"--header", "Subject: through ubfproxy", "--body", "hello\n.dotted line\nbye").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks through the proxy: %v\n%s", err, out)
		}
		for _, w := range []string{"<-  354 End data", "<-  250 OK", "<-  221 Bye"} {
			if !strings.Contains(string(out), w) {
				t.Errorf("swaks output lacks %q:\n%s", w, out)
			}
		}
		deadline := time.Now().Add(ioTimeout)
		for !strings.Contains(serverOut.String(), "Subject: through ubfproxy") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if s := serverOut.String(); !strings.Contains(s, "Subject: through ubfproxy") || !strings.Contains(s, ".dotted line") {
			t.Errorf("the server did not receive the mail:\n%s", s)
		}
	})

	t.Run("RCPT before MAIL is off-spec (kill)", func(t *testing.T) {
		c := smtpDial(t, kill)
		if r := c.reply(); !strings.HasPrefix(r, "220 ") {
			t.Fatalf("greeting %q", r)
		}
		if r := c.do("EHLO client.test"); !strings.HasPrefix(r, "250-") {
			t.Fatalf("EHLO: %q", r)
		}
		r := c.do("RCPT TO:<ann@example.org>")
		if !strings.HasPrefix(r, `503 5.5.1 Contract violation: client sent {rcpt, "TO:<ann@example.org>"} in state greeted: no rule of this state accepts this message`) {
			t.Errorf("RCPT before MAIL: %q", r)
		}
		if rest := c.reply(); rest != "" {
			t.Errorf("the proxy did not close the session: %q", rest)
		}
	})

	t.Run("RCPT before MAIL is refused, then the mail goes (reject)", func(t *testing.T) {
		c := smtpDial(t, reject)
		c.reply()
		c.do("HELO client.test")
		if r := c.do("RCPT TO:<ann@example.org>"); !strings.HasPrefix(r, "503 5.5.1 Contract violation") {
			t.Fatalf("RCPT before MAIL: %q", r)
		}
		for _, step := range []struct{ send, want string }{
			{"MAIL FROM:<joe@example.com>", "250 "},
			{"RCPT TO:<ann@example.org>", "250 "},
			{"DATA", "354 "},
			{"Subject: rejected then sent\r\n\r\nbody\r\n.", "250 "},
			{"STARTTLS", "503 5.5.1 Contract violation"}, // never allowed
			{"QUIT", "221 "},
		} {
			if r := c.do(step.send); !strings.HasPrefix(r, step.want) {
				t.Fatalf("%q: got %q, want %s...", step.send, r, step.want)
			}
		}
		if rest := c.reply(); rest != "" {
			t.Errorf("session not closed after QUIT: %q", rest)
		}
	})

	if n := strings.Count(logs.String(), `"msg":"contract violation"`); n != 3 {
		t.Errorf("%d violation records, want 3:\n%s", n, logs.String())
	}
}
