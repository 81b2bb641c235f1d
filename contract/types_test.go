package contract

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
)

// compileType compiles a contract defining t() as src in the given dialect
// and returns the definition's compiled type.
func compileType(t *testing.T, dialect, src string) (Type, Diagnostics) {
	t.Helper()
	var text string
	switch dialect {
	case "armstrong":
		text = "+deftype t() = " + src + ".\n+state start x t() -> ok x stop.\n"
	case "ubf":
		text = "+TYPES\nt() :: " + src + ".\n+STATE start\nt() => ok & stop.\n"
	}
	c, ds := Compile("types.con", []byte(text), Options{})
	if c == nil {
		return nil, ds
	}
	return c.Types["t"].Type, ds
}

func TestTypeForms(t *testing.T) {
	tests := []struct {
		src  string
		want string // String() of the compiled type
		// check inspects the model beyond its printed form.
		check func(t *testing.T, ty Type)
	}{
		{src: "ok", want: "ok", check: literal(term.Atom("ok"))},
		{src: "'Quoted atom'", want: "'Quoted atom'", check: literal(term.Atom("Quoted atom"))},
		{src: "'ok'", want: "ok", check: literal(term.Atom("ok"))},
		{src: "42", want: "42", check: literal(term.Int(42))},
		{src: "-7", want: "-7", check: literal(term.Int(-7))},
		{src: "16#ff", want: "255", check: literal(term.Int(255))},
		{src: "2#1010", want: "10", check: literal(term.Int(10))},
		{src: "123456789012345678901234567890", want: "123456789012345678901234567890"},
		{src: "3.14", want: "3.14", check: literal(term.Float(3.14))},
		{src: "-2.5e3", want: "-2500.0", check: literal(term.Float(-2500))},
		{src: `"text"`, want: `"text"`, check: literal(term.String("text"))},
		{src: `"a\"b"`, want: `"a\"b"`, check: literal(term.String(`a"b`))},
		{src: `<<"bytes">>`, want: `<<"bytes">>`, check: literal(term.Binary("bytes"))},
		{src: `<<1,2,255>>`, want: `<<1,2,255>>`, check: literal(term.Binary{1, 2, 255})},
		{src: "0..255", want: "0..255", check: rangeOf("0", "255")},
		{src: "1..", want: "1..", check: rangeOf("1", "")},
		{src: "..-1", want: "..-1", check: rangeOf("", "-1")},
		{src: "0..16#10ffff", want: "0..1114111", check: rangeOf("0", "1114111")},
		{src: "{}", want: "{}"},
		{src: "{a, integer(), \"s\"}", want: `{a, integer(), "s"}`},
		{src: "[integer()]", want: "[integer()]", check: listOf(0, -1)},
		{src: "[integer()]+", want: "[integer()]+", check: listOf(1, -1)},
		{src: "[integer()]?", want: "[integer()]?", check: listOf(0, 1)},
		{src: "[integer()]{2}", want: "[integer()]{2}", check: listOf(2, 2)},
		{src: "[integer()]{2,}", want: "[integer()]{2,}", check: listOf(2, -1)},
		{src: "[integer()]{,5}", want: "[integer()]{,5}", check: listOf(0, 5)},
		{src: "[integer()]{2,5}", want: "[integer()]{2,5}", check: listOf(2, 5)},
		{src: "[]", want: "[]", check: literal(term.List{})},
		{src: "a | b | 1..2", want: "a | b | 1..2"},
		{src: "u()", want: "u()"},
		{src: "u()?", want: "u()?"},
		{src: "#rec{f1::integer(), f2=7::integer()}", want: "#rec{f1 :: integer(), f2 = 7 :: integer()}", check: record("rec", false, 2)},
		{src: "##rec{f1::atom()}", want: "##rec{f1 :: atom()}", check: record("rec", true, 1)},
		{src: "#rec{}", want: "#rec{}", check: record("rec", false, 0)},
		{src: "#'Rec'{x = {a, 1} :: tuple()}", want: "#'Rec'{x = {a, 1} :: tuple()}"},
		{src: `#{key := integer(), "other" => string()}`, want: `#{key := integer(), "other" => string()}`, check: mapOf(2, false)},
		{src: `#{key := integer(), ..}`, want: `#{key := integer(), ..}`, check: mapOf(1, true)},
		{src: `#{}`, want: `#{}`, check: mapOf(0, false)},
		{src: "any()", want: "any()"},
		{src: "none()", want: "none()"},
		{src: "atom(ascii, nonempty)", want: "atom(ascii, nonempty)", check: predef(AtomT, Ascii|NonEmpty)},
		{src: "atom(asciiprintable,nonempty,nonundefined)", want: "atom(asciiprintable, nonempty, nonundefined)"},
		{src: "binary(nonempty)", want: "binary(nonempty)", check: predef(BinaryT, NonEmpty)},
		{src: "any(nonundefined)", want: "any(nonundefined)"},
		{src: "string(ascii)", want: "string(ascii)"},
		{src: "list(nonempty)", want: "list(nonempty)"},
		{src: "tuple()", want: "tuple()"},
		{src: "map()", want: "map()"},
		{src: "float()", want: "float()"},
		{src: "integer()", want: "integer()"},
		{src: "term(nonempty, nonundefined)", want: "any(nonempty, nonundefined)"},
		{src: "atom()?", want: "atom() | undefined"},
		{src: "term()", want: "term()"},
		{src: "boolean() | byte() | char() | non_neg_integer() | pos_integer() | neg_integer()", want: "boolean() | byte() | char() | non_neg_integer() | pos_integer() | neg_integer()"},
		{src: "{number(), nil(), nonempty_string(), module(), node(), mfa(), timeout(), no_return()}", want: "{number(), nil(), nonempty_string(), module(), node(), mfa(), timeout(), no_return()}"},
		{src: "{ubfstring(), ubfproplist(), int(), pid(), void(), proplist()}", want: "{ubfstring(), ubfproplist(), int(), pid(), void(), proplist()}"},
		{src: "proplist(nonempty)", want: "[{any(), any()}]+"},
		{src: "{a, [b]+ | [c]{1,2}, #{k := [x]?}}", want: "{a, [b]+ | [c]{1,2}, #{k := [x]?}}"},
	}
	for _, dialect := range []string{"armstrong", "ubf"} {
		for _, tt := range tests {
			t.Run(dialect+"/"+tt.src, func(t *testing.T) {
				src := tt.src
				extra := ""
				if strings.Contains(src, "u()") {
					extra = "u"
				}
				ty, ds := compileWithU(t, dialect, src, extra)
				if ty == nil {
					t.Fatalf("not compiled:\n%v", ds)
				}
				if got := ty.String(); got != tt.want {
					t.Errorf("String() = %s, want %s", got, tt.want)
				}
				if tt.check != nil {
					tt.check(t, ty)
				}
			})
		}
	}
}

