package grammar

import "fmt"

// Pos is a place in a contract's source. It has the fields of participle's
// lexer.Position, so participle fills the Pos and EndPos fields of the AST
// by conversion, and packages that read the AST need not import participle.
type Pos struct {
	Filename string
	Offset   int // bytes from the start of the source
	Line     int // from 1
	Column   int // bytes from 1
}

// String renders the position as file:line:col.
func (p Pos) String() string {
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}
