package checker

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ubfproxy/ubfproxy/contract"
)

// Generating text that matches a pattern("RE") walks the expression's
// syntax tree from the standard library's regexp/syntax, the parser Go's
// regexp itself uses, so the generator reads exactly the language the
// checker matches (RE2, with its flags and classes). No library is needed:
// a random walk of the tree is a page of code, and every candidate is
// verified against the compiled pattern (predef retries), so empty-width
// assertions the walk cannot honour (\b, ^ inside) only cost a retry.

// maxRepeat bounds the repetitions of *, + and unbounded {n,} past their
// minimum.
const maxRepeat = 3

// matching returns a text that p's pattern may match (the caller checks),
// or false when the pattern cannot be parsed (the compiler would have
// refused it) or a class has no character the attributes allow.
func (g *generator) matching(p *contract.Predef) (string, bool) {
	re, ok := g.patterns[p.Pattern]
	if !ok {
		parsed, err := syntax.Parse(p.PatternText, syntax.Perl)
		if err != nil {
			return "", false
		}
		re = parsed.Simplify()
		if g.patterns == nil {
			g.patterns = make(map[*regexp.Regexp]*syntax.Regexp)
		}
		g.patterns[p.Pattern] = re
	}
	var b strings.Builder
	ok = g.walkRE(&b, re, p.Attrs)
	return b.String(), ok
}

// walkRE appends to b a random text that re matches.
func (g *generator) walkRE(b *strings.Builder, re *syntax.Regexp, a contract.Attr) bool {
	switch re.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && g.r.IntN(2) == 0 {
				r = otherCase(r)
			}
			b.WriteRune(r)
		}
		return true
	case syntax.OpCharClass:
		r, ok := g.classRune(re.Rune, a)
		if ok {
			b.WriteRune(r)
		}
		return ok
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		r, ok := g.classRune([]rune{' ', '~'}, a)
		if ok {
			b.WriteRune(r)
		}
		return ok
	case syntax.OpCapture:
		return g.walkRE(b, re.Sub[0], a)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !g.walkRE(b, sub, a) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		return g.walkRE(b, re.Sub[g.r.IntN(len(re.Sub))], a)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := repeatBounds(re)
		for n := lo + g.r.IntN(hi-lo+1); n > 0; n-- {
			if !g.walkRE(b, re.Sub[0], a) {
				return false
			}
		}
		return true
	}
	// Empty matches and empty-width assertions (^, $, \A, \z, \b, \B)
	// add nothing; the caller verifies the text.
	return true
}

func repeatBounds(re *syntax.Regexp) (lo, hi int) {
	switch re.Op {
	case syntax.OpStar:
		return 0, maxRepeat
	case syntax.OpPlus:
		return 1, 1 + maxRepeat
	case syntax.OpQuest:
		return 0, 1
	}
	lo, hi = re.Min, re.Max
	if hi < 0 || hi > lo+maxRepeat {
		hi = lo + maxRepeat
	}
	return lo, hi
}

// classRune picks a character of the class given as pairs of inclusive
// ranges, within what ascii and asciiprintable allow, preferring the
// printable ASCII range so that texts stay readable.
func (g *generator) classRune(ranges []rune, a contract.Attr) (rune, bool) {
	lo, hi := rune(0), rune(unicode.MaxRune)
	switch {
	case a&contract.AsciiPrintable != 0:
		lo, hi = ' ', '~'
	case a&contract.Ascii != 0:
		hi = 0x7f
	}
	var clipped []rune
	var printable []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		l, h := max(ranges[i], lo), min(ranges[i+1], hi)
		if l > h {
			continue
		}
		clipped = append(clipped, l, h)
		if pl, ph := max(l, ' '), min(h, '~'); pl <= ph {
			printable = append(printable, pl, ph)
		}
	}
	if len(printable) > 0 && g.r.IntN(8) != 0 {
		clipped = printable
	}
	if len(clipped) == 0 {
		return 0, false
	}
	for tries := 0; tries < 8; tries++ {
		k := 2 * g.r.IntN(len(clipped)/2)
		l, h := clipped[k], clipped[k+1]
		r := l + rune(g.r.Int64N(int64(h-l)+1))
		if utf8.ValidRune(r) {
			return r, true
		}
	}
	return 0, false
}

// otherCase returns r in another case, when it has one.
func otherCase(r rune) rune {
	if o := unicode.SimpleFold(r); o != r {
		return o
	}
	return r
}
