// Package proxy enforces a contract in front of a legacy service: it accepts
// client connections (TCP or WebSocket), dials the service for each one,
// decodes every message in both directions with a wire-format wrapper, asks
// a checker.Session whether the message is legal in the conversation's
// current state, and forwards the original bytes of each legal message. A
// message that breaks the contract is handled as the Mode says.
//
// Where the wire says what a message is (a UBF(C) event, a JSON $E), the
// session checks it as that; where it does not (wrappers.Unknown: the text
// wires), the contract decides with checker.Session.Client and Server: a
// client message is a call if a call rule of the current states accepts
// it, else an in transition or event; a service message is the reply to
// the oldest pending call if it matches one of that call's replies, else
// an out transition or event (a greeting is an out transition of the
// initial state). Only calls await a reply.
//
// # API
//
//	srv, err := proxy.New(proxy.Config{
//		Contract: c,                 // *contract.Contract, compiled
//		Upstream: "127.0.0.1:4000", // host:port, or a ws:// URL with TransportWebSocket
//		Wire:     ubf.Wire{},       // any wrappers.Wire
//		Mode:     proxy.Kill,       // Kill (default), Reject or Monitor
//		Logger:   slog.New(slog.NewJSONHandler(os.Stderr, nil)),
//	})
//	ln, _ := net.Listen("tcp", ":5000")
//	go http.ListenAndServe(":9090", srv.MetricsHandler()) // /metrics and /healthz
//	err = srv.Serve(ctx, ln) // returns once ctx is cancelled and sessions are drained
//
// Serve may be called once per Server. Reload swaps the contract for new
// sessions; open sessions keep the version they started with (Erlang's
// two-versions rule). Stats and OpenSessions report counters for tests and
// embedding programs.
//
// # Sessions
//
// One client connection is one session, with its own connection to the
// service and its own checker.Session: a panic or hostile input in one
// session ends that session only (recovered, logged with its stack and
// counted). Each session is driven by two goroutines, one per direction,
// while it is busy: a reader that has waited longer than Limits.ParkDelay
// with nothing buffered parks (TCP on Linux), handing its connection to
// the Server's parker, one goroutine on an epoll instance, and a reader
// starts again when the connection has bytes or hangs up; an idle session
// holds no goroutine. The checker is consulted under a per-session mutex,
// and no lock is held while writing to a socket, so a client that does not
// read cannot stall the checker of its own session, let alone another.
//
// With Config.EventLoop (TCP on Linux) no session has reader goroutines:
// its two sockets leave the Go runtime's poller for one of the Server's
// event loops (DefaultEventLoops: one fewer than the processors, at least
// one), whose goroutine runs a direction's reader when its socket has
// bytes, and a reader about to wait for
// anything else (a client that does not read, a lock held by the other
// direction, a lock-step turn) hands its loop to a new goroutine first,
// so that no session holds up another (see loop.go). Everything above and
// below holds the same; the package's tests run in both models.
//
// The bytes forwarded are the bytes received (wrappers.Message.Raw): the
// proxy decodes to check and never re-encodes.
//
// When a reply leads to a terminal state (stop), the reply is delivered and
// the session ends (reason finished). A request the client sent before that
// reply and that the proxy still held (lock-step, MaxPending) is a message
// after the end: it is judged as such (kind after-end) rather than dropped
// in silence, so the talk's "silly" client, which reads right behind its
// close, is reported; it never reaches the service except in Monitor mode.
//
// # Modes
//
//   - Kill: the wire format's error reply (wrappers.Session.ErrorReply) is
//     sent to the client, then both sides are closed at once. Nothing of the
//     illegal message reaches the other side.
//   - Reject (ubf's own behaviour): an illegal client request is answered
//     with the error reply and not forwarded, and the session goes on in the
//     state it was in; an illegal reply is replaced by the error reply. Illegal
//     events, from either side, are dropped (ubf drops them silently; an
//     unsolicited error reply would be taken for the answer to the client's
//     next request). With pipelined requests the error reply takes the place
//     of the rejected request's reply in the order of replies.
//   - Monitor: everything is forwarded and every violation reported; a
//     violation never alters the traffic or ends the session (only
//     MaxViolations, a malformed frame or a limit do). After an illegal
//     request its reply is forwarded unchecked, so one slip is reported
//     once.
//
// After an illegal reply (Reject and Monitor) the session follows the state
// the service announced with it (UBF(C)), or else stays in the state it was
// in. In Reject mode, when neither can be decided (several possible
// states, or other requests still in flight) the session is ended. Monitor
// goes on: the replies to the requests still in flight are forwarded
// unchecked, and when the state cannot be told the session checks nothing
// until a reply, with nothing else in flight, announces the state. A
// request pipelined behind one whose reply made it illegal has reached the
// service already: Kill ends the session after that reply; Reject and
// Monitor report it and forward its reply unchecked. A malformed or
// over-limit frame ends the session in every mode (the stream cannot be
// resynchronised), as does, in Kill and Reject modes, a reply time-out.
//
// # Records
//
// Every violation is logged at level WARN with the message "contract
// violation" and the attributes session, client, service, contract, vsn,
// side, states, message (text notation, truncated to MaxLogMessage),
// expected, explanation and action (killed, rejected, dropped, forwarded).
// Every session end is logged at INFO (WARN for error and limit) with the
// message "session end" and session, client, service, contract, vsn, reason
// (finished, client_left, service_left, service_unreachable, local_limit,
// violation, timeout, limit, shutdown, error; a client that hangs up in the
// middle of a frame has left, and a service that cannot be dialled or
// breaks its connection gets the client the wire's error reply), client_messages, client_bytes, server_messages, server_bytes,
// duration_ms and, when there is one, error. A connection refused because
// of MaxSessions is logged as "session refused" with reason limit, at most
// once a second, with the number of refusals the record stands for in
// refused. A panic is logged at ERROR as "panic in session" with panic and
// stack. Reload logs "contract loaded".
//
// # Limits
//
// Every limit has a default (DefaultLimits): frame size and nesting depth
// (given to the wrapper's decoders), the memory of all sessions together
// (MaxMemory: their read buffers and decoding state share half of it
// through wrappers.Limits.Budget; the session whose frame would take more
// is refused as over a limit, and new connections are refused while 90%
// of that half is in use), concurrent sessions (over it a new
// connection is accepted and closed at once, or answered HTTP 503 on
// WebSocket), pipelined requests in flight (rejected ones awaiting their
// place among the replies count too; over it the proxy stops reading
// from the client until a reply comes back; the ubf wire always keeps strict
// lock-step towards the service, see docs/wires/ubf.md: one request
// outstanding, and a client event only once no request is), idle time (no
// complete message either way: a client that trickles a frame a byte at a
// time, or only sends WebSocket pings, is idle), reply time (a service that
// does not answer a call in time has broken the contract; transitions and
// events are never answered, nor need a call whose reply is none()), dial
// time, violations
// per session (reject and monitor modes go on after a violation; past
// MaxViolations the session ends, logged once as "too many violations;
// ending the session"), and the grace period of a shutdown.
//
// # Pipelining and writes
//
// A request read while others await their reply is forwarded at once
// only when it is legal in every state those replies may lead to
// (checker.Session.Foresee says Legal). Otherwise, in Kill and Reject
// modes, the client reader holds it, reading nothing more from the client,
// until nothing is in flight, and then checks it in the state the replies
// led to: a request the contract makes illegal never reaches the service.
// Reject mode answers a request illegal whatever the replies at once, its
// error reply queued in the request's place among the replies; Kill mode
// holds it too, so that the client gets the replies to the requests the
// service executed, then the error reply, then the close. Monitor mode
// never holds (it never alters the traffic for the contract's sake): a
// pipelined request a reply made illegal is reported after the fact, as
// the PipelinedRequest kind.
//
// The proxy forwards the original bytes of each message as soon as it has
// judged it, with one exception that only saves work: while a direction's
// decoder already holds the bytes of further messages (a pipelined batch
// that arrived in one read, as redis-benchmark -P sends), the legal
// messages are collected, in order, and written together once the decoder
// has nothing more buffered or 64 KiB are collected, so that a batch costs
// one write instead of one per message. Nothing waits for input that may
// not come: before the proxy reads more from a side, waits for replies
// (MaxPending), handles a violation or ends a session, it first writes
// what it collected. Towards a ubf service every message is its own write
// (lock-step, above). On WebSocket each message is its own frame anyway.
//
// # Half-close
//
// When the client closes its side while requests are outstanding, the proxy
// half-closes the service connection and delivers the outstanding replies
// before ending the session (reason client_left); with nothing outstanding
// the session ends at once. A service that then closes without answering
// is not blamed (no violation, reason client_left): a ubf 2.x server ends
// every session at the end of its input and never answers after it.
//
// # WebSocket
//
// With TransportWebSocket the listener accepts HTTP upgrades. For each, the
// proxy first dials Upstream (a ws:// or wss:// URL, as written: the
// client's path and query are used only with Config.ForwardClientPath),
// offering the client's
// subprotocols and Origin, then completes the client's upgrade with the
// subprotocol the service chose (HTTP 502 when the service cannot be
// reached). Each WebSocket message is one frame of the wire format: it must
// decode to exactly one message (plus white space) and is forwarded whole,
// with its message type; a text message that is not UTF-8 ends the session
// with close code 1007 (RFC 6455, section 8.1). Pings, pongs and close frames are forwarded. A
// session that goes off-spec is closed with code 1008 (policy violation)
// and the explanation as reason.
//
// # Real ubf 2.x servers
//
// The proxy knows no wire format; what a format needs beyond framing it
// says through optional interfaces of its Wire, which sessions follow:
// wrappers.LockStepper (one request at a time towards the service),
// wrappers.Prelude (a phase before the guarded contract) and
// wrappers.SelfReporter (the service's own violation reports).
//
// With ubf.Wire{Meta: true}, the session starts in ubf's meta service, the
// wire's prelude, checked against its contract (wrappers/ubf/meta.con:
// help, info, description, services, contract, {startSession, Name, Args},
// {restartService, Name, Args}). Once {startSession, Name, _} is answered
// {ok, _} for a service a contract is for (Config.Contract or one of
// Config.Services, whose +name is Name), the session switches to that
// contract, starting in the state the server announced with that reply. A
// service no contract is for is forwarded (Config.Unguarded: the server
// answers; a service it starts passes unchecked) or refused as a client
// violation. The UBF(C) greeting is passed through unchecked; when it
// names a service a contract is for (a startplugin server), that contract
// starts at once.
//
// A real ubf server checks its own replies too, and sends its own report
// instead of a reply: {{serverBrokeContract, {Req, Reply}, Expected},
// State} when its reply failed its check (every ubf 2.x server does so for
// info and description in the meta service, whose "..." replies fail its
// string() check), {{clientBrokeContract, Req, Expected}, State} when it
// refused the request. On the ubf wire (its SelfReporter), a reply the
// checker rejects that is such a report naming the outstanding request is
// forwarded as it is and recorded (kind service-reported or
// service-refused, side as the report names it). In reject and monitor
// modes the session goes on in the state the service announced; in kill
// mode the report is the error reply and the session ends once it is out,
// except in the prelude, where a ubf server reports its own info replies.
package proxy
