package realservice

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPOP3 talks to a real dovecot, with a bare client for the exact bytes
// (pipelined commands included) and with Python's poplib for an everyday
// session, and pins the facts the pop3 wire relies on (docs/wires/pop3.md).
func TestPOP3(t *testing.T) {
	srv := POP3(t)
	c := Dial(t, srv.Addr)
	const mail1 = "+OK 112 octets\r\nFrom: bob@example.org\r\nTo: alice@example.org\r\nSubject: lines\r\n\r\nfirst\r\n250-x\r\n..\r\n...two\r\n+OK not a status\r\nlast\r\n.\r\n"
	steps := []struct{ send, want string }{
		{"", "+OK Dovecot (Debian) ready.\r\n"},
		// CAPA is multi-line whatever the state; STAT is not a command
		// before the login.
		{"CAPA\r\n", "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN\r\n.\r\n"},
		{"STAT\r\n", "-ERR Unknown command.\r\n"},
		{"USER alice\r\nPASS wrong\r\n", "+OK\r\n-ERR [AUTH] Authentication failed.\r\n"},
		{"user alice\r\npass secret\r\n", "+OK\r\n+OK Logged in.\r\n"},
		// Pipelined: whether an answer is multi-line depends on the
		// command (LIST without an argument), not on its first line.
		{"STAT\r\nLIST\r\nUIDL\r\nLIST 1\r\nLIST 9\r\n", "+OK 2 181\r\n+OK 2 messages:\r\n1 112\r\n2 69\r\n.\r\n+OK\r\n1 "},
		{"", "\r\n2 "}, // the unique ids change from run to run
		{"", "\r\n.\r\n+OK 1 112\r\n-ERR There's no message 9.\r\n"},
		// The body is dot-stuffed; its lines that look like replies are
		// only text.
		{"RETR 1\r\n", mail1},
		{"TOP 1 0\r\n", "+OK\r\nFrom: bob@example.org\r\nTo: alice@example.org\r\nSubject: lines\r\n\r\n.\r\n"},
		{"STLS\r\n", "-ERR Unknown command: STLS\r\n"},
		{"DELE 2\r\nLIST 2\r\nRSET\r\n", "+OK Marked to be deleted.\r\n-ERR Message is deleted.\r\n+OK\r\n"},
	}
	for _, st := range steps {
		if got := c.Exchange(st.send, st.want); got != st.want && !strings.HasSuffix(got, st.want) {
			t.Errorf("%q: got %q, want %q", st.send, got, st.want)
		}
	}
	c.Send("QUIT\r\n")
	if got := c.Closed(); !strings.HasSuffix(got, "+OK Logging out.\r\n") {
		t.Errorf("QUIT: got %q", got)
	}

	out := RunClient(t, POP3Client, "127.0.0.1", portOf(srv.Addr), POP3User, POP3Password)
	for _, want := range []string{
		"welcome b'+OK Dovecot (Debian) ready.'\n",
		"pass b'+OK Logged in.'\n",
		"stat (2, 181)\n",
		"retr (b'+OK 112 octets', [b'From: bob@example.org', b'To: alice@example.org', b'Subject: lines', b'', b'first', b'250-x', b'.', b'..two', b'+OK not a status', b'last'], 112)\n",
		"quit b'+OK Logging out.'\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("poplib session lacks %q:\n%s", want, out)
		}
	}
	for _, dir := range []string{"new", "cur"} {
		if n, _ := os.ReadDir(filepath.Join(srv.Maildir, dir)); len(n) == 2 {
			return
		}
	}
	t.Errorf("after the sessions the mailbox does not hold both mails")
}
