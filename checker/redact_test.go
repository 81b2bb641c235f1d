package checker

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

const secretContract = `
+deftype password() = binary(secret).
+deftype cred() = {user, binary(), password()} | {token, string(secret)} | anon.
+state start x {auth, password()} -> ok x ready | {error, binary()} x start.
+state start x {login, cred()} -> ok x ready.
+state start x {keys, ..[password()]} -> ok x start.
+state start x {nested, [{pw, password()}]} -> ok x start.
+state start x {remember, P = password()} -> ok x known.
+state known x {check, P} -> ok x known.
+state ready x {get, binary()} -> binary() x ready.
+deftype acct() = #acct{user :: binary(), pw :: password()}.
+state start x {rec, acct()} -> ok x start.
+state start x #{op := "auth", token := string(secret)} -> ok x start.
`

func TestRedact(t *testing.T) {
	s, err := Prepare(compileContract(t, secretContract)).NewSession(Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ in, want string }{
		{`{auth, <<"hunter2">>}`, `{auth, '<secret>'}`},
		{`{auth, 42}`, `{auth, '<secret>'}`}, // hidden though it is not a binary
		{`{login, {user, <<"joe">>, <<"pw">>}}`, `{login, {user, <<"joe">>, '<secret>'}}`},
		{`{login, {token, "tok"}}`, `{login, {token, '<secret>'}}`},
		{`{login, anon}`, `{login, anon}`},
		{`{keys, <<"a">>, <<"b">>}`, `{keys, '<secret>', '<secret>'}`},
		{`{nested, [{pw, <<"x">>}, {other, <<"y">>}]}`, `{nested, [{pw, '<secret>'}, {other, <<"y">>}]}`},
		{`{remember, <<"p">>}`, `{remember, '<secret>'}`},
		{`{check, <<"guess">>}`, `{check, '<secret>'}`},          // checked against a bound secret
		{`{get, <<"k">>}`, `{get, <<"k">>}`},                     // another tag: shown
		{`{auth, <<"a">>, <<"b">>}`, `{auth, <<"a">>, <<"b">>}`}, // no rule of that arity
		{`{rec, {acct, <<"joe">>, <<"pw">>}}`, `{rec, {acct, <<"joe">>, '<secret>'}}`},
		{`#{op => "auth", token => "tok"}`, `#{op => "auth", token => '<secret>'}`},
		{`ok`, `ok`},
	}
	for _, c := range cases {
		got := term.Truncated(s.Redact(term.MustParse(c.in)), 1000)
		if got != c.want {
			t.Errorf("Redact(%s) = %s, want %s", c.in, got, c.want)
		}
	}

	// Without a secret type nothing changes, and nothing is copied.
	plain, err := Prepare(compileContract(t, `+state start x {auth, binary()} -> ok x start.`)).NewSession(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.m.secrets != nil {
		t.Error("a contract without secret types has a redactor")
	}
	in := term.MustParse(`{auth, <<"hunter2">>}`)
	if got := plain.Redact(in); !term.Equal(got, in) {
		t.Errorf("no-secret contract: Redact = %s", got)
	}
}

func TestViolationHidesSecrets(t *testing.T) {
	m := Prepare(compileContract(t, secretContract))
	// before is a legal start, run by runSteps (in the subtest, so that a
	// failure stops that case); last is the message that must be refused.
	auth := []step{{op: "call", msg: `{auth, <<"hunter2">>}`}}
	cases := []struct {
		name   string
		before []step
		last   func(s *Session) *Violation
	}{
		{"illegal in the state", append(auth, step{op: "reply", msg: `ok`}), func(s *Session) *Violation {
			return s.Call(term.MustParse(`{auth, <<"hunter2">>}`))
		}},
		{"a long password, cut off in the text", nil, func(s *Session) *Violation {
			return s.Call(term.MustParse(`{login, {user, 7, <<"hunter2` + strings.Repeat("x", 500) + `">>}}`))
		}},
		{"a bad value beside the secret", nil, func(s *Session) *Violation {
			return s.Call(term.MustParse(`{login, {user, 7, <<"hunter2">>}}`))
		}},
		{"a bad reply names the request", auth, func(s *Session) *Violation {
			return s.Reply(term.MustParse(`nope`))
		}},
		{"a bound secret", []step{{op: "call", msg: `{remember, <<"hunter2">>}`}, {op: "reply", msg: `ok`}}, func(s *Session) *Violation {
			return s.Call(term.MustParse(`{check, <<"other">>}`))
		}},
		{"a secret in a record", nil, func(s *Session) *Violation {
			return s.Call(term.MustParse(`{rec, {acct, 7, <<"hunter2">>}}`))
		}},
		{"a secret in a map", nil, func(s *Session) *Violation {
			return s.Call(term.MustParse(`#{op => "auth", token => "hunter2", extra => 1}`))
		}},
		{"unanswered at close", auth, func(s *Session) *Violation {
			return s.Close(Server)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := m.NewSession(Options{})
			if err != nil {
				t.Fatal(err)
			}
			runSteps(t, s, c.before)
			v := c.last(s)
			if v == nil {
				t.Fatal("no violation")
			}
			text := v.Error() + " " + v.Explanation + " " + v.BindingsText(nil)
			if v.Request != nil {
				text += " " + term.Truncated(v.Request, 1000)
			}
			if strings.Contains(text, "hunter2") {
				t.Errorf("the password shows: %s", text)
			}
			if !strings.Contains(text, SecretText) {
				t.Errorf("no %s in %s", SecretText, text)
			}
		})
	}
}