// compileWithU is compileType with a helper type u() = x when needed.
func compileWithU(t *testing.T, dialect, src, extra string) (Type, Diagnostics) {
	if extra == "" {
		return compileType(t, dialect, src)
	}
	var text string
	switch dialect {
	case "armstrong":
		text = "+deftype t() = " + src + ".\n+deftype u() = x.\n+state start x t() -> ok x stop.\n"
	default:
		text = "+TYPES\nt() :: " + src + ";\nu() :: x.\n+STATE start\nt() => ok & stop.\n"
	}
	c, ds := Compile("types.con", []byte(text), Options{})
	if c == nil {
		return nil, ds
	}
	ref := findRef(c.Types["t"].Type)
	if ref == nil || ref.Def != c.Types["u"] {
		t.Errorf("u() not resolved to its definition")
	}
	return c.Types["t"].Type, ds
}

func findRef(ty Type) (ref *Ref) {
	VisitType(ty, func(t Type) bool {
		if r, ok := t.(*Ref); ok && ref == nil {
			ref = r
		}
		return ref == nil
	})
	return ref
}

func literal(v term.Term) func(*testing.T, Type) {
	return func(t *testing.T, ty Type) {
		l, ok := ty.(*Literal)
		if !ok || !term.Equal(l.Value, v) {
			t.Errorf("got %#v, want literal %v", ty, v)
		}
	}
}

func rangeOf(lo, hi string) func(*testing.T, Type) {
	return func(t *testing.T, ty Type) {
		r, ok := ty.(*Range)
		if !ok {
			t.Fatalf("got %#v, want a range", ty)
		}
		text := func(i *term.Integer) string {
			if i == nil {
				return ""
			}
			return i.Text()
		}
		if text(r.Lo) != lo || text(r.Hi) != hi {
			t.Errorf("range %q..%q, want %q..%q", text(r.Lo), text(r.Hi), lo, hi)
		}
	}
}

func listOf(min, max int) func(*testing.T, Type) {
	return func(t *testing.T, ty Type) {
		l, ok := ty.(*ListType)
		if !ok || l.Min != min || l.Max != max {
			t.Errorf("got %#v, want list {%d,%d}", ty, min, max)
		}
	}
}

func record(name string, ext bool, fields int) func(*testing.T, Type) {
	return func(t *testing.T, ty Type) {
		r, ok := ty.(*RecordType)
		if !ok || r.Name != name || r.Extended != ext || len(r.Fields) != fields {
			t.Errorf("got %#v, want record %s ext=%v with %d fields", ty, name, ext, fields)
		}
	}
}

func mapOf(fields int, open bool) func(*testing.T, Type) {
	return func(t *testing.T, ty Type) {
		m, ok := ty.(*MapType)
		if !ok || len(m.Fields) != fields || m.Open != open {
			t.Errorf("got %#v, want map with %d fields open=%v", ty, fields, open)
			return
		}
		if fields > 0 && !m.Fields[0].Required {
			t.Errorf("first field should be required (:=)")
		}
		if fields > 1 && m.Fields[1].Required {
			t.Errorf("second field should be optional (=>)")
		}
	}
}

func predef(k PredefKind, a Attr) func(*testing.T, Type) {
	return func(t *testing.T, ty Type) {
		p, ok := ty.(*Predef)
		if !ok || p.Kind != k || p.Attrs != a {
			t.Errorf("got %#v, want %v with attrs %b", ty, k, a)
		}
	}
}
