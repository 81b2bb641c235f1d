package checker

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"github.com/ubfproxy/ubfproxy/contract"
)

// Go's regexp takes some 20 to 40 ns a byte whatever the pattern (its
// one-pass and backtracking engines step instruction by instruction), so a
// 64-byte nick or key would cost more than the whole check of a request.
// Prepare therefore also compiles each pattern into a deterministic
// automaton over ASCII bytes, one table lookup a byte: built from the
// pattern's regexp/syntax tree (a Thompson automaton, then subsets), for
// the patterns that need no empty-width assertion, with at most
// maxDFAStates states. Text with a byte outside ASCII, and patterns it
// does not cover, go to the regexp, which stays the reference: for ASCII
// text both decide the same (TestPatternDFAAgreesWithRegexp).

// maxDFAStates bounds an automaton's states (128 transitions each).
const maxDFAStates = 256

// maxNFANodes bounds the automaton the subsets are built from.
const maxNFANodes = 4096

// patternSet holds the automata of a contract's patterns; nil (for Match
// outside a machine) leaves every pattern to its regexp.
type patternSet map[*regexp.Regexp]*byteDFA

// byteDFA is a pattern as a deterministic automaton over ASCII bytes:
// state 0 is the start, next[state*128+byte] the next state or -1 (no
// match possible).
type byteDFA struct {
	next   []int16
	accept []bool
}

// matches reports whether s matches; decided is false when s holds a
// byte outside ASCII, which the automaton does not read.
func (d *byteDFA) matches(s string) (ok, decided bool) {
	st := int16(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 128 {
			return false, false
		}
		if st = d.next[int(st)<<7|int(c)]; st < 0 {
			return false, true
		}
	}
	return d.accept[st], true
}

// dfaOf returns the automaton of p's pattern, or nil when p has none or
// the set has no automaton for it.
func (ps patternSet) dfaOf(p *contract.Predef) *byteDFA {
	if p.Pattern == nil || ps == nil {
		return nil
	}
	return ps[p.Pattern]
}

// patternOK applies pattern("RE") to s, by d (p's automaton, or nil) where
// it decides, else by the regexp.
func patternOK(d *byteDFA, s string, p *contract.Predef) bool {
	if p.Pattern == nil {
		return true
	}
	if d != nil {
		if ok, decided := d.matches(s); decided {
			return ok
		}
	}
	return p.Pattern.MatchString(s)
}

