package proxy

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ubfproxy/ubfproxy/checker"
)

// metrics are a Server's Prometheus collectors. Messages and bytes are
// counted by each session's readers in their own tallies and summed when
// /metrics is read (flows), so counting a message is an uncontended atomic
// add and nothing is flushed on the way.
type metrics struct {
	sessionsOpen  prometheus.Gauge
	sessionsTotal *prometheus.CounterVec
	flows         *flowCollector
	violations    *prometheus.CounterVec
	checkLatency  prometheus.Histogram
	panics        prometheus.Counter
	refused       prometheus.Counter
	reloads       *prometheus.CounterVec
	rules         *prometheus.CounterVec

	mu   sync.Mutex
	viol map[[2]string]prometheus.Counter
}

// newMetrics registers a Server's collectors with reg; live calls its
// function with the tallies of every open session and then with the
// totals, holding off tally moves meanwhile (see flowCollector); budget is
// the Server's memory budget, parked its count of parked readers, and
// loops what its event loops counted.
func newMetrics(reg prometheus.Registerer, live func(func(up, down *tally)), budget *memBudget, parked *atomic.Int64, loops *loopCounts) (*metrics, error) {
	m := &metrics{
		sessionsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ubfproxy_sessions_open", Help: "Sessions open now.",
		}),
		sessionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_sessions_total", Help: "Sessions ended, by end reason (limit includes connections refused over the session limit).",
		}, []string{"reason"}),
		flows: &flowCollector{
			messages: prometheus.NewDesc("ubfproxy_messages_total", "Messages seen, by direction and verdict.", []string{"direction", "verdict"}, nil),
			bytes:    prometheus.NewDesc("ubfproxy_bytes_total", "Bytes received, by direction.", []string{"direction"}, nil),
			live:     live,
		},
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_violations_total", Help: "Contract violations, by contract and by the side that broke it.",
		}, []string{"contract", "side"}),
		checkLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ubfproxy_check_duration_seconds",
			Help:    "Time the checker takes to judge one message, sampled: every " + checkSampleText + " check of a session is timed (the first included).",
			Buckets: prometheus.ExponentialBuckets(250e-9, 2, 16), // 250ns .. ~8ms
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ubfproxy_panics_total", Help: "Panics recovered while handling a session.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ubfproxy_connections_refused_total", Help: "Connections refused because the session limit was reached, or the memory budget was used past its high-water mark.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_reloads_total", Help: "Contract reloads, by result: ok (installed) or failed (the running contract stays).",
		}, []string{"result"}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ubfproxy_transitions_total",
			Help: "Messages accepted, by contract, state and the rule (a request's type) or transition or event (in T, out T x N) they matched (Config.RuleMetrics, run --metrics).",
		}, []string{"contract", "state", "rule"}),
		viol: make(map[[2]string]prometheus.Counter),
	}
	memInUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ubfproxy_memory_in_use_bytes", Help: "Memory the sessions' buffers and decoding state hold of the budget (--max-memory).",
	}, func() float64 { return float64(budget.used.Load()) })
	memMax := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ubfproxy_memory_budget_bytes", Help: "The memory budget (--max-memory).",
	}, func() float64 { return float64(budget.max) })
	parkedNow := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ubfproxy_readers_parked", Help: "Readers of idle sessions parked now, holding no goroutine (--park-delay).",
	}, func() float64 { return float64(parked.Load()) })
	loopHandOffs := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "ubfproxy_event_loop_handoffs_total",
		Help: "Times a reader the event loop ran had to wait (a client not reading, a lock-step turn) and handed its loop to a new goroutine (--event-loop).",
	}, func() float64 { return float64(loops.handOffs.Load()) })
	loopRequeues := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "ubfproxy_event_loop_requeues_total",
		Help: "Times a reader the event loop ran used its budget of reads in one run and let the loop's other sessions go first (a peer that keeps its socket full; --event-loop).",
	}, func() float64 { return float64(loops.requeues.Load()) })
	for _, c := range []prometheus.Collector{m.sessionsOpen, m.sessionsTotal, m.flows, m.violations, m.checkLatency, m.panics, m.refused, m.reloads, m.rules, memInUse, memMax, parkedNow, loopHandOffs, loopRequeues} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// The Go runtime's and the process's own metrics (memory, garbage
	// collection, goroutines, CPU, file descriptors, RSS); a registry
	// that has them already keeps its own.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return nil, err
		}
	}
	for _, r := range allReasons {
		m.sessionsTotal.WithLabelValues(string(r)) // export zeros, so rates exist from the start
	}
	for _, r := range []string{reloadOK, reloadFailed} {
		m.reloads.WithLabelValues(r)
	}
	return m, nil
}

