package proxy

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsFreshWhileOpen: the readers count messages in their own
// tallies, yet /metrics shows every message of a session that is still
// open and idle (the tallies are added before a read that may wait, and
// every tallyFlush messages), and the check latency histogram holds one
// sample in checkSample checks.
func TestMetricsFreshWhileOpen(t *testing.T) {
	svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
	p := startProxy(t, svc, Config{}, nil)
	c := p.dial(t)
	const n = 100 // over tallyFlush
	for range n {
		wantReply(t, call(t, c, jsonKit, "{add, 1}"), "{ok, 2}")
	}
	h := p.srv.MetricsHandler()
	// n requests and n replies: checks 1, 17, ..., 193 are timed.
	timed := (2*n-1)/checkSample + 1
	want := []string{
		`ubfproxy_sessions_open 1`,
		`ubfproxy_messages_total{direction="client_to_server",verdict="ok"} 100`,
		`ubfproxy_messages_total{direction="server_to_client",verdict="ok"} 100`,
		`ubfproxy_check_duration_seconds_count ` + strconv.Itoa(timed),
	}
	var body string
	deadline := time.Now().Add(ioTimeout)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body = rec.Body.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q while the session is open:\n%s", missing, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
