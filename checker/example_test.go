package checker_test

import (
	"fmt"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// A server prepares the contract once and checks each connection with its
// own session.
func Example() {
	src := `
+deftype fileHandle() = integer().
+state start x {open, string()} -> {ok, fileHandle()} x ready | {error, string()} x stop.
+state ready x {read_line, fileHandle()} -> {ok, string()} x ready | eof x stop.
`
	c, diags := contract.Compile("file.con", []byte(src), contract.Options{})
	if diags.HasErrors() {
		fmt.Println(diags)
		return
	}
	m := checker.Prepare(c)
	s, err := m.NewSession(checker.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Call(term.MustParse(`{open, "notes.txt"}`)) == nil)
	fmt.Println(s.Reply(term.MustParse(`{ok, 7}`)) == nil, s.States())
	if v := s.Call(term.MustParse(`{read_line, "7"}`)); v != nil {
		fmt.Println(v.Side, v.Kind)
		fmt.Println(v)
		fmt.Println(v.ExpectedStrings())
	}
	// Output:
	// true
	// true [ready]
	// client bad-request
	// client broke the contract in state ready: {read_line, "7"}: element 2 of {read_line, "7"}: expected fileHandle() = integer(), got "7"
	// [{read_line, fileHandle()}]
}

func ExampleExplain() {
	fh := &contract.TypeDef{Name: "fileHandle", Type: &contract.Predef{Kind: contract.IntegerT}}
	typ := &contract.TupleType{Elems: []contract.Type{
		&contract.Literal{Value: term.Atom("close")},
		&contract.Ref{Name: "fileHandle", Def: fh},
	}}
	msg := term.MustParse(`{close, [1]}`)
	fmt.Println(checker.Match(msg, typ))
	fmt.Println(checker.Explain(msg, typ))
	// Output:
	// false
	// element 2 of {close, [1]}: expected fileHandle() = integer(), got [1]
}
