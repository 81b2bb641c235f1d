package realservice

import (
	"strings"
	"testing"
	"time"
)

// TestIRC talks to a real ngircd as irssi does (CAP LS 302 with NICK and
// USER, CAP REQ, CAP END) and pins the facts the irc wire relies on
// (docs/wires/irc.md): numerics with the server's prefix, 433 for a nick
// in use, PRIVMSG relayed with the sender's prefix and no answer to the
// sender, the server's PING and its time-out.
func TestIRC(t *testing.T) {
	addr := IRC(t, 5*time.Second)
	alice := Dial(t, addr)
	alice.Send("CAP LS 302\r\nNICK alice\r\nUSER alice alice 127.0.0.1 :Alice A\r\n")
	if got, want := alice.Lines(1), ":irc.test.local CAP * LS :multi-prefix\r\n"; got != want {
		t.Fatalf("CAP LS: got %q, want %q", got, want)
	}
	if got, want := alice.Exchange("CAP REQ :multi-prefix\r\n", "\r\n"), ":irc.test.local CAP alice ACK :multi-prefix\r\n"; got != want {
		t.Fatalf("CAP REQ: got %q, want %q", got, want)
	}
	welcome := alice.Exchange("CAP END\r\n", " 376 alice :End of MOTD command\r\n")
	if !strings.HasPrefix(welcome, ":irc.test.local 001 alice :Welcome to the Internet Relay Network alice!~alice@127.0.0.1\r\n") {
		t.Fatalf("registration: got %q", welcome)
	}
	for _, numeric := range []string{" 002 ", " 003 ", " 004 ", " 005 ", " 251 ", " 375 ", " 372 "} {
		if !strings.Contains(welcome, numeric) {
			t.Errorf("registration lacks numeric%s: %q", numeric, welcome)
		}
	}

	bob := Dial(t, addr)
	if got, want := bob.Exchange("NICK alice\r\nUSER bob 0 * :Bob\r\n", "\r\n"), ":irc.test.local 433 * alice :Nickname already in use\r\n"; got != want {
		t.Fatalf("nick in use: got %q, want %q", got, want)
	}
	bob.Exchange("NICK bob\r\n", " 376 bob :End of MOTD command\r\n")

	alice.Exchange("JOIN #test\r\n", " 366 alice #test :End of NAMES list\r\n")
	bob.Exchange("join #test\r\n", " 366 bob #test :End of NAMES list\r\n")
	alice.Next(":bob!~bob@127.0.0.1 JOIN :#test\r\n")

	// The trailing parameter keeps its spaces and colons.
	bob.Send("PRIVMSG #test :hello  there :colon\r\n")
	if got, want := alice.Lines(1), ":bob!~bob@127.0.0.1 PRIVMSG #test :hello  there :colon\r\n"; got != want {
		t.Errorf("relayed PRIVMSG: got %q, want %q", got, want)
	}
	bob.Quiet(200 * time.Millisecond) // PRIVMSG has no answer

	// Not OPER here: ngircd answers a wrong OPER password at once (464)
	// but then holds the client's next command for 10 s, penalties off
	// or not.
	if got, want := alice.Exchange("FOO\r\n", "\r\n"), ":irc.test.local 421 alice FOO :Unknown command\r\n"; got != want {
		t.Errorf("unknown command: got %q, want %q", got, want)
	}
	if got, want := alice.Exchange("PING :abc\r\n", "\r\n"), ":irc.test.local PONG irc.test.local :abc\r\n"; got != want {
		t.Errorf("PING: got %q, want %q", got, want)
	}

	// Idle: the server pings; an answered PING keeps the client, an
	// unanswered one ends the connection with ERROR.
	if got, want := bob.Next("\r\n"), "PING :irc.test.local\r\n"; got != want {
		t.Fatalf("server PING: got %q, want %q", got, want)
	}
	bob.Send("PONG :irc.test.local\r\n")
	closed := alice.ClosedWithin(15 * time.Second)
	if !strings.HasPrefix(closed, "PING :irc.test.local\r\n") || !strings.HasSuffix(closed, "ERROR :Ping timeout: 5 seconds\r\n") {
		t.Errorf("ping time-out: got %q", closed)
	}
	bob.Send("QUIT :bye\r\n")
	got := bob.Closed()
	if !strings.Contains(got, ":alice!~alice@127.0.0.1 QUIT :Ping timeout: 5 seconds\r\n") || !strings.HasSuffix(got, "ERROR :\"bye\"\r\n") {
		t.Errorf("QUIT: got %q, want alice's QUIT relayed, then ERROR :\"bye\" and the close", got)
	}
}
