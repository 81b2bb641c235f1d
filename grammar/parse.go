package grammar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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

// Error is a syntax error: where it happened and what was expected, in words
// for the author of the contract.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.Pos.Filename, e.Pos.Line, e.Pos.Column, e.Msg)
}

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
		ge := syntaxError(filename, src, lex, err)
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

// syntaxError phrases a parse error for the author of the contract.
func syntaxError(filename string, src []byte, lex *streamLexer, err error) *Error {
	var ge *Error
	if !errors.As(humanize(filename, src, err), &ge) {
		ge = &Error{Pos: Pos{Filename: filename, Line: 1, Column: 1}, Msg: err.Error()}
	}
	if strings.Contains(ge.Msg, nextStateHint) {
		// Name the separator of the declaration's own dialect.
		sep := `"x"`
		if lex.ubfAt(ge.Pos.Offset) {
			sep = `"&"`
		}
		ge.Msg = strings.Replace(ge.Msg, nextStateHint, sep+" and the next state", 1)
	}
	return ge
}

// MaxDepth bounds how deeply tuples, lists, maps, records and calls may
// nest in a contract.
const MaxDepth = 200

// nextStateHint stands for the separator before a next state until the
// dialect of the declaration is known.
const nextStateHint = `"x" (or "&" in the UBF(B) dialect) and the next state`

// describeBad explains text at which no token starts.
func describeBad(rest string) string {
	switch {
	case rest == "":
		return "unexpected end of file"
	case rest[0] == '"':
		return "unterminated string: a string needs a closing \""
	case rest[0] == '\'':
		return "unterminated quoted atom: it needs a closing '"
	case rest[0] == '`':
		return "unterminated tag: it needs a closing `"
	case strings.HasPrefix(rest, "<<"):
		return `malformed binary: write <<"text">> or <<1,2,255>>`
	}
	r := []rune(rest)[0]
	return fmt.Sprintf("unexpected character %s", strconv.QuoteRune(r))
}

// humanize turns participle's errors into messages that say what was found
// and what the language expects there.
func humanize(filename string, src []byte, err error) error {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return &Error{Pos: Pos{Filename: filename, Line: 1, Column: 1}, Msg: err.Error()}
	}
	pos := Pos(perr.Position())
	pos.Filename = filename
	var ute *participle.UnexpectedTokenError
	if errors.As(err, &ute) {
		found := describeToken(ute.Unexpected)
		exp := expectation(ute.Expect)
		if exp == "" {
			exp = expectationFromMessage(ute.Message())
		}
		if exp == "" || exp == `"+"` {
			exp = `a declaration starting with "+"`
		}
		msg := "unexpected " + found + ", expected " + exp
		if ute.Unexpected.Value == ";" && exp == `"."` {
			msg += ` (a ";" must be followed by another definition or rule; the last one ends with ".")`
		}
		return &Error{Pos: pos, Msg: msg + hint(ute.Unexpected)}
	}
	msg := perr.Message()
	if strings.Contains(msg, "invalid input text") || strings.Contains(msg, "invalid token") {
		rest := ""
		if pos.Offset >= 0 && pos.Offset < len(src) {
			rest = string(src[pos.Offset:])
		}
		return &Error{Pos: pos, Msg: describeBad(rest)}
	}
	if i := strings.Index(msg, "unexpected token"); i >= 0 {
		msg = msg[i:]
	}
	msg = strings.ReplaceAll(msg, "unexpected token", "unexpected")
	msg = strings.ReplaceAll(msg, "<EOF>", "end of file")
	return &Error{Pos: pos, Msg: msg}
}

func describeToken(t lexer.Token) string {
	if t.EOF() {
		return "end of file"
	}
	v := t.Value
	if len(v) > 30 {
		v = v[:27] + "..."
	}
	return strconv.Quote(v)
}

// hint adds advice for mistakes that are easy to make.
func hint(t lexer.Token) string {
	switch t.Value {
	case "+":
		return " (is the \".\" that ends the previous declaration missing?)"
	}
	if t.EOF() {
		return " (is the \".\" that ends the last declaration missing?)"
	}
	return ""
}

// expectation rewrites participle's description of the expected grammar
// node into words.
func expectation(e string) string {
	if e == "" {
		return ""
	}
	return rewriteExpect(e)
}

func expectationFromMessage(m string) string {
	i := strings.Index(m, "(expected ")
	if i < 0 {
		return ""
	}
	e := strings.TrimSuffix(m[i+len("(expected "):], ")")
	return rewriteExpect(e)
}

var nodeWords = map[string]string{
	"<ident>":    "a name",
	"<qatom>":    "a quoted atom",
	"<string>":   "a string",
	"<int>":      "an integer",
	"<float>":    "a float",
	"<binary>":   "a binary",
	"<tag>":      "a tag",
	"Type":       "a type",
	"Tuple":      "a type",
	"List":       "a type",
	"UStateRule": "a rule",
	"UAnyRule":   "a rule",
	"Prim":       "a type",
	"Name":       "a name",
	"TypeName":   "a type name such as foo()",
	"Output":     "a reply type",
	"TypeDef":    "a type definition name() :: T",
	"Meta":       "a declaration",
	"Decl":       "a declaration",
	"Field":      "a record field",
	"MapEntry":   "a map entry",
}

func rewriteExpect(e string) string {
	first := firstElem(strings.TrimSpace(e))
	alts := splitTop(first)
	var words []string
	for _, a := range alts {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if i := strings.IndexByte(a, ' '); i > 0 && !strings.HasPrefix(a, "(") {
			a = a[:i]
		}
		if a == "Meta" || a == "DefType" || a == "StateDecl" {
			return "a declaration keyword: name, vsn, import, deftype, state, anystate, event, type, or in the UBF(B) dialect NAME, VSN, TYPES, STATE, ANYSTATE"
		}
		if w, ok := nodeWords[a]; ok {
			words = append(words, w)
			continue
		}
		if strings.HasPrefix(a, `"`) {
			words = append(words, a)
			continue
		}
		words = append(words, "a "+strings.ToLower(strings.Trim(a, "()*?")))
	}
	words = dedupe(words)
	if len(words) == 2 && words[0] == `"x"` && words[1] == `"&"` {
		return nextStateHint
	}
	return joinOr(words)
}

// firstElem returns the first element of a participle grammar sequence:
// the inside of a leading group, or the leading word.
func firstElem(e string) string {
	if e == "" {
		return ""
	}
	if e[0] == '(' {
		depth := 0
		for i := 0; i < len(e); i++ {
			switch e[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return e[1:i]
				}
			}
		}
		return e[1:]
	}
	if e[0] == '"' {
		if j := strings.IndexByte(e[1:], '"'); j >= 0 {
			return e[:j+2]
		}
	}
	if i := strings.IndexByte(e, ' '); i > 0 {
		return e[:i]
	}
	return e
}

// splitTop splits on bars that are not inside parentheses or quotes.
func splitTop(e string) []string {
	var parts []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(e); i++ {
		switch c := e[i]; {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, e[start:i])
			start = i + 1
		}
	}
	return append(parts, e[start:])
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func joinOr(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}
