// Package conformance tests a live service against its contract, as
// QuickCheck's state machine testing does: random walks through the
// contract choose legal requests (values generated from the types, the
// contract's variables bound to what the service answered), send them over
// the service's wire format, and check every message the service sends.
// The first violation by the service stops the run; the conversation that
// shows it is shrunk (requests left out while the service still breaks the
// contract the same way) so that it can be written as a trace replay
// reproduces. Mutants send one off-spec request after a legal prefix and
// record how the service answers it.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/checker/coverage"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// Encoder writes a client message in the wire format: a request, or an
// in transition or event (event true).
type Encoder func(dst []byte, t term.Term, event bool) ([]byte, error)

// Config says what to test and how.
type Config struct {
	Machine *checker.Machine
	Initial string // the state conversations start in; "" for the contract's
	Wire    wrappers.Wire
	Encode  Encoder
	Addr    string // the service, host:port
	// Sessions is the number of conversations, Steps the most client
	// messages in one.
	Sessions, Steps int
	Seed            uint64
	// Timeout bounds the wait for a reply that is due (and for a service
	// that speaks next); also the dial.
	Timeout time.Duration
	// Mutants is the number of extra conversations that end with one
	// off-spec request.
	Mutants int
	// Depth bounds the nesting of generated values (0: 3).
	Depth int
}

// Step is one message of a conversation, as a trace line writes it: Dir
// is ">" (request), "<" (reply), ">!" or "<!" (transition or event), Next
// the state a reply announced ("" when none).
type Step struct {
	Dir  string
	Term term.Term
	Next string
}

// Failure is a violation of the contract by the service.
type Failure struct {
	Session int                // the conversation it happened in (from 1)
	Seed    uint64             // that conversation's seed
	Steps   []Step             // the conversation, ending with the offending message
	Error   string             // the violation in words
	Kind    string             // the violation's kind
	Found   int                // client messages of the conversation as found
	Shrunk  int                // client messages after shrinking
	V       *checker.Violation // nil when the service closed or went silent
}

// Outcome is how a service answered an off-spec request.
type Outcome string

// Outcomes of mutants.
const (
	Refused       Outcome = "refused"              // an error reply, or none while the connection stays open
	AnsweredLegal Outcome = "answered as if legal" // a reply a legal request could get
	Crashed       Outcome = "crashed"              // closed the connection, or stopped accepting new ones
)

// Mutant is one off-spec request and what came of it.
type Mutant struct {
	Prefix  []Step   // the legal conversation before it
	States  []string // where the session was
	Request term.Term
	Outcome Outcome
	Reply   term.Term // nil when none came
}

// Report is the result of a run.
type Report struct {
	Sessions int // conversations held (walks, then mutants)
	Messages int // messages checked in the walks
	Failure  *Failure
	Coverage []coverage.Item
	Mutants  []Mutant
}

// choice is one client message of a walk: which rule or in event of the
// contract, and the seed its value was generated from. A conversation is
// replayed (and shrunk) as its choices, so that values bound by the
// service (a handle) are taken from the replies of the replay.
type choice struct {
	rule  *contract.Rule
	event *contract.Event
	seed  uint64
}

