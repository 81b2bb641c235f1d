package checker

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
)

// dfaPatterns are patterns the automaton must decide as the regexp does;
// covered says whether it builds one (or leaves them to the regexp).
var dfaPatterns = []struct {
	re      string
	covered bool
}{
	{`#[^ ,\x07]+`, true},
	{`(?i)nx|xx|get`, true},
	{`[a-z0-9_.+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*`, true},
	{`[a-z]+[0-9]?`, true},
	{`.{2,4}`, true},
	{`[0-9]{1,3}(\.[0-9]{1,3}){3}`, true},
	{`(?i)QUIT|quit`, true},
	{`a*b*a*`, true},
	{`(a|ab)(c|bcd)(d*)`, true},
	{`x?`, true},
	{``, true},
	{`[^a-z]`, true},
	{`(?s).*`, true},
	{`é+`, true},
	{`\d+(?:,\d+)*`, true},
	{`[[:upper:]][[:lower:]]*`, true},
	{`(?i)straße`, true},
	{`\bword\b`, false},
	{`^a$`, false},
	{`(a{1,30}){1,30}b`, false},
}

// TestPatternDFAAgreesWithRegexp: on random text (ASCII, and with bytes
// beyond it), the automaton and the anchored regexp agree.
func TestPatternDFAAgreesWithRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := "abcdxyzABCDQUITnxget0123456789 ,.@#+-_\x07\n\tßé"
	for _, p := range dfaPatterns {
		re := regexp.MustCompile(`^(?:` + p.re + `)$`)
		d := compileDFA(p.re)
		if (d != nil) != p.covered {
			t.Errorf("%q: automaton built %v, want %v", p.re, d != nil, p.covered)
			continue
		}
		if d == nil {
			continue
		}
		ps := patternSet{re: d}
		pd := &contract.Predef{Kind: contract.StringT, Pattern: re, PatternText: p.re}
		g := generator{r: r}
		for n := 0; n < 3000; n++ {
			var s string
			if n%2 == 0 {
				// Text the pattern is likely to match, then maybe
				// mutated.
				s, _ = g.matching(pd)
				if n%4 == 0 && len(s) > 0 {
					i := r.IntN(len(s))
					s = s[:i] + string(alphabet[r.IntN(len(alphabet))]) + s[i+1:]
				}
			} else {
				var b strings.Builder
				for range r.IntN(12) {
					b.WriteByte(alphabet[r.IntN(len(alphabet))])
				}
				s = b.String()
			}
			// The automaton itself must decide ASCII text, and agree:
			// through patternOK alone, one that left everything to the
			// regexp would pass.
			want := re.MatchString(s)
			got, decided := d.matches(s)
			if ascii := strings.IndexFunc(s, func(c rune) bool { return c >= 128 }) < 0; ascii && !decided {
				t.Fatalf("%q on %q: the automaton left ASCII text undecided", p.re, s)
			}
			if decided && got != want {
				t.Fatalf("%q on %q: automaton says %v, regexp %v", p.re, s, got, want)
			}
			if got := patternOK(ps.dfaOf(pd), s, pd); got != want {
				t.Fatalf("%q on %q: patternOK says %v, regexp %v", p.re, s, got, want)
			}
		}
	}
}

// TestPatternDFANoAllocation: deciding with the automaton allocates
// nothing.
func TestPatternDFANoAllocation(t *testing.T) {
	d := compileDFA(`[a-z0-9_.+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*`)
	s := strings.Repeat("a", 39) + "@example-mail.example.org"
	if n := testing.AllocsPerRun(100, func() {
		if ok, decided := d.matches(s); !ok || !decided {
			t.Fatal("no match")
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
