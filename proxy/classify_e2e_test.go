package proxy_test

// End-to-end tests of a wire that does not say what a message is (the
// generic line wire of wrappers/text, every message wrappers.Unknown): the
// contract decides, call, reply, transition or event, and the reply
// time-out applies only to calls whose reply is not none().

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

// ftpLikeCon: a greeting, a call answered twice (150, then 226 as an out
// transition), a client message with no reply, a server notice, a call
// that need not be answered, and quit. (A call answered none() takes
// whatever the server sends next as its reply, as none() matches any
// term: the test sends it last.)
const ftpLikeCon = `
+state start out {220, string()} x ready.
+state ready x {retr, string()} -> {150, string()} x sending | {550, string()} x ready.
+state sending out {226, string()} x ready.
+state ready in {say, ..[string()]} x ready.
+event ready out {notice, string()}.
+state ready x {fire, string()} -> none() x ready.
+state ready x quit -> {221, string()} x stop.
`

// ftpLikeService answers as ftpLikeCon says, and notes every line it
// receives on got.
func ftpLikeService(t *testing.T, got chan<- string) string {
	t.Helper()
	return realservice.Serve(t, func(c net.Conn) {
		write := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
		write("220 hello")
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			got <- l
			switch verb, _, _ := strings.Cut(l, " "); verb {
			case "retr":
				write("150 opening")
				write("226 done")
			case "say":
				write("notice heard") // unasked, while nothing is pending
			case "quit":
				write("221 bye")
				return
			}
		}
	})
}

func TestClassifiedByTheContract(t *testing.T) {
	c, diags := contract.Compile("ftp-like.con", []byte(ftpLikeCon), contract.Options{})
	if c == nil || diags.HasErrors() {
		t.Fatalf("contract: %v", diags)
	}
	got := make(chan string, 16)
	var logs realservice.Output
	_, addr := serveProxy(t, proxy.Config{
		Contract: c, Upstream: ftpLikeService(t, got), Wire: text.NewWire(text.Line), Mode: proxy.Kill,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		// fire's reply is none(): the service never answers it, and a
		// time-out shorter than the test must not fire for it.
		Limits: proxy.Limits{ReplyTimeout: 200 * time.Millisecond},
	})
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	expect := func(want string) {
		t.Helper()
		l, err := r.ReadString('\n')
		if err != nil || strings.TrimRight(l, "\r\n") != want {
			t.Fatalf("read %q (%v), want %q; log:\n%s", l, err, want, logs.String())
		}
	}
	send := func(l string) {
		t.Helper()
		if _, err := conn.Write([]byte(l + "\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	expect("220 hello") // an out transition of start
	send("retr a.txt")  // a call
	expect("150 opening")
	expect("226 done") // not a reply: an out transition of sending
	send("say hello world")
	expect("notice heard") // an event, nothing pending
	send("fire x")         // a call that is never answered
	want := []string{"retr a.txt", "say hello world", "fire x"}
	for _, w := range want {
		select {
		case l := <-got:
			if l != w {
				t.Errorf("service received %q, want %q", l, w)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("service did not receive %q", w)
		}
	}
	// fire x was forwarded, so a reply time-out would be running. A
	// deliberate pause well past it (200 ms): none() is never due, so
	// nothing may fire meanwhile, and nothing that is not there can be
	// waited for.
	time.Sleep(500 * time.Millisecond)
	if strings.Contains(logs.String(), "contract violation") {
		t.Errorf("violations logged:\n%s", logs.String())
	}
}

// TestClientSpeaksBeforeTheGreeting: in a state with only out transitions
// the server speaks next; a client line there is a client violation and
// never reaches the service.
func TestClientSpeaksBeforeTheGreeting(t *testing.T) {
	c, diags := contract.Compile("ftp-like.con", []byte(ftpLikeCon), contract.Options{})
	if c == nil || diags.HasErrors() {
		t.Fatalf("contract: %v", diags)
	}
	got := make(chan string, 16)
	var logs realservice.Output
	// The service greets only once it has read a line, so the client's
	// line arrives while the session is in start.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			got <- l
		}
	}()
	_, addr := serveProxy(t, proxy.Config{
		Contract: c, Upstream: ln.Addr().String(), Wire: text.NewWire(text.Line), Mode: proxy.Kill,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("quit\r\n")); err != nil {
		t.Fatal(err)
	}
	reply, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.Contains(reply, "the server speaks next") {
		t.Errorf("error reply %q does not say the server speaks next", reply)
	}
	// A deliberate pause: that the line never reaches the service can
	// only be watched for a while, not waited for.
	select {
	case l := <-got:
		t.Errorf("the service received %q", l)
	case <-time.After(300 * time.Millisecond):
	}
	deadline := time.Now().Add(ioTimeout)
	for !strings.Contains(logs.String(), `"kind":"bad-request"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"kind":"bad-request"`) {
		t.Errorf("no bad-request record:\n%s", logs.String())
	}
}