// Run tests the service: cfg.Sessions random walks, stopping at the first
// violation by the service (shrunk), then cfg.Mutants mutants. It returns
// an error only when the service cannot be reached at all.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Depth == 0 {
		cfg.Depth = 3
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	rep := &Report{}
	tracker := coverage.New(cfg.Machine)
	seeds := rand.New(rand.NewPCG(cfg.Seed, 0x75626670))
	for i := 1; i <= cfg.Sessions && ctx.Err() == nil; i++ {
		seed := seeds.Uint64()
		rep.Sessions++
		tracker.Reset()
		w := &walk{cfg: cfg, rng: rand.New(rand.NewPCG(seed, 1)), tracker: tracker}
		res, err := w.run(ctx, nil)
		if err != nil {
			return rep, err
		}
		rep.Messages += res.messages
		if res.fail != nil {
			f := shrink(ctx, cfg, res)
			f.Session, f.Seed = i, seed
			rep.Failure = f
			break
		}
	}
	rep.Coverage = tracker.Items()
	if rep.Failure != nil {
		return rep, nil
	}
	// A mutant conversation may end before its off-spec request (the
	// contract reached stop): up to four tries a mutant.
	for i := 0; i < 4*cfg.Mutants && len(rep.Mutants) < cfg.Mutants && ctx.Err() == nil; i++ {
		rep.Sessions++
		m, err := mutate(ctx, cfg, seeds.Uint64())
		if err != nil {
			return rep, err
		}
		if m != nil {
			rep.Mutants = append(rep.Mutants, *m)
		}
	}
	return rep, nil
}

// walkResult is one conversation.
type walkResult struct {
	steps    []Step
	choices  []choice
	messages int
	fail     *Failure
}

// walk holds one conversation with the service.
type walk struct {
	cfg     Config
	rng     *rand.Rand
	tracker *coverage.Tracker // nil: no coverage (shrinking)
	s       *checker.Session
	conn    net.Conn
	in      chan serverMsg
	res     walkResult
	// The client's messages also go through the wire's client decoder,
	// whose state some server decoders read (RESP's subscriptions): cw
	// feeds it, decoded says it has read one message.
	cw      *io.PipeWriter
	decoded chan struct{}
}

type serverMsg struct {
	m   wrappers.Message
	err error
}

// run holds a conversation: the choices of replay when given (shrinking),
// else random ones.
func (w *walk) run(ctx context.Context, replay []choice) (walkResult, error) {
	if _, err := w.start(ctx); err != nil {
		return w.res, err
	}
	defer w.close()
	steps := w.cfg.Steps
	if replay != nil {
		steps = len(replay)
	}
	w.loop(ctx, replay, steps)
	// Replies still due at the end (a none() reply may come late).
	if w.res.fail == nil {
		w.serverTurn()
	}
	return w.res, nil
}

// start opens the session and the connection, and reads the service's
// messages in the background.
func (w *walk) start(ctx context.Context) (*walkResult, error) {
	s, err := w.cfg.Machine.NewSession(checker.Options{Initial: w.cfg.Initial})
	if err != nil {
		return nil, err
	}
	w.s = s
	d := net.Dialer{Timeout: w.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", w.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the service: %w", err)
	}
	w.conn = conn
	w.in = make(chan serverMsg, 16)
	sess := w.cfg.Wire.NewSession(wrappers.Options{})
	dec := sess.ServerDecoder(conn)
	pr, pw := io.Pipe()
	w.cw, w.decoded = pw, make(chan struct{}, 16)
	cdec := sess.ClientDecoder(pr)
	go func() {
		defer pr.Close()
		for {
			m, err := cdec.Next()
			if err != nil {
				return
			}
			if m.Kind != wrappers.Filler {
				w.decoded <- struct{}{}
			}
		}
	}()
	go func() {
		defer close(w.in)
		for {
			m, err := dec.Next()
			if err != nil {
				w.in <- serverMsg{err: err}
				return
			}
			if m.Kind == wrappers.Filler {
				continue
			}
			// Raw is only valid until the next call; the term is kept.
			m.Raw = nil
			w.in <- serverMsg{m: m}
		}
	}()
	return &w.res, nil
}

