package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/golden"
	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy/fileserver"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// fileServer starts the repository's file server on a free loopback port,
// with rewrite (nil: none) changing its replies.
func fileServer(t *testing.T, rewrite func(req, reply term.Term, state string) (term.Term, string)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr, stop, err := fileserver.Listen(ctx, "127.0.0.1:0", fileserver.Config{Rewrite: rewrite})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); stop() })
	return addr.String()
}

const fileContract = "../../contracts/file.con"

// TestTestFileServer: the file server keeps its contract in every
// conversation, the run is reproducible from its seed, and the coverage
// summary says what the conversations exercised.
func TestTestFileServer(t *testing.T) {
	addr := fileServer(t, nil)
	args := []string{"test", "--contract", fileContract, "--wire", "ubf", "--upstream", addr, "--sessions", "40", "--seed", "11"}
	r := runUbfproxy(t, "", args...)
	if r.code != exitOK || !strings.Contains(r.stdout, "the service kept the contract") {
		t.Fatalf("want the service to pass:\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^coverage: \d+\.\d% \(\d+ of 16 items; rules 7/7`).MatchString(r.stdout) {
		t.Errorf("coverage summary missing or not every rule exercised:\n%s", r.stdout)
	}
	table := runUbfproxy(t, "", append(args, "--coverage")...)
	golden.Check(t, "testdata/test/coverage.golden", []byte(strings.ReplaceAll(table.String(), addr, "ADDR")))
	again := runUbfproxy(t, "", args...)
	if again.stdout != r.stdout {
		t.Errorf("the same seed gave another run:\n%s\nthen\n%s", r.stdout, again.stdout)
	}
}

// TestTestFindsAndShrinks: a variant of the file server that lies on one
// path (rewind answers ok instead of true) is caught, the conversation is
// shrunk to the shortest that shows it (a successful open, then rewind),
// and the trace written reproduces the violation with replay.
func TestTestFindsAndShrinks(t *testing.T) {
	liar := func(req, reply term.Term, state string) (term.Term, string) {
		if tu, ok := req.(term.Tuple); ok && len(tu) == 2 && tu[0] == term.Atom("rewind") {
			return term.Atom("ok"), state
		}
		return reply, state
	}
	addr := fileServer(t, liar)
	out := filepath.Join(t.TempDir(), "found.trace")
	r := runUbfproxy(t, "", "test", "--contract", fileContract, "--wire", "ubf", "--upstream", addr,
		"--sessions", "50", "--seed", "5", "--out", out)
	if r.code != exitViolation {
		t.Fatalf("want exit 1 for the lying server:\n%s", r)
	}
	if !strings.Contains(r.stdout, "to 2 client messages:") {
		t.Errorf("not shrunk to 2 client messages:\n%s", r.stdout)
	}
	src, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no trace written: %v\n%s", err, r)
	}
	var msgs []string
	for _, l := range strings.Split(string(src), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			msgs = append(msgs, l)
		}
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^> \{open, .*, (read|write)\}$`),
		regexp.MustCompile(`^< \{ok, \d+\} x ready$`),
		regexp.MustCompile(`^> \{rewind, \d+\}$`),
		regexp.MustCompile(`^< ok x ready$`),
	}
	if len(msgs) != len(want) {
		t.Fatalf("trace has %d messages, want %d:\n%s", len(msgs), len(want), src)
	}
	for i, re := range want {
		if !re.MatchString(msgs[i]) {
			t.Errorf("message %d is %q, want %s", i+1, msgs[i], re)
		}
	}
	if !strings.HasPrefix(string(src), "# contract: ") {
		t.Errorf("the trace does not name its contract:\n%s", src)
	}
	// What the user sees, with the service's address and the trace's
	// folder, which change from run to run, written as ADDR and DIR.
	shown := strings.ReplaceAll(r.String(), addr, "ADDR")
	shown = strings.ReplaceAll(shown, filepath.Dir(out), "DIR")
	golden.Check(t, "testdata/test/shrunk.golden", []byte(shown))
	rr := runUbfproxy(t, "", "replay", out)
	if rr.code != exitViolation || !strings.Contains(rr.stdout, "server broke the contract") {
		t.Errorf("replay of the trace does not reproduce the violation:\n%s", rr)
	}
}

// TestTestMutants: off-spec requests are sent and their outcomes counted.
func TestTestMutants(t *testing.T) {
	addr := fileServer(t, nil)
	r := runUbfproxy(t, "", "test", "--contract", fileContract, "--wire", "ubf", "--upstream", addr,
		"--sessions", "20", "--seed", "2", "--mutants")
	if r.code != exitOK {
		t.Fatalf("exit %d:\n%s", r.code, r)
	}
	m := regexp.MustCompile(`mutants: (\d+) off-spec requests: (\d+) refused, (\d+) answered as if legal, (\d+) crashed`).FindStringSubmatch(r.stdout)
	if m == nil || m[1] == "0" {
		t.Fatalf("no mutants reported:\n%s", r.stdout)
	}
	if m[4] != "0" {
		t.Errorf("the file server crashed on an off-spec request:\n%s", r.stdout)
	}
}

// TestTestRedis runs test against a real redis-server with
// contracts/redis.con, from the state after AUTH.
func TestTestRedis(t *testing.T) {
	addr := realservice.Redis(t, "")
	r := runUbfproxy(t, "", "test", "--contract", "../../contracts/redis.con", "--wire", "resp", "--upstream", addr,
		"--initial", "ready", "--sessions", "30", "--seed", "3", "--out", filepath.Join(t.TempDir(), "redis.trace"))
	if r.code != exitOK || !strings.Contains(r.stdout, "the service kept the contract") {
		t.Fatalf("redis-server and contracts/redis.con disagree:\n%s", r)
	}
	if !regexp.MustCompile(`coverage: [1-9]\d\.\d%`).MatchString(r.stdout) {
		t.Errorf("the walks covered less than 10%% of the contract:\n%s", r.stdout)
	}
}

func TestTestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // in stderr: the usage error is the one the case is about
	}{
		{[]string{"test", "--wire", "ubf", "--upstream", "127.0.0.1:1"}, "--contract FILE is required"},
		{[]string{"test", "--contract", fileContract, "--wire", "ubf"}, "--upstream HOST:PORT is required"},
		{[]string{"test", "--contract", fileContract, "--wire", "nope", "--upstream", "127.0.0.1:1"}, `unknown wire format "nope"`},
		{[]string{"test", "--contract", fileContract, "--upstream", "127.0.0.1:1", "--timeout", "200ms"}, "test: 127.0.0.1:1: "}, // nothing listens
	} {
		r := runUbfproxy(t, "", tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, want 2 with %q\n%s", tt.args, r.code, tt.want, r)
		}
	}
}

// TestDemoServe: demo --serve keeps the file server running until it is
// stopped, and says where.
func TestDemoServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuf
	done := make(chan error, 1)
	go func() { done <- serveDemo(ctx, &out, "127.0.0.1:0") }()
	var addr string
	for i := 0; i < 200 && addr == ""; i++ {
		if m := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("demo --serve printed no address: %q", out.String())
	}
	// The probe that must find no server once demo --serve ended finds
	// this one while it runs: its silence then means the server is gone.
	req, err := ubf.AppendEncode(nil, term.MustParse(`{open, "notes.txt", read}`))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ubf.AppendEncode(nil, term.MustParse("{{ok, 1}, ready}"))
	if err != nil {
		t.Fatal(err)
	}
	if !realservice.Answers(addr, req, string(want), 5*time.Second) {
		cancel()
		t.Fatalf("the file server of demo --serve does not answer the probe on %s", addr)
	}
	r := runUbfproxy(t, "", "test", "--contract", fileContract, "--wire", "ubf", "--upstream", addr, "--sessions", "5", "--seed", "1")
	if r.code != exitOK {
		t.Errorf("test against demo --serve: %s", r)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serveDemo: %v", err)
	}
	if realservice.Answers(addr, req, string(want), 500*time.Millisecond) {
		t.Errorf("the file server still answers on %s after demo --serve ended", addr)
	}
	if !strings.Contains(out.String(), "ubfproxy run --contract contracts/file.con") {
		t.Errorf("demo --serve does not show the run command:\n%s", out.String())
	}
}
