package contract

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const peopleCon = `+name("people").
+deftype person() = #person{name :: string(), age :: integer(), friends :: [person()]}.
+deftype unused() = #person{other :: integer()} | #lonely{x :: atom()}.
+state start x {add, person()} -> ok x start.
+state start x {find, string()} -> #found{who :: person(), score :: integer()} x start | none x stop.
+event start out #tick{n :: integer()}.
+anystate {dump, #dump{all :: boolean()}} -> ok.
+anystate event in ping.
`

func compileOK(t *testing.T, src string) *Contract {
	t.Helper()
	c, diags := Compile("t.con", []byte(src), Options{})
	if c == nil {
		t.Fatal(diags)
	}
	return c
}

// TestWalkOrder: rules and events come state by state, each state's rules
// before its events, then the anystate rules and events with a nil state.
func TestWalkOrder(t *testing.T) {
	c := compileOK(t, peopleCon)
	var got []string
	Walk(c, Visitor{
		Rule: func(st *State, r *Rule) {
			where := "any"
			if st != nil {
				where = st.Name
			}
			got = append(got, fmt.Sprintf("%s rule %s", where, r.In))
		},
		Event: func(st *State, e *Event) {
			where := "any"
			if st != nil {
				where = st.Name
			}
			got = append(got, fmt.Sprintf("%s event %s", where, e.Type))
		},
	})
	want := []string{
		"start rule {add, person()}",
		"start rule {find, string()}",
		"start event #tick{n :: integer()}",
		"any rule {dump, #dump{all :: boolean()}}",
		"any event ping",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Walk order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var types []string
	WalkTypes(c, func(ty Type) { types = append(types, ty.String()) })
	wantTypes := []string{"{add, person()}", "ok", "{find, string()}", "#found{who :: person(), score :: integer()}", "none", "#tick{n :: integer()}", "{dump, #dump{all :: boolean()}}", "ok", "ping"}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("WalkTypes = %q, want %q", types, wantTypes)
	}
}

// TestVisitType: depth first in source order, a false answer prunes, and a
// named type's definition is not entered.
func TestVisitType(t *testing.T) {
	c := compileOK(t, `+deftype t() = {a, [b | t()], #r{f :: c}, #{k := d}} | e.
+state s x t() -> t() x s.
`)
	var got []string
	VisitType(c.Types["t"].Type, func(ty Type) bool {
		got = append(got, ty.String())
		_, isList := ty.(*ListType)
		return !isList
	})
	want := []string{
		"{a, [b | t()], #r{f :: c}, #{k := d}} | e",
		"{a, [b | t()], #r{f :: c}, #{k := d}}",
		"a", "[b | t()]", "#r{f :: c}", "c", "#{k := d}", "d",
		"e",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("VisitType =\n%q\nwant\n%q", got, want)
	}
}

// TestRecordFields: records are found through rules, events, anystate
// rules and named types (recursive ones too); the first of two records of
// one name wins, in Walk's order before unused named types.
func TestRecordFields(t *testing.T) {
	c := compileOK(t, peopleCon)
	got := RecordFields(c)
	want := map[string][]string{
		"person": {"name", "age", "friends"},
		"found":  {"who", "score"},
		"tick":   {"n"},
		"dump":   {"all"},
		"lonely": {"x"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RecordFields = %v, want %v", got, want)
	}
}
