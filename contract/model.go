// Package contract owns the compiled model of a contract: named types,
// states with their rules and events, anystate rules, the initial state. It
// compiles a syntax tree from package grammar into that model, runs every
// static check of the language (errors and warnings, each with
// file:line:column), prints contracts in their canonical layout (fmt), and
// draws state diagrams.
//
// The model is read-only once compiled: the checker and any number of
// sessions share one *Contract without locking.
//
// # Findings
//
// Every finding has a stable code (a Code; Codes documents each one).
// Errors (the contract is refused):
// "syntax", "import" (an unreadable --types file or +import),
// "duplicate-type", "duplicate-state" (a second +STATE section, or rules
// on the built-in stop state), "duplicate-field" (record field or map
// key), "duplicate-declaration" (+name or +vsn twice), "unknown-type" and
// "unknown-state" (with "did you mean" when a defined name is within a
// third of the length in edit distance), "redefined-builtin",
// "bad-attribute", "empty-range" (also inverted list bounds), "bad-default"
// (a record default that is not a constant) and "uninhabited-type" (the
// least fixed point of "some finite term matches": a type defined only in
// terms of itself matches nothing; none() matches anything).
//
// Warnings, computed only for contracts without errors: "unused-type" (a
// type of the contract itself that no rule or event reaches; files with no
// rules or events at all are type libraries and are not checked, imported
// types never are), "unreachable-state" (from the initial state through
// rule outputs), "no-terminal-path" (a reachable non-terminal state from
// which no terminal state can be reached), "overlapping-rules" (two rules
// of one state, or two anystate rules, whose request types can match one
// term; a state rule and an anystate rule never overlap because anystate
// rules apply only when no state rule does), "ambiguous-reply" (two
// replies of one rule that can match one term and lead to different
// states) and "dead-event" (an event declared only in states unreachable
// from the initial state).
//
// Overlap is decided structurally (overlap.go): exact for literals, ranges,
// tuples, records, lists with their length bounds and maps with required
// and optional keys; attributes other than nonempty and nonundefined are
// ignored, and a search that nests deeper than 32 levels or takes more
// than 20,000 steps answers "may overlap".
package contract

import (
	"fmt"
	"regexp"

	"github.com/ubfproxy/ubfproxy/term"
)

// Pos is a place in a contract file. Line and Column count from 1; Column
// counts bytes.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// StopState is always defined and terminal.
const StopState = "stop"

// Contract is a compiled contract.
type Contract struct {
	Name string // +name / +NAME, or the file's base name without extension
	Vsn  string // +vsn / +VSN, "" when absent
	File string

	// Types holds every named type the contract may use: its own, the
	// imported ones and the built-in ones, by name (without "()").
	Types map[string]*TypeDef
	// States in declaration order; StateIndex finds them by name. The
	// implicit stop state is included.
	States     []*State
	StateIndex map[string]*State
	// Initial is the name of the initial state (section 5); "" when the
	// contract declares no state (a types file, or a stateless contract of
	// +anystate rules only, which the checker runs in one implicit state
	// named start).
	Initial string
	// Anystate rules apply in every state when no rule of the state
	// matches; they never change the state.
	Anystate []*Rule
	// AnyEvents are events legal in every state.
	AnyEvents []*Event
	// Vars names the contract's variables by slot (Bind.Slot, Var.Slot):
	// one slot per distinct name, whether written in a rule or in a
	// named type.
	Vars []string
}

// State returns the state named name, or nil.
func (c *Contract) State(name string) *State { return c.StateIndex[name] }

// TypeDef is a named type.
type TypeDef struct {
	Name       string
	Type       Type
	Pos        Pos
	Builtin    bool   // one of the language's built-in named types
	Imported   bool   // came from --types or +import
	Annotation string // UBF(B) trailing annotation, documentation only
}

// State is one state of the machine.
type State struct {
	Name   string
	Rules  []*Rule
	Events []*Event
	Pos    Pos
	// Terminal is true for stop and for every state with no rules and no
	// events: reaching it ends the conversation.
	Terminal bool
}

// Rule is a request type with the replies it allows.
type Rule struct {
	In   Type
	Outs []Output
	Pos  Pos
}

// Output is one allowed reply and the state it leads to. Next is "" for
// anystate rules: the state does not change.
type Output struct {
	Type Type
	Next string
	Pos  Pos
}

// Direction says who sends an event.
type Direction uint8

// Event directions.
const (
	// Out: server to client.
	Out Direction = iota + 1
	// In: client to server.
	In
)

func (d Direction) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// Event is a message from one side that gets no answer: an event, which
// keeps the state (+event S out T, EVENT => T), or a transition, which
// leads to Next (+state S out T x N, EVENT => T & N). An event is exactly
// a transition back to its own state, so both are Events of the state and
// only Next decides where the conversation goes.
type Event struct {
	Dir  Direction
	Type Type
	// Next is the state the message leads to. For a state's events it is
	// always set (the state itself for an event); it is "" only for
	// anystate events, which keep whatever state the session is in.
	Next string
	// Transition is true when the message was written as a transition
	// (with its next state), even one back to its own state; diagrams and
	// explanations use it, matching does not.
	Transition bool
	Pos        Pos // of the type
	NextPos    Pos // of the next state's name; zero when not written
}

