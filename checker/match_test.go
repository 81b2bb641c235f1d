package checker

import (
	"math/big"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// matchCase is one term against one type: want is "" when the term
// matches, otherwise the exact explanation.
type matchCase struct {
	name string
	typ  contract.Type
	term string
	want string
}

func matchCases() []matchCase {
	fileHandle := def("fileHandle", intT)
	fileName := def("fileName", stringT)
	mode := def("mode", union(lit("read"), lit("write")))
	byteT := def("byte", rng(intp(0), intp(255)))
	// tree() = {node, tree(), tree()} | {leaf, integer()}
	tree := def("tree", nil)
	tree.Type = union(tup(lit("node"), ref(tree), ref(tree)), tup(lit("leaf"), intT))
	// nested() = [nested()] | integer(): lists of lists of integers.
	nested := def("nested", nil)
	nested.Type = union(list(ref(nested), 0, -1), intT)
	// loop() = loop() | atom(): a cycle that never descends.
	loop := def("loop", nil)
	loop.Type = union(ref(loop), atomT)
	big1 := term.BigInt(new(big.Int).Lsh(big.NewInt(1), 70))
	huge := rng(&big1, nil)
	point := record("point", false, field("x", intT), field("y", intT))
	xpoint := record("point", true, field("x", intT), field("y", intT))
	person := mapT(false, req("name", stringT), opt("age", rng(intp(0), nil)))
	openMap := mapT(true, req("name", stringT))
	openReq := tup(lit("open"), ref(fileName), union(lit("read"), lit("write")))
	readLine := tup(lit("read_line"), ref(fileHandle))
	ubfstring := def("ubfstring", stringT)
	nick := def("nick", ref(ubfstring))

	return []matchCase{
		// Literals.
		{"atom", lit("ok"), "ok", ""},
		{"atom other", lit("ok"), "error", "expected ok, got error"},
		{"quoted atom", lit("'Quoted atom'"), "'Quoted atom'", ""},
		{"integer literal", lit("42"), "42", ""},
		{"integer literal vs float", lit("42"), "42.0", "expected 42, got 42.0"},
		{"float literal", lit("3.14"), "3.14", ""},
		{"string literal", lit(`"text"`), `"text"`, ""},
		{"string literal vs char list", lit(`"hi"`), "[104, 105]", ""},
		{"string literal vs other list", lit(`"hi"`), "[104]", `expected "hi", got [104]`},
		{"binary literal", lit(`<<"bytes">>`), `<<"bytes">>`, ""},
		{"binary literal vs string", lit(`<<"bytes">>`), `"bytes"`, `expected <<"bytes">>, got "bytes"`},
		// Ranges.
		{"range in", rng(intp(0), intp(255)), "255", ""},
		{"range low end", rng(intp(0), intp(255)), "0", ""},
		{"range above", rng(intp(0), intp(255)), "256", "expected 0..255, got 256"},
		{"range open high", rng(intp(1), nil), "123456789012345678901234567890", ""},
		{"range open low", rng(nil, intp(-1)), "0", "expected ..-1, got 0"},
		{"range big", huge, "1180591620717411303424", ""},
		{"range big below", huge, "1180591620717411303423", "expected 1180591620717411303424.., got 1180591620717411303423"},
		{"range not integer", rng(intp(0), intp(9)), "a", "expected 0..9, got a"},
		// Tuples.
		{"tuple", readLine, "{read_line, 7}", ""},
		{"tuple element", readLine, `{read_line, "x"}`, `element 2 of {read_line, "x"}: expected fileHandle() = integer(), got "x"`},
		{"tuple arity", readLine, "{read_line}", "expected {read_line, fileHandle()}, got {read_line} (1 element instead of 2)"},
		{"tuple not tuple", readLine, "[read_line, 1]", "expected {read_line, fileHandle()}, got [read_line, 1]"},
		{"empty tuple", tup(), "{}", ""},
		{"tuple union element", openReq, `{open, "f", append}`, `element 3 of {open, "f", append}: expected read | write, got append`},
		{"nested tuple", tup(lit("a"), tup(lit("b"), intT)), "{a, {b, c}}", "element 2 of element 2 of {a, {b, c}}: expected integer(), got c"},
		// Lists.
		{"list", list(intT, 0, -1), "[1, 2, 3]", ""},
		{"list empty", list(intT, 0, -1), "[]", ""},
		{"list item", list(intT, 0, -1), "[1, x, 3]", "item 2 of [1, x, 3]: expected integer(), got x"},
		{"list plus empty", list(intT, 1, -1), "[]", "expected [integer()]+, got [] (0 items, at least 1 required)"},
		{"list optional", list(intT, 0, 1), "[1, 2]", "expected [integer()]?, got [1, 2] (2 items, at most 1 allowed)"},
		{"list exact", list(intT, 2, 2), "[1]", "expected [integer()]{2}, got [1] (1 item, exactly 2 required)"},
		{"list between", list(intT, 2, 5), "[1, 2, 3, 4, 5, 6]", "expected [integer()]{2,5}, got [1, 2, 3, 4, 5, 6] (6 items, 2 to 5 required)"},
		{"list at least", list(intT, 2, -1), "[1, 2]", ""},
		{"list not list", list(intT, 0, -1), `"abc"`, `expected [integer()], got "abc"`},
		// Unions and the closest candidate.
		{"union", union(lit("yes"), lit("no")), "no", ""},
		{"union none", union(lit("yes"), lit("no")), "maybe", "expected yes | no, got maybe"},
		{"union closest", union(tup(lit("ok"), intT), tup(lit("error"), stringT)), "{error, 42}",
			"element 2 of {error, 42}: expected string(), got 42"},
		{"union closest arity", union(readLine, tup(lit("close"), intT)), "{read_line, 1, 2}",
			"expected {read_line, fileHandle()}, got {read_line, 1, 2} (3 elements instead of 2)"},
		{"union kinds", union(intT, atomT), `"s"`, `expected integer() | atom(), got "s"`},
		// Named types.
		{"ref", ref(fileHandle), "3", ""},
		{"ref mismatch", ref(fileHandle), "x", "expected fileHandle() = integer(), got x"},
		{"ref union", ref(mode), "rw", "expected mode() = read | write, got rw"},
		{"ref builtin", ref(byteT), "300", "expected byte() = 0..255, got 300"},
		{"ref chain", tup(lit("ok"), ref(nick)), "{ok, joe}", "element 2 of {ok, joe}: expected nick() = ubfstring() = string(), got joe"},
		{"optional ref chain", optref(nick), "joe", "expected nick()? = ubfstring() = string() | undefined, got joe"},
		{"optional ref undefined", optref(fileHandle), "undefined", ""},
		{"optional ref value", optref(fileHandle), "1", ""},
		{"optional ref other", optref(fileHandle), "x", "expected fileHandle()? = integer() | undefined, got x"},
		{"recursive", ref(tree), "{node, {leaf, 1}, {node, {leaf, 2}, {leaf, 3}}}", ""},
		{"recursive deep failure", ref(tree), "{node, {leaf, 1}, {node, {leaf, 2}, {leaf, x}}}",
			"element 2 of element 3 of element 3 of {node, {leaf, 1}, {node, {leaf, 2}, {leaf, x}}}: expected integer(), got x"},
		{"recursive lists", ref(nested), "[1, [2, [3, []]]]", ""},
		{"recursive lists failure", ref(nested), "[1, [2, [a]]]",
			"item 1 of item 2 of item 2 of [1, [2, [a]]]: expected nested() = [nested()] | integer(), got a"},
		{"cycle without progress", ref(loop), "a", ""},
		{"cycle without progress fails", ref(loop), "1", "expected loop() = loop() | atom(), got 1"},
		// Records.
		{"record", point, "{point, 1, 2}", ""},
		{"record field", point, "{point, 1, a}", "field y (element 3) of {point, 1, a}: expected integer(), got a"},
		{"record tag", point, "{pointe, 1, 2}", "expected #point{x :: integer(), y :: integer()}, got {pointe, 1, 2}"},
		{"record arity", point, "{point, 1}", "expected #point{x :: integer(), y :: integer()}, got {point, 1} (2 elements instead of 3)"},
		{"extended record", xpoint, "{point, 1, 2, '$fields', [x, y]}", ""},
		{"extended record marker", xpoint, "{point, 1, 2, fields, [x, y]}",
			"element 4 of {point, 1, 2, fields, [x, y]}: expected '$fields', got fields"},
		{"extended record plain", xpoint, "{point, 1, 2}",
			"expected ##point{x :: integer(), y :: integer()}, got {point, 1, 2} (3 elements instead of 5)"},
		// Maps.
		{"map", person, `#{name => "Joe", age => 42}`, ""},
		{"map string keys", person, `#{"name" => "Joe"}`, ""},
		{"map binary keys", person, `#{<<"name">> => "Joe"}`, ""},
		{"map missing required", person, `#{age => 42}`, `expected #{name := string(), age => 0..}, got #{age => 42} (required key name missing)`},
		{"map extra key", person, `#{name => "Joe", x => 1}`, `expected #{name := string(), age => 0..}, got #{name => "Joe", x => 1} (key x not allowed)`},
		{"map value", person, `#{name => "Joe", "age" => -1}`, `value of key "age" of #{name => "Joe", "age" => -1}: expected 0.., got -1`},
		{"map open", openMap, `#{name => "Joe", x => 1}`, ""},
		{"map not map", person, "[]", "expected #{name := string(), age => 0..}, got []"},
		{"map other key kind", person, `#{name => "x", 1 => 2}`, `expected #{name := string(), age => 0..}, got #{name => "x", 1 => 2} (key 1 not allowed)`},
		// Predefined types.
		{"any", anyT, "{x, [1]}", ""},
		{"none matches anything", noneT, "{x, [1]}", ""},
		{"any nonundefined", predef(contract.Any, contract.NonUndefined), "undefined", "expected any(nonundefined), got undefined"},
		{"any nonempty", predef(contract.Any, contract.NonEmpty), "[]", "expected any(nonempty), got []"},
		{"any nonempty ok", predef(contract.Any, contract.NonEmpty), "0", ""},
		{"atom", atomT, "abc", ""},
		{"atom not", atomT, `"abc"`, `expected atom(), got "abc"`},
		{"atom nonempty", predef(contract.AtomT, contract.NonEmpty), "''", "expected atom(nonempty), got ''"},
		{"atom ascii", predef(contract.AtomT, contract.Ascii), "'caf\u00e9'", "expected atom(ascii), got 'caf\u00e9'"},
		{"atom asciiprintable", predef(contract.AtomT, contract.AsciiPrintable), "'a\\tb'", `expected atom(asciiprintable), got 'a\tb'`},
		{"atom ascii tab ok", predef(contract.AtomT, contract.Ascii), "'a\\tb'", ""},
		{"atom nonundefined", predef(contract.AtomT, contract.NonUndefined), "undefined", "expected atom(nonundefined), got undefined"},
		{"binary", binaryT, `<<1, 2>>`, ""},
		{"binary nonempty", predef(contract.BinaryT, contract.NonEmpty), `<<>>`, "expected binary(nonempty), got <<>>"},
		{"binary asciiprintable", predef(contract.BinaryT, contract.AsciiPrintable), `<<"ok">>`, ""},
		{"float", floatT, "1.5", ""},
		{"float not integer", floatT, "1", "expected float(), got 1"},
		{"integer", intT, "-12345678901234567890123", ""},
		{"list", listT, "[a, 1]", ""},
		{"list nonempty", predef(contract.ListT, contract.NonEmpty), "[]", "expected list(nonempty), got []"},
		{"tuple", tupleT, "{}", ""},
		{"tuple nonempty", predef(contract.TupleT, contract.NonEmpty), "{}", "expected tuple(nonempty), got {}"},
		{"map predef", mapPredT, "#{a => 1}", ""},
		// String rules.
		{"string", stringT, `"hello"`, ""},
		{"string char list", stringT, "[104, 105]", ""},
		{"string empty list", stringT, "[]", ""},
		{"string bad list", stringT, "[104, x]", "expected string(), got [104, x]"},
		{"string negative code", stringT, "[-1]", "expected string(), got [-1]"},
		{"string binary", stringT, `<<"x">>`, `expected string(), got <<"x">>`},
		{"string nonempty", predef(contract.StringT, contract.NonEmpty), `""`, `expected string(nonempty), got ""`},
		{"string nonempty list", predef(contract.StringT, contract.NonEmpty), `[]`, `expected string(nonempty), got []`},
		{"string ascii list", predef(contract.StringT, contract.Ascii), `[104, 233]`, `expected string(ascii), got [104, 233]`},
		{"string printable", predef(contract.StringT, contract.AsciiPrintable), `"a b~"`, ""},
		{"string printable newline", predef(contract.StringT, contract.AsciiPrintable), `"a\nb"`, `expected string(asciiprintable), got "a\nb"`},
	}
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases() {
		t.Run(c.name, func(t *testing.T) {
			tm, err := term.Parse(c.term)
			if err != nil {
				t.Fatalf("bad test term %s: %v", c.term, err)
			}
			got := Match(tm, c.typ)
			if got != (c.want == "") {
				t.Errorf("Match(%s, %s) = %v, want %v", c.term, c.typ, got, c.want == "")
			}
			if exp := Explain(tm, c.typ); exp != c.want {
				t.Errorf("Explain(%s, %s)\n got: %s\nwant: %s", c.term, c.typ, exp, c.want)
			}
		})
	}
}

// TestExplainAny: against a state's rules, the explanation names the rules
// that fit the outside of the message when none got further.
func TestExplainAny(t *testing.T) {
	fh := def("fileHandle", intT)
	rules := []contract.Type{
		tup(lit("read_line"), ref(fh)),
		tup(lit("read_line"), intT, intT),
		tup(lit("close"), ref(fh)),
		lit("info"),
	}
	for _, c := range []struct{ msg, want string }{
		{"{read_line}", "expected {read_line, fileHandle()} | {read_line, integer(), integer()}, got {read_line}"},
		{"{read_line, 1, 2, 3}", "expected {read_line, fileHandle()} | {read_line, integer(), integer()}, got {read_line, 1, 2, 3}"},
		{"{close}", "expected {close, fileHandle()}, got {close} (1 element instead of 2)"},
		{"{read_line, x}", "element 2 of {read_line, x}: expected fileHandle() = integer(), got x"},
		{"hello", "expected {read_line, fileHandle()} | {read_line, integer(), integer()} | {close, fileHandle()} | info, got hello"},
		{"info", ""},
	} {
		if got := ExplainAny(term.MustParse(c.msg), rules); got != c.want {
			t.Errorf("ExplainAny(%s)\n got: %s\nwant: %s", c.msg, got, c.want)
		}
	}
	if got := ExplainAny(term.Atom("x"), nil); got != "expected nothing (no alternative), got x" {
		t.Errorf("ExplainAny against no types = %s", got)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	fileHandle := def("fileHandle", intT)
	typ := union(tup(lit("read_line"), ref(fileHandle)), tup(lit("close"), ref(fileHandle)))
	ok := term.MustParse("{close, 3}")
	bad := term.MustParse(`{close, "x"}`)
	person := mapT(false, req("name", stringT), opt("age", rng(intp(0), nil)))
	joe := term.MustParse(`#{"name" => "Joe", <<"age">> => 42}`)
	rec := record("point", true, field("x", intT), field("y", list(intT, 0, -1)))
	pt := term.MustParse(`{point, 1, [2, 3], '$fields', [x, y]}`)
	if n := testing.AllocsPerRun(100, func() {
		if !Match(ok, typ) || Match(bad, typ) || !Match(joe, person) || !Match(pt, rec) {
			t.Fatal("wrong answer")
		}
	}); n != 0 {
		t.Errorf("Match allocates %v times per run", n)
	}
}

// TestHostileTerms: a million-element list and nesting ten thousand deep
// are answered (by Match and Explain) without a stack overflow.
func TestHostileTerms(t *testing.T) {
	long := make(term.List, 1000000)
	for i := range long {
		long[i] = term.Int(int64(i % 256))
	}
	byteList := list(rng(intp(0), intp(255)), 0, -1)
	if !Match(long, byteList) {
		t.Fatal("a million bytes should match [0..255]")
	}
	long[999999] = term.Atom("x")
	if Match(long, byteList) {
		t.Fatal("a million bytes with an atom at the end should not match")
	}
	if got := Explain(long, byteList); !strings.HasPrefix(got, "item 1000000 of [0, 1, 2") || !strings.HasSuffix(got, "expected 0..255, got x") {
		t.Errorf("Explain = %s", got)
	}

	// nested() = [nested()] | integer(), 10,000 levels deep.
	nested := def("nested", nil)
	nested.Type = union(list(ref(nested), 0, -1), intT)
	var deep term.Term = term.Int(1)
	for i := 0; i < 10000; i++ {
		deep = term.List{deep}
	}
	if !Match(deep, ref(nested)) {
		t.Fatal("10,000 nested lists should match nested()")
	}
	var deepBad term.Term = term.Atom("x")
	for i := 0; i < 10000; i++ {
		deepBad = term.List{deepBad}
	}
	if Match(deepBad, ref(nested)) {
		t.Fatal("an atom at the bottom should not match")
	}
	if got := Explain(deepBad, ref(nested)); !strings.HasSuffix(got, "expected nested() = [nested()] | integer(), got x") {
		t.Errorf("Explain = %.200s...", got)
	}

	// Beyond MaxDepth: refused with a reason, not a crash.
	var tooDeepTerm term.Term = term.Int(1)
	for i := 0; i < MaxDepth+10; i++ {
		tooDeepTerm = term.List{tooDeepTerm}
	}
	if Match(tooDeepTerm, ref(nested)) {
		t.Fatal("a term deeper than MaxDepth should not match")
	}
	if got := Explain(tooDeepTerm, ref(nested)); !strings.Contains(got, "nested deeper than 10000 levels") {
		t.Errorf("Explain = %.300s", got)
	}
}

// TestAmbiguousRecursionIsLinear: overlapping recursive alternatives would
// make plain backtracking exponential in depth; the memoizing fallback keeps
// it linear. Without it this test would not finish.
func TestAmbiguousRecursionIsLinear(t *testing.T) {
	// amb() = [amb()] | [amb()]+ | [amb(), amb()]{0,1} | integer()
	amb := def("amb", nil)
	amb.Type = union(list(ref(amb), 0, -1), list(ref(amb), 1, -1), list(ref(amb), 0, 1), intT)
	var deep term.Term = term.Atom("x")
	for i := 0; i < 2000; i++ {
		deep = term.List{deep}
	}
	if Match(deep, ref(amb)) {
		t.Fatal("should not match")
	}
	if got := Explain(deep, ref(amb)); !strings.HasSuffix(got, "got x") {
		t.Errorf("Explain = %.200s", got)
	}
	deep = term.Int(1)
	for i := 0; i < 2000; i++ {
		deep = term.List{deep}
	}
	if !Match(deep, ref(amb)) {
		t.Fatal("should match")
	}
}

// TestBigMap: a map with many keys against a type with many fields is
// matched through an index of the fields (same answers as without).
func TestBigMap(t *testing.T) {
	var fields []contract.MapField
	for i := 0; i < 100; i++ {
		fields = append(fields, opt("f"+itoa(i), intT))
	}
	fields = append(fields, req("id", intT))
	closed := mapT(false, fields...)
	open := mapT(true, fields...)
	var mp term.Map
	for i := 0; i < 100; i++ {
		mp = append(mp, term.MapEntry{Key: term.String("f" + itoa(i)), Value: term.Int(int64(i))})
	}
	if Match(mp, closed) {
		t.Fatal("required id missing, yet matched")
	}
	if got, want := Explain(mp, closed), "(required key id missing)"; !strings.HasSuffix(got, want) {
		t.Errorf("Explain = ...%s, want suffix %s", got[max(0, len(got)-80):], want)
	}
	mp = append(mp, term.MapEntry{Key: term.Binary("id"), Value: term.Int(1)})
	if !Match(mp, closed) {
		t.Fatalf("should match: %s", Explain(mp, closed))
	}
	mp = append(mp, term.MapEntry{Key: term.Atom("zzz"), Value: term.Int(1)})
	if Match(mp, closed) || !Match(mp, open) {
		t.Fatal("an unknown key is refused by the closed type only")
	}
	mp = append(mp, term.MapEntry{Key: term.Int(5), Value: term.Int(1)})
	if Match(mp, closed) || !Match(mp, open) {
		t.Fatal("an integer key is refused by the closed type only")
	}
}

func TestTermSize(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
	}{
		{"a", 1},
		{"[]", 1},
		{"{a, [1, 2], #{k => {v}}}", 9},
		{"[[[[x]]]]", 5},
	} {
		if got := termSize(term.MustParse(c.text)); got != c.want {
			t.Errorf("termSize(%s) = %d, want %d", c.text, got, c.want)
		}
	}
}
