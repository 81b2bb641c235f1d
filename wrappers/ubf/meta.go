package ubf

import (
	_ "embed"
	"fmt"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// metaSource is the contract of ubf's meta service (meta.con).
//
//go:embed meta.con
var metaSource []byte

var (
	atomStartSession = term.Atom("startSession")
	atomOK           = term.Atom("ok")
	atomClientBroke  = term.Atom("clientBrokeContract")
	atomServerBroke  = term.Atom("serverBrokeContract")
)

// PreludeContract implements wrappers.Prelude: with Meta, a session begins
// in ubf's meta service (help, info, description, services, contract,
// {startSession, Name, Args}, {restartService, Name, Args}), whose
// contract is meta.con.
func (w Wire) PreludeContract() (file string, src []byte, ok bool) {
	if !w.Meta {
		return "", nil, false
	}
	return "meta.con", metaSource, true
}

// StartRequest implements wrappers.Prelude: {startSession, Name, Args}
// with Name a string or a binary starts the service Name.
func (Wire) StartRequest(req term.Term) (string, bool) {
	tup, ok := req.(term.Tuple)
	if !ok || len(tup) != 3 || tup[0] != term.Term(atomStartSession) {
		return "", false
	}
	return serviceName(tup[1])
}

// Started implements wrappers.Prelude: {ok, _} answers a startSession that
// started the service; the state announced with it is the service's
// starting state.
func (Wire) Started(reply term.Term) bool {
	tup, ok := reply.(term.Tuple)
	return ok && len(tup) == 2 && tup[0] == term.Term(atomOK)
}

// GreetingService implements wrappers.Prelude: {'ubf1.0', Service, Help}
// names Service, a string or a binary. A server started with startplugin
// names its service; with serverhello, the meta server ("meta_server"
// unless configured otherwise).
func (Wire) GreetingService(g term.Term) (string, bool) {
	tup, ok := g.(term.Tuple)
	if !ok || len(tup) != 3 || tup[0] != term.Term(atomHello) {
		return "", false
	}
	return serviceName(tup[1])
}

func serviceName(t term.Term) (string, bool) {
	switch n := t.(type) {
	case term.String:
		return string(n), true
	case term.Binary:
		return string(n), true
	}
	return "", false
}

// StartExpected implements wrappers.Prelude.
func (Wire) StartExpected(service string) string {
	return fmt.Sprintf("{startSession, %s, term()}", term.String(service))
}

// SelfReport implements wrappers.SelfReporter. It recognises the reports a
// ubf 2.x server's own contract manager sends in place of a reply:
// {clientBrokeContract, Req, Expected} when it refused Req under its
// contract, and {serverBrokeContract, {Req, Reply}, Expected} when its
// implementation answered Req off its contract (every ubf 2.x server does
// that for 'info'$ and 'description'$ in its meta service: its string()
// check fails on its own "..." replies). Both name the request they
// answer, which tells them from a service that merely replies a tuple of
// that shape.
func (Wire) SelfReport(reply, req term.Term) (wrappers.Violation, bool) {
	tup, ok := reply.(term.Tuple)
	if !ok || len(tup) != 3 {
		return wrappers.Violation{}, false
	}
	switch tup[0] {
	case term.Term(atomClientBroke):
		if !term.Equal(tup[1], req) {
			return wrappers.Violation{}, false
		}
		return wrappers.Violation{Side: wrappers.Client, Message: req,
			Explanation: "the service's own contract checker refused the request (ubf clientBrokeContract); its report is forwarded"}, true
	case term.Term(atomServerBroke):
		inner, ok := tup[1].(term.Tuple)
		if !ok || len(inner) != 2 || !term.Equal(inner[0], req) {
			return wrappers.Violation{}, false
		}
		return wrappers.Violation{Side: wrappers.Server, Message: inner[1], Request: req,
			Explanation: "the service's own contract checker caught its reply (ubf serverBrokeContract) and sent its report instead; the report is forwarded"}, true
	}
	return wrappers.Violation{}, false
}

var (
	_ wrappers.Prelude      = Wire{}
	_ wrappers.SelfReporter = Wire{}
	_ wrappers.LockStepper  = Wire{}
)