// The results of a reload (ubfproxy_reloads_total).
const (
	reloadOK     = "ok"
	reloadFailed = "failed"
)

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

// tally is one direction's message and byte counts of one session (see
// session.up) not yet moved to the totals of ended sessions. The reader
// publishes its counts to its own tally (flow.publish) before each read
// that may wait: an uncontended atomic add on a line only that reader
// writes, once per batch of pipelined messages, where a shared counter is
// written by every session on every core. /metrics adds the tallies of
// open sessions to the totals, so it counts every message a reader
// finished with, without the readers flushing to Prometheus.
type tally struct {
	msg   [numVerdicts]atomic.Uint64
	bytes atomic.Uint64
}

// flowCollector exports ubfproxy_messages_total and ubfproxy_bytes_total:
// the totals of ended sessions (moved there from their tallies, and counts
// made outside a reader) plus the tallies of the open ones. live gives
// both under the lock a tally is moved with, so a scrape never sees a
// count in both places or in neither and the counters never go back.
type flowCollector struct {
	messages, bytes *prometheus.Desc
	live            func(func(up, down *tally))
	// The totals, written from every core: each on lines of its own.
	up   tally
	_    [64]byte
	down tally
	_    [64]byte
}

// totals returns the totals of direction d.
func (fc *flowCollector) totals(d direction) *tally {
	if d == serviceToClient {
		return &fc.down
	}
	return &fc.up
}

// move adds t's counts to the totals of direction d and empties t; the
// caller holds the lock live takes.
func (fc *flowCollector) move(d direction, t *tally) {
	to := fc.totals(d)
	for v := range t.msg {
		to.msg[v].Add(t.msg[v].Swap(0))
	}
	to.bytes.Add(t.bytes.Swap(0))
}

// Describe implements prometheus.Collector.
func (fc *flowCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fc.messages
	ch <- fc.bytes
}

// Collect implements prometheus.Collector.
func (fc *flowCollector) Collect(ch chan<- prometheus.Metric) {
	var sum [2]struct {
		msg   [numVerdicts]uint64
		bytes uint64
	}
	add := func(d direction, t *tally) {
		for v := range t.msg {
			sum[d].msg[v] += t.msg[v].Load()
		}
		sum[d].bytes += t.bytes.Load()
	}
	fc.live(func(up, down *tally) {
		add(clientToService, up)
		add(serviceToClient, down)
	})
	for _, d := range []direction{clientToService, serviceToClient} {
		for v, label := range verdictLabels {
			ch <- prometheus.MustNewConstMetric(fc.messages, prometheus.CounterValue, float64(sum[d].msg[v]), d.label(), label)
		}
		ch <- prometheus.MustNewConstMetric(fc.bytes, prometheus.CounterValue, float64(sum[d].bytes), d.label())
	}
}

// exercised counts the rules, transitions and events of contract v that
// chk, a session of v, took the message it accepted last by (see
// coverage.Tracker.AppendTaken).
func (m *metrics) exercised(v *version, chk *checker.Session) {
	var buf [4]int
	for _, i := range v.cover.AppendTaken(buf[:0], chk) {
		c := v.counters[i].Load()
		if c == nil {
			it := v.cover.Item(i)
			c = &ruleCounter{m.rules.WithLabelValues(v.c.Name, it.State, it.Rule)}
			v.counters[i].Store(c)
		}
		c.Inc()
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
