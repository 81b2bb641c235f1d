package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// runFlags are the flags of run.
type runFlags struct {
	contracts []string
	unguarded string
	types     []string
	listen    string
	upstream  string
	wire      string
	transport string
	mode      string
	simpleRPC bool
	initial   string
	noMeta    bool
	metrics   string
	logFormat string
	logLevel  string
	maxLogMsg int
	maxMemory byteSize
	pprof     bool
	explain   string
	wsPath    bool
	plain     bool
	eventLoop bool
	// eventLoopGiven: --event-loop was on the command line, on or off;
	// otherwise the loop is on wherever it can be (useEventLoop).
	eventLoopGiven bool
	loops          int
	limits         proxy.Limits
}

func newRunCmd() *cobra.Command {
	var f runFlags
	d := proxy.DefaultLimits()
	cmd := &cobra.Command{
		Use:   "run --contract FILE --listen ADDR --upstream ADDR [flags]",
		Short: "Enforce a contract in front of a service (the proxy)",
		Long: `run listens for clients, dials the service for each one, decodes every message
in both directions with the wire format, checks it against the contract's
state machine and forwards the original bytes of each legal message.

Modes (--mode), for a message that breaks the contract:
  kill     (default) send the wire format's error reply to the client and
           close both sides of that session; nothing of the message is passed on
  reject   answer an illegal request with the error reply without forwarding
           it and go on in the same state; replace an illegal reply by the error
           reply; drop illegal events (ubf's own behaviour)
  monitor  forward everything, log every violation (to roll a contract out)

Pipelining: a client may send requests before the replies to earlier ones have
come. In kill and reject modes a request is forwarded at once only when it is
legal in every state the pending replies may lead to; otherwise it is held
(the proxy reads nothing more from that client) until those replies have come,
and then checked in the state they actually led to. So a request the contract
makes illegal never reaches the service: AUTH with a wrong password and SET in
one write get the AUTH's error, then the error reply for the SET, which Redis
never sees. In kill mode the replies to the requests the service already
executed reach the client before the error reply. What one session holds is
bounded by --max-pending and --max-frame. Monitor mode never holds.

Every violation and every session end is one JSON log line on stderr (--log-format
text for people). Metrics are served on --metrics at /metrics, with /healthz; they include
ubfproxy_transitions_total{contract,state,rule}, how often live traffic used
each rule, transition and event of the contract.

With --wire ubf the proxy follows ubf 2.x servers: it passes the greeting and
checks their meta service (help, info, services, contract, startSession...)
until {startSession, Name, Args} is accepted for a service a --contract is for
(its +NAME is Name; give --contract once per service the server hosts); the
state the server announces then is where that contract starts. A startSession
naming a service no --contract is for is forwarded (--unguarded forward: the
server answers it, and a service it starts passes unchecked) or refused with
the error reply (--unguarded refuse). A greeting naming a service a --contract
is for (a server started with startplugin) starts that contract at once. A
contract without states is stateless: its state on the wire is none. Pass
--no-meta for a service that starts directly in the contract. The ubf wire also keeps strict
lock-step towards the service (one request at a time).

The text wires (smtp, ftp, pop3, irc, memcached, line) do not say which
message is a call, a reply or an unasked message: the contract does. A
client line is a call when a call rule of the current state matches it,
else an "in" transition or event; a service line is the reply to the oldest
pending call when it matches one of its replies, else an "out" transition
or event (a greeting, IRC's PRIVMSG from others, FTP's 226 after 150).
docs/wires has the terms each line becomes.

With --transport ws both sides speak WebSocket: --upstream is a ws:// URL, dialled
as written (path and query included; --ws-forward-client-path uses the client's
instead), and each WebSocket message carries one frame of the wire format. A
text message that is not UTF-8 closes the session with code 1007.

Reading and writing (tcp on Linux 4.18 and later): each connection is read
inside the callback of Go's network poller, with recvmsg and TCP_INQ, which
says when the socket is empty, so a message costs no read that finds
nothing; reads and writes (send with MSG_NOSIGNAL) are direct system calls,
without the Go runtime's hand-over for calls that may block (the sockets
never block). --plain-io reads and writes the plain way instead, as on
other systems: a blocking read, about one more system call per message, and
the net package's writes. Use it to rule this out when chasing a problem, or
on a kernel whose TCP_INQ misbehaves.

Event loop (on by default with --transport tcp on Linux, not 32-bit x86):
event loops, one fewer than the processors and at least one, serve the
sessions instead of a goroutine per direction. A loop waits on every
session's sockets at once and reads, checks and forwards where bytes came,
with no goroutine scheduled per message. A session that must wait (a client
that does not read, a lock-step turn) hands its loop to a new goroutine
first, so no session holds up another. Everything else behaves the same.
--event-loops sets how many loops serve: fewer loops wake fewer threads per
message, more spread the checking of many busy sessions over more cores.
A busy loop waits through the Go runtime's poller, which gathers more events
per wake-up; a quiet one (about one event per wake-up: a single client) waits
in epoll_wait itself, at most GOMAXPROCS less one of them at once.
--event-loop=false keeps a goroutine per direction, as on other systems and
with --plain-io: more CPU per message under load, about the same for a
single client. The listening record's event_loops says how many
loops serve (0: goroutines); if they cannot start, a warning says the
sessions keep their goroutines.

Signals: SIGTERM or SIGINT stops accepting, lets open sessions finish for
--grace, then closes them. SIGHUP re-reads the contract (and --types): new
sessions use it, open ones keep theirs; a contract with errors is logged and
the old one stays.

Exit status: 0 after a clean shutdown, 1 when the contract has errors, 2 for
usage errors, unreadable files or an address that cannot be used.`,
		Example: `  # the file server of the talk, a ubf service without the meta phase
  ubfproxy run --contract contracts/file.con --wire ubf --no-meta \
      --listen :2000 --upstream 127.0.0.1:2001 --metrics :9090

  # a JSON-lines service, rolled out in monitor mode first
  ubfproxy run --contract bank.con --wire json --mode monitor \
      --listen 127.0.0.1:7000 --upstream 10.0.0.5:7000

  # an IRC server, with the shipped policy (no OPER, KILL, DIE...)
  ubfproxy run --contract contracts/ircd.con --wire irc \
      --listen :6667 --upstream 127.0.0.1:6668

  # WebSocket on both sides
  ubfproxy run --contract chat.con --wire json --transport ws \
      --listen :8080 --upstream ws://chat.internal:8080/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			f.eventLoopGiven = cmd.Flags().Changed("event-loop")
			return runProxy(ctx, f, hup, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.contracts, "contract", nil, "contract `FILE` to enforce (required; repeatable with --wire ubf: the meta phase picks the contract by the name in startSession)")
	fl.StringVar(&f.unguarded, "unguarded", "forward", "with --wire ubf: a startSession naming a service no --contract is for is forwarded (the service answers; a service it starts is passed through unchecked) or refused with the error reply: forward or refuse")
	fl.StringArrayVar(&f.types, "types", nil, "contract `FILE` whose named types the contract may use (repeatable)")
	fl.StringVar(&f.listen, "listen", "", "`ADDR` to accept clients on, host:port (required)")
	fl.StringVar(&f.upstream, "upstream", "", "the service: host:port, or a ws:// URL with --transport ws (required)")
	fl.StringVar(&f.wire, "wire", "ubf", "wire format: "+strings.Join(proxyWireNames(), ", "))
	fl.StringVar(&f.transport, "transport", "tcp", "tcp or ws (WebSocket, both sides)")
	fl.StringVar(&f.mode, "mode", "kill", "on a violation: kill, reject or monitor")
	fl.BoolVar(&f.simpleRPC, "simple-rpc", false, "UBF(C) replies are bare, without {Reply, NextState}")
	fl.StringVar(&f.initial, "initial", "", "start the contract in `STATE` instead of its own initial state")
	fl.BoolVar(&f.noMeta, "no-meta", false, "with --wire ubf: the service starts in the contract, not in ubf's meta service")
	fl.StringVar(&f.metrics, "metrics", "", "serve /metrics and /healthz on `ADDR` (host:port); off when empty")
	fl.BoolVar(&f.wsPath, "ws-forward-client-path", false, "with --transport ws: dial the service at the client's request path and query instead of --upstream's (unchecked client input; off by default)")
	fl.StringVar(&f.explain, "explain", "brief", "what a client's error reply tells of a violation: full (every alternative the state allows), brief (the rule broken and why) or none; the log records always tell everything")
	fl.BoolVar(&f.pprof, "pprof", false, "with --metrics: serve Go's profiles (net/http/pprof) under /debug/pprof/ on the metrics listener")
	fl.StringVar(&f.logFormat, "log-format", "json", "log records as json or text")
	fl.StringVar(&f.logLevel, "log-level", "info", "least level logged: debug, info, warn or error")
	fl.IntVar(&f.maxLogMsg, "max-log-message", proxy.DefaultMaxLogMessage, "characters of a message a violation record shows")
	fl.IntVar(&f.limits.MaxFrame, "max-frame", d.MaxFrame, "largest frame accepted, in bytes")
	fl.IntVar(&f.limits.MaxDepth, "max-depth", d.MaxDepth, "deepest nesting of tuples, lists and maps accepted")
	fl.IntVar(&f.limits.MaxFrameMemory, "max-frame-memory", 0, "memory one frame may take while decoded, in bytes (0: 8 × --max-frame + 1 MiB)")
	fl.Var(&f.maxMemory, "max-memory", "memory the proxy's sessions may use, like 512MiB: their buffers and decoding state may take half (a session that needs more is refused; new connections are refused past 90% of that half) (default a quarter of RAM, at most 1GiB)")
	fl.IntVar(&f.limits.MaxSessions, "max-sessions", d.MaxSessions, "sessions open at once; more connections are refused")
	fl.IntVar(&f.limits.MaxPending, "max-pending", d.MaxPending, "requests of one session awaiting their reply; more are held, as is a request the pending replies may make illegal (ubf: always 1)")
	fl.IntVar(&f.limits.MaxViolations, "max-violations", d.MaxViolations, "violations one session may cause in reject and monitor modes before it is ended")
	fl.DurationVar(&f.limits.IdleTimeout, "idle-timeout", d.IdleTimeout, "end a session when no message passed either way for this long")
	fl.DurationVar(&f.limits.ReplyTimeout, "reply-timeout", d.ReplyTimeout, "a service that takes longer to reply has broken the contract (0: no time-out)")
	fl.DurationVar(&f.limits.DialTimeout, "dial-timeout", d.DialTimeout, "time allowed to connect to the service")
	fl.DurationVar(&f.limits.Grace, "grace", d.Grace, "on SIGTERM/SIGINT, how long open sessions may go on")
	fl.DurationVar(&f.limits.ParkDelay, "park-delay", d.ParkDelay, "a session idle this long gives up its goroutines and stacks until its next message (Linux, tcp; 0: never)")
	fl.BoolVar(&f.plain, "plain-io", false, "read connections with a blocking read outside Go's network poller, not inside its callback with TCP_INQ (Linux 4.18+, tcp), and write them with the net package's writes, not direct system calls: about one more system call per message and more CPU; to rule those out when debugging, or on a kernel whose TCP_INQ misbehaves")
	fl.BoolVar(&f.eventLoop, "event-loop", false, "serve tcp sessions with event loops rather than a goroutine per direction: less scheduling and CPU per message; a session that must wait hands its loop to a new goroutine (default: on with --transport tcp on Linux but for 32-bit x86, unless --plain-io; =false turns it off)")
	fl.IntVar(&f.loops, "event-loops", 0, "with the event loop, how many loops serve; 0 is one fewer than the processors, at least one")
	// Its name until it covered writes too; kept so that scripts that use it work.
	fl.BoolVar(&f.plain, "plain-reads", false, "the old name of --plain-io")
	_ = fl.MarkDeprecated("plain-reads", "use --plain-io, which it is now an alias for")
	return withFlagHint(cmd)
}

// runProxy runs the proxy until ctx is cancelled; each value on hup reloads
// the contract.
func runProxy(ctx context.Context, f runFlags, hup <-chan os.Signal, stderr io.Writer) error {
	cfg, err := f.config(stderr)
	if err != nil {
		return err
	}
	if err := checkReadable(append(append([]string(nil), f.contracts...), f.types...)); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("run: %w", err)}
	}
	cs, err := loadContracts(f, stderr)
	if err != nil {
		return err
	}
	c := cs[0]
	cfg.Contract, cfg.Services = c, cs[1:]
	srv, err := proxy.New(cfg)
	if err != nil {
		return usageErrorf("run: %v", err)
	}
	// The sessions hold half of --max-memory at most; the Go runtime's
	// soft limit makes the garbage collector keep the whole heap, garbage
	// included, near --max-memory too (garbage would otherwise grow to
	// the size of the live heap).
	debug.SetMemoryLimit(cfg.Limits.MaxMemory)
	log := cfg.Logger

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", f.listen)
	if err != nil {
		return usageErrorf("run: cannot listen on %s: %v", f.listen, err)
	}
	var msrv *http.Server
	if f.metrics != "" {
		mln, err := lc.Listen(ctx, "tcp", f.metrics)
		if err != nil {
			ln.Close()
			return usageErrorf("run: cannot serve metrics on %s: %v", f.metrics, err)
		}
		msrv = &http.Server{Handler: metricsMux(srv, f.pprof), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		log.Info("metrics", slog.String("addr", mln.Addr().String()))
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("upstream", f.upstream),
		slog.String("contract", c.Name), slog.String("vsn", c.Vsn), slog.String("wire", f.wire),
		slog.String("transport", f.transport), slog.String("mode", f.mode), slog.Bool("meta", hasPrelude(cfg.Wire)),
		slog.Int("event_loops", srv.EventLoops()))

	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(srv, f, log)
			}
		}
	}()

	go returnMemory(ctx, srv)

	err = srv.Serve(ctx, ln)
	<-reloadDone
	if msrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = msrv.Shutdown(sctx)
		cancel()
	}
	log.Info("stopped", slog.Any("sessions_ended", srv.Stats().Total))
	if err != nil {
		return &exitError{code: exitViolation, err: err}
	}
	return nil
}

// useEventLoop says whether the sessions run on event loops: as
// --event-loop says when it is given, and otherwise wherever they can (tcp
// on a system with the loop, without --plain-io); tr is --transport parsed.
func (f runFlags) useEventLoop(tr proxy.Transport) bool {
	if f.eventLoopGiven {
		return f.eventLoop
	}
	return proxy.EventLoopAvailable && tr == proxy.TCP && !f.plain
}

// whyNoEventLoop says why useEventLoop(tr) is false.
func (f runFlags) whyNoEventLoop(tr proxy.Transport) string {
	switch {
	case f.eventLoopGiven:
		return "--event-loop=false"
	case tr != proxy.TCP:
		return "--transport " + f.transport
	case f.plain:
		return "--plain-io"
	default:
		return "this system has no event loop"
	}
}

// config turns the flags into a proxy.Config (without the contract).
func (f runFlags) config(stderr io.Writer) (proxy.Config, error) {
	var missing []string
	first := ""
	if len(f.contracts) > 0 {
		first = f.contracts[0]
	}
	for _, m := range []struct{ name, val string }{{"--contract", first}, {"--listen", f.listen}, {"--upstream", f.upstream}} {
		if m.val == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return proxy.Config{}, usageErrorf("run: %s required (see: ubfproxy run --help)", strings.Join(missing, ", "))
	}
	w, err := proxyWire(f.wire)
	if err != nil {
		return proxy.Config{}, err
	}
	if u, ok := w.(ubf.Wire); ok {
		u.SimpleRPC, u.Meta = f.simpleRPC, !f.noMeta
		w = u
	}
	tr, err := proxy.ParseTransport(f.transport)
	if err != nil {
		return proxy.Config{}, usageErrorf("run: --transport: %v", err)
	}
	mode, err := proxy.ParseMode(f.mode)
	if err != nil {
		return proxy.Config{}, usageErrorf("run: --mode: %v", err)
	}
	explain, err := proxy.ParseExplain(f.explain)
	if err != nil {
		return proxy.Config{}, usageErrorf("run: --explain: %v", err)
	}
	ws := tr == proxy.WebSocket
	if f.wsPath && !ws {
		return proxy.Config{}, usageErrorf("run: --ws-forward-client-path applies to --transport ws only")
	}
	if f.plain && ws {
		return proxy.Config{}, usageErrorf("run: --plain-io applies to --transport tcp only (WebSocket connections are read by the WebSocket library)")
	}
	if f.loops < 0 {
		return proxy.Config{}, usageErrorf("run: --event-loops must not be negative (0 is one fewer than the processors, at least one)")
	}
	if f.eventLoopGiven && f.eventLoop && ws {
		return proxy.Config{}, usageErrorf("run: --event-loop applies to --transport tcp only")
	}
	if f.eventLoopGiven && f.eventLoop && f.plain {
		return proxy.Config{}, usageErrorf("run: --event-loop reads inside its loop and cannot be combined with --plain-io")
	}
	if f.eventLoopGiven && f.eventLoop && !proxy.EventLoopAvailable {
		return proxy.Config{}, usageErrorf("run: --event-loop needs Linux (and not 32-bit x86)")
	}
	loop := f.useEventLoop(tr)
	if f.loops > 0 && !loop {
		return proxy.Config{}, usageErrorf("run: --event-loops counts the event loops, which are off (%s)", f.whyNoEventLoop(tr))
	}
	if f.pprof && f.metrics == "" {
		return proxy.Config{}, usageErrorf("run: --pprof needs --metrics (the profiles are served on the metrics listener)")
	}
	if f.noMeta && f.wire != "ubf" {
		return proxy.Config{}, usageErrorf("run: --no-meta applies to --wire ubf only")
	}
	if f.simpleRPC && f.wire != "ubf" {
		return proxy.Config{}, usageErrorf("run: --simple-rpc applies to --wire ubf only")
	}
	if len(f.contracts) > 1 && !hasPrelude(w) {
		return proxy.Config{}, usageErrorf("run: --contract more than once needs --wire ubf with its meta phase (not --no-meta): only startSession picks a contract by name")
	}
	var unguarded proxy.Unguarded // forward, when the flag is not set
	if f.unguarded != "" {
		if unguarded, err = proxy.ParseUnguarded(f.unguarded); err != nil {
			return proxy.Config{}, usageErrorf("run: --unguarded: %v", err)
		}
	}
	for _, l := range []struct {
		name string
		v    int64
	}{
		{"--max-frame", int64(f.limits.MaxFrame)}, {"--max-depth", int64(f.limits.MaxDepth)},
		{"--max-sessions", int64(f.limits.MaxSessions)}, {"--max-pending", int64(f.limits.MaxPending)},
		{"--max-violations", int64(f.limits.MaxViolations)},
		{"--idle-timeout", int64(f.limits.IdleTimeout)},
		{"--dial-timeout", int64(f.limits.DialTimeout)}, {"--max-log-message", int64(f.maxLogMsg)},
	} {
		if l.v <= 0 {
			return proxy.Config{}, usageErrorf("run: %s must be positive", l.name)
		}
	}
	if f.limits.ReplyTimeout < 0 {
		return proxy.Config{}, usageErrorf("run: --reply-timeout must not be negative (0 turns it off)")
	}
	if f.limits.MaxFrameMemory < 0 {
		return proxy.Config{}, usageErrorf("run: --max-frame-memory must not be negative")
	}
	if f.limits.Grace < 0 {
		return proxy.Config{}, usageErrorf("run: --grace must not be negative")
	}
	if f.limits.ParkDelay < 0 {
		return proxy.Config{}, usageErrorf("run: --park-delay must not be negative (0 turns parking off)")
	}
	logger, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return proxy.Config{}, err
	}
	limits := f.limits
	limits.MaxMemory = int64(f.maxMemory)
	if limits.MaxMemory == 0 {
		limits.MaxMemory = proxy.DefaultMaxMemory()
	}
	if limits.ReplyTimeout == 0 {
		limits.ReplyTimeout = -1 // off: proxy.Limits takes 0 for the default
	}
	if limits.Grace == 0 {
		limits.Grace = -1 // --grace 0: close at once (0 would mean the library's default)
	}
	if limits.ParkDelay == 0 {
		limits.ParkDelay = -1 // --park-delay 0: never park
	}
	return proxy.Config{
		Upstream:          f.upstream,
		Wire:              w,
		Transport:         tr,
		ForwardClientPath: f.wsPath,
		PlainIO:           f.plain,
		EventLoop:         loop,
		EventLoops:        f.loops,
		Explain:           explain,
		Mode:              mode,
		Unguarded:         unguarded,
		Initial:           f.initial,
		Limits:            limits,
		MaxLogMessage:     f.maxLogMsg,
		Logger:            logger,
		// Only when metrics are served: counting the rules costs an
		// atomic add per message.
		RuleMetrics: f.metrics != "",
	}, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("run: --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageErrorf("run: --log-format %q: want json or text", format)
}

// contractOptions are the options the i-th --contract compiles with:
// --initial applies to the first.
func (f runFlags) contractOptions(i int) contract.Options {
	o := contract.Options{TypeFiles: f.types}
	if i == 0 {
		o.Initial = f.initial
	}
	return o
}

// loadContracts compiles the contracts, printing their findings; errors
// end the command with status 1.
func loadContracts(f runFlags, stderr io.Writer) ([]*contract.Contract, error) {
	cs := make([]*contract.Contract, len(f.contracts))
	for i, file := range f.contracts {
		c, diags, err := contract.Load(file, f.contractOptions(i))
		if err != nil {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("run: %w", err)}
		}
		printDiagnostics(stderr, diags)
		if c == nil || diags.HasErrors() {
			fmt.Fprintf(stderr, "ubfproxy: run: %s has errors; not starting\n", file)
			return nil, &exitError{code: exitViolation}
		}
		cs[i] = c
	}
	return cs, nil
}

// reload re-reads the contracts on SIGHUP; when one does not compile, the
// failure is logged and the running ones stay.
func reload(srv *proxy.Server, f runFlags, log *slog.Logger) {
	cs := make([]*contract.Contract, len(f.contracts))
	var err error
	for i, file := range f.contracts {
		c, diags, lerr := contract.Load(file, f.contractOptions(i))
		if lerr == nil && (c == nil || diags.HasErrors()) {
			var msgs []string
			for _, d := range sortDiagnostics(diags) {
				if d.Severity == contract.Error {
					msgs = append(msgs, d.Error())
				}
			}
			lerr = errors.New(strings.Join(msgs, "; "))
		}
		if lerr != nil {
			err = fmt.Errorf("%s: %w", file, lerr)
			break
		}
		cs[i] = c
	}
	if err == nil {
		err = srv.Reload(cs[0], cs[1:]...) // counts its own result
	} else {
		srv.ReloadFailed()
	}
	if err != nil {
		old := srv.Contract()
		log.Error("reload failed; keeping the running contract", slog.String("file", strings.Join(f.contracts, ", ")),
			slog.String("error", err.Error()), slog.String("contract", old.Name), slog.String("vsn", old.Vsn))
	}
}

// returnMemory gives the system back what big frames held once their
// sessions let it go: the Go runtime returns freed memory by itself only
// slowly, after a collection that nothing may trigger for minutes once the
// traffic calms down. It checks once a second and frees when the sessions
// hold at least freeAfterDrop less than at their peak since the last time.
func returnMemory(ctx context.Context, srv *proxy.Server) {
	const freeAfterDrop = 32 << 20
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var peak int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		used := srv.MemoryInUse()
		peak = max(peak, used)
		if peak-used >= freeAfterDrop {
			debug.FreeOSMemory()
			peak = used
		}
	}
}

// metricsMux serves the proxy's /metrics and /healthz and, with pprof, Go's
// profiles under /debug/pprof/: the metrics listener is the operator's,
// never the clients'.
func metricsMux(srv *proxy.Server, pprof bool) http.Handler {
	if !pprof {
		return srv.MetricsHandler()
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.MetricsHandler())
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	return mux
}
