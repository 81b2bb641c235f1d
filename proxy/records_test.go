package proxy

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
)

const peopleCon = `+name("people").
+vsn("1").
+deftype person() = #person{name :: string(), age :: integer()}.
+state start x {add, person()} -> ok x start.
+state start x {find, string()} -> #found{who :: person(), score :: integer()} x start.
`

// TestJSONRecordsInContractOrder: a JSF record whose fields come in
// another order than the contract's is checked in the contract's order,
// and forwarded as it was written.
func TestJSONRecordsInContractOrder(t *testing.T) {
	c, diags := contract.Compile("people.con", []byte(peopleCon), contract.Options{})
	if c == nil {
		t.Fatal(diags)
	}
	svc := startService(t, TCP, jsonKit, func(c *wconn) {
		for {
			if _, err := c.next(); err != nil {
				return
			}
			_ = c.send(jsonKit.frame(T("ok")))
		}
	})
	p := startProxy(t, svc, Config{Contract: c}, nil)
	cl := p.dial(t)
	req := []byte(`{"$T": [{"$A": "add"}, {"$R": "person", "age": 3, "name": "Joe"}]}` + "\n")
	if err := cl.send(req); err != nil {
		t.Fatal(err)
	}
	m, err := cl.next()
	if err != nil {
		t.Fatal(err)
	}
	wantReply(t, m, "ok")
	if _, got := svc.conn(t, 0).transcript(); got != string(req) {
		t.Errorf("the service got %q, want %q", got, req)
	}
	if v := p.logs.find("contract violation"); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}
