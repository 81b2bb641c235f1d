package proxy

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// The configurations of a real ubf 2.x server that the proxy must follow
// without a false kill (docs/wires/ubf.md, "How the real ubf 2.x server
// behaves"): one server hosting several services behind its meta service,
// a startSession for a service it does not host, a startplugin server's
// greeting, statelessrpc (every reply announces none), simplerpc (bare
// replies).

// ircCon and testCon are two more services of the fake ubf server, in the
// UBF(B) dialect as ubf's own contracts are; testCon is stateless.
const ircCon = `+NAME("irc").
+VSN("ubf2.0").

+TYPES
nick() :: ubfstring().

+STATE start
   logon => {ok, nick()} & active.

+STATE active
   {join, ubfstring()} => ok & active;
   {msg, ubfstring(), string()} => ok & active;
   logoff => ok & stop.

+ANYSTATE
   info => string().
`

const testCon = `+NAME("test").
+VSN("ubf2.0").

+ANYSTATE
   ping => pong;
   {echo, integer()} => integer().
`

// ubf2Server plays a ubf 2.x server hosting the services counter
// (counterCon), irc (ircCon), test (testCon) and other (no contract here:
// it answers {echoed, Req}). Without start, a session begins in its meta
// service.
type ubf2Server struct {
	hello     string // the greeting names it; "" sends none (no serverhello)
	start     string // startplugin: the service a session is in from the start
	stateless bool   // statelessrpc: every reply announces the state none
	simple    bool   // simplerpc: replies are bare
}

func (u ubf2Server) handle(k kit) func(c *wconn) {
	return func(c *wconn) {
		rep := func(r term.Term, state string) {
			if u.stateless {
				state = "none"
			}
			var t term.Term = term.Tuple{r, term.Atom(state)}
			if u.simple {
				t = r
			}
			_ = c.send(k.frame(t))
		}
		if u.hello != "" {
			_ = c.send(k.frame(term.Tuple{term.Atom("ubf1.0"), term.String(u.hello), term.String("type 'help'$ to know more\n")}))
		}
		service, state := u.start, "start"
		for {
			m, err := c.next()
			if err != nil {
				return
			}
			if m.Kind == wrappers.Event {
				continue
			}
			req := m.Term
			if service == "" {
				switch name, ok := (ubf.Wire{}).StartRequest(req); {
				case term.Equal(req, T("help")):
					rep(term.Binary("the meta server"), "start")
				case term.Equal(req, T("services")):
					rep(T(`["counter", "irc", "other", "test"]`), "start")
				case ok && (name == "counter" || name == "irc" || name == "other" || name == "test"):
					service = name
					if u.stateless && !u.simple {
						// As ubf's encoder writes it, with a register.
						_ = c.send([]byte("'ok'>!{{!,!},'none'}$\n"))
						continue
					}
					rep(T("{ok, ok}"), state)
				case ok:
					rep(T("{error, noSuchService}"), "start")
				default:
					rep(term.Tuple{term.Atom("clientBrokeContract"), req, term.List{}}, "start")
				}
				continue
			}
			var reply term.Term
			next := state
			switch {
			case service == "other":
				reply = term.Tuple{term.Atom("echoed"), req}
			case service == "counter" && term.Equal(req, T("{add, 1}")):
				reply = T("{ok, 2}")
			case service == "irc" && term.Equal(req, T("logon")):
				reply, next = T(`{ok, "nick1"}`), "active"
			case service == "irc" && state == "active" && term.Equal(req, T(`{join, "g7"}`)):
				reply = T("ok")
			case service == "irc" && state == "active" && len(tupleOf(req)) == 3 && tupleOf(req)[0] == term.Term(term.Atom("msg")):
				reply = T("ok")
			case service == "irc" && term.Equal(req, T("info")):
				reply = term.String("I am irc") // "...": not string() as ubf means it
			case service == "test" && term.Equal(req, T("ping")):
				reply = T("pong")
			case service == "test" && term.Equal(req, T("{echo, 5}")):
				reply = T("5")
			default:
				reply = term.Tuple{term.Atom("clientBrokeContract"), req, term.List{}}
			}
			state = next
			rep(reply, state)
		}
	}
}

// startUBF2 starts the fake server and a proxy guarding counter, irc and
// test in front of it.
func startUBF2(t *testing.T, k kit, u ubf2Server, cfg Config) *testProxy {
	t.Helper()
	svc := startService(t, TCP, k, u.handle(k))
	cfg.Contract = compile(t, counterCon)
	cfg.Services = []*contract.Contract{compile(t, ircCon), compile(t, testCon)}
	if cfg.Wire == nil {
		cfg.Wire = ubf.Wire{Meta: true, SimpleRPC: u.simple}
	}
	return startProxy(t, svc, cfg, nil)
}

func noViolations(t *testing.T, p *testProxy) {
	t.Helper()
	if v := p.logs.find("contract violation"); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}

