package proxy

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/wrappers"
)

// panicWire is a wire whose error reply panics. Reject mode builds the
// error reply of an illegal request with the session's mutex held, and
// that of an illegal reply with the client's write lock held: a panic
// there must end the session, not freeze it with the lock held.
type panicWire struct{ wrappers.Wire }

type panicSession struct{ wrappers.Session }

func (w panicWire) NewSession(o wrappers.Options) wrappers.Session {
	return panicSession{w.Wire.NewSession(o)}
}

func (panicSession) ErrorReply(wrappers.Violation) []byte { panic("injected in ErrorReply") }

// TestPanicUnderLock: a panic while a session lock is held ends that
// session only (logged with its stack, counted); the other sessions go on
// and Serve returns after the grace period.
func TestPanicUnderLock(t *testing.T) {
	for _, side := range []wrappers.Side{wrappers.Client, wrappers.Server} {
		for _, k := range kits {
			t.Run(side.String()+"/"+k.name, func(t *testing.T) {
				t.Parallel()
				svc := startService(t, TCP, k, counterService(k, false))
				p := startProxy(t, svc, Config{Wire: panicWire{k.wire}, Mode: Reject, Limits: Limits{Grace: time.Second}}, nil)
				other, victim := p.dialPair(t)
				trigger := "{nope, 1}" // an illegal request
				if side == wrappers.Server {
					trigger = "{bad, 1}" // answered off-contract
				}
				if err := victim.send(k.frame(T(trigger))); err != nil {
					t.Fatal(err)
				}
				wantClosed(t, victim)
				rec := p.logs.wait(t, "panic in session", 1)[0]
				if field(rec, "panic") != "injected in ErrorReply" || !strings.Contains(field(rec, "stack"), "panic_test.go") {
					t.Errorf("panic record %v", rec)
				}
				wantReply(t, call(t, other, k, "{add, 7}"), "{ok, 8}")
				if st := p.srv.Stats(); st.Panics != 1 {
					t.Errorf("stats %+v, want 1 panic", st)
				}
				var victimEnd map[string]any
				for _, e := range p.logs.wait(t, "session end", 1) {
					victimEnd = e
				}
				if field(victimEnd, "reason") != "error" {
					t.Errorf("session end %v, want reason error", victimEnd)
				}
				// Serve returns once the grace period is over, although the
				// other session is still open.
				p.Shutdown()
				if !p.Wait(time.Second + 3*linger) {
					t.Fatal("Serve did not return after the grace period")
				}
			})
		}
	}
}

// wantClosed fails unless the peer closed c (rather than sent a message or
// left it open until the read deadline).
func wantClosed(t testing.TB, c *wconn) {
	t.Helper()
	if err := notClosed(c); err != nil {
		t.Fatal(err)
	}
}

// notClosed returns nil when the peer closed c, and otherwise what came
// instead: a message, or the read deadline passing.
func notClosed(c *wconn) error { return closeFailure(c.closed()) }

// closeFailure returns nil when err, what wconn.closed returned, says the
// peer closed the connection, and otherwise an error saying what came
// instead.
func closeFailure(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "want the connection closed") {
		return fmt.Errorf("want the connection closed: %w", err)
	}
	return nil
}
