package proxy_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

// pop3Pipelined logs in and sends STAT, LIST, UIDL, LIST 1, LIST 9 and
// RETR 1 in one write, as a client may once the server says PIPELINING;
// the first mail's body holds 250-x and lone "." lines. It returns what
// the client received.
func pop3Pipelined(t *testing.T, addr string) string {
	c := realservice.Dial(t, addr)
	var got strings.Builder
	got.WriteString(c.Next("ready.\r\n"))
	got.WriteString(c.Exchange("USER "+realservice.POP3User+"\r\nPASS "+realservice.POP3Password+"\r\n", "Logged in.\r\n"))
	got.WriteString(c.Exchange("STAT\r\nLIST\r\nUIDL\r\nLIST 1\r\nLIST 9\r\nRETR 1\r\n", "last\r\n.\r\n"))
	c.Send("QUIT\r\n")
	got.WriteString(c.Closed())
	return got.String()
}

// mails lists the files of a Maildir's new and cur folders.
func mails(t *testing.T, maildir string) []string {
	var names []string
	for _, d := range []string{"new", "cur"} {
		es, err := os.ReadDir(filepath.Join(maildir, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			names = append(names, d+"/"+e.Name())
		}
	}
	return names
}

// TestPOP3ThroughProxy: poplib's session and a pipelined one with dovecot
// are the same through ubfproxy enforcing contracts/pop3.con as directly,
// with no violation; STLS, APOP and commands of the wrong state get -ERR
// from the proxy and never reach the server.
func TestPOP3ThroughProxy(t *testing.T) {
	srv := realservice.POP3(t)
	p := startTextProxy(t, "pop3.con", text.POP3, srv.Addr, proxy.Kill, proxy.Limits{})
	t.Run("poplib", func(t *testing.T) {
		session := func(addr string) string {
			host, port, _ := net.SplitHostPort(addr)
			return realservice.RunClient(t, realservice.POP3Client, host, port, realservice.POP3User, realservice.POP3Password)
		}
		direct := session(srv.Addr)
		sameAsDirect(t, direct, session(p.addr))
		if !strings.Contains(direct, `b'250-x', b'.', b'..two'`) {
			t.Errorf("the session lost its point:\n%s", direct)
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		direct := pop3Pipelined(t, srv.Addr)
		sameAsDirect(t, direct, pop3Pipelined(t, p.addr))
		if !strings.Contains(direct, "+OK 1 112\r\n-ERR There's no message 9.\r\n+OK 112 octets\r\n") {
			t.Errorf("the session lost its point: %q", direct)
		}
	})
	t.Run("AUTH PLAIN", func(t *testing.T) {
		// The "+ " challenge makes the next line the client's response,
		// {auth_response, ...}, answered again.
		sasl := func(addr string) string {
			c := realservice.Dial(t, addr)
			got := c.Next("ready.\r\n")
			got += c.Exchange("AUTH PLAIN\r\n", "\r\n")
			got += c.Exchange("AGFsaWNlAHNlY3JldA==\r\n", "\r\n") // \0alice\0secret
			got += c.Exchange("STAT\r\nQUIT\r\n", "Logging out.\r\n")
			return got
		}
		direct := sasl(srv.Addr)
		sameAsDirect(t, direct, sasl(p.addr))
		if !strings.Contains(direct, "+ \r\n+OK Logged in.\r\n+OK 2 ") {
			t.Errorf("the session lost its point: %q", direct)
		}
	})
	p.noViolations(t)

	t.Run("refused commands never reach the server", func(t *testing.T) {
		before := mails(t, srv.Maildir)
		p := startTextProxy(t, "pop3.con", text.POP3, srv.Addr, proxy.Reject, proxy.Limits{})
		c := realservice.Dial(t, p.addr)
		c.Next("ready.\r\n")
		refused := []string{"STLS", "APOP alice 0123456789abcdef0123456789abcdef", "STAT", "DELE 1", "PASS secret"}
		// Each is answered by the proxy's -ERR, and dovecot answers only
		// the command after it (CAPA before the login: dovecot ends a
		// session after a few unknown commands, and NOOP is one there).
		check := func(cmd, next, answer string) {
			got := c.Exchange(cmd+"\r\n"+next+"\r\n", answer)
			first, rest, _ := strings.Cut(got, "\r\n")
			if !strings.HasPrefix(first, "-ERR Contract violation: client sent ") || rest != answer {
				t.Errorf("%s: got %q, want the proxy's -ERR, then %q", cmd, got, answer)
			}
		}
		const capa = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN\r\n.\r\n"
		for _, cmd := range refused {
			check(cmd, "CAPA", capa)
		}
		c.Exchange("USER "+realservice.POP3User+"\r\nPASS "+realservice.POP3Password+"\r\n", "Logged in.\r\n")
		check("STLS", "NOOP", "+OK\r\n")
		check("DELE x", "NOOP", "+OK\r\n")
		c.Send("QUIT\r\n")
		if got := c.Closed(); got != "+OK Logging out.\r\n" {
			t.Errorf("QUIT: %q", got)
		}
		if n := p.violations(); n != len(refused)+2 {
			t.Errorf("%d violations logged, want %d:\n%s", n, len(refused)+2, p.logs.String())
		}
		if after := mails(t, srv.Maildir); len(after) != len(before) || len(after) != 2 {
			t.Errorf("the mailbox held %v, now %v", before, after)
		}
	})
}
