package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoBound is how long the demo may take; it runs everything on loopback
// and the issue promises "within seconds".
const demoBound = 10 * time.Second

func runDemoCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	began := time.Now()
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"demo"}, args...), strings.NewReader(""), &out, &errOut) }()
	select {
	case code = <-done:
	case <-time.After(2 * demoBound):
		t.Fatalf("demo still running after %v", 2*demoBound)
	}
	if d := time.Since(began); d > demoBound {
		t.Errorf("demo took %v, want under %v", d, demoBound)
	}
	return code, out.String(), errOut.String()
}

func TestDemo(t *testing.T) {
	code, out, errOut := runDemoCLI(t)
	if code != exitOK {
		t.Fatalf("exit status %d, want 0\nstderr: %s\nstdout:\n%s", code, errOut, out)
	}
	if errOut != "" {
		t.Errorf("stderr: %s", errOut)
	}
	sections := strings.Split(out, "\n\n")
	find := func(prefix string) string {
		for _, s := range sections {
			if strings.HasPrefix(s, prefix) {
				return s
			}
		}
		t.Fatalf("no section %q in:\n%s", prefix, out)
		return ""
	}
	// Each section must show these lines, in this order.
	tests := []struct {
		section string
		lines   []string
	}{
		{"1. ", []string{
			`  client > {open, "notes.txt", read}`,
			`  server < {{ok, 1}, ready}`,
			`  client > {close, 1}`,
			`  server < {true, stop}`,
			`  client > {read_line, 1}`,
			`  server < {{ok, "Black boxes communicate with defined protocols."}, ready}`,
		}},
		{"2. ", []string{
			`  client > {open, "notes.txt", read}`,
			`  server < {{ok, 1}, ready}`,
			`  server < {eof, atEof}`,
			`  client > {rewind, 1}`,
			`  server < {true, ready}`,
			`  client > {close, 1}`,
			`  server < {true, stop}`,
			`  connection closed by the proxy (EOF)`,
			`  => The proxy passed all 8 requests and their replies`,
		}},
		// The proxy holds the read until the close's reply, which leads to
		// stop: the read is a request after the end, and never reaches
		// the service.
		{"3. ", []string{
			`  client > {close, 1}`,
			`  client > {read_line, 1}`,
			`  server < {true, stop}`,
			`  proxy  < {{clientBrokeContract, {read_line, 1}, []}, stop}`,
			`  connection closed by the proxy (EOF)`,
			`  In words: the client broke file_server 1.0 in state stop: it sent {read_line, 1},`,
			`  => The service received {open, "notes.txt", read} and {close, 1}; the read after close`,
		}},
		{"4. ", []string{
			`  server < {eof, atEof}`,
			`  client > {read_line, 1}`,
			`  proxy  < {{clientBrokeContract, {read_line, 1}, ["{close, H}", "{rewind, H}", "info"]}, atEof}`,
			`  connection closed by the proxy (EOF)`,
			`"level":"WARN","msg":"contract violation"`,
			`  In words: the client broke file_server 1.0 in state atEof: it sent {read_line, 1},`,
			`killed: the error reply went to the client and both sides were closed`,
			`(session end: reason violation, after`,
			`never reached it.`,
		}},
		// contracts/file.con binds the handle open returned to H: a
		// read with another handle is refused, and the record says
		// what H is bound to.
		{"5. ", []string{
			`  client > {open, "notes.txt", read}`,
			`  server < {{ok, 1}, ready}`,
			`  client > {read_line, 2}`,
			`  proxy  < {{clientBrokeContract, {read_line, 2}, [`,
			`  connection closed by the proxy (EOF)`,
			`"explanation":"element 2 of {read_line, 2}: expected H (bound to 1), got 2; H is bound to 1 by the reply"`,
			`  In words: the client broke file_server 1.0 in state ready: it sent {read_line, 2},`,
			`  => The service received {open, "notes.txt", read}; the read with a handle it never`,
		}},
	}
	for _, tt := range tests {
		s := find(tt.section)
		flat := strings.Join(strings.Fields(s), " ")
		rest := s
		for _, l := range tt.lines {
			i := strings.Index(rest, l)
			if i < 0 && strings.Contains(flat, strings.Join(strings.Fields(l), " ")) {
				continue // wrapped differently; present all the same
			}
			if i < 0 {
				t.Errorf("section %q: missing (or out of order) %q\nsection:\n%s", tt.section, l, s)
				break
			}
			rest = rest[i+len(l):]
		}
	}
	// The record is the proxy's JSON line, with the fields the issue asks for.
	records := regexp.MustCompile(`(?m)^    (\{"time".*"msg":"contract violation".*\})$`).FindAllStringSubmatch(out, -1)
	if len(records) != 3 {
		t.Fatalf("want 3 JSON violation records (silly, past the end, a handle never given), got %d in:\n%s", len(records), out)
	}
	for i, want := range []struct{ state, msg string }{
		{`"states":["stop"]`, `"message":"{read_line, 1}"`},
		{`"states":["atEof"]`, `"message":"{read_line, 1}"`},
		{`"states":["ready"]`, `"message":"{read_line, 2}"`},
	} {
		for _, field := range []string{`"side":"client"`, want.state, want.msg,
			`"contract":"file_server"`, `"vsn":"1.0"`, `"action":"killed"`, `"expected":[`, `"session":`} {
			if !strings.Contains(records[i][1], field) {
				t.Errorf("violation record %d lacks %s: %s", i+1, field, records[i][1])
			}
		}
	}
}

func TestDemoQuietAndWire(t *testing.T) {
	code, out, errOut := runDemoCLI(t, "--quiet")
	if code != exitOK {
		t.Fatalf("--quiet: exit status %d\nstderr: %s", code, errOut)
	}
	if strings.Contains(out, "client >") {
		t.Errorf("--quiet printed the conversation:\n%s", out)
	}
	if !strings.Contains(out, `"msg":"contract violation"`) || !strings.Contains(out, "the read after close") {
		t.Errorf("--quiet left out the outcome or the record:\n%s", out)
	}

	code, out, errOut = runDemoCLI(t, "--wire")
	if code != exitOK {
		t.Fatalf("--wire: exit status %d\nstderr: %s", code, errOut)
	}
	// The bytes of the first request and of its reply, as the wire carries them.
	for _, raw := range []string{`"{'open',\"notes.txt\",'read'}$"`, `"{{'ok',1},'ready'}$"`} {
		if !strings.Contains(out, raw) {
			t.Errorf("--wire: no %s in:\n%s", raw, out)
		}
	}
}

func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	began := time.Now()
	err := runDemo(ctx, &out, demoOptions{})
	if err == nil {
		t.Fatal("runDemo with a cancelled context succeeded")
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("a cancelled demo took %v to stop", d)
	}
}

func TestDemoRejectsArguments(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"demo", "extra"}, strings.NewReader(""), &out, &errOut); code != exitUsage {
		t.Errorf("demo extra: exit status %d, want %d (stderr %q)", code, exitUsage, errOut.String())
	}
}
