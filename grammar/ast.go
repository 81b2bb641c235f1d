// Package grammar parses contract files of both dialects of the contract
// language (the Armstrong dialect and ubf's UBF(B)) into a syntax tree with
// positions. It knows nothing about meaning: names are not resolved and
// literals are kept as written, so that the canonical printer can re-emit
// them unchanged and the compiler can report errors where the user wrote the
// offending text.
//
// Comments are not part of the tree; they are collected with their positions
// in File.Comments so that a printer can put them back.
package grammar

// File is one parsed contract file.
type File struct {
	Pos   Pos
	Decls []*Decl `parser:"@@*"`

	// Comments holds every comment of the file in source order (filled by
	// Parse, not by the grammar).
	Comments []Comment
}

// Comment is one `%` comment; Text includes the leading percent signs and
// excludes the line break.
type Comment struct {
	Pos  Pos
	Text string
}

// Decl is one top-level declaration, from "+" to ".". Exactly one field
// other than the positions is set.
//
// EndPos fields in this package hold the position of the first token or
// comment after the node (white space is not a token), as participle sets
// them; the node's own text ends at the last non-space byte before it.
type Decl struct {
	Pos    Pos
	EndPos Pos

	State    *StateDecl     `parser:"\"+\" ( @@"`
	DefType  *DefType       `parser:"| @@"`
	Event    *EventDecl     `parser:"| @@"`
	AnyState *AnyStateDecl  `parser:"| @@"`
	API      *APIDecl       `parser:"| @@"`
	AnyAPI   *AnyAPIDecl    `parser:"| @@"`
	Meta     *Meta          `parser:"| @@"`
	Types    *TypesSection  `parser:"| @@"`
	UState   *UStateSection `parser:"| @@"`
	UAny     *UAnySection   `parser:"| @@ ) \".\""`
}

// Meta is +name("..."), +vsn("..."), +import("...") and the UBF(B)
// spellings +NAME and +VSN.
type Meta struct {
	Pos   Pos
	Key   string `parser:"@( \"name\" | \"vsn\" | \"import\" | \"NAME\" | \"VSN\" )"`
	Value string `parser:"\"(\" @String \")\""` // as written, with quotes
}

// Name is an atom used as a name (type, state, record, field, module):
// Text is as written (a quoted atom keeps its quotes).
type Name struct {
	Pos  Pos
	Text string `parser:"@( Ident | QAtom )"`
}

// TypeName is the left-hand side of a type definition: name().
type TypeName struct {
	Pos  Pos
	Name string `parser:"@( Ident | QAtom ) \"(\" \")\""`
}

// DefType is the Armstrong dialect's +deftype name() = T.
type DefType struct {
	Pos        Pos
	Name       *TypeName `parser:"\"deftype\" @@"`
	Sep        string    `parser:"@( \"=\" | \"::\" )"`
	Type       *Type     `parser:"@@"`
	Annotation string    `parser:"@( String | Binary | Tag )?"`
}

// StateDecl is a call, +state S1 | S2 x IN -> OUT1 x N1 | OUT2 x N2., or
// a transition, +state S1 | S2 out|in T1 x N1 | T2 x N2. (Dir is set and In
// and Arrow are empty). It is parsed by hand (StateDecl.Parse, in
// decls.go): the most common declaration, and participle's groups cost
// allocations per declaration. Its grammar:
//
//	StateDecl = "state" Name ( "|" Name )*
//	            ( "x" Type ( "->" | "=>" ) | ( "out" | "in" ) )
//	            Output ( "|" Output )* .
type StateDecl struct {
	Pos    Pos
	States []*Name
	In     *Type
	Arrow  string
	Dir    string
	Outs   []*Output
}

// Output is one reply and the state it leads to: OUT x N (Armstrong) or
// OUT & N (UBF(B)).
type Output struct {
	Pos  Pos
	Type *Type  `parser:"@@"`
	Sep  string `parser:"@( \"x\" | \"&\" )"`
	Next *Name  `parser:"@@"`
}

// AnyStateDecl is +anystate IN -> OUT. or +anystate event out|in T.
type AnyStateDecl struct {
	Pos   Pos
	Dir   string `parser:"\"anystate\" ( \"event\" @( \"out\" | \"in\" )"`
	Event *Type  `parser:"@@"`
	In    *Type  `parser:"| @@"`
	Arrow string `parser:"@( \"->\" | \"=>\" )"`
	Out   *Type  `parser:"@@ )"`
}

// EventDecl is +event S1 | S2 out|in T.
type EventDecl struct {
	Pos    Pos
	States []*Name `parser:"\"event\" @@ ( \"|\" @@ )*"`
	Dir    string  `parser:"@( \"out\" | \"in\" )"`
	Type   *Type   `parser:"@@"`
}

// APIDecl is +type S x mod:fn(T1, T2) -> OUT x N., sugar for
// +state S x {fn, T1, T2} -> OUT x N.
type APIDecl struct {
	Pos    Pos
	States []*Name   `parser:"\"type\" @@ ( \"|\" @@ )* \"x\""`
	Module *Name     `parser:"@@ \":\""`
	Func   *Name     `parser:"@@ \"(\""`
	Args   []*Type   `parser:"( @@ ( \",\" @@ )* )? \")\""`
	Arrow  string    `parser:"@( \"->\" | \"=>\" )"`
	Outs   []*Output `parser:"@@ ( \"|\" @@ )*"`
}

