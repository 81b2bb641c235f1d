package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Mode says what the proxy does with a message that breaks the contract.
type Mode uint8

// The enforcement modes; the zero value is Kill.
const (
	// Kill sends the wire format's error reply to the client and closes both
	// sides of the session.
	Kill Mode = iota
	// Reject answers an illegal request with the error reply without
	// forwarding it, replaces an illegal reply by the error reply, and goes
	// on.
	Reject
	// Monitor forwards everything and reports every violation.
	Monitor
)

var modeNames = [...]string{Kill: "kill", Reject: "reject", Monitor: "monitor"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// ParseMode reads a mode's name as the command line spells it.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (want kill, reject or monitor)", s)
}

// Unguarded says what a session in a prelude (ubf's meta service) does with
// a request that starts a service no contract is for.
type Unguarded uint8

// The policies; the zero value is ForwardUnguarded.
const (
	// ForwardUnguarded forwards the request and lets the service answer
	// it. A refusal (ubf's {error, noSuchService}) leaves the session in
	// the prelude; a service that starts is passed through unchecked.
	ForwardUnguarded Unguarded = iota
	// RefuseUnguarded treats the request as a client violation: it is
	// answered with the wire's error reply and not forwarded (kill and
	// reject modes).
	RefuseUnguarded
)

var unguardedNames = [...]string{ForwardUnguarded: "forward", RefuseUnguarded: "refuse"}

func (u Unguarded) String() string {
	if int(u) < len(unguardedNames) {
		return unguardedNames[u]
	}
	return fmt.Sprintf("Unguarded(%d)", u)
}

// ParseUnguarded reads a policy's name as the command line spells it
// (forward, refuse).
func ParseUnguarded(s string) (Unguarded, error) {
	for i, n := range unguardedNames {
		if s == n {
			return Unguarded(i), nil
		}
	}
	return 0, fmt.Errorf("unknown policy %q (want forward or refuse)", s)
}

// Transport is how clients and the service are reached.
type Transport uint8

// The transports; the zero value is TCP.
const (
	// TCP carries the wire format over a plain byte stream.
	TCP Transport = iota
	// WebSocket carries one wire-format frame per WebSocket message.
	WebSocket
)

var transportNames = [...]string{TCP: "tcp", WebSocket: "ws"}

func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return fmt.Sprintf("Transport(%d)", t)
}

// ParseTransport reads a transport's name as the command line spells it
// (tcp, ws; websocket is accepted for ws).
func ParseTransport(s string) (Transport, error) {
	switch s {
	case "tcp":
		return TCP, nil
	case "ws", "websocket":
		return WebSocket, nil
	}
	return 0, fmt.Errorf("unknown transport %q (want tcp or ws)", s)
}

// Limits bound what one session, and the proxy as a whole, may use. A zero
// field takes its default (DefaultLimits).
type Limits struct {
	// MaxFrame is the largest frame, in bytes, a decoder accepts.
	MaxFrame int
	// MaxDepth is the deepest nesting of tuples, lists and maps accepted.
	MaxDepth int
	// MaxFrameMemory bounds the memory a decoder may hold for one frame
	// (wrappers.Limits.MaxFrameMemory); zero means the wrappers' default,
	// derived from MaxFrame.
	MaxFrameMemory int
	// MaxMemory bounds the memory, in bytes, of the proxy's sessions: their
	// read buffers and decoding state beyond wrappers.BudgetFree each
	// (small frames cost nothing) may take half of it between them, the
	// rest being headroom for the garbage big frames leave behind until
	// the garbage collector runs (a program should set the Go runtime's
	// soft memory limit, debug.SetMemoryLimit, near MaxMemory, as
	// ubfproxy run does). A session whose next frame would need more is
	// refused (its error reply, a record, reason limit); no other session
	// is touched. While 90% of the sessions' share is in use, new
	// connections are refused. The default is DefaultMaxMemory.
	MaxMemory int64
	// MaxSessions is how many sessions may be open at once; a connection
	// over it is refused.
	MaxSessions int
	// MaxPending is how many requests of one session may await their reply
	// at the service, counting in reject mode the rejected requests whose
	// error reply waits for its place among the replies; further requests
	// are held (the proxy stops reading from that client) until a reply
	// comes back. The ubf wire always uses 1.
	MaxPending int
	// IdleTimeout ends a session when no message has passed either way for
	// that long.
	IdleTimeout time.Duration
	// ReplyTimeout is how long the service may take to answer a request;
	// past it the service has broken the contract. Zero means the
	// default; a negative value turns the time-out off (a service whose
	// answers may take any time, such as an IRC server that throttles
	// its clients).
	ReplyTimeout time.Duration
	// DialTimeout bounds connecting to the service (and the WebSocket
	// handshake with it).
	DialTimeout time.Duration
	// MaxViolations is how many violation records one session may cause;
	// past it (reject and monitor modes go on after a violation) the
	// session ends with reason limit, so that one party cannot flood the
	// log.
	MaxViolations int
	// Grace is how long Serve lets open sessions finish once its context is
	// cancelled, before closing them. Zero means the default; a negative
	// value closes them at once.
	Grace time.Duration
	// ParkDelay is how long a session's reader waits for input, with
	// nothing buffered, before it parks: its goroutine ends, and one
	// starts again when its connection has bytes to read, so that an idle
	// session holds no goroutine and no stack. It applies to TCP on Linux;
	// WebSocket sessions and other systems keep their goroutines. A
	// negative value turns parking off.
	ParkDelay time.Duration
}

