package text

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// relay stands between clients and a real server as the proxy will, less
// the contract: each direction is decoded by one session of fam and each
// message's Raw forwarded as soon as it is decoded, so the server's answer
// reaches the client only after its decoder framed it. Every message and
// error is written to the transcript.
type relay struct {
	fam  *Family
	to   string
	mu   sync.Mutex
	log  []string
	errs []string
	wg   sync.WaitGroup
}

// startRelay listens on a free loopback port; the relay stops when the
// test ends.
func startRelay(t *testing.T, fam *Family, to string) (string, *relay) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{fam: fam, to: to}
	var conns sync.WaitGroup
	var open []net.Conn
	var mu sync.Mutex
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", to)
			if err != nil {
				r.record(true, "dial: "+err.Error())
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, s)
			mu.Unlock()
			sess := NewWire(fam).NewSession(wrappers.Options{})
			r.wg.Add(2)
			go r.pump(sess.ClientDecoder(c), s, ">")
			go r.pump(sess.ServerDecoder(s), c, "<")
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Wait()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		r.wg.Wait()
	})
	return ln.Addr().String(), r
}

func (r *relay) record(isErr bool, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
	if isErr {
		r.errs = append(r.errs, s)
	}
}

func (r *relay) pump(d wrappers.Decoder, to net.Conn, mark string) {
	defer r.wg.Done()
	for {
		m, err := d.Next()
		if err != nil {
			var fe *wrappers.FrameError
			if errors.As(err, &fe) {
				r.record(true, mark+" error: "+err.Error())
			}
			if tc, ok := to.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				_ = tc.CloseWrite()
			} else {
				to.Close()
			}
			return
		}
		if m.Kind != wrappers.Filler {
			if m.Kind != wrappers.Unknown {
				r.record(true, mark+" message of kind "+m.Kind.String())
			}
			r.record(false, mark+" "+m.Term.String())
		}
		if _, err := to.Write(m.Raw); err != nil {
			return
		}
	}
}

// check fails the test if any stream broke, and returns the transcript.
func (r *relay) check(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		t.Errorf("%s: %s", r.fam.Name, strings.Join(r.errs, "\n"))
	}
	return strings.Join(r.log, "\n")
}

// has fails the test if the transcript lacks one of the lines.
func has(t *testing.T, transcript string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains("\n"+transcript+"\n", "\n"+l+"\n") {
			t.Errorf("the transcript lacks %s:\n%s", l, transcript)
		}
	}
}

// quiet matches the commands of the transcript that wait for no answer:
// noreply last (before the block), or a meta command's q flag.
var quiet = regexp.MustCompile(`"noreply"(, <<.*>>)?}$|"q"`)