// loop sends up to steps client messages: replay's, or random ones.
func (w *walk) loop(ctx context.Context, replay []choice, steps int) {
	for i := 0; i < steps && ctx.Err() == nil; i++ {
		// The service may speak first (a greeting, an out transition).
		if !w.serverTurn() || w.res.fail != nil || w.s.Done() {
			return
		}
		var c choice
		var msg term.Term
		ok := false
		if replay != nil {
			c = replay[i]
			msg, ok = w.generate(c)
		} else {
			c, msg, ok = w.choose()
		}
		if !ok {
			if replay != nil {
				// The shortened conversation does not allow this message:
				// it is not a reproduction.
				return
			}
			// No legal request here: the service must speak next.
			if !w.await(w.cfg.Timeout) {
				return
			}
			continue
		}
		if !w.send(c, msg) {
			return
		}
		if c.rule != nil && w.s.Pending() > 0 && w.s.ReplyDue(w.s.Pending()-1) {
			for w.s.Pending() > 0 && w.res.fail == nil {
				if !w.await(w.cfg.Timeout) {
					if w.res.fail == nil {
						w.failSilent(fmt.Sprintf("the service did not answer %s within %v", msg, w.cfg.Timeout))
					}
					return
				}
			}
		}
		if w.res.fail != nil {
			return
		}
	}
}

// write sends a client message: through the wire's client decoder first,
// then to the service; the error is the service connection's.
func (w *walk) write(b []byte) error {
	if _, err := w.cw.Write(b); err == nil {
		select {
		case <-w.decoded:
		case <-time.After(w.cfg.Timeout):
		}
	}
	w.conn.SetWriteDeadline(time.Now().Add(w.cfg.Timeout))
	_, err := w.conn.Write(b)
	return err
}

// close ends the conversation.
func (w *walk) close() {
	w.cw.Close()
	w.conn.Close()
}

// serverTurn checks what the service sent meanwhile, waiting a moment when
// the contract lets it speak now. It returns false when the conversation
// is over (the service closed it).
func (w *walk) serverTurn() bool {
	wait := time.Duration(0)
	if w.serverMaySpeak() {
		wait = 30 * time.Millisecond
	}
	for {
		select {
		case sm, ok := <-w.in:
			if !ok || !w.receive(sm) {
				return false
			}
			wait = 0
		case <-time.After(wait):
			return true
		}
		if w.res.fail != nil {
			return true
		}
	}
}

// serverMaySpeak reports whether a state of the session has out
// transitions or events.
func (w *walk) serverMaySpeak() bool {
	c := w.cfg.Machine.Contract()
	if len(c.AnyEvents) > 0 {
		return true
	}
	for _, name := range w.s.States() {
		if st := c.State(name); st != nil {
			for _, e := range st.Events {
				if e.Dir == contract.Out {
					return true
				}
			}
		}
	}
	return false
}

// await waits up to d for one message from the service and checks it; it
// returns false when none came or the connection ended.
func (w *walk) await(d time.Duration) bool {
	select {
	case sm, ok := <-w.in:
		return ok && w.receive(sm)
	case <-time.After(d):
		return false
	}
}

// receive checks one message of the service; false when the connection
// ended (with a failure when a reply was due).
func (w *walk) receive(sm serverMsg) bool {
	if sm.err != nil {
		if w.s.Pending() > 0 && w.s.ReplyDue(0) {
			why := "closed the connection"
			if !errors.Is(sm.err, io.EOF) {
				why = "broke the connection: " + sm.err.Error()
			}
			w.failSilent(fmt.Sprintf("the service %s with a request unanswered", why))
		}
		return false
	}
	m := sm.m
	before := w.s.States()
	var role checker.Role
	var v *checker.Violation
	dir := "<"
	switch m.Kind {
	case wrappers.Filler, wrappers.Greeting:
		return true
	case wrappers.Reply:
		role = checker.RoleReply
		if m.NextState != "" {
			v = w.s.ReplyState(m.Term, m.NextState)
		} else {
			v = w.s.Reply(m.Term)
		}
	case wrappers.Event:
		role, dir = checker.RoleTransition, "<!"
		v = w.s.EventOut(m.Term)
	default:
		role, v = w.s.Server(m.Term)
		if role != checker.RoleReply {
			dir = "<!"
		}
	}
	w.res.messages++
	w.res.steps = append(w.res.steps, Step{Dir: dir, Term: m.Term, Next: m.NextState})
	if v != nil {
		w.res.fail = &Failure{Error: v.Error(), Kind: v.Kind.String(), V: v}
		if v.Side != checker.Server {
			w.res.fail.Error = "the test itself broke the contract (a bug of ubfproxy test): " + v.Error()
		}
		return true
	}
	if w.tracker != nil {
		w.tracker.Observe(before, false, role, m.Term)
	}
	return true
}