// MaxMemoryCeiling is the largest default memory budget (Limits.MaxMemory).
const MaxMemoryCeiling = 1 << 30

// DefaultMaxMemory is the default memory budget: a quarter of the memory
// the process may use (the machine's RAM, or its cgroup's limit when
// lower), at most MaxMemoryCeiling; the ceiling when that is unknown.
func DefaultMaxMemory() int64 {
	ram := physicalMemory()
	if ram <= 0 {
		return MaxMemoryCeiling
	}
	return min(MaxMemoryCeiling, ram/4)
}

// DefaultLimits returns the limits used for every zero field of Limits.
func DefaultLimits() Limits {
	d := wrappers.DefaultLimits()
	return Limits{
		MaxFrame:      d.MaxFrame,
		MaxDepth:      d.MaxDepth,
		MaxMemory:     DefaultMaxMemory(),
		MaxSessions:   10000,
		MaxPending:    64,
		IdleTimeout:   5 * time.Minute,
		ReplyTimeout:  30 * time.Second,
		DialTimeout:   5 * time.Second,
		MaxViolations: 100,
		Grace:         10 * time.Second,
		ParkDelay:     time.Second,
	}
}

// WithDefaults returns l with every zero or negative field replaced by its
// default, except a negative Grace, which becomes 0 (close at once), and a
// negative ReplyTimeout or ParkDelay, which stays (no reply time-out, no
// parking).
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFrame <= 0 {
		l.MaxFrame = d.MaxFrame
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxSessions <= 0 {
		l.MaxSessions = d.MaxSessions
	}
	if l.MaxMemory <= 0 {
		l.MaxMemory = d.MaxMemory
	}
	if l.MaxPending <= 0 {
		l.MaxPending = d.MaxPending
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.ReplyTimeout == 0 {
		l.ReplyTimeout = d.ReplyTimeout
	}
	if l.DialTimeout <= 0 {
		l.DialTimeout = d.DialTimeout
	}
	if l.MaxViolations <= 0 {
		l.MaxViolations = d.MaxViolations
	}
	if l.ParkDelay == 0 {
		l.ParkDelay = d.ParkDelay
	}
	if l.Grace < 0 {
		l.Grace = 0
	} else if l.Grace == 0 {
		l.Grace = d.Grace
	}
	return l
}

// DefaultMaxLogMessage is how many characters of a message a violation
// record shows when Config.MaxLogMessage is zero.
const DefaultMaxLogMessage = 512

// Config configures a Server.
type Config struct {
	// Contract is the compiled contract to enforce. Required.
	Contract *contract.Contract
	// Services are more contracts, for a wire whose sessions begin in a
	// prelude that starts a service by name (one ubf 2.x server hosting
	// several services): the prelude's start request, or a greeting that
	// names a service, picks among Contract and Services the contract
	// whose +name it names. Names must differ; without a prelude,
	// Services must be empty.
	Services []*contract.Contract
	// Unguarded is what the prelude does with a start request naming a
	// service no contract is for; ForwardUnguarded by default.
	Unguarded Unguarded
	// Upstream is the service: host:port with TCP, a ws:// or wss:// URL
	// with WebSocket. Required.
	Upstream string
	// Wire is the service's wire format, configured (ubf.Wire{Meta: true}
	// for a real ubf server's meta service first, for instance). Required.
	// What it implements of wrappers.LockStepper, wrappers.Prelude and
	// wrappers.SelfReporter, the sessions follow.
	Wire wrappers.Wire
	// Transport is TCP (default) or WebSocket, for both sides.
	Transport Transport
	// Explain chooses how much of a violation the client's error reply
	// tells (the records always tell everything): ExplainBrief (the
	// default) the rule broken, ExplainFull every alternative the state
	// allows too, ExplainNone only that the contract was broken.
	Explain Explain
	// ForwardClientPath (WebSocket only) dials the service at the path
	// and query of the client's request rather than Upstream's. Off by
	// default: the client's path is unchecked input.
	ForwardClientPath bool
	// Mode is what to do on a violation; Kill by default.
	Mode Mode
	// Initial names the contract's starting state; "" means the contract's
	// own (start, or the first state declared).
	Initial string
	// Limits bound sessions; zero fields take their defaults.
	Limits Limits
	// MaxLogMessage caps the text of a message in a violation record, in
	// characters; 0 means DefaultMaxLogMessage.
	MaxLogMessage int
	// Logger receives the records; nil discards them.
	Logger *slog.Logger
	// Registry receives the metrics and serves them from MetricsHandler;
	// nil makes a new registry owned by the Server. Two Servers must not
	// share one registry.
	Registry *prometheus.Registry
	// RuleMetrics counts, in ubfproxy_transitions_total{contract,state,rule},
	// the rule every accepted request matched and the transition or event
	// every accepted unanswered message was, so that the metrics show which
	// parts of a contract live traffic uses. The count comes from what the
	// check took the message by (a look-up and an atomic add per message,
	// no second match); off by default.
	RuleMetrics bool
	// PlainIO turns off reading inside the runtime poller's callback
	// (TCP on Linux 4.18 and later, where the kernel's TCP_INQ says when a
	// socket is drained): each reader then waits for bytes, reads them
	// with read(2) and reads again until the socket is empty, as on
	// other systems; and writes go through the net package (conn.Write)
	// rather than direct send(2) calls. That costs about one more system
	// call per message and more CPU; a reader is then a plain blocking
	// read that debuggers, profiles and strace show the usual way. Turn it on to
	// rule the callback reading out when chasing a problem, or on a
	// kernel whose TCP_INQ misbehaves (a reader that stops reading a
	// connection with bytes waiting). Off by default.
	PlainIO bool
	// EventLoop serves TCP sessions with event loops (Linux only; see
	// EventLoopAvailable), as many as EventLoops says, instead of a
	// goroutine per direction: each session's sockets are taken out of
	// the Go runtime's poller and registered with one loop, whose
	// goroutine reads, checks and forwards for every session with bytes
	// waiting, without scheduling a goroutine for each message. A reader
	// that must wait for anything but bytes (a client that does not
	// read, a lock-step turn) hands its loop to a new goroutine first, so
	// that no session holds up another. Everything
	// else (modes, limits, time-outs, records, reload, shutdown) is as
	// without it. A connection that is not a *net.TCPConn (a Config.Dial
	// of another kind) keeps the goroutine model. Off unless set (the
	// ubfproxy command sets it where it is available).
	EventLoop bool
	// EventLoops is how many event loops serve with EventLoop; 0 is
	// DefaultEventLoops (one fewer than GOMAXPROCS, at least one). Fewer
	// loops wake fewer threads per message, and a session's two readers
	// share one loop whatever the count; more loops spread the checking
	// of many busy sessions over more cores.
	EventLoops int
	// Dial connects to the service; nil uses a net.Dialer with
	// Limits.DialTimeout. With WebSocket it dials the TCP connection under
	// the handshake. A connection that gives its socket (syscall.Conn, as
	// a *net.TCPConn or a type embedding one does) is read and written
	// through that socket on Linux (see PlainIO): Read and Write
	// methods a wrapper defines over it are not called.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// distinctNames reports two contracts of one proxy with the same +name: a
// start request could not tell them apart.
func distinctNames(first *contract.Contract, more []*contract.Contract) error {
	seen := map[string]string{first.Name: first.File}
	for _, c := range more {
		if c == nil {
			return errors.New("a nil contract among the services")
		}
		if f, dup := seen[c.Name]; dup {
			return fmt.Errorf("two contracts are named %q (%s and %s)", c.Name, f, c.File)
		}
		seen[c.Name] = c.File
	}
	return nil
}

// check validates c and fills in its defaults.
func (c *Config) check() error {
	var errs []string
	if c.Contract == nil {
		errs = append(errs, "no contract")
	}
	if c.Wire == nil {
		errs = append(errs, "no wire format")
	}
	if c.Upstream == "" {
		errs = append(errs, "no upstream address")
	}
	switch c.Transport {
	case TCP:
		if c.Upstream != "" {
			if _, _, err := net.SplitHostPort(c.Upstream); err != nil {
				errs = append(errs, fmt.Sprintf("upstream %q is not host:port: %v", c.Upstream, err))
			}
		}
	case WebSocket:
		if c.Upstream != "" {
			u, err := url.Parse(c.Upstream)
			if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
				errs = append(errs, fmt.Sprintf("upstream %q is not a ws:// or wss:// URL", c.Upstream))
			}
		}
	default:
		errs = append(errs, fmt.Sprintf("unknown transport %d", c.Transport))
	}
	if c.Mode > Monitor {
		errs = append(errs, fmt.Sprintf("unknown mode %d", c.Mode))
	}
	if c.Contract != nil && c.Initial != "" && c.Contract.State(c.Initial) == nil {
		errs = append(errs, fmt.Sprintf("initial state %q is not a state of contract %s", c.Initial, c.Contract.Name))
	}
	if c.Contract != nil {
		if err := distinctNames(c.Contract, c.Services); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if c.EventLoops < 0 {
		errs = append(errs, fmt.Sprintf("EventLoops is %d; it must not be negative (0 is DefaultEventLoops)", c.EventLoops))
	}
	if c.EventLoops > 0 && !c.EventLoop {
		errs = append(errs, "EventLoops counts the event loops of EventLoop, which is off")
	}
	if c.EventLoop {
		switch {
		case !EventLoopAvailable:
			errs = append(errs, "the event loop needs Linux, and not 32-bit x86 (EventLoopAvailable)")
		case c.Transport != TCP:
			errs = append(errs, "the event loop serves the tcp transport only")
		case c.PlainIO:
			errs = append(errs, "the event loop reads its sockets itself: it cannot be combined with PlainIO")
		}
	}
	if c.Unguarded > RefuseUnguarded {
		errs = append(errs, fmt.Sprintf("unknown unguarded policy %d", c.Unguarded))
	}
	if len(errs) > 0 {
		return errors.New("proxy: " + strings.Join(errs, "; "))
	}
	c.Limits = c.Limits.WithDefaults()
	if c.MaxLogMessage <= 0 {
		c.MaxLogMessage = DefaultMaxLogMessage
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return nil
}

// Explain is how much of a violation the client's error reply tells.
type Explain uint8

// The explain levels.
const (
	ExplainBrief Explain = iota // the rule broken and why; not every alternative (the default)
	ExplainFull                 // everything the record holds: every alternative the state allows
	ExplainNone                 // only that the contract was broken, in which state
)

// ParseExplain parses full, brief or none ("" is brief).
func ParseExplain(s string) (Explain, error) {
	switch s {
	case "brief", "":
		return ExplainBrief, nil
	case "full":
		return ExplainFull, nil
	case "none":
		return ExplainNone, nil
	}
	return 0, fmt.Errorf("unknown explain level %q (want full, brief or none)", s)
}
