package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsFreshWhileOpen: the readers count messages in their own
// tallies, yet /metrics shows every message of a session that is still
// open and idle (a scrape adds the open sessions' tallies), and the check
// latency histogram holds one sample in checkSample checks.
func TestMetricsFreshWhileOpen(t *testing.T) {
	svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
	// Not parked: a parking reader publishes as it stops.
	p := startProxy(t, svc, Config{Limits: Limits{ParkDelay: -1}}, nil)
	c := p.dial(t)
	const n = 100
	for range n {
		wantReply(t, call(t, c, jsonKit, "{add, 1}"), "{ok, 2}")
	}
	h := p.srv.MetricsHandler()
	// n requests and n replies: checks 1, 17, ..., 193 are timed.
	timed := (2*n-1)/checkSample + 1
	body := awaitMetrics(t, h, []string{
		`ubfproxy_sessions_open 1`,
		`ubfproxy_messages_total{direction="client_to_server",verdict="ok"} 100`,
		`ubfproxy_messages_total{direction="server_to_client",verdict="ok"} 100`,
		`ubfproxy_check_duration_seconds_count ` + strconv.Itoa(timed),
	})
	// The bytes are counted as exactly as before batching.
	reqLen := len(jsonKit.frame(T("{add, 1}")))
	repLen := len(jsonKit.frame(jsonKit.reply(T("{ok, 2}"), "start")))
	for _, w := range []string{
		`ubfproxy_bytes_total{direction="client_to_server"} ` + strconv.Itoa(n*reqLen),
		`ubfproxy_bytes_total{direction="server_to_client"} ` + strconv.Itoa(n*repLen),
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q:\n%s", w, body)
		}
	}
}

// TestMetricsFreshAfterBatch: a reader publishes the counts of a
// pipelined batch once, before it next reads; so once the client has every
// reply of a batch, /metrics shows every message of it and every byte,
// while the session stays open and idle, its readers waiting for input.
// Also when the batch ends with the start of a request (midFrame): the
// client reader then waits for the rest with bytes buffered, and has
// published the batch all the same.
func TestMetricsFreshAfterBatch(t *testing.T) {
	for _, midFrame := range []bool{false, true} {
		t.Run(fmt.Sprintf("midFrame=%v", midFrame), func(t *testing.T) {
			EachReadMode(t, func(t *testing.T, plain bool) {
				t.Parallel()
				svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
				// Not parked: a parking reader publishes as it stops.
				p := startProxy(t, svc, Config{PlainIO: plain, Limits: Limits{ParkDelay: -1}}, nil)
				c := p.dial(t)
				const n = 20
				var batch []byte
				repBytes := 0
				for i := range n {
					batch = append(batch, jsonKit.frame(T(fmt.Sprintf("{add, %d}", i)))...)
					repBytes += len(jsonKit.frame(jsonKit.reply(T(fmt.Sprintf("{ok, %d}", i+1)), "start")))
				}
				sent := batch
				if midFrame {
					partial := jsonKit.frame(T("{add, 99}"))
					sent = append(batch[:len(batch):len(batch)], partial[:len(partial)-1]...) // its newline still to come
				}
				if err := c.send(sent); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					m, err := c.next()
					if err != nil {
						t.Fatalf("reply %d: %v", i, err)
					}
					wantReply(t, m, fmt.Sprintf("{ok, %d}", i+1))
				}
				awaitMetrics(t, p.srv.MetricsHandler(), []string{
					`ubfproxy_sessions_open 1`,
					`ubfproxy_messages_total{direction="client_to_server",verdict="ok"} 20`,
					`ubfproxy_messages_total{direction="server_to_client",verdict="ok"} 20`,
					`ubfproxy_bytes_total{direction="client_to_server"} ` + strconv.Itoa(len(batch)),
					`ubfproxy_bytes_total{direction="server_to_client"} ` + strconv.Itoa(repBytes),
				})
			})
		})
	}
}

// awaitMetrics scrapes h until it shows every line of want, for up to
// ioTimeout, and returns the last scrape.
func awaitMetrics(t *testing.T, h http.Handler, want []string) string {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body := rec.Body.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q while the session is open:\n%s", missing, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMetricsNeverGoBack: while sessions start, exchange and end (their
// tallies moving to the totals), every scrape shows the message counter at
// least where the last one did, and the last scrape shows every message.
func TestMetricsNeverGoBack(t *testing.T) {
	svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
	p := startProxy(t, svc, Config{}, nil)
	h := p.srv.MetricsHandler()
	const metric = `ubfproxy_messages_total{direction="client_to_server",verdict="ok"} `
	scrape := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if v, ok := strings.CutPrefix(line, metric); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				return n
			}
		}
		t.Fatalf("/metrics has no %s", metric)
		return 0
	}
	const workers, sessions, calls = 4, 10, 5
	done := make(chan struct{})
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range sessions {
				c, err := p.tryDial()
				if err != nil {
					errs <- err
					return
				}
				for range calls {
					if err := c.send(jsonKit.frame(T("{add, 1}"))); err != nil {
						errs <- err
						return
					}
					if _, err := c.next(); err != nil {
						errs <- err
						return
					}
				}
				c.close()
			}
			errs <- nil
		}()
	}
	go func() {
		for range workers {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		close(done)
	}()
	last, scrapes := 0, 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		n := scrape()
		scrapes++
		if n < last {
			t.Fatalf("scrape %d: the counter went back from %d to %d", scrapes, last, n)
		}
		last = n
	}
	if n := scrape(); n != workers*sessions*calls {
		t.Errorf("%d requests counted, want %d", n, workers*sessions*calls)
	}
	t.Logf("%d scrapes", scrapes)
}

// TestMetricsTransitions: with RuleMetrics, every accepted request counts
// its rule, by contract and state, in ubfproxy_transitions_total; without
// it nothing is counted.
func TestMetricsTransitions(t *testing.T) {
	for _, on := range []bool{true, false} {
		svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
		p := startProxy(t, svc, Config{RuleMetrics: on}, nil)
		c := p.dial(t)
		for range 3 {
			wantReply(t, call(t, c, jsonKit, "{add, 1}"), "{ok, 2}")
		}
		rec := httptest.NewRecorder()
		p.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		want := `ubfproxy_transitions_total{contract="counter",rule="{add, integer()}",state="start"} 3`
		if got := strings.Contains(rec.Body.String(), want); got != on {
			t.Errorf("RuleMetrics %v: /metrics has %q: %v\n%s", on, want, got, rec.Body.String())
		}
	}
}