func (w *walk) failSilent(why string) {
	w.res.fail = &Failure{Error: why, Kind: "unanswered"}
}

// candidates lists what the client may send in the session's states: the
// call rules and in transitions and events of each state, and the
// +anystate ones.
func (w *walk) candidates() []choice {
	c := w.cfg.Machine.Contract()
	var out []choice
	add := func(rules []*contract.Rule, events []*contract.Event) {
		for _, r := range rules {
			out = append(out, choice{rule: r})
		}
		for _, e := range events {
			if e.Dir == contract.In {
				out = append(out, choice{event: e})
			}
		}
	}
	for _, name := range w.s.States() {
		if st := c.State(name); st != nil {
			add(st.Rules, st.Events)
		}
	}
	add(c.Anystate, c.AnyEvents)
	return out
}

// choose picks a legal client message at random: a candidate, then a
// value of its type, retried a few times when the value is not legal (a
// variable not bound in every state, overlapping rules).
func (w *walk) choose() (choice, term.Term, bool) {
	cands := w.candidates()
	for try := 0; try < 20 && len(cands) > 0; try++ {
		c := cands[w.rng.IntN(len(cands))]
		c.seed = w.rng.Uint64()
		if msg, ok := w.generate(c); ok {
			return c, msg, true
		}
	}
	return choice{}, nil, false
}

// generate makes c's value, with the variables the session has bound, and
// checks it: ok is false when it is not legal now, and then the session
// is unchanged.
func (w *walk) generate(c choice) (term.Term, bool) {
	typ := c.eventType()
	if !w.allowed(c) {
		return nil, false
	}
	msg := checker.GenerateIn(rand.New(rand.NewPCG(c.seed, 2)), typ, w.cfg.Depth, w.env())
	if msg == nil {
		return nil, false
	}
	if w.s.Foresee(msg) != checker.Legal {
		return nil, false
	}
	// A value the wire cannot carry (a string as a list of character
	// codes on a text wire) is no test of the service: another is chosen.
	if _, err := w.cfg.Encode(nil, msg, c.rule == nil); err != nil {
		return nil, false
	}
	return msg, true
}

// allowed reports whether c is a candidate in the session's states.
func (w *walk) allowed(c choice) bool {
	for _, o := range w.candidates() {
		if o.rule == c.rule && o.event == c.event {
			return true
		}
	}
	return false
}

func (c choice) eventType() contract.Type {
	if c.rule != nil {
		return c.rule.In
	}
	return c.event.Type
}

// send checks a client message in the session and writes it; false when
// it could not be sent (the session is over).
func (w *walk) send(c choice, msg term.Term) bool {
	before := w.s.States()
	var v *checker.Violation
	role, dir := checker.RoleCall, ">"
	if c.rule != nil {
		v = w.s.Call(msg)
	} else {
		role, dir = checker.RoleTransition, ">!"
		v = w.s.EventIn(msg)
	}
	if v != nil {
		// Not legal after all (Foresee could not tell): not sent.
		return true
	}
	b, err := w.cfg.Encode(nil, msg, c.rule == nil)
	if err != nil {
		return false // generate checked that it can be encoded
	}
	if err := w.write(b); err != nil {
		if w.s.Pending() > 0 {
			w.failSilent("the service closed the connection: " + err.Error())
		}
		return false
	}
	w.res.choices = append(w.res.choices, c)
	w.res.messages++
	w.res.steps = append(w.res.steps, Step{Dir: dir, Term: msg})
	if w.tracker != nil {
		w.tracker.Observe(before, true, role, msg)
	}
	return true
}
