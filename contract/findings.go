package contract

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ubfproxy/ubfproxy/grammar"
)

// This file holds the checks on the contract as a whole (exact duplicate
// rules, a contract without states) and what decides which findings are
// reported: --disable and "% ubfproxy:ignore CODE: reason" comments.

// checkDuplicateRules reports a rule that repeats an earlier rule of the
// same state exactly: the same request and the same replies leading to the
// same states. The copy adds nothing, and usually one of the two was meant
// to say something else.
func (cp *compiler) checkDuplicateRules(c *Contract) {
	dup := func(rules []*Rule, where string) {
		seen := make(map[string]*Rule, len(rules))
		for _, r := range rules {
			key := ruleKey(r)
			if first, ok := seen[key]; ok && first != r {
				at := first.Pos.String()
				if first.Pos.File == r.Pos.File {
					at = fmt.Sprintf("line %d", first.Pos.Line)
				}
				cp.reportf(r.Pos, CodeDuplicateRule, "%s, this rule repeats the rule at %s exactly (%s): remove one of them", where, at, ruleText(r))
				continue
			}
			seen[key] = r
		}
	}
	for _, st := range c.States {
		dup(st.Rules, fmt.Sprintf("in state %q", st.Name))
	}
	dup(c.Anystate, "in +anystate")
}

// ruleKey is a rule's meaning as text: the request and each reply with its
// next state, in the order written.
func ruleKey(r *Rule) string {
	var b strings.Builder
	b.WriteString(r.In.String())
	for _, o := range r.Outs {
		fmt.Fprintf(&b, "\x00%s\x00%s", o.Type, o.Next)
	}
	return b.String()
}

// ruleText shows a rule in the Armstrong dialect for messages.
func ruleText(r *Rule) string {
	outs := make([]string, len(r.Outs))
	for i, o := range r.Outs {
		outs[i] = o.Type.String()
		if o.Next != "" {
			outs[i] += " x " + o.Next
		}
	}
	return r.In.String() + " -> " + strings.Join(outs, " | ")
}

// checkNoStates warns about a contract that allows no conversation at all:
// no state, no +anystate rule and no event. A file that only defines types
// is a type library (for --types and +import) and is left alone.
func (cp *compiler) checkNoStates(c *Contract, f *grammar.File) {
	if c.Initial != "" || len(c.Anystate) > 0 || len(c.AnyEvents) > 0 {
		return
	}
	for _, d := range f.Decls {
		if d.DefType != nil || d.Types != nil {
			return
		}
	}
	cp.reportf(Pos{File: c.File, Line: 1, Column: 1}, CodeNoStates,
		"the contract defines no states, rules or types: it allows no conversation (add +state rules, or remove the file)")
}

// ignoreComment is a suppression: "% ubfproxy:ignore CODE[, CODE...]: reason"
// on the line before a finding.
var ignoreComment = regexp.MustCompile(`^%+\s*ubfproxy:ignore\b\s*([^:]*?)\s*(?::\s*(.*?))?\s*$`)

// suppression is one code named by an ignore comment.
type suppression struct {
	at   Pos // the code's place in the comment
	code Code
	line int // the line whose findings it suppresses
	used bool
}

// suppressions collects the ignore comments of a parsed file; malformed
// ones are reported.
func (cp *compiler) suppressions(file string, comments []grammar.Comment) {
	for _, cm := range comments {
		m := ignoreComment.FindStringSubmatch(strings.TrimSpace(cm.Text))
		if m == nil {
			continue
		}
		at := cp.pos(cm.Pos)
		at.File = file
		if m[1] == "" || m[2] == "" {
			cp.reportf(at, CodeUnusedSuppression, "a suppression names codes and says why: %% ubfproxy:ignore CODE: reason")
			continue
		}
		for _, name := range strings.Split(m[1], ",") {
			code := Code(strings.TrimSpace(name))
			info, ok := code.Info()
			switch {
			case !ok:
				msg := fmt.Sprintf("ubfproxy:ignore names no known code %q", code)
				if s := suggest(string(code), codeNames()); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				cp.reportf(at, CodeUnusedSuppression, "%s", msg)
			case info.Severity == Error:
				cp.reportf(at, CodeUnusedSuppression, "ubfproxy:ignore %s: errors cannot be suppressed, only warnings", code)
			default:
				cp.ignores = append(cp.ignores, &suppression{at: at, code: code, line: at.Line + 1})
			}
		}
	}
}

func codeNames() []string {
	names := make([]string, len(codeTable))
	for i, ci := range codeTable {
		names[i] = string(ci.Code)
	}
	return names
}

// filterFindings drops the findings disabled by opts.Disable or suppressed
// by an ignore comment, and reports the suppressions that suppressed
// nothing. Unused suppressions are reported only when the warnings ran
// (the contract has no errors): before, none of them could be used.
func (cp *compiler) filterFindings(disable []Code) {
	kept := cp.diags[:0]
	for _, d := range cp.diags {
		if d.Severity == Warning && slices.Contains(disable, d.Code) {
			continue
		}
		if d.Severity == Warning && cp.suppressed(d) {
			continue
		}
		kept = append(kept, d)
	}
	cp.diags = kept
	if cp.diags.HasErrors() {
		return
	}
	for _, s := range cp.ignores {
		if !s.used && !slices.Contains(disable, s.code) {
			cp.reportf(s.at, CodeUnusedSuppression, "ubfproxy:ignore %s suppresses nothing: line %d has no %s finding (remove the comment)", s.code, s.line, s.code)
		}
	}
	if slices.Contains(disable, CodeUnusedSuppression) {
		cp.diags = slices.DeleteFunc(cp.diags, func(d Diagnostic) bool { return d.Code == CodeUnusedSuppression })
	}
}

func (cp *compiler) suppressed(d Diagnostic) bool {
	hit := false
	for _, s := range cp.ignores {
		if s.code == d.Code && s.line == d.Pos.Line && s.at.File == d.Pos.File {
			s.used = true
			hit = true
		}
	}
	return hit
}
