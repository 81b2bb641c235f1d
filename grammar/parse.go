package grammar

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// declParser parses one declaration; Parse calls it once per declaration
// on one token stream (with trailing tokens allowed).
var declParser = participle.MustBuild[Decl](
	participle.Lexer(Lexer),
	participle.Elide("Comment"),
	participle.UseLookahead(4),
)

// Parse reads one contract file. The error, if any, is the first syntax
// error, an *Error.
func Parse(filename string, src []byte) (*File, error) {
	f, errs := ParseAll(filename, src)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return f, nil
}

// MaxErrors bounds how many syntax errors ParseAll reports.
const MaxErrors = 10

// ParseAll reads one contract file and reports every syntax error, up to
// MaxErrors: after an error it resumes at the declaration following the
// next ".". The File holds the declarations that parsed (and every comment
// read); it is complete only when there are no errors. A character at which
// no token starts, or absurd nesting, ends the scan: that is the last error.
func ParseAll(filename string, src []byte) (*File, []*Error) {
	lex := newStreamLexer(filename, src)
	f := &File{Pos: Pos{Filename: filename, Line: 1, Column: 1}}
	peek, err := lexer.Upgrade(lex, tokComment)
	if err != nil { // the stream lexer reports its errors in lex.err
		return f, []*Error{{Pos: f.Pos, Msg: err.Error()}}
	}
	var errs []*Error
	// One declaration at a time: participle's backtracking state then
	// stays small however long the file is, and an error stays local.
	for !peek.Peek().EOF() && len(errs) < MaxErrors {
		d, err := declParser.ParseFromLexer(peek, participle.AllowTrailing(true))
		if err == nil {
			f.Decls = append(f.Decls, d)
			continue
		}
		ge := syntaxError(filename, lex, err)
		errs = append(errs, ge)
		// Resume after the "." that ends the broken declaration: the first
		// one at or after the error.
		for {
			t := peek.Peek()
			if t.EOF() {
				break
			}
			peek.Next()
			if t.Type == tokPunct && t.Value == "." && t.Pos.Offset >= ge.Pos.Offset {
				break
			}
		}
	}
	if ge := lex.err; ge != nil && len(errs) < MaxErrors {
		// The scan stopped there; an error the parser reported at the
		// truncated end is an artefact of it.
		if n := len(errs); n > 0 && errs[n-1].Pos.Offset >= ge.Pos.Offset {
			errs = errs[:n-1]
		}
		errs = append(errs, ge)
	}
	f.Comments = lex.comments
	return f, errs
}

// MaxDepth bounds how deeply tuples, lists, maps, records and calls may
// nest in a contract.
const MaxDepth = 200
