package proxy_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

// ircPings is how many of the server's PINGs the conversation answers
// while idle: ngircd's shortest ping time-out is 5 s, so each takes 5 to
// 6 s.
const ircPings = 3

// ircConversation: alice, at aliceAddr, registers as irssi does (CAP LS
// 302 with NICK and USER, CAP REQ, CAP END), joins #test, where bob
// (always direct to the server at addr) joins too; she sends a 50-word
// message and gets one; then, idle, she answers the server's PINGs, and
// quits. It returns what alice received, with the times the server puts
// in its welcome taken out.
func ircConversation(t *testing.T, addr, aliceAddr string) string {
	var got strings.Builder
	alice := realservice.Dial(t, aliceAddr)
	alice.Send("CAP LS 302\r\nNICK alice\r\nUSER alice alice 127.0.0.1 :Alice A\r\n")
	got.WriteString(alice.Next(" LS :multi-prefix\r\n"))
	got.WriteString(alice.Exchange("CAP REQ :multi-prefix\r\n", " ACK :multi-prefix\r\n"))
	got.WriteString(alice.Exchange("CAP END\r\n", " 376 alice :End of MOTD command\r\n"))
	got.WriteString(alice.Exchange("JOIN #test\r\n", " 366 alice #test :End of NAMES list\r\n"))

	bob := realservice.Dial(t, addr)
	bob.Exchange("NICK bob\r\nUSER bob 0 * :Bob\r\n", " 376 bob :End of MOTD command\r\n")
	bob.Exchange("JOIN #test\r\n", " 366 bob #test :End of NAMES list\r\n")
	got.WriteString(alice.Next(":bob!~bob@127.0.0.1 JOIN :#test\r\n"))

	words := strings.TrimSpace(strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do ", 5)) // 50 words
	alice.Send("PRIVMSG #test :" + words + "\r\n")
	if m := bob.Next("\r\n"); m != ":alice!~alice@127.0.0.1 PRIVMSG #test :"+words+"\r\n" {
		t.Errorf("bob got %q", m)
	}
	bob.Send("PRIVMSG #test :hi alice: " + words + "\r\n")
	got.WriteString(alice.Next(words + "\r\n"))
	got.WriteString(alice.Exchange("WHOIS bob\r\n", " 318 alice bob :End of WHOIS list\r\n"))
	got.WriteString(alice.Exchange("MODE #test +t\r\nTOPIC #test :ubf contracts\r\n", " :ubf contracts\r\n"))
	got.WriteString(alice.Exchange("AWAY :lunch\r\n", " 306 alice :You have been marked as being away\r\n"))
	got.WriteString(alice.Exchange("AWAY\r\nPART #test :bye\r\n", "PART #test :bye\r\n"))
	bob.Send("QUIT\r\n")
	bob.Closed()

	for range ircPings {
		p := alice.Next("\r\n")
		if p != "PING :irc.test.local\r\n" {
			t.Fatalf("alice got %q, want the server's PING", p)
		}
		got.WriteString(p)
		alice.Send("PONG :irc.test.local\r\n")
	}
	alice.Send("QUIT :bye\r\n")
	got.WriteString(alice.Closed())
	// The welcome says when the server started, and how many connections
	// it had (the test's probe for its port counts), and when bob signed on.
	return regexp.MustCompile(`(?m)^(:irc\.test\.local (003|004|250|317) alice) .*$`).ReplaceAllString(got.String(), "$1 ...")
}

// TestIRCThroughProxy: an IRC client's conversation with ngircd is the
// same through ubfproxy enforcing contracts/ircd.con as directly, with no
// violation, though nothing it sends has an answer it could be paired
// with and it idles past the proxy's reply time-out; the operator
// commands the contract refuses get 421 and never reach the server.
func TestIRCThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("IRC's ping time-outs take half a minute")
	}
	t.Parallel()
	t.Run("conversation", func(t *testing.T) {
		t.Parallel()
		server := realservice.IRC(t, 5*time.Second)
		direct := ircConversation(t, server, server)
		server = realservice.IRC(t, 5*time.Second)
		// A reply time-out far below the idle time: IRC has no calls, so
		// it never applies.
		p := startTextProxy(t, "ircd.con", text.IRC, server, proxy.Kill, proxy.Limits{ReplyTimeout: time.Second})
		sameAsDirect(t, direct, ircConversation(t, server, p.addr))
		p.noViolations(t)
		if !strings.HasSuffix(direct, "PING :irc.test.local\r\n:irc.test.local NOTICE alice :Connection statistics: client 0.6 kb, server 2.5 kb.\r\nERROR :\"bye\"\r\n") {
			t.Errorf("the conversation lost its point: ...%q", direct[max(0, len(direct)-300):])
		}
	})

	t.Run("refused commands never reach the server", func(t *testing.T) {
		t.Parallel()
		server := realservice.IRC(t, 5*time.Second)
		p := startTextProxy(t, "ircd.con", text.IRC, server, proxy.Reject, proxy.Limits{})
		c := realservice.Dial(t, p.addr)
		c.Exchange("NICK alice\r\nUSER alice 0 * :Alice\r\n", " 376 alice :End of MOTD command\r\n")
		refused := []string{"OPER admin secret", "KILL bob :go", "DIE", "RESTART", "SQUIT irc.test.local :x", "CONNECT other.test 6667", "PRIVMSG"}
		for i, cmd := range refused {
			// Each is answered by the proxy's 421, and ngircd answers
			// nothing: the PING after it is the next thing it answers (a
			// wrong OPER would be 464, then 10 s of penalty; KILL, DIE,
			// RESTART, SQUIT and CONNECT 481 for a non-operator).
			mark := "mark" + string(rune('a'+i))
			got := c.Exchange(cmd+"\r\nPING :"+mark+"\r\n", ":"+mark+"\r\n")
			verb, _, _ := strings.Cut(cmd, " ")
			want := ":ubfproxy 421 * " + verb + " :Contract violation: client sent "
			if !strings.HasPrefix(got, want) || strings.Count(got, "\r\n") != 2 {
				t.Errorf("%s: got %q, want %q... then the PONG", cmd, got, want)
			}
		}
		if n := p.violations(); n != len(refused) {
			t.Errorf("%d violations logged, want %d:\n%s", n, len(refused), p.logs.String())
		}
		// The server still runs (no DIE, no RESTART) and alice is no
		// operator.
		d := realservice.Dial(t, server)
		d.Exchange("NICK carol\r\nUSER carol 0 * :Carol\r\n", " 376 carol :End of MOTD command\r\n")
		if got := d.Exchange("WHOIS alice\r\n", " 318 carol alice :End of WHOIS list\r\n"); strings.Contains(got, " 313 ") {
			t.Errorf("alice became an operator: %q", got)
		}
		c.Send("QUIT\r\n")
		if got := c.Closed(); !strings.HasSuffix(got, "ERROR :Closing connection\r\n") {
			t.Errorf("QUIT: got %q", got)
		}
	})
}
