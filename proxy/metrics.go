package proxy

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are a Server's Prometheus collectors. The label sets used on the
// hot path are resolved once, so counting a message is an atomic add.
type metrics struct {
	sessionsOpen  prometheus.Gauge
	sessionsTotal *prometheus.CounterVec
	messages      *prometheus.CounterVec
	violations    *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	checkLatency  prometheus.Histogram
	panics        prometheus.Counter
	refused       prometheus.Counter
	reloads       prometheus.Counter

	// up and down are the counters of each direction (see session.up).
	up, down flowCounters

	mu   sync.Mutex
	viol map[[2]string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessionsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ubfproxy_sessions_open", Help: "Sessions open now.",
		}),
		sessionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_sessions_total", Help: "Sessions ended, by end reason (limit includes connections refused over the session limit).",
		}, []string{"reason"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_messages_total", Help: "Messages seen, by direction and verdict.",
		}, []string{"direction", "verdict"}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_violations_total", Help: "Contract violations, by contract and by the side that broke it.",
		}, []string{"contract", "side"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_bytes_total", Help: "Bytes received, by direction.",
		}, []string{"direction"}),
		checkLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ubfproxy_check_duration_seconds",
			Help:    "Time the checker takes to judge one message, sampled: every " + checkSampleText + " check of a session is timed (the first included).",
			Buckets: prometheus.ExponentialBuckets(250e-9, 2, 16), // 250ns .. ~8ms
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ubfproxy_panics_total", Help: "Panics recovered while handling a session.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ubfproxy_connections_refused_total", Help: "Connections refused because the session limit was reached.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ubfproxy_contract_reloads_total", Help: "Contracts installed by Reload.",
		}),
		viol: make(map[[2]string]prometheus.Counter),
	}
	for _, c := range []prometheus.Collector{m.sessionsOpen, m.sessionsTotal, m.messages, m.violations, m.bytes, m.checkLatency, m.panics, m.refused, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, d := range []direction{clientToService, serviceToClient} {
		fc := m.flow(d)
		for v, label := range verdictLabels {
			fc.msg[v] = m.messages.WithLabelValues(d.label(), label)
		}
		fc.bytes = m.bytes.WithLabelValues(d.label())
	}
	for _, r := range allReasons {
		m.sessionsTotal.WithLabelValues(string(r)) // export zeros, so rates exist from the start
	}
	return m, nil
}

// checkSample is how often a session times a check for checkLatency:
// every checkSample-th one (a power of two). Reading the clock twice for
// every message cost more than the check of a small command did; a sample
// of one in 16 still fills the histogram within seconds under any load
// worth measuring, and it is not biased, since a session's checks do not
// come in cycles of 16.
const (
	checkSample     = 16
	checkSampleText = "16th"
)

// tallyFlush bounds how many messages a reader counts before it adds them
// to the Prometheus counters; it also adds them before every read that may
// block, so /metrics lags a session by at most this many messages and
// never by an idle wait.
const tallyFlush = 64

// tally is one reader's message and byte counts not yet added to the
// Prometheus counters (see session.flushTally). Counting a message in the
// reader's own tally is an uncontended atomic add on a line only that
// reader writes, where a Prometheus counter is shared by every session on
// every core. Anyone may flush (Swap), so the end of a session can add
// what its readers still hold before it is counted as ended.
type tally struct {
	msg   [numVerdicts]atomic.Uint64
	bytes atomic.Uint64
	n     int // messages since the last flush (owner only)
	_     [64]byte
}

// flowCounters are the counters of one direction, resolved once.
type flowCounters struct {
	msg   [numVerdicts]prometheus.Counter
	bytes prometheus.Counter
}

// flow returns the counters of direction d.
func (m *metrics) flow(d direction) *flowCounters {
	if d == serviceToClient {
		return &m.down
	}
	return &m.up
}

// add moves t's counts into the counters for direction d.
func (m *metrics) add(d direction, t *tally) {
	fc := m.flow(d)
	for v := range t.msg {
		if n := t.msg[v].Swap(0); n != 0 {
			fc.msg[v].Add(float64(n))
		}
	}
	if n := t.bytes.Swap(0); n != 0 {
		fc.bytes.Add(float64(n))
	}
}

// violation counts one violation of contract name by side.
func (m *metrics) violation(contractName, side string) {
	k := [2]string{contractName, side}
	m.mu.Lock()
	c, ok := m.viol[k]
	if !ok {
		c = m.violations.WithLabelValues(contractName, side)
		m.viol[k] = c
	}
	m.mu.Unlock()
	c.Inc()
}

// MetricsHandler serves /metrics (Prometheus text format, from the Server's
// registry) and /healthz (200 "ok" while serving, 503 "draining" once
// shutdown has begun).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{Registry: s.cfg.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
