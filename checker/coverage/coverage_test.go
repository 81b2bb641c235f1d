package coverage

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

const src = `
+state start x {open, string()} -> {ok, H = integer()} x ready | {error, string()} x stop.
+state ready x {read, H} -> {ok, string()} x ready | eof x done.
+state ready out {bye, string()} x stop.
+state ready | done x close -> true x stop.
+event ready in ping.
+anystate info -> string().
`

func TestTracker(t *testing.T) {
	m, tr := tracked(t, "t.con", src)
	s := start(t, m, checker.Options{})
	steps := []struct {
		client bool
		msg    string
		want   []string // the items counted, as kind/state/rule
	}{
		{true, `{open, "a"}`, []string{"rule/start/{open, string()}"}},
		{false, `{ok, 7}`, []string{"reply/start/{open, string()} -> {ok, H = integer()} x ready"}},
		{true, `{read, 7}`, []string{"rule/ready/{read, H}"}},
		{false, `eof`, []string{"reply/ready/{read, H} -> eof x done"}},
		{true, `info`, []string{"rule/+anystate/info"}},
		{false, `"v1"`, []string{"reply/+anystate/info -> string()"}},
		{true, `close`, []string{"rule/done/close"}},
	}
	for _, st := range steps {
		got := step(t, tr, s, st.client, st.msg)
		if len(got) != len(st.want) {
			t.Fatalf("%s: counted %v, want %v", st.msg, got, st.want)
		}
		for i, it := range got {
			if k := string(it.Kind) + "/" + it.State + "/" + it.Rule; k != st.want[i] {
				t.Errorf("%s: counted %s, want %s", st.msg, k, st.want[i])
			}
		}
	}
	// A transition and an event, in a second conversation.
	tr.Reset()
	s = start(t, m, checker.Options{Initial: "ready"})
	for _, st := range []struct {
		client bool
		msg    string
		kind   Kind
	}{{true, "ping", KindEvent}, {false, `{bye, "x"}`, KindTransition}} {
		if got := step(t, tr, s, st.client, st.msg); len(got) != 1 || got[0].Kind != st.kind {
			t.Errorf("%s: counted %v, want one %s", st.msg, got, st.kind)
		}
	}
	sum := Summarize(tr.Items())
	if all := sum[All]; all.Total != 14 || all.Covered != 9 || all.Percent != 64.2 {
		t.Errorf("summary %+v, want 9 of 14 (64.2%%)", all)
	}
	if s := sum[KindTransition]; s.Total != 1 || s.Covered != 1 {
		t.Errorf("transitions %+v", s)
	}
}

// step checks one message in s and returns the items tr counted for it.
func step(t *testing.T, tr *Tracker, s *checker.Session, client bool, text string) []Item {
	t.Helper()
	msg, err := term.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	before := s.States()
	role, v := check(s, client, msg)
	if v != nil {
		t.Fatalf("%s: %v", text, v)
	}
	return tr.Observe(before, client, role, msg)
}

func TestPercentRoundsDown(t *testing.T) {
	for _, tt := range []struct {
		c, n int
		want float64
	}{{0, 0, 100}, {1, 3, 33.3}, {2, 3, 66.6}, {799, 1000, 79.9}, {7999, 10000, 79.9}, {3, 3, 100}} {
		if got := percent(tt.c, tt.n); got != tt.want {
			t.Errorf("percent(%d, %d) = %v, want %v", tt.c, tt.n, got, tt.want)
		}
	}
}

// check checks msg in s as the client's (Client) or the server's (Server).
func check(s *checker.Session, client bool, msg term.Term) (checker.Role, *checker.Violation) {
	if client {
		return s.Client(msg)
	}
	return s.Server(msg)
}

// tracked is a tracker of the contract src, compiled as file name, and
// its machine.
func tracked(tb testing.TB, name, src string) (*checker.Machine, *Tracker) {
	tb.Helper()
	c, diags := contract.Compile(name, []byte(src), contract.Options{})
	if c == nil {
		tb.Fatal(diags)
	}
	m := checker.Prepare(c)
	return m, New(m)
}

// start is m.NewSession(opts), failing the test when it fails.
func start(tb testing.TB, m *checker.Machine, opts checker.Options) *checker.Session {
	tb.Helper()
	s, err := m.NewSession(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