// TestUBFMissingService: {startSession, "missing", []} is answered
// {{error, noSuchService}, start}, legal under the meta contract; the
// session stays in the meta phase and can start a service next (ubf's own
// test sequence does this).
func TestUBFMissingService(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			p := startUBF2(t, ubfKit, ubf2Server{}, Config{Mode: mode, Unguarded: ForwardUnguarded})
			c := p.dial(t)
			wantReply(t, call(t, c, ubfKit, `{startSession, "missing", []}`), "{error, noSuchService}")
			wantReply(t, call(t, c, ubfKit, "help"), `<<"the meta server">>`)
			wantReply(t, call(t, c, ubfKit, `{startSession, "counter", []}`), "{ok, ok}")
			wantReply(t, call(t, c, ubfKit, "{add, 1}"), "{ok, 2}")
			noViolations(t, p)
		})
	}
}

// TestUBFSeveralServices: with a contract per service, the meta phase
// picks the contract by the name in startSession, and each session is
// held to its own.
func TestUBFSeveralServices(t *testing.T) {
	k := ubfKit
	p := startUBF2(t, k, ubf2Server{}, Config{})
	irc := p.dial(t)
	counter := p.dial(t)
	wantReply(t, call(t, irc, k, `{startSession, "irc", []}`), "{ok, ok}")
	wantReply(t, call(t, counter, k, `{startSession, "counter", []}`), "{ok, ok}")
	wantReply(t, call(t, irc, k, "logon"), `{ok, "nick1"}`)
	wantReply(t, call(t, irc, k, `{join, "g7"}`), "ok")
	wantReply(t, call(t, counter, k, "{add, 1}"), "{ok, 2}")
	noViolations(t, p)
	// {add, 1} is counter's, not irc's: irc's contract refuses it.
	if m := call(t, irc, k, "{add, 1}"); !isErrorReply(m, k.errClient) {
		t.Fatalf("got %v", m.Term)
	}
	v := p.logs.wait(t, "contract violation", 1)[0]
	if field(v, "contract") != "irc" || field(v, "side") != "client" || field(v, "states") != `["active"]` {
		t.Errorf("violation record %v", v)
	}
	wantReply(t, call(t, counter, k, "{add, 1}"), "{ok, 2}")
}

// TestUBFUnguardedService: a service no contract is for is forwarded by
// default (the server answers; once started, its traffic passes
// unchecked), or refused with --unguarded refuse.
func TestUBFUnguardedService(t *testing.T) {
	k := ubfKit
	t.Run("forward", func(t *testing.T) {
		p := startUBF2(t, k, ubf2Server{}, Config{})
		c := p.dial(t)
		wantReply(t, call(t, c, k, `{startSession, "other", []}`), "{ok, ok}")
		wantReply(t, call(t, c, k, "{anything, 1}"), "{echoed, {anything, 1}}")
		wantReply(t, call(t, c, k, "logon"), "{echoed, logon}")
		noViolations(t, p)
	})
	t.Run("refuse", func(t *testing.T) {
		svc := startService(t, TCP, k, ubf2Server{}.handle(k))
		p := startProxy(t, svc, Config{Wire: ubf.Wire{Meta: true}, Mode: Reject, Unguarded: RefuseUnguarded,
			Services: []*contract.Contract{compile(t, ircCon)}}, nil)
		c := p.dial(t)
		m := call(t, c, k, `{startSession, "other", []}`)
		if !isErrorReply(m, k.errClient) {
			t.Fatalf("got %v", m.Term)
		}
		v := p.logs.wait(t, "contract violation", 1)[0]
		if !strings.Contains(field(v, "explanation"), `guards the services "counter", "irc" only, not "other"`) ||
			field(v, "expected") != `["{startSession, \"counter\", term()}","{startSession, \"irc\", term()}"]` {
			t.Errorf("violation record %v", v)
		}
		// Still in the meta phase: a guarded service starts.
		wantReply(t, call(t, c, k, `{startSession, "irc", []}`), "{ok, ok}")
		if _, got := svc.conn(t, 0).transcript(); strings.Contains(got, "other") {
			t.Errorf("the service got the refused startSession: %q", got)
		}
	})
}

// TestUBFStartPlugin: a server started with startplugin greets with its
// service's name and the session is inside it at once; a greeting naming
// the meta server (serverhello) leaves the session in the meta phase.
func TestUBFStartPlugin(t *testing.T) {
	k := ubfKit
	t.Run("startplugin", func(t *testing.T) {
		p := startUBF2(t, k, ubf2Server{hello: "irc", start: "irc"}, Config{})
		c := p.dial(t)
		if g, err := c.next(); err != nil || g.Kind != wrappers.Greeting {
			t.Fatalf("want the greeting, got %v %v", g.Term, err)
		}
		wantReply(t, call(t, c, k, "logon"), `{ok, "nick1"}`)
		if m := call(t, c, k, "logon"); !isErrorReply(m, k.errClient) {
			t.Fatalf("a second logon: got %v", m.Term)
		}
		if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "contract") != "irc" || field(v, "states") != `["active"]` {
			t.Errorf("violation record %v", v)
		}
	})
	t.Run("serverhello", func(t *testing.T) {
		p := startUBF2(t, k, ubf2Server{hello: "meta_server"}, Config{})
		c := p.dial(t)
		if g, err := c.next(); err != nil || g.Kind != wrappers.Greeting {
			t.Fatalf("want the greeting, got %v %v", g.Term, err)
		}
		if m := call(t, c, k, "logon"); !isErrorReply(m, k.errClient) {
			t.Fatalf("logon in the meta phase: got %v", m.Term)
		}
		if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "contract") != "ubf_meta" {
			t.Errorf("violation record %v", v)
		}
	})
}