// Type is a type expression of section 3 of the language. The set of
// implementations is closed; code may switch on the dynamic type.
type Type interface {
	// Position returns where the type was written (zero for built-ins).
	Position() Pos
	// String prints the type in the Armstrong dialect's notation.
	String() string
}

// Literal matches exactly one term: an atom, integer, float, string or
// binary constant.
type Literal struct {
	Value term.Term
	Pos   Pos
}

// Range matches integers from Lo to Hi, ends included; a nil end is open.
type Range struct {
	Lo, Hi *term.Integer
	Pos    Pos
}

// TupleType matches tuples of exactly len(Elems) elements, or, with a
// Tail (..L), tuples of len(Elems) or more elements whose remaining
// elements, taken as a list, match Tail.
type TupleType struct {
	Elems []Type
	// Tail is the list type of a trailing ..L; nil when the tuple has a
	// fixed arity. The compiler resolves it to a list type also when it
	// was written as list() or as a named list type (see TailRef).
	Tail *ListType
	// TailRef is the named type the tail was written as (..keys()), for
	// printing; nil otherwise.
	TailRef *Ref
	Pos     Pos
}

// Bind is V = T: it matches what T matches and, when the message is
// accepted, binds the variable to the matched term.
type Bind struct {
	Name string
	// Slot numbers the variable in Contract.Vars, so that a session can
	// keep its bindings in an array.
	Slot int
	Type Type
	Pos  Pos
}

// Var is a bare variable V: it matches only the term the variable is
// bound to, and nothing while it is unbound.
type Var struct {
	Name string
	Slot int // as Bind.Slot
	Pos  Pos
}

// ListType matches lists whose elements all match Elem and whose length is
// in [Min, Max]; Max < 0 means unbounded.
type ListType struct {
	Elem Type
	Min  int
	Max  int
	Pos  Pos
}

// Union matches a term that matches any of Alts.
type Union struct {
	Alts []Type
	Pos  Pos
}

// Ref is a use of a named type, resolved by the compiler (Def is never nil
// in a compiled contract). Optional is name()?: the type or the atom
// undefined.
type Ref struct {
	Name     string
	Def      *TypeDef
	Optional bool
	Pos      Pos
}

// Field is a record field.
type Field struct {
	Name    string
	Default term.Term // nil when none
	Type    Type
}

// RecordType matches {Name, F1, ..., Fn}; when Extended, it matches
// {Name, F1, ..., Fn, '$fields', Extra} as ubf's extended records.
type RecordType struct {
	Name     string
	Fields   []Field
	Extended bool
	Pos      Pos
}

// MapField is one key of a map type. Key is an atom or a string; it matches
// a map key of that name whether the wire carries it as atom, string or
// binary.
type MapField struct {
	Key      term.Term
	Required bool // := rather than =>
	Value    Type
}

// MapType matches a map. Other keys are refused unless Open (a trailing ..).
type MapType struct {
	Fields []MapField
	Open   bool
	Pos    Pos
}

// PredefKind names a predefined type.
type PredefKind uint8

// The predefined types.
const (
	Any PredefKind = iota + 1
	None
	AtomT
	BinaryT
	FloatT
	IntegerT
	ListT
	TupleT
	StringT
	MapT
)

// Attr is a set of predefined-type attributes.
type Attr uint8

// Attributes of predefined types.
const (
	Ascii Attr = 1 << iota
	AsciiPrintable
	NonEmpty
	NonUndefined
	// WireString narrows string() to a string as the wire carries it
	// (UBF(A) "...", a JSON string), refusing a list of character codes:
	// ubf's ubfstring(), which is {'#S', [byte()]} inside ubf and only
	// ever "..." on the wire. Contracts cannot write it; only the built-in
	// ubfstring() carries it.
	WireString

	// Secret marks string() and binary() values that records, replay
	// output and error replies write as <secret>.
	Secret
	// CodeList narrows string() to a list of character codes, refusing a
	// string as the wire carries it: string() as ubf means it, which is
	// what string() means in a contract written in the UBF(B) dialect
	// (and nonempty_string() in a contract of that dialect). Contracts
	// cannot write it.
	CodeList
)

// Predef is a predefined type such as atom(ascii, nonempty) or
// string(pattern("#.+")).
type Predef struct {
	Kind  PredefKind
	Attrs Attr
	// Pattern, when not nil, is the pattern("RE") attribute: the whole text
	// of the value (a binary's bytes) must match. It is compiled anchored
	// at both ends, once per contract.
	Pattern *regexp.Regexp
	// PatternText is RE as written between the quotes, for printing.
	PatternText string
	Pos         Pos
}
