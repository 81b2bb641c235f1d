package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
)

const runCon = `+name("svc").
+vsn("1").
+state start x ping -> pong x start.
`

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunUsage(t *testing.T) {
	dir := t.TempDir()
	con := writeFile(t, dir, "svc.con", runCon)
	bad := writeFile(t, dir, "bad.con", "+state start x ping -> pong x nowhere.\n")
	base := []string{"run", "--contract", con, "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"run"}, 2, "--contract, --listen, --upstream required"},
		{"no upstream", []string{"run", "--contract", con, "--listen", ":0"}, 2, "--upstream required"},
		{"argument", append(base, "extra"), 2, "unknown command"},
		{"unknown flag", append(base, "--frobnicate"), 2, "unknown flag"},
		{"wire", append(base, "--wire", "xml"), 2, `unknown wire format "xml" (want ftp, irc, json, line, memcached, pop3, resp, smtp, ubf)`},
		{"mode", append(base, "--mode", "scold"), 2, "unknown mode"},
		{"transport", append(base, "--transport", "udp"), 2, "unknown transport"},
		{"no-meta with json", append(base, "--wire", "json", "--no-meta"), 2, "--no-meta applies to --wire ubf only"},
		{"limit", append(base, "--max-frame", "0"), 2, "--max-frame must be positive"},
		{"duration", append(base, "--idle-timeout", "soon"), 2, "invalid argument"},
		{"negative reply time-out", append(base, "--reply-timeout", "-1s"), 2, "--reply-timeout must not be negative (0 turns it off)"},
		{"negative park delay", append(base, "--park-delay", "-1s"), 2, "--park-delay must not be negative (0 turns parking off)"},
		{"plain io with ws", append(base, "--transport", "ws", "--plain-io"), 2, "--plain-io applies to --transport tcp only"},
		{"plain reads (the old name) with ws", append(base, "--transport", "ws", "--plain-reads"), 2, "--plain-io applies to --transport tcp only"},
		{"negative loops", append(base, "--event-loop", "--event-loops", "-1"), 2, "--event-loops must not be negative"},
		{"loops without the loop", append(base, "--event-loop=false", "--event-loops", "1"), 2, "--event-loops counts the event loops, which are off (--event-loop=false)"},
		{"loops with plain io", append(base, "--plain-io", "--event-loops", "1"), 2, "--event-loops counts the event loops, which are off (--plain-io)"},
		{"the loop with plain io", append(base, "--plain-io", "--event-loop"), 2, "--event-loop reads inside its loop and cannot be combined with --plain-io"},
		{"the loop with ws", append(base, "--transport", "ws", "--event-loop"), 2, "--event-loop applies to --transport tcp only"},
		{"the loop with websocket", append(base, "--transport", "websocket", "--event-loop"), 2, "--event-loop applies to --transport tcp only"},
		{"plain io with websocket", append(base, "--transport", "websocket", "--plain-io"), 2, "--plain-io applies to --transport tcp only"},
		{"log format", append(base, "--log-format", "xml"), 2, "--log-format"},
		{"ws upstream", append(base, "--transport", "ws"), 2, "not a ws:// or wss:// URL"},
		{"initial", append(base, "--initial", "nowhere"), 1, ""},
		{"missing contract", []string{"run", "--contract", filepath.Join(dir, "none.con"), "--listen", ":0", "--upstream", "127.0.0.1:1"}, 2, "none.con"},
		{"contract errors", []string{"run", "--contract", bad, "--listen", ":0", "--upstream", "127.0.0.1:1"}, 1, "bad.con:1:"},
		{"listen", []string{"run", "--contract", con, "--listen", "256.0.0.1:99999", "--upstream", "127.0.0.1:1"}, 2, "cannot listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errb.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"run", "--help"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"ubfproxy run --contract contracts/file.con", "--mode", "--reply-timeout", "--grace", "SIGHUP", "--no-meta", "--plain-io", "Exit status"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestRunPlainIO: reads and writes are direct system calls unless
// --plain-io (or its old name, --plain-reads) says otherwise, and the flag
// sets proxy.Config.PlainIO.
func TestRunPlainIO(t *testing.T) {
	if def := newRunCmd().Flags().Lookup("plain-io").DefValue; def != "false" {
		t.Errorf("--plain-io defaults to %s, want false", def)
	}
	for _, name := range []string{"--plain-io", "--plain-reads"} {
		fl := newRunCmd().Flags()
		if err := fl.Parse([]string{name}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := fl.Lookup("plain-io").Value.String(); got != "true" {
			t.Errorf("%s left --plain-io %s", name, got)
		}
	}
	for _, plain := range []bool{false, true} {
		f := runFlags{contracts: []string{"svc.con"}, listen: "127.0.0.1:0", upstream: "127.0.0.1:1", wire: "json",
			transport: "tcp", mode: "kill", explain: "brief", logFormat: "json", logLevel: "info", maxLogMsg: 100, plain: plain}
		f.limits = proxy.DefaultLimits()
		cfg, err := f.config(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.PlainIO != plain {
			t.Errorf("--plain-io=%v gave Config.PlainIO %v", plain, cfg.PlainIO)
		}
	}
}

// syncBuf is a bytes.Buffer safe for a logger and a test at once.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitLog returns the first JSON record with message msg.
func waitLog(t *testing.T, b *syncBuf, msg string, after int) (map[string]any, int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		lines := strings.Split(b.String(), "\n")
		for i := after; i < len(lines); i++ {
			var r map[string]any
			if json.Unmarshal([]byte(lines[i]), &r) == nil && r["msg"] == msg {
				return r, i + 1
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q record in:\n%s", msg, b.String())
	return nil, 0
}

// TestRunProxy runs the command's proxy against a JSON-lines service:
// a conversation, metrics, a reload by SIGHUP, a failed reload, shutdown.
func TestRunProxy(t *testing.T) {
	svc := realservice.Serve(t, func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if _, err := c.Write([]byte(`{"$A": "pong"}` + "\n")); err != nil {
				return
			}
		}
	})

	dir := t.TempDir()
	con := writeFile(t, dir, "svc.con", runCon)
	f := runFlags{contracts: []string{con}, listen: "127.0.0.1:0", upstream: svc, wire: "json",
		transport: "tcp", mode: "kill", metrics: "127.0.0.1:0", logFormat: "json", logLevel: "info", maxLogMsg: 100, pprof: true}
	f.limits.MaxFrame, f.limits.MaxDepth, f.limits.MaxSessions, f.limits.MaxPending, f.limits.MaxViolations = 1<<16, 100, 10, 4, 10
	f.limits.IdleTimeout, f.limits.ReplyTimeout, f.limits.DialTimeout, f.limits.Grace = time.Minute, time.Second, time.Second, 200*time.Millisecond

	logs := &syncBuf{}
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runProxy(ctx, f, hup, logs) }()
	defer cancel()

	rec, n := waitLog(t, logs, "listening", 0)
	addr, _ := rec["addr"].(string)
	wantLoops := 0.0 // a JSON number
	if proxy.EventLoopAvailable {
		wantLoops = float64(proxy.DefaultEventLoops()) // the default where the loop is
	}
	if rec["event_loops"] != wantLoops {
		t.Errorf("the listening record says event_loops %v, want %v", rec["event_loops"], wantLoops)
	}
	mrec, _ := waitLog(t, logs, "metrics", 0)
	maddr, _ := mrec["addr"].(string)

	talk := func(line string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		got, _ := bufio.NewReader(c).ReadString('\n')
		return got
	}
	if got := talk(`{"$A": "ping"}`); got != `{"$A": "pong"}`+"\n" {
		t.Fatalf("got %q", got)
	}
	// The proxy adds message counts in batches, a read behind at most: the
	// client's request is counted once its session reads again (here, the
	// end of the connection), which may come after the reply reached us.
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get("http://" + maddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `ubfproxy_messages_total{direction="client_to_server",verdict="ok"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics after 5s:\n%s", body)
		}
	}

	// SIGHUP with a new version: loaded.
	writeFile(t, dir, "svc.con", strings.Replace(runCon, `+vsn("1")`, `+vsn("2")`, 1))
	hup <- syscall.SIGHUP
	r, n2 := waitLog(t, logs, "contract loaded", n)
	if r["vsn"] != "2" {
		t.Errorf("reload record %v", r)
	}
	// SIGHUP with a broken contract: logged, version 2 stays.
	writeFile(t, dir, "svc.con", "+state start x ping -> pong x nowhere.\n")
	hup <- syscall.SIGHUP
	r, _ = waitLog(t, logs, "reload failed; keeping the running contract", n2)
	if r["vsn"] != "2" || !strings.Contains(r["error"].(string), "nowhere") {
		t.Errorf("failed reload record %v", r)
	}
	if got := talk(`{"$A": "ping"}`); got != `{"$A": "pong"}`+"\n" {
		t.Fatalf("after a failed reload: got %q", got)
	}
	if got := talk(`{"$A": "pang"}`); !strings.Contains(got, "clientBrokeContract") {
		t.Fatalf("a violation got %q", got)
	}
	v, _ := waitLog(t, logs, "contract violation", 0)
	if v["vsn"] != "2" || v["message"] != "pang" {
		t.Errorf("violation record %v", v)
	}
	// The reloads by result, the Go runtime's and the process's metrics,
	// and (--pprof) the profiles, on the metrics listener.
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + maddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	metrics := get("/metrics")
	for _, w := range []string{`ubfproxy_reloads_total{result="ok"} 1`, `ubfproxy_reloads_total{result="failed"} 1`,
		"go_goroutines ", "go_memstats_heap_inuse_bytes ", "process_resident_memory_bytes ", "process_open_fds "} {
		if !strings.Contains(metrics, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if p := get("/debug/pprof/"); !strings.Contains(p, "goroutine") {
		t.Errorf("/debug/pprof/ gave %.200q", p)
	}
	if p := get("/debug/pprof/goroutine?debug=1"); !strings.Contains(p, "goroutine profile") {
		t.Errorf("the goroutine profile: %.200q", p)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runProxy: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runProxy did not return after its context was cancelled")
	}
	waitLog(t, logs, "stopped", 0)
}

// TestUseEventLoop: without --event-loop the sessions run on event loops
// wherever they can (tcp, a system with the loop, no --plain-io); the flag,
// on or off, decides when given.
func TestUseEventLoop(t *testing.T) {
	avail := proxy.EventLoopAvailable
	for _, tc := range []struct {
		name string
		f    runFlags
		tr   proxy.Transport
		want bool
	}{
		{"default", runFlags{}, proxy.TCP, avail},
		{"ws", runFlags{}, proxy.WebSocket, false},
		{"plain io", runFlags{plain: true}, proxy.TCP, false},
		{"off", runFlags{eventLoopGiven: true}, proxy.TCP, false},
		{"on", runFlags{eventLoopGiven: true, eventLoop: true}, proxy.TCP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.useEventLoop(tc.tr); got != tc.want {
				t.Errorf("useEventLoop() = %v, want %v", got, tc.want)
			}
		})
	}
}