// TestUBFStateless: a statelessrpc server answers startSession with
// 'ok'>!{{!,!},'none'}$ and every reply with the state none; a contract
// without states is stateless, in the state none, and its anystate rules
// apply.
func TestUBFStateless(t *testing.T) {
	k := ubfKit
	p := startUBF2(t, k, ubf2Server{stateless: true}, Config{})
	c := p.dial(t)
	wantReply(t, call(t, c, k, "help"), `<<"the meta server">>`)
	m := call(t, c, k, `{startSession, "test", []}`)
	wantReply(t, m, "{ok, ok}")
	if m.NextState != "none" {
		t.Errorf("announced state %q", m.NextState)
	}
	wantReply(t, call(t, c, k, "ping"), "pong")
	wantReply(t, call(t, c, k, "{echo, 5}"), "5")
	noViolations(t, p)
	m = call(t, c, k, "{echo, x}")
	if !isErrorReply(m, k.errClient) {
		t.Fatalf("got %v", m.Term)
	}
	if tup, ok := m.Term.(term.Tuple); !ok || len(tup) != 3 {
		t.Errorf("error reply %v", m.Term)
	}
	if v := p.logs.wait(t, "contract violation", 1)[0]; field(v, "contract") != "test" || field(v, "states") != `["none"]` {
		t.Errorf("violation record %v", v)
	}
}

func tupleOf(t term.Term) term.Tuple {
	tup, _ := t.(term.Tuple)
	return tup
}

// TestUBFDialectStrings: under a contract in the UBF(B) dialect, types
// mean what ubf means: a "..." where it says string() (a list of character
// codes) breaks the contract, from the client ({msg, "g7", "hi there"}, as
// ubf refuses it under its irc contract) and from the service (its own
// "..." answer to info).
func TestUBFDialectStrings(t *testing.T) {
	k := ubfKit
	svc := startService(t, TCP, k, ubf2Server{}.handle(k))
	p := startProxy(t, svc, Config{Wire: ubf.Wire{Meta: true}, Mode: Reject, Contract: compile(t, ircCon)}, nil)
	c := p.dial(t)
	wantReply(t, call(t, c, k, `{startSession, "irc", []}`), "{ok, ok}")
	wantReply(t, call(t, c, k, "logon"), `{ok, "nick1"}`)
	if m := call(t, c, k, `{msg, "g7", "hi there"}`); !isErrorReply(m, k.errClient) {
		t.Fatalf("{msg, \"g7\", \"hi there\"}: got %v", m.Term)
	}
	wantReply(t, call(t, c, k, `{msg, "g7", [104, 105]}`), "ok")
	if m := call(t, c, k, "info"); !isErrorReply(m, k.errServer) {
		t.Fatalf("info: got %v", m.Term)
	}
	recs := p.logs.wait(t, "contract violation", 2)
	if field(recs[0], "side") != "client" || !strings.Contains(field(recs[0], "explanation"), "list of character codes") ||
		field(recs[1], "side") != "server" || field(recs[1], "kind") != "bad-reply" {
		t.Errorf("records %v", recs)
	}
	if _, got := svc.conn(t, 0).transcript(); strings.Contains(got, "hi there") {
		t.Errorf("the service got the refused request: %q", got)
	}
}

// TestUBFSimpleRPC: with simplerpc, replies are bare, and so are ubf's own
// error replies and the proxy's.
func TestUBFSimpleRPC(t *testing.T) {
	k := ubfKit
	k.wire = ubf.Wire{SimpleRPC: true}
	k.reply = func(r term.Term, _ string) term.Term { return r }
	p := startUBF2(t, k, ubf2Server{simple: true}, Config{})
	c := p.dial(t)
	wantReply(t, call(t, c, k, `{startSession, "counter", []}`), "{ok, ok}")
	wantReply(t, call(t, c, k, "{add, 1}"), "{ok, 2}")
	noViolations(t, p)
	m := call(t, c, k, "{add, x}")
	want := `{clientBrokeContract, {add, x}, ["{add, integer()}", "{bad, integer()}", "{slow, integer()}", "{hold, integer()}", "{crash, integer()}", "{events, integer()}", "{badevent, integer()}", "bye", "ping"]}`
	if m.Kind != wrappers.Reply || m.NextState != "" || !strings.HasPrefix(m.Term.String(), "{clientBrokeContract, {add, x}, [") {
		t.Fatalf("got %s %v, want the bare %s", m.Kind, m.Term, want)
	}
	if _, got := c.transcript(); !strings.Contains(got, "{'clientBrokeContract',{'add','x'},#") || strings.Contains(got, "'start'}$") {
		t.Errorf("the client got %q", got)
	}
}