// AnyAPIDecl is +type mod:fn(T1, T2) -> OUT., the stateless API form of
// the talk ("APIs done wrong"): sugar for +anystate {fn, T1, T2} -> OUT.
type AnyAPIDecl struct {
	Pos    Pos
	Module *Name   `parser:"\"type\" @@ \":\""`
	Func   *Name   `parser:"@@ \"(\""`
	Args   []*Type `parser:"( @@ ( \",\" @@ )* )? \")\""`
	Arrow  string  `parser:"@( \"->\" | \"=>\" )"`
	Out    *Type   `parser:"@@"`
}

// TypesSection is UBF(B)'s +TYPES def; def; ... def.
type TypesSection struct {
	Pos  Pos
	Defs []*TypeDef `parser:"\"TYPES\" @@ ( \";\" @@ )*"`
}

// TypeDef is name() :: T "annotation" inside +TYPES (ubf 1.x wrote = for ::).
type TypeDef struct {
	Pos        Pos
	EndPos     Pos
	Name       *TypeName `parser:"@@"`
	Sep        string    `parser:"@( \"::\" | \"=\" )"`
	Type       *Type     `parser:"@@"`
	Annotation string    `parser:"@( String | Binary | Tag )?"`
}

// UStateSection is UBF(B)'s +STATE name rule; rule; ... rule.
type UStateSection struct {
	Pos   Pos
	Name  *Name         `parser:"\"STATE\" @@"`
	Rules []*UStateRule `parser:"@@ ( \";\" @@ )*"`
}

// UStateRule is IN => OUT & N | ..., an event EVENT => T / EVENT <= T, or
// a transition EVENT => T1 & N1 | T2 & N2 (and with <=). In a transition,
// Event is the first alternative's type, Next its state and More the
// other alternatives.
type UStateRule struct {
	Pos    Pos
	EndPos Pos
	Dir    string    `parser:"( \"EVENT\" @( \"=>\" | \"<=\" )"`
	Event  *Type     `parser:"@@"`
	Next   *Name     `parser:"( \"&\" @@"`
	More   []*Output `parser:"( \"|\" @@ )* )?"`
	In     *Type     `parser:"| @@ \"=>\""`
	Outs   []*Output `parser:"@@ ( \"|\" @@ )* )"`
}

// UAnySection is UBF(B)'s +ANYSTATE rule; ... rule.
type UAnySection struct {
	Pos   Pos
	Rules []*UAnyRule `parser:"\"ANYSTATE\" @@ ( \";\" @@ )*"`
}

// UAnyRule is IN => OUT or EVENT => T / EVENT <= T.
type UAnyRule struct {
	Pos    Pos
	EndPos Pos
	Dir    string `parser:"( \"EVENT\" @( \"=>\" | \"<=\" )"`
	Event  *Type  `parser:"@@"`
	In     *Type  `parser:"| @@ \"=>\""`
	Out    *Type  `parser:"@@ )"`
}

// Type is T1 | T2 | ... (one alternative when there is no bar). Type
// expressions are parsed by Type.Parse (types.go), a recursive-descent
// parser plugged into participle through its Parseable interface; the
// structures below are its syntax tree.
type Type struct {
	Pos  Pos
	Alts []*Prim
}

// Prim is one type form without a top-level bar. Exactly one field other
// than Pos is set.
type Prim struct {
	Pos Pos

	Call   *Call
	Atom   *string
	Tuple  *Tuple
	Range  *IntRange
	List   *List
	String *string
	Map    *Map
	Record *Record
	ExtRec *Record
	OpenLo *string
	Float  *string
	Binary *string
	// Tail is ..L, the rest of a tuple (the compiler checks that it is a
	// tuple's last element and a list type).
	Tail *Prim
	// Var is a bare variable V; Bind is V = T.
	Var  *string
	Bind *Bind
}

// Bind is V = T: a variable bound to what T matches.
type Bind struct {
	Pos  Pos
	Var  string
	Type *Type
}

// Tuple is {T1, ..., Tn}.
type Tuple struct {
	Pos   Pos
	Elems []*Type
}

// List is [T] with an optional length suffix; [] is the empty list.
type List struct {
	Pos    Pos
	Elem   *Type
	Plus   bool
	Opt    bool
	Bounds *Bounds
}

// Bounds is a list length suffix {n}, {n,}, {,m} or {n,m}.
type Bounds struct {
	Pos   Pos
	Min   string
	Comma bool
	Max   string
}

// Map is the part of #{k := T, k2 => T, ..} after "#{".
type Map struct {
	Pos     Pos
	Entries []*MapEntry
}

// MapEntry is key := T, key => T or the trailing "..".
type MapEntry struct {
	Pos   Pos
	Open  bool
	Key   string
	Op    string
	Value *Type
}

// Record is the part of #rec{f1::T1, f2=Default::T2} after "#" (or "##").
type Record struct {
	Pos    Pos
	Name   *Name
	Fields []*Field
}

// Field is one record field; Default is a type expression that must be a
// constant (the compiler checks it).
type Field struct {
	Pos     Pos
	Name    *Name
	Default *Type
	Type    *Type
}

// Call is name() or name(attr, ...), optionally followed by "?".
type Call struct {
	Pos      Pos
	Name     string
	Attrs    []*Attr
	Optional bool
}

// Attr is an attribute of a predefined type: a name such as nonempty, or
// a name with a string argument such as pattern("[a-z]+").
type Attr struct {
	Pos  Pos
	Name *Name
	Arg  string // the argument as written, quotes included; "" when none
}

// IntRange is an integer, or a range Lo.. or Lo..Hi.
type IntRange struct {
	Pos  Pos
	Lo   string
	Dots bool
	Hi   string
}