// collectPatterns compiles the automaton of every pattern c uses.
func collectPatterns(c *contract.Contract) patternSet {
	ps := patternSet{}
	add := func(t contract.Type) {
		contract.VisitType(t, func(x contract.Type) bool {
			if p, ok := x.(*contract.Predef); ok && p.Pattern != nil {
				if _, done := ps[p.Pattern]; !done {
					ps[p.Pattern] = compileDFA(p.PatternText)
				}
			}
			return true
		})
	}
	for _, d := range c.Types {
		if d.Type != nil {
			add(d.Type)
		}
	}
	contract.WalkTypes(c, add)
	for p, d := range ps {
		if d == nil {
			delete(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// nfaNode is a node of the Thompson automaton: it reads a byte of set and
// goes to outs[0], or (set nil) goes to every one of outs reading
// nothing; the node with no outs and no set is the final one.
type nfaNode struct {
	set  *[2]uint64
	outs []int
}

type nfaBuilder struct {
	nodes []nfaNode
	ok    bool
}

func (b *nfaBuilder) node(set *[2]uint64, outs ...int) int {
	if len(b.nodes) >= maxNFANodes {
		b.ok = false
	}
	b.nodes = append(b.nodes, nfaNode{set: set, outs: outs})
	return len(b.nodes) - 1
}

// link makes the end node e (an empty node) go to n.
func (b *nfaBuilder) link(e, n int) {
	if b.ok {
		b.nodes[e].outs = append(b.nodes[e].outs, n)
	}
}

// frag builds re as a fragment: a start node and an end node (empty, its
// outs to be linked).
func (b *nfaBuilder) frag(re *syntax.Regexp) (start, end int) {
	if !b.ok {
		return 0, 0
	}
	switch re.Op {
	case syntax.OpEmptyMatch:
		e := b.node(nil)
		return e, e
	case syntax.OpNoMatch:
		return b.node(&[2]uint64{}, b.node(nil)), len(b.nodes) - 1
	case syntax.OpLiteral:
		end = b.node(nil)
		start = end
		for i := len(re.Rune) - 1; i >= 0; i-- {
			var set [2]uint64
			r := re.Rune[i]
			addRune(&set, r)
			if re.Flags&syntax.FoldCase != 0 {
				for o := otherCase(r); o != r; o = otherCase(o) {
					addRune(&set, o)
				}
			}
			start = b.node(&set, start)
		}
		return start, end
	case syntax.OpCharClass:
		var set [2]uint64
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < 128; r++ {
				addRune(&set, r)
			}
		}
		end = b.node(nil)
		return b.node(&set, end), end
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		set := [2]uint64{^uint64(0), ^uint64(0)}
		if re.Op == syntax.OpAnyCharNotNL {
			set[0] &^= 1 << '\n'
		}
		end = b.node(nil)
		return b.node(&set, end), end
	case syntax.OpCapture:
		return b.frag(re.Sub[0])
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			e := b.node(nil)
			return e, e
		}
		start, end = b.frag(re.Sub[0])
		for _, sub := range re.Sub[1:] {
			s, e := b.frag(sub)
			b.link(end, s)
			end = e
		}
		return start, end
	case syntax.OpAlternate:
		start, end = b.node(nil), b.node(nil)
		for _, sub := range re.Sub {
			s, e := b.frag(sub)
			b.link(start, s)
			b.link(e, end)
		}
		return start, end
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		s, e := b.frag(re.Sub[0])
		loop, end := b.node(nil), b.node(nil)
		b.link(loop, s)
		b.link(loop, end)
		if re.Op != syntax.OpQuest {
			b.link(e, loop)
		} else {
			b.link(e, end)
		}
		if re.Op == syntax.OpPlus {
			return s, end
		}
		return loop, end
	case syntax.OpRepeat:
		// Simplify spells repeats out; a bound it left is followed
		// here the same way.
		start = b.node(nil)
		end = start
		for i := 0; i < re.Min; i++ {
			s, e := b.frag(re.Sub[0])
			b.link(end, s)
			end = e
		}
		if re.Max < 0 {
			s, e := b.frag(&syntax.Regexp{Op: syntax.OpStar, Sub: re.Sub})
			b.link(end, s)
			return start, e
		}
		for i := re.Min; i < re.Max; i++ {
			s, e := b.frag(&syntax.Regexp{Op: syntax.OpQuest, Sub: re.Sub})
			b.link(end, s)
			end = e
		}
		return start, end
	}
	// Empty-width assertions (^, $, \A, \z, \b, \B): left to the
	// regexp.
	b.ok = false
	return 0, 0
}

func addRune(set *[2]uint64, r rune) {
	if r >= 0 && r < 128 {
		set[r>>6] |= 1 << uint(r&63)
	}
}

// compileDFA builds the automaton of the pattern src (as written, to be
// matched whole), or returns nil when it needs what the automaton does
// not do.
func compileDFA(src string) *byteDFA {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil
	}
	b := &nfaBuilder{ok: true}
	start, end := b.frag(re.Simplify())
	if !b.ok {
		return nil
	}
	final := end // an empty node with no outs: reaching it is a match
	d := &byteDFA{}
	index := map[string]int16{}
	var sets [][]int // the reading nodes of each DFA state
	var stack []int
	seen := make([]bool, len(b.nodes))
	// closure returns the reading nodes reachable from from without
	// reading, and whether the final node is.
	closure := func(from []int) (reading []int, accept bool) {
		for i := range seen {
			seen[i] = false
		}
		stack = append(stack[:0], from...)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[n] {
				continue
			}
			seen[n] = true
			switch nd := &b.nodes[n]; {
			case nd.set != nil:
				reading = append(reading, n)
			case n == final:
				accept = true
			default:
				stack = append(stack, nd.outs...)
			}
		}
		return reading, accept
	}
	state := func(from []int) int16 {
		reading, accept := closure(from)
		if len(reading) == 0 && !accept {
			return -1 // dead
		}
		key := nodesKey(reading, accept)
		if i, ok := index[key]; ok {
			return i
		}
		if len(sets) >= maxDFAStates {
			return -2
		}
		i := int16(len(sets))
		index[key] = i
		sets = append(sets, reading)
		d.accept = append(d.accept, accept)
		d.next = append(d.next, make([]int16, 128)...)
		return i
	}
	if state([]int{start}) < 0 {
		return &byteDFA{next: deadRow(), accept: []bool{false}}
	}
	var targets []int
	for i := 0; i < len(sets); i++ {
		for c := 0; c < 128; c++ {
			targets = targets[:0]
			for _, n := range sets[i] {
				if nd := &b.nodes[n]; nd.set[c>>6]&(1<<uint(c&63)) != 0 {
					targets = append(targets, nd.outs...)
				}
			}
			next := int16(-1)
			if len(targets) > 0 {
				next = state(targets)
			}
			if next == -2 {
				return nil // too many states: the regexp decides
			}
			d.next[i<<7|c] = next
		}
	}
	return d
}

func deadRow() []int16 {
	row := make([]int16, 128)
	for i := range row {
		row[i] = -1
	}
	return row
}

func nodesKey(nodes []int, accept bool) string {
	var b strings.Builder
	if accept {
		b.WriteByte('!')
	}
	// The order nodes are found in depends on the path; the set does not.
	sorted := slices.Clone(nodes)
	slices.Sort(sorted)
	for _, n := range sorted {
		b.WriteString(strconv.Itoa(n))
		b.WriteByte(',')
	}
	return b.String()
}
