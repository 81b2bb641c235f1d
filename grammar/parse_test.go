package grammar

import (
	"errors"
	"strings"
	"testing"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

func TestParseDialects(t *testing.T) {
	tests := []struct {
		name string
		src  string
		// check inspects the first declaration.
		check func(t *testing.T, f *File)
	}{
		{"name", `+name("x").`, func(t *testing.T, f *File) {
			m := f.Decls[0].Meta
			if m.Key != "name" || m.Value != `"x"` {
				t.Errorf("%+v", m)
			}
		}},
		{"NAME", `+NAME("x").`, func(t *testing.T, f *File) {
			if f.Decls[0].Meta.Key != "NAME" {
				t.Error(f.Decls[0].Meta)
			}
		}},
		{"vsn", `+vsn("1.0").`, nil},
		{"VSN", `+VSN("ubf2.0").`, nil},
		{"import", `+import("types.con").`, func(t *testing.T, f *File) {
			if f.Decls[0].Meta.Key != "import" {
				t.Error(f.Decls[0].Meta)
			}
		}},
		{"deftype", `+deftype t() = {a, b()}.`, func(t *testing.T, f *File) {
			d := f.Decls[0].DefType
			if d.Name.Name != "t" || d.Sep != "=" || len(d.Type.Alts[0].Tuple.Elems) != 2 {
				t.Errorf("%+v", d)
			}
		}},
		{"deftype annotated", `+deftype t() = a "doc".`, func(t *testing.T, f *File) {
			if f.Decls[0].DefType.Annotation != `"doc"` {
				t.Error(f.Decls[0].DefType.Annotation)
			}
		}},
		{"state", `+state a | b x in -> o1 x c | o2 | o3 x stop.`, func(t *testing.T, f *File) {
			s := f.Decls[0].State
			if len(s.States) != 2 || s.Arrow != "->" || len(s.Outs) != 2 || len(s.Outs[1].Type.Alts) != 2 || s.Outs[1].Next.Text != "stop" {
				t.Errorf("%+v", s)
			}
		}},
		{"state fat arrow", `+state a x in => out x a.`, func(t *testing.T, f *File) {
			if f.Decls[0].State.Arrow != "=>" {
				t.Error(f.Decls[0].State.Arrow)
			}
		}},
		{"state with atom x as input", `+state a x x -> y x a.`, func(t *testing.T, f *File) {
			if *f.Decls[0].State.In.Alts[0].Atom != "x" {
				t.Error("x as input")
			}
		}},
		{"anystate", `+anystate info -> string().`, func(t *testing.T, f *File) {
			a := f.Decls[0].AnyState
			if a.In == nil || a.Out == nil || a.Event != nil {
				t.Errorf("%+v", a)
			}
		}},
		{"anystate event", `+anystate event out {tick, integer()}.`, func(t *testing.T, f *File) {
			a := f.Decls[0].AnyState
			if a.Dir != "out" || a.Event == nil {
				t.Errorf("%+v", a)
			}
		}},
		{"anystate with atom event as input", `+anystate event -> ok.`, func(t *testing.T, f *File) {
			a := f.Decls[0].AnyState
			if a.In == nil || *a.In.Alts[0].Atom != "event" {
				t.Errorf("%+v", a)
			}
		}},
		{"event", `+event a | b in ping.`, func(t *testing.T, f *File) {
			e := f.Decls[0].Event
			if len(e.States) != 2 || e.Dir != "in" {
				t.Errorf("%+v", e)
			}
		}},
		{"type api", `+type s x mod:fn(integer(), a) -> ok x s.`, func(t *testing.T, f *File) {
			a := f.Decls[0].API
			if a.Module.Text != "mod" || a.Func.Text != "fn" || len(a.Args) != 2 {
				t.Errorf("%+v", a)
			}
		}},
		{"type api no args", `+type s x mod:fn() -> ok x s.`, nil},
		{"stateless type api", `+type file:stat(string()) -> {ok, integer()} | error.`, func(t *testing.T, f *File) {
			a := f.Decls[0].AnyAPI
			if a == nil || a.Module.Text != "file" || a.Func.Text != "stat" || len(a.Args) != 1 || len(a.Out.Alts) != 2 {
				t.Errorf("%+v", f.Decls[0])
			}
		}},
		{"TYPES", "+TYPES\na() :: a;\nb() = b `tag`;\nc() :: c <<\"doc\">>.", func(t *testing.T, f *File) {
			ts := f.Decls[0].Types.Defs
			if len(ts) != 3 || ts[1].Sep != "=" || ts[1].Annotation != "`tag`" || ts[2].Annotation != `<<"doc">>` {
				t.Errorf("%+v", ts)
			}
		}},
		{"STATE", "+STATE s\n a() => b() & s | c() & stop;\n EVENT => e();\n EVENT <= f().", func(t *testing.T, f *File) {
			s := f.Decls[0].UState
			if s.Name.Text != "s" || len(s.Rules) != 3 || len(s.Rules[0].Outs) != 2 || s.Rules[1].Dir != "=>" || s.Rules[2].Dir != "<=" {
				t.Errorf("%+v", s)
			}
		}},
		{"ANYSTATE", "+ANYSTATE\n a() => b();\n EVENT => e().", func(t *testing.T, f *File) {
			if len(f.Decls[0].UAny.Rules) != 2 {
				t.Error(f.Decls[0].UAny.Rules)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("t.con", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Decls) != 1 {
				t.Fatalf("%d declarations", len(f.Decls))
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// TestParseTypeForms parses every type form of section 3 in both dialects.
func TestParseTypeForms(t *testing.T) {
	forms := []struct {
		src  string
		what func(p *Prim) bool
	}{
		{"ok", func(p *Prim) bool { return p.Atom != nil && *p.Atom == "ok" }},
		{"'Quoted atom'", func(p *Prim) bool { return p.Atom != nil && *p.Atom == "'Quoted atom'" }},
		{"42", func(p *Prim) bool { return p.Range != nil && p.Range.Lo == "42" && !p.Range.Dots }},
		{"-7", func(p *Prim) bool { return p.Range != nil && p.Range.Lo == "-7" }},
		{"16#ff", func(p *Prim) bool { return p.Range != nil && p.Range.Lo == "16#ff" }},
		{"3.14", func(p *Prim) bool { return p.Float != nil && *p.Float == "3.14" }},
		{"1.0e-3", func(p *Prim) bool { return p.Float != nil }},
		{`"text"`, func(p *Prim) bool { return p.String != nil }},
		{`"esc \" q"`, func(p *Prim) bool { return p.String != nil && *p.String == `"esc \" q"` }},
		{`<<"bytes">>`, func(p *Prim) bool { return p.Binary != nil }},
		{`<<"a>b">>`, func(p *Prim) bool { return p.Binary != nil && *p.Binary == `<<"a>b">>` }},
		{`<<1,2,255>>`, func(p *Prim) bool { return p.Binary != nil }},
		{"0..255", func(p *Prim) bool { return p.Range != nil && p.Range.Dots && p.Range.Hi == "255" }},
		{"1..", func(p *Prim) bool { return p.Range != nil && p.Range.Dots && p.Range.Hi == "" }},
		{"..-1", func(p *Prim) bool { return p.OpenLo != nil && *p.OpenLo == "-1" }},
		{"{}", func(p *Prim) bool { return p.Tuple != nil && len(p.Tuple.Elems) == 0 }},
		{"{a, b, c}", func(p *Prim) bool { return p.Tuple != nil && len(p.Tuple.Elems) == 3 }},
		{"[]", func(p *Prim) bool { return p.List != nil && p.List.Elem == nil }},
		{"[a]", func(p *Prim) bool { return p.List != nil && p.List.Elem != nil }},
		{"[a]+", func(p *Prim) bool { return p.List != nil && p.List.Plus }},
		{"[a]?", func(p *Prim) bool { return p.List != nil && p.List.Opt }},
		{"[a]{2}", func(p *Prim) bool { b := p.List.Bounds; return b.Min == "2" && !b.Comma }},
		{"[a]{2,}", func(p *Prim) bool { b := p.List.Bounds; return b.Min == "2" && b.Comma && b.Max == "" }},
		{"[a]{,5}", func(p *Prim) bool { b := p.List.Bounds; return b.Min == "" && b.Comma && b.Max == "5" }},
		{"[a]{2,5}", func(p *Prim) bool { b := p.List.Bounds; return b.Min == "2" && b.Max == "5" }},
		{"name()", func(p *Prim) bool { return p.Call != nil && p.Call.Name == "name" && !p.Call.Optional }},
		{"name()?", func(p *Prim) bool { return p.Call != nil && p.Call.Optional }},
		{"atom(ascii, nonempty)", func(p *Prim) bool { return p.Call != nil && len(p.Call.Attrs) == 2 }},
		{"#rec{f1::a, f2=x::b}", func(p *Prim) bool {
			return p.Record != nil && len(p.Record.Fields) == 2 && p.Record.Fields[1].Default != nil
		}},
		{"#rec{}", func(p *Prim) bool { return p.Record != nil && len(p.Record.Fields) == 0 }},
		{"##rec{f::a}", func(p *Prim) bool { return p.ExtRec != nil && p.ExtRec.Name.Text == "rec" }},
		{`#{k := a, "s" => b, ..}`, func(p *Prim) bool {
			return p.Map != nil && len(p.Map.Entries) == 3 && p.Map.Entries[0].Op == ":=" && p.Map.Entries[2].Open
		}},
		{"#{}", func(p *Prim) bool { return p.Map != nil && len(p.Map.Entries) == 0 }},
	}
	for _, dialect := range []string{"+deftype t() = %s.", "+TYPES\nt() :: %s."} {
		for _, form := range forms {
			src := strings.Replace(dialect, "%s", form.src, 1)
			f, err := Parse("t.con", []byte(src))
			if err != nil {
				t.Errorf("%q: %v", src, err)
				continue
			}
			var ty *Type
			if d := f.Decls[0].DefType; d != nil {
				ty = d.Type
			} else {
				ty = f.Decls[0].Types.Defs[0].Type
			}
			if len(ty.Alts) != 1 || !form.what(ty.Alts[0]) {
				t.Errorf("%q parsed wrongly: %+v", src, ty.Alts[0])
			}
		}
	}
	// Alternatives.
	f, err := Parse("t.con", []byte("+deftype t() = a | {b} | [c] | 1..2."))
	if err != nil || len(f.Decls[0].DefType.Type.Alts) != 4 {
		t.Errorf("alternatives: %v", err)
	}
}

func TestComments(t *testing.T) {
	src := "% head\n+name(\"x\"). %% trailing\n%%% last"
	f, err := Parse("c.con", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"% head", "%% trailing", "%%% last"}
	if len(f.Comments) != 3 {
		t.Fatalf("comments %+v", f.Comments)
	}
	for i, c := range f.Comments {
		if c.Text != want[i] {
			t.Errorf("comment %d = %q, want %q", i, c.Text, want[i])
		}
	}
	if f.Comments[1].Pos.Line != 2 || f.Comments[1].Pos.Column != 13 {
		t.Errorf("position %+v", f.Comments[1].Pos)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
		msg       string
	}{
		{"+state s x a -> b x c", 1, 22, `unexpected end of file, expected "."`},
		{"+deftype a() = a\n+state s x a -> b x c.", 2, 1, `is the "." that ends the previous declaration missing?`},
		{"+state s x {a, -> b x c.", 1, 16, `unexpected "->", expected a type`},
		{"+state s x a -> b.", 1, 18, `expected "x" and the next state`},
		{"+STATE s\n a() => b() s.", 2, 13, `unexpected "s", expected "&" and the next state`},
		{"+TYPES\na() :: a;\n.", 2, 9, `the last one ends with "."`},
		{"state s x a -> b x c.", 1, 1, `expected a declaration starting with "+"`},
		{"+foo.", 1, 2, `expected a declaration keyword`},
		{"+stae s x a -> b x s.", 1, 2, `(did you mean +state?)`},
		{"+STAET s\n a() => b() & s.", 1, 2, `(did you mean +STATE?)`},
		{"+deftpye a() = b.", 1, 2, `(did you mean +deftype?)`},
		{"+name(foo).", 1, 7, `unexpected "foo", expected a string`},
		{"+type m:f(a b) -> c.", 1, 13, `unexpected "b", expected ")"`},
		{"+deftype a() = atom(ascii b).", 1, 27, `unexpected "b", expected "," or ")"`},
		{"+anystate -> c.", 1, 11, `unexpected "->", expected "event" or a type`},
		{"+deftype a() = [b.", 1, 18, `unexpected ".", expected "]"`},
		{"+deftype a() = #{k b}.", 1, 20, `unexpected "b", expected ":=" or "=>"`},
		{"+deftype a() = \"abc.", 1, 16, `unterminated string`},
		{"+deftype a() = 'abc.", 1, 16, `unterminated quoted atom`},
		{"+deftype a() = $.", 1, 16, `unexpected character '$'`},
		{"+deftype a() = " + strings.Repeat("{", 500) + ".", 1, 16 + MaxDepth, "nested more than"},
	}
	for _, tt := range tests {
		_, err := Parse("e.con", []byte(tt.src))
		var ge *Error
		if !errors.As(err, &ge) {
			t.Errorf("%q: error %v is not a *grammar.Error", tt.src, err)
			continue
		}
		if ge.Pos.Line != tt.line || ge.Pos.Column != tt.col || !strings.Contains(ge.Msg, tt.msg) {
			t.Errorf("%q: got %d:%d %q, want %d:%d containing %q", tt.src, ge.Pos.Line, ge.Pos.Column, ge.Msg, tt.line, tt.col, tt.msg)
		}
		if !strings.HasPrefix(ge.Error(), "e.con:") {
			t.Errorf("Error() = %q", ge.Error())
		}
	}
}

func TestParseAllRecovers(t *testing.T) {
	src := "+deftype a() = {x.\n+deftype b() = ok.\n+state s x a -> b.\n+state s x a -> b x s.\n+deftype c() = $.\n"
	f, errs := ParseAll("r.con", []byte(src))
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Pos.Line)
	}
	if len(errs) != 3 || lines[0] != 1 || lines[1] != 3 || lines[2] != 5 {
		t.Fatalf("errors %v", errs)
	}
	if len(f.Decls) != 2 || f.Decls[0].DefType == nil || f.Decls[1].State == nil {
		t.Errorf("declarations read around the errors: %d", len(f.Decls))
	}
	// At most MaxErrors are reported.
	_, errs = ParseAll("many.con", []byte(strings.Repeat("+state s x a -> b.\n", 50)))
	if len(errs) != MaxErrors {
		t.Errorf("%d errors, want %d", len(errs), MaxErrors)
	}
}

func TestLexerDefinition(t *testing.T) {
	lex, err := Lexer.Lex("l.con", strings.NewReader("+state s % c\n x 16#ff"))
	if err != nil {
		t.Fatal(err)
	}
	sym := Lexer.Symbols()
	var got []string
	for {
		tok, err := lex.Next()
		if err != nil {
			t.Fatal(err)
		}
		if tok.EOF() {
			break
		}
		for name, typ := range sym {
			if typ == tok.Type {
				got = append(got, name+":"+tok.Value)
			}
		}
	}
	want := "Punct:+ Ident:state Ident:s Comment:% c Ident:x Int:16#ff"
	if strings.Join(got, " ") != want {
		t.Errorf("tokens %q, want %q", strings.Join(got, " "), want)
	}
}

// TestExpectedGrammar pins what the error messages rest on: participle
// names the grammar node it expected, in its EBNF, after the token.
func TestExpectedGrammar(t *testing.T) {
	lex := newStreamLexer("e.con", []byte("+STATE s\n a => b."))
	peek, err := lexer.Upgrade(lex, tokComment)
	if err != nil {
		t.Fatal(err)
	}
	_, err = declParser.ParseFromLexer(peek, participle.AllowTrailing(true))
	var ute *participle.UnexpectedTokenError
	if !errors.As(err, &ute) {
		t.Fatalf("error %v (%T) is not an UnexpectedTokenError", err, err)
	}
	if got, want := expectedGrammar(ute), `("x" | "&") Name`; got != want {
		t.Errorf("expected grammar %q, want %q", got, want)
	}
}