// TestRealMemcached: values that look like protocol lines, noreply,
// multi-get and a meta get, through the relay, get the answers memcached
// gives directly, and decode to the terms the docs promise.
func TestRealMemcached(t *testing.T) {
	addr, r := startRelay(t, Memcached, realservice.Memcached(t))
	c := realservice.Dial(t, addr)
	steps := []struct{ send, want string }{
		{"set a 0 0 6\r\n354 go\r\nset b 0 0 5\r\n250-x\r\nset c 0 0 3\r\nEND\r\n", "STORED\r\nSTORED\r\nSTORED\r\n"},
		{"set d 0 0 6 noreply\r\nBDAT 5\r\nset e 0 0 11 noreply\r\nVALUE x 0 1\r\n", ""},
		{"get a b c d e nope\r\n", "VALUE a 0 6\r\n354 go\r\nVALUE b 0 5\r\n250-x\r\nVALUE c 0 3\r\nEND\r\nVALUE d 0 6\r\nBDAT 5\r\nVALUE e 0 11\r\nVALUE x 0 1\r\nEND\r\n"},
		{"delete a noreply\r\nget a\r\nmg b v\r\n", "END\r\nVA 5\r\n250-x\r\n"},
		{"SET f 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n"},
	}
	for _, st := range steps {
		if st.want == "" {
			c.Send(st.send)
			continue
		}
		if got := c.Exchange(st.send, st.want); got != st.want {
			t.Errorf("%q: got %q, want %q", st.send, got, st.want)
		}
	}
	// Lines memcached refuses before it reads their block, or takes in
	// ways a strict reading would not: the wire must read a block exactly
	// when memcached does, or the answers stop matching the commands.
	edges := []string{
		"set " + strings.Repeat("k", 251) + " 0 0 1\r\nx\r\n",
		"set " + strings.Repeat("k", 250) + " 0 0 1\r\nx\r\n",
		"set k x 0 1\r\nx\r\n", "set k -1 0 1\r\nx\r\n", "set k 0 x 1\r\nx\r\n",
		"set k 18446744073709551615 0 1\r\nx\r\n", "set k 18446744073709551616 0 1\r\nx\r\n",
		"set k +1 +5 +1\r\nx\r\n", "set k 0 -0 -0\r\n\r\n", "set k 0 99999999999 1\r\nx\r\n",
		"set k 0 0 1 extra\r\nx\r\n", "set k 0 0 1 noreply extra\r\nx\r\n",
		"set k 0 0 2147483646\r\n\r\n", "set k 0 0 -1\r\nx\r\n", "set\tk 0 0 1\r\nx\r\n",
		"cas k 0 0 1\r\nx\r\n", "cas k 0 0 1 abc\r\nx\r\n", "cas k 0 0 1 -5\r\nx\r\n", "cas k 0 0 1 +5\r\nx\r\n",
		"ms k +2\r\nhi\r\n", "ms k x\r\nhi\r\n", "ms k 2 q\r\nhi\r\n",
	}
	for _, e := range edges {
		c.Send(e)
	}
	c.Exchange("version\r\n", "VERSION ")
	c.Next("\r\n")
	tr := r.check(t)
	asked, answered := 0, 0
	for _, l := range strings.Split(tr, "\n") {
		switch {
		case strings.HasPrefix(l, "> ") && !quiet.MatchString(l):
			asked++
		case strings.HasPrefix(l, "< "):
			answered++
		}
	}
	if asked != answered {
		t.Errorf("%d commands that wait for an answer, %d answers:\n%s", asked, answered, tr)
	}
	c.Send("quit\r\n")
	c.Closed()
	tr = r.check(t)
	has(t, tr,
		`> {set, "a", "0", "0", "6", <<"354 go">>}`,
		`> {set, "d", "0", "0", "6", "noreply", <<"BDAT 5">>}`,
		`< [{value, "a", "0", "6", <<"354 go">>}, {value, "b", "0", "5", <<"250-x">>}, {value, "c", "0", "3", <<"END">>}, {value, "d", "0", "6", <<"BDAT 5">>}, {value, "e", "0", "11", <<"VALUE x 0 1">>}]`,
		`< []`,
		`< {va, "5", <<"250-x">>}`,
		`> {'SET', "f", "0", "0", "1"}`,
		`< error`,
		`> quit`)
}

// TestRealFTP: Python's ftplib session through the relay prints what it
// prints directly.
func TestRealFTP(t *testing.T) {
	srv := realservice.FTP(t)
	addr, r := startRelay(t, FTP, srv.Addr)
	direct := realservice.RunClient(t, realservice.FTPClient, "127.0.0.1", port(srv.Addr), realservice.FTPFile)
	relayed := realservice.RunClient(t, realservice.FTPClient, "127.0.0.1", port(addr), realservice.FTPFile)
	if direct != relayed {
		t.Errorf("through the relay:\n%s\ndirect:\n%s", relayed, direct)
	}
	tr := r.check(t)
	if greeting := regexp.MustCompile(`(?m)^< \{220, "` + realservice.FTPGreeting + `"\}$`); !greeting.MatchString(tr) {
		t.Errorf("the transcript lacks a line matching %s:\n%s", greeting, tr)
	}
	has(t, tr,
		`> feat`,
		`< {211, ["Features:", " EPRT", " EPSV", " MDTM", " PASV", " REST STREAM", " SIZE", " TVFS", "End"]}`,
		`> {retr, "my file.txt"}`,
		`< {226, "Transfer complete."}`,
		`> {cwd, "pub"}`,
		`< {250, "Directory successfully changed."}`)
}

