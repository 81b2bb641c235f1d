package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// printer writes the demo's narrative. Conversation lines are left out in
// quiet mode; outcomes and the violation record never are.
type printer struct {
	w     io.Writer
	quiet bool
	wire  bool
}

// textWidth is where the narrative's prose is wrapped.
const textWidth = 88

func (p *printer) printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }

func (p *printer) header(service, proxyAddr string, c *contract.Contract) {
	name := c.Name
	if c.Vsn != "" {
		name += " " + c.Vsn
	}
	p.printf("ubfproxy demo: a legacy service, its contract, and the proxy that holds clients to it.\n\n")
	p.printf("  service  %-21s the file server of Armstrong's talk, speaking UBF(A);\n", service)
	p.printf("  %-8s %-21s naive, it answers a read on a file that was closed\n", "", "")
	p.printf("  proxy    %-21s ubfproxy enforcing contracts/%s (%s), mode kill\n", proxyAddr, demoContract, name)
}

func (p *printer) section(title string) {
	p.printf("\n%s\n", title)
}

// message prints one message in the text notation and, with --wire, the
// bytes that carried it.
func (p *printer) message(who string, t term.Term, raw []byte) {
	if p.quiet {
		return
	}
	p.printf("  %s %s\n", who, term.Truncated(t, 200))
	if p.wire {
		p.printf("  %8s %s\n", "", strconv.Quote(strings.TrimRight(string(raw), "\n")))
	}
}

// event prints something that happened to the connection.
func (p *printer) event(what string) {
	if p.quiet {
		return
	}
	p.printf("  %s\n", what)
}

// outcome prints a conclusion, wrapped.
func (p *printer) outcome(text string) {
	p.printf("%s", wrapText(text, "  => ", "     ", textWidth))
}

// record prints the proxy's violation record as it logged it, then in
// words, then the end of the session.
func (p *printer) record(v, end record) {
	p.printf("  The proxy's record of it (log/slog JSON, one line, as ubfproxy run logs it):\n")
	p.printf("    %s\n", v.raw)
	expected := v.list("expected")
	want := "where the contract allows no request at all"
	if len(expected) > 0 {
		want = "where the contract expects " + strings.Join(expected, " or ")
	}
	words := fmt.Sprintf("In words: the %s broke %s %s in state %s: it sent %s, %s.",
		v.str("side"), v.str("contract"), v.str("vsn"), strings.Join(v.list("states"), " or "), v.str("message"), want)
	if ex := v.str("explanation"); ex != "" && !strings.HasPrefix(ex, "expected ") {
		words += " " + upperFirst(strings.TrimSuffix(ex, ".")) + "."
	}
	p.printf("%s", wrapText(words, "  ", "  ", textWidth))
	p.printf("%s", wrapText(fmt.Sprintf("Session %s %s: the error reply went to the client and both sides were closed (session end: reason %s, after %s client and %s server messages).",
		v.num("session"), v.str("action"), end.str("reason"), end.num("client_messages"), end.num("server_messages")), "  ", "  ", textWidth))
}

func (p *printer) footer(service, proxyAddr string) {
	p.printf("\nThe proxy of this demo as a command (the built-in file server has no ubf meta service, hence --no-meta):\n")
	p.printf("  ubfproxy run --contract contracts/%s --listen %s --upstream %s --wire ubf --no-meta\n", demoContract, proxyAddr, service)
	p.printf("In front of your own service (start in monitor mode to see what would break, then kill):\n")
	p.printf("  ubfproxy check my.con\n")
	p.printf("  ubfproxy run --contract my.con --listen 0.0.0.0:5000 --upstream 127.0.0.1:4000 --wire json --mode monitor\n")
}

// wrapText breaks text into lines of at most width bytes, the first
// starting with first and the others with rest.
func wrapText(text, first, rest string, width int) string {
	var b strings.Builder
	line := first
	empty := true
	for _, word := range strings.Fields(text) {
		if !empty && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	b.WriteString(line + "\n")
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// record is one log record of the proxy, as the JSON handler wrote it.
type record struct {
	raw    string
	fields map[string]any
}

func (r record) str(key string) string {
	switch v := r.fields[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// num formats a JSON number without the float's decimals.
func (r record) num(key string) string {
	if f, ok := r.fields[key].(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return r.str(key)
}

func (r record) list(key string) []string {
	vs, _ := r.fields[key].([]any)
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// recordLog collects the proxy's log records: it is the io.Writer of the
// proxy's slog JSON handler, which writes one record per Write.
type recordLog struct {
	mu      sync.Mutex
	recs    []record
	changed chan struct{} // closed and replaced at every new record
}

func newRecordLog() *recordLog { return &recordLog{changed: make(chan struct{})} }

func (l *recordLog) Write(b []byte) (int, error) {
	line := strings.TrimRight(string(b), "\n")
	r := record{raw: line}
	if err := json.Unmarshal([]byte(line), &r.fields); err != nil {
		r.fields = map[string]any{"msg": "unparsed", "error": err.Error()}
	}
	l.mu.Lock()
	l.recs = append(l.recs, r)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return len(b), nil
}

// count returns how many records have the message msg.
func (l *recordLog) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.str("msg") == msg {
			n++
		}
	}
	return n
}

// wait returns the n-th record (from 1) with message msg, waiting for it
// for at most stepTimeout.
func (l *recordLog) wait(ctx context.Context, msg string, n int) (record, error) {
	timer := time.NewTimer(stepTimeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		seen := 0
		for _, r := range l.recs {
			if r.str("msg") == msg {
				if seen++; seen == n {
					l.mu.Unlock()
					return r, nil
				}
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return record{}, fmt.Errorf("the proxy logged no %q record within %v", msg, stepTimeout)
		case <-ctx.Done():
			return record{}, errors.Join(ctx.Err(), fmt.Errorf("waiting for the proxy's %q record", msg))
		}
	}
}

// requestLog is what the service received, in order.
type requestLog struct {
	mu   sync.Mutex
	reqs []term.Term
}

func (l *requestLog) add(t term.Term) {
	l.mu.Lock()
	l.reqs = append(l.reqs, t)
	l.mu.Unlock()
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.reqs = nil
	l.mu.Unlock()
}

func (l *requestLog) all() []term.Term {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]term.Term(nil), l.reqs...)
}

func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}
