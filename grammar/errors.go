package grammar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/ebnf"
	"github.com/alecthomas/participle/v2/lexer"

	"github.com/ubfproxy/ubfproxy/internal/suggest"
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

// syntaxError phrases a parse error for the author of the contract, by the
// error's type: the token found and the grammar node participle expected
// instead. Errors of the scan itself never get here: the stream lexer
// keeps them (streamLexer.err).
func syntaxError(filename string, lex *streamLexer, err error) *Error {
	var ute *participle.UnexpectedTokenError
	if errors.As(err, &ute) {
		pos := Pos(ute.Unexpected.Pos)
		pos.Filename = filename
		return &Error{Pos: pos, Msg: unexpectedMessage(ute, lex.ubfAt(pos.Offset))}
	}
	var perr participle.Error
	if errors.As(err, &perr) { // participle's other errors name no token
		pos := Pos(perr.Position())
		pos.Filename = filename
		return &Error{Pos: pos, Msg: perr.Message()}
	}
	return &Error{Pos: Pos{Filename: filename, Line: 1, Column: 1}, Msg: err.Error()}
}

// unexpectedMessage says what was found and what the grammar expects
// there; ubf tells the dialect of the declaration.
func unexpectedMessage(ute *participle.UnexpectedTokenError, ubf bool) string {
	t := ute.Unexpected
	exp := expectation(expectedGrammar(ute), ubf)
	if exp == "" || exp == `"+"` {
		exp = `a declaration starting with "+"`
	}
	msg := "unexpected " + describeToken(t) + ", expected " + exp
	if exp == declarationKeywords {
		if k := keywordTypo(t.Value); k != "" {
			msg += fmt.Sprintf(" (did you mean +%s?)", k)
		}
	}
	if t.Value == ";" && exp == `"."` {
		msg += ` (a ";" must be followed by another definition or rule; the last one ends with ".")`
	}
	switch {
	case t.EOF():
		msg += ` (is the "." that ends the last declaration missing?)`
	case t.Value == "+":
		msg += ` (is the "." that ends the previous declaration missing?)`
	}
	return msg
}

// expectedGrammar returns the grammar participle expected at the error, in
// participle's EBNF: the hand-written type parser sets Expect; participle's
// own sequences keep the expected node private and show its EBNF only in
// Message, after the quoted token (TestExpectedGrammar pins the format).
func expectedGrammar(ute *participle.UnexpectedTokenError) string {
	if ute.Expect != "" {
		return ute.Expect
	}
	prefix := fmt.Sprintf("unexpected token %q (expected ", ute.Unexpected)
	if rest, ok := strings.CutPrefix(ute.Message(), prefix); ok {
		return strings.TrimSuffix(rest, ")")
	}
	return ""
}

// nodeWords names the grammar's nodes (AST types and token types) for the
// author of a contract.
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

// declarationNodes are the kinds of declaration after "+": expecting one
// of them is expecting a declaration keyword.
var declarationNodes = map[string]bool{"Meta": true, "DefType": true, "StateDecl": true}

// keywordTypo returns the declaration keyword word probably meant, in the
// dialect its case suggests, or "".
func keywordTypo(word string) string {
	if word == "" {
		return ""
	}
	if strings.ToUpper(word) == word {
		return suggest.Closest(word, []string{"NAME", "VSN", "TYPES", "STATE", "ANYSTATE"})
	}
	return suggest.Closest(word, []string{"name", "vsn", "import", "deftype", "state", "anystate", "event", "type"})
}

const declarationKeywords = "a declaration keyword: name, vsn, import, deftype, state, anystate, event, type, or in the UBF(B) dialect NAME, VSN, TYPES, STATE, ANYSTATE"

// expectation puts into words what may start the expected grammar: the
// alternatives of its first element, each by its node type, token type or
// literal.
func expectation(grammar string, ubf bool) string {
	if grammar == "" {
		return ""
	}
	g, err := ebnf.ParseString("E = " + grammar + " .")
	if err != nil || len(g.Productions) != 1 {
		return ""
	}
	var words []string
	for _, t := range firstTerms(g.Productions[0].Expression) {
		switch {
		case declarationNodes[t.Name]:
			return declarationKeywords
		case t.Name != "":
			if w, ok := nodeWords[t.Name]; ok {
				words = append(words, w)
			} else {
				words = append(words, "a "+strings.ToLower(t.Name))
			}
		case t.Token != "":
			if w, ok := nodeWords["<"+t.Token+">"]; ok {
				words = append(words, w)
			} else {
				words = append(words, "a "+t.Token)
			}
		case t.Literal != "":
			words = append(words, t.Literal)
		}
	}
	words = dedupe(words)
	if len(words) == 2 && words[0] == `"x"` && words[1] == `"&"` {
		// The separator before a next state, in the declaration's dialect.
		if ubf {
			return `"&" and the next state`
		}
		return `"x" and the next state`
	}
	return joinOr(words)
}

// firstTerms returns the terms that can start e's first element: the
// element itself, or the first term of each of its alternatives when it is
// a group.
func firstTerms(e *ebnf.Expression) []*ebnf.Term {
	if len(e.Alternatives) == 0 || len(e.Alternatives[0].Terms) == 0 {
		return nil
	}
	first := e.Alternatives[0].Terms[0]
	if first.Group == nil {
		return []*ebnf.Term{first}
	}
	var out []*ebnf.Term
	for _, seq := range first.Group.Expr.Alternatives {
		if t := seq.Terms[0]; t.Group != nil {
			out = append(out, firstTerms(t.Group.Expr)...)
		} else {
			out = append(out, t)
		}
	}
	return out
}

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