// TestRealPOP3: Python's poplib session through the relay prints what it
// prints directly, and pipelined commands are framed each by its own.
func TestRealPOP3(t *testing.T) {
	srv := realservice.POP3(t)
	addr, r := startRelay(t, POP3, srv.Addr)
	direct := realservice.RunClient(t, realservice.POP3Client, "127.0.0.1", port(srv.Addr), realservice.POP3User, realservice.POP3Password)
	relayed := realservice.RunClient(t, realservice.POP3Client, "127.0.0.1", port(addr), realservice.POP3User, realservice.POP3Password)
	if direct != relayed {
		t.Errorf("through the relay:\n%s\ndirect:\n%s", relayed, direct)
	}
	c := realservice.Dial(t, addr)
	c.Next("\r\n")
	c.Exchange("USER alice\r\nPASS secret\r\n", "+OK Logged in.\r\n")
	c.Exchange("LIST\r\nUIDL\r\nLIST 2\r\n", "+OK 2 69\r\n")
	c.Send("QUIT\r\n")
	c.Closed()
	tr := r.check(t)
	has(t, tr,
		`< {ok, "112 octets", <<"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: lines\r\n\r\nfirst\r\n250-x\r\n.\r\n..two\r\n+OK not a status\r\nlast\r\n">>}`,
		`< {ok, "2 messages:", ["1 112", "2 69"]}`,
		`< {ok, "2 69"}`,
		`< {ok, "Logging out."}`)
}

// TestRealIRC: registration with CAP as irssi does it, a channel message
// from one client to another, through the relay.
func TestRealIRC(t *testing.T) {
	addr, r := startRelay(t, IRC, realservice.IRC(t, 30*time.Second))
	alice, bob := realservice.Dial(t, addr), realservice.Dial(t, addr)
	alice.Send("CAP LS 302\r\nNICK alice\r\nUSER alice alice 127.0.0.1 :Alice A\r\n")
	alice.Next("CAP * LS :multi-prefix\r\n")
	alice.Exchange("CAP REQ :multi-prefix\r\n", "ACK :multi-prefix\r\n")
	alice.Exchange("CAP END\r\n", " 376 alice :End of MOTD command\r\n")
	alice.Exchange("JOIN #t\r\n", " 366 alice #t :End of NAMES list\r\n")
	bob.Exchange("NICK bob\r\nUSER bob 0 * :Bob\r\n", " 376 bob :End of MOTD command\r\n")
	bob.Exchange("JOIN #t\r\n", " 366 bob #t :End of NAMES list\r\n")
	words := strings.TrimSpace(strings.Repeat("word ", 50))
	bob.Send("PRIVMSG #t :" + words + "\r\n")
	alice.Next(":bob!~bob@127.0.0.1 PRIVMSG #t :" + words + "\r\n")
	bob.Send("QUIT :bye\r\n")
	bob.Closed()
	alice.Send("QUIT\r\n")
	alice.Closed()
	tr := r.check(t)
	has(t, tr,
		`> {cap, "LS", "302"}`,
		`< {from, "irc.test.local", {cap, "alice", "ACK", "multi-prefix"}}`,
		`< {from, "irc.test.local", {1, "alice", "Welcome to the Internet Relay Network alice!~alice@127.0.0.1"}}`,
		fmt.Sprintf(`< {from, "bob!~bob@127.0.0.1", {privmsg, "#t", "%s"}}`, words),
		`> {quit, "bye"}`,
		`< {error, "\"bye\""}`)
}

// TestRealSMTP: swaks sends a mail whose body holds reply-like lines and a
// lone dot, pipelined, through the relay, and aiosmtpd receives it.
func TestRealSMTP(t *testing.T) {
	smtpAddr, out := realservice.SMTP(t)
	addr, r := startRelay(t, SMTP, smtpAddr)
	c := realservice.Dial(t, addr)
	c.Next("\r\n")
	c.Exchange("EHLO client.example\r\n", "250 HELP\r\n")
	c.Exchange("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n")
	c.Exchange("Subject: t\r\n\r\n250-x\r\n354 go\r\n..\r\nlast\r\n.\r\n", "250 OK\r\n")
	c.Send("QUIT\r\n")
	c.Closed()
	tr := r.check(t)
	has(t, tr,
		`> data`,
		`< {354, "End data with <CR><LF>.<CR><LF>"}`,
		`> {data, <<"Subject: t\r\n\r\n250-x\r\n354 go\r\n.\r\nlast\r\n">>}`,
		`< {221, "Bye"}`)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "354 go") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "250-x") {
		t.Errorf("aiosmtpd did not receive the body:\n%s", out.String())
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
