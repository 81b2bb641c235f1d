package contract

import (
	"bytes"
	"sort"
	"strings"

	"github.com/ubfproxy/ubfproxy/grammar"
)

// Format prints a contract in its canonical layout. It works on the syntax
// tree, so literals keep their spelling (16#ff stays 16#ff), each
// declaration keeps its dialect, and every comment survives: a comment at
// the end of a line stays at the end of that declaration's or rule's line,
// or of that reply's or union alternative's line; a comment on its own
// line between two alternatives stays between them; any other comment is
// printed on its own line before the declaration or rule it precedes (a
// comment inside a type spanning lines moves above it). A +deftype union
// the source broke over several lines keeps its breaks. Formatting is idempotent and does not change meaning. A file with a
// syntax error is not formatted; the error is returned as a finding.
//
// The layout: one declaration per paragraph line, at most one blank line
// kept where the source had blank lines; single spaces around operators;
// "->" as the Armstrong arrow and "x" before next states; a +state with
// several replies puts each on its own line, led by "|"; UBF(B) sections
// put one definition or rule per line, rules indented by four spaces, and
// align "::" (or "=") and "=>" within runs of consecutive lines.
func Format(filename string, src []byte) ([]byte, Diagnostics) {
	f, errs := grammar.ParseAll(filename, src)
	if len(errs) > 0 {
		var ds Diagnostics
		for _, ge := range errs {
			ds = append(ds, Diagnostic{Pos: Pos{File: filename, Line: ge.Pos.Line, Column: ge.Pos.Column}, Severity: Error, Code: CodeSyntax, Message: ge.Msg})
		}
		return nil, ds
	}
	p := &printer{comments: f.Comments, src: src}
	for i, d := range f.Decls {
		next := len(src) + 1
		if i+1 < len(f.Decls) {
			next = f.Decls[i+1].Pos.Offset
		}
		p.decl(d, next)
	}
	p.leadingIndent(len(src)+1, "")
	out := render(p.out)
	if len(bytes.TrimSpace(out)) == 0 {
		return []byte{}, nil
	}
	return out, nil
}

// outLine is one line of output: code with an optional trailing comment,
// an own-line comment (code "" and own true), or a blank line.
type outLine struct {
	text    string
	comment string
	own     bool
	blank   bool
}

// render writes the lines, aligning trailing comments within each block of
// consecutive code lines.
func render(lines []outLine) []byte {
	var b bytes.Buffer
	for i := 0; i < len(lines); {
		if lines[i].blank || lines[i].own {
			if lines[i].own {
				b.WriteString(lines[i].text)
			}
			b.WriteByte('\n')
			i++
			continue
		}
		j := i
		col := 0
		for j < len(lines) && !lines[j].blank && !lines[j].own {
			if lines[j].comment != "" {
				col = max(col, len(lines[j].text))
			}
			j++
		}
		for _, l := range lines[i:j] {
			b.WriteString(l.text)
			if l.comment != "" {
				b.WriteString(strings.Repeat(" ", col-len(l.text)+2))
				b.WriteString(l.comment)
			}
			b.WriteByte('\n')
		}
		i = j
	}
	return b.Bytes()
}

type printer struct {
	src        []byte
	lineStarts []int // offsets at which lines start, built on first use
	out        []outLine
	comments   []grammar.Comment
	next       int // first comment not printed yet
	prevLine   int // source line where the last printed thing ended; 0 at start
}

// endLine returns the line on which a node ends, given its EndPos (the
// position of the next token or comment): the line of the last non-space
// byte before it.
func (p *printer) endLine(next grammar.Pos) int {
	i := min(next.Offset, len(p.src)) - 1
	for i >= 0 && (p.src[i] == ' ' || p.src[i] == '\t' || p.src[i] == '\r' || p.src[i] == '\n' || p.src[i] == '\f') {
		i--
	}
	if i < 0 {
		return 1
	}
	if p.lineStarts == nil {
		p.lineStarts = []int{0}
		for j, c := range p.src {
			if c == '\n' {
				p.lineStarts = append(p.lineStarts, j+1)
			}
		}
	}
	// The line is the number of line starts at or before offset i.
	return sort.SearchInts(p.lineStarts, i+1)
}

// blank prints one empty line when the source had at least one between
// the previous printed thing and line.
func (p *printer) blank(line int) {
	if p.prevLine > 0 && line-p.prevLine > 1 && len(p.out) > 0 && !p.out[len(p.out)-1].blank {
		p.out = append(p.out, outLine{blank: true})
	}
}

// leadingIndent prints, each on its own line, the comments that start
// before offset, indented by indent, keeping one blank line where the
// source had some.
func (p *printer) leadingIndent(offset int, indent string) {
	for p.next < len(p.comments) && p.comments[p.next].Pos.Offset < offset {
		c := p.comments[p.next]
		p.blank(c.Pos.Line)
		p.out = append(p.out, outLine{text: indent + c.Text, own: true})
		p.prevLine = c.Pos.Line
		p.next++
	}
}

// trailing returns the comment that ends the source line endLine before
// offset limit, if any, and consumes it.
func (p *printer) trailing(endLine, limit int) string {
	if p.next < len(p.comments) {
		c := p.comments[p.next]
		if c.Pos.Line == endLine && c.Pos.Offset < limit {
			p.next++
			return c.Text
		}
	}
	return ""
}

// line writes one output line with an optional trailing comment.
func (p *printer) line(text, comment string) {
	p.out = append(p.out, outLine{text: text, comment: comment})
}

func (p *printer) decl(d *grammar.Decl, nextOffset int) {
	p.leadingIndent(d.Pos.Offset, "")
	p.blank(d.Pos.Line)
	switch {
	case d.Types != nil:
		p.typesSection(d, nextOffset)
		return
	case d.UState != nil:
		p.ruleSection(d, "+STATE "+d.UState.Name.Text, ustateItems(d.UState), nextOffset)
		return
	case d.UAny != nil:
		p.ruleSection(d, "+ANYSTATE", uanyItems(d.UAny), nextOffset)
		return
	}
	endLine := p.endLine(d.EndPos)
	p.prevLine = d.Pos.Line
	if groups := unionLines(d); len(groups) > 1 {
		p.unionDecl(d.DefType, groups, d.EndPos.Offset, endLine, nextOffset)
		p.prevLine = endLine
		return
	}
	if head, outs, sep := alternatives(d); len(outs) > 1 {
		p.altDecl(head, outs, sep, endLine, nextOffset)
		p.prevLine = endLine
		return
	}
	// Comments inside a declaration move above it (a comment always runs
	// to the end of its line, so none can sit inside the last line).
	p.hoist(d.EndPos.Offset, "")
	lines := simpleDecl(d)
	comment := p.trailing(endLine, nextOffset)
	for i, l := range lines {
		if i == len(lines)-1 {
			p.line(l, comment)
		} else {
			p.line(l, "")
		}
	}
	p.prevLine = endLine
}

// hoist prints the comments before offset on their own lines, without
// blank lines.
func (p *printer) hoist(offset int, indent string) {
	for p.next < len(p.comments) && p.comments[p.next].Pos.Offset < offset {
		p.out = append(p.out, outLine{text: indent + p.comments[p.next].Text, own: true})
		p.next++
	}
}

// alternatives returns the head of an Armstrong declaration with replies
// or transitions (its text up to the arrow), the alternatives and their
// separator; outs is nil for other declarations.
func alternatives(d *grammar.Decl) (head string, outs []*grammar.Output, sep string) {
	switch {
	case d.State != nil && d.State.Dir != "":
		return "+state " + names(d.State.States) + " " + d.State.Dir, d.State.Outs, " x "
	case d.State != nil:
		return "+state " + names(d.State.States) + " x " + typeText(d.State.In) + " ->", d.State.Outs, " x "
	case d.API != nil:
		a := d.API
		args := make([]string, len(a.Args))
		for i, t := range a.Args {
			args[i] = typeText(t)
		}
		return "+type " + names(a.States) + " x " + a.Module.Text + ":" + a.Func.Text + "(" + strings.Join(args, ", ") + ") ->", a.Outs, " x "
	}
	return "", nil, ""
}

// altDecl prints an Armstrong declaration with several alternatives, one
// a line, keeping the comments where they were written: a comment at the
// end of the head's line or of an alternative's line stays there, and a
// comment on its own line between two alternatives stays between them.
// Only a comment inside the head or inside one alternative's type moves,
// above the declaration or above that alternative.
func (p *printer) altDecl(head string, outs []*grammar.Output, sep string, endLine, nextOffset int) {
	headEnd := p.codeLineBefore(outs[0].Pos.Offset)
	p.hoistUntil(outs[0].Pos.Offset, headEnd, "")
	headComment := p.trailing(headEnd, outs[0].Pos.Offset)
	p.line(head, headComment)
	for i, o := range outs {
		prefix := "      "
		if i > 0 {
			prefix = "    | "
		}
		text := prefix + outputText(o, sep)
		// Own-line comments before the alternative (and any inside it,
		// but not one on its last line) go on their own lines before it.
		last := o.Next.Pos.Line
		p.hoistUntil(o.Next.Pos.Offset, last, "    ")
		limit := nextOffset
		if i+1 < len(outs) {
			limit = outs[i+1].Pos.Offset
			p.line(text, p.trailing(last, limit))
			continue
		}
		p.line(text+".", p.trailing(endLine, limit))
	}
}

// unionLines groups the alternatives of a +deftype's union by the source
// line each starts on, when the author broke the union over several lines
// (and gave no annotation, which would end the last line).
func unionLines(d *grammar.Decl) [][]*grammar.Prim {
	if d.DefType == nil || d.DefType.Annotation != "" {
		return nil
	}
	var groups [][]*grammar.Prim
	for i, a := range d.DefType.Type.Alts {
		if i == 0 || a.Pos.Line > d.DefType.Type.Alts[i-1].Pos.Line {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], a)
	}
	return groups
}

// unionDecl prints a +deftype whose union the source broke over several
// lines, keeping the breaks: each continuation line starts with "|" under
// the "=", and comments stay at the end of their line or on their own
// line between two alternatives, as in altDecl.
func (p *printer) unionDecl(t *grammar.DefType, groups [][]*grammar.Prim, end, endLine, nextOffset int) {
	head := "+deftype " + t.Name.Name + "() " + t.Sep + " "
	indent := strings.Repeat(" ", len(head)-len(t.Sep)-1)
	for k, g := range groups {
		parts := make([]string, len(g))
		for i, a := range g {
			parts[i] = primText(a)
		}
		text := indent + "| " + strings.Join(parts, " | ")
		if k == 0 {
			text = head + strings.Join(parts, " | ")
		}
		if k == len(groups)-1 {
			p.hoistUntil(end, endLine, indent)
			p.line(text+".", p.trailing(endLine, nextOffset))
			continue
		}
		next := groups[k+1][0].Pos.Offset
		last := p.codeLineBefore(p.barBefore(next))
		p.hoistUntil(next, last, indent)
		p.line(text, p.trailing(last, next))
	}
}

// hoistUntil prints on their own lines the comments before offset that do
// not lie on line keep (a comment there is trailing to that line).
func (p *printer) hoistUntil(offset, keep int, indent string) {
	for p.next < len(p.comments) {
		c := p.comments[p.next]
		if c.Pos.Offset >= offset || c.Pos.Line == keep {
			return
		}
		p.out = append(p.out, outLine{text: indent + c.Text, own: true})
		p.next++
	}
}

// codeLineBefore returns the line of the last byte of code before offset,
// skipping white space and comments.
func (p *printer) codeLineBefore(offset int) int {
	ci := p.next
	for ci < len(p.comments) && p.comments[ci].Pos.Offset < offset {
		ci++
	}
	ci-- // the last comment starting before offset
	i := offset - 1
	for i >= 0 {
		if ci >= p.next {
			c := p.comments[ci]
			if i >= c.Pos.Offset {
				if i < c.Pos.Offset+len(c.Text) {
					i = c.Pos.Offset - 1
					ci--
					continue
				}
			} else {
				ci--
				continue
			}
		}
		if b := p.src[i]; b != ' ' && b != '\t' && b != '\r' && b != '\n' && b != '\f' {
			break
		}
		i--
	}
	return p.endLine(grammar.Pos{Offset: i + 1})
}

// barBefore returns the offset of the "|" that separates the alternative
// at offset from the one before it, or offset when white space and a "|"
// do not come right before it.
func (p *printer) barBefore(offset int) int {
	for i := offset - 1; i >= 0; i-- {
		switch p.src[i] {
		case ' ', '\t', '\r', '\n', '\f':
			continue
		case '|':
			return i
		}
		break
	}
	return offset
}

func simpleDecl(d *grammar.Decl) []string {
	switch {
	case d.Meta != nil:
		return []string{"+" + d.Meta.Key + "(" + d.Meta.Value + ")."}
	case d.DefType != nil:
		t := d.DefType
		s := "+deftype " + t.Name.Name + "() " + t.Sep + " " + typeText(t.Type)
		if t.Annotation != "" {
			s += " " + t.Annotation
		}
		return []string{s + "."}
	case d.State != nil:
		s := d.State
		if s.Dir != "" {
			return withOutputs("+state "+names(s.States)+" "+s.Dir, s.Outs, " x ")
		}
		head := "+state " + names(s.States) + " x " + typeText(s.In) + " ->"
		return withOutputs(head, s.Outs, " x ")
	case d.API != nil:
		a := d.API
		args := make([]string, len(a.Args))
		for i, t := range a.Args {
			args[i] = typeText(t)
		}
		head := "+type " + names(a.States) + " x " + a.Module.Text + ":" + a.Func.Text + "(" + strings.Join(args, ", ") + ") ->"
		return withOutputs(head, a.Outs, " x ")
	case d.AnyAPI != nil:
		a := d.AnyAPI
		return []string{"+type " + a.Module.Text + ":" + a.Func.Text + "(" + typeList(a.Args) + ") -> " + typeText(a.Out) + "."}
	case d.AnyState != nil:
		a := d.AnyState
		if a.Event != nil {
			return []string{"+anystate event " + a.Dir + " " + typeText(a.Event) + "."}
		}
		return []string{"+anystate " + typeText(a.In) + " -> " + typeText(a.Out) + "."}
	case d.Event != nil:
		e := d.Event
		return []string{"+event " + names(e.States) + " " + e.Dir + " " + typeText(e.Type) + "."}
	}
	return nil
}

// withOutputs lays out an Armstrong rule: one reply on the rule's line, or
// several, each on its own line.
func withOutputs(head string, outs []*grammar.Output, sep string) []string {
	if len(outs) == 1 {
		return []string{head + " " + outputText(outs[0], sep) + "."}
	}
	lines := []string{head}
	for i, o := range outs {
		prefix := "      "
		if i > 0 {
			prefix = "    | "
		}
		l := prefix + outputText(o, sep)
		if i == len(outs)-1 {
			l += "."
		}
		lines = append(lines, l)
	}
	return lines
}

func outputText(o *grammar.Output, sep string) string {
	return typeText(o.Type) + sep + o.Next.Text
}

func names(ns []*grammar.Name) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = n.Text
	}
	return strings.Join(parts, " | ")
}

// sectionItem is one definition or rule of a UBF(B) section.
type sectionItem struct {
	pos    grammar.Pos
	end    grammar.Pos
	lhs    string          // left of the aligned operator
	op     string          // "::", "=" or "=>", "<="
	rhs    []string        // first line, then continuation lines (rules with several replies)
	contOp bool            // continuation lines start with "|"
	alts   []*grammar.Name // for several replies: each one's next state, where it ends
}

func ustateItems(s *grammar.UStateSection) []sectionItem {
	items := make([]sectionItem, len(s.Rules))
	for i, r := range s.Rules {
		it := sectionItem{pos: r.Pos, end: r.EndPos}
		switch {
		case r.Event != nil && r.Next != nil:
			it.lhs, it.op = "EVENT", r.Dir
			it.rhs = append(it.rhs, typeText(r.Event)+" & "+r.Next.Text)
			it.alts = append(it.alts, r.Next)
			for _, o := range r.More {
				it.rhs = append(it.rhs, outputText(o, " & "))
				it.alts = append(it.alts, o.Next)
			}
			it.contOp = true
		case r.Event != nil:
			it.lhs, it.op, it.rhs = "EVENT", r.Dir, []string{typeText(r.Event)}
		default:
			it.lhs, it.op = typeText(r.In), "=>"
			for _, o := range r.Outs {
				it.rhs = append(it.rhs, outputText(o, " & "))
				it.alts = append(it.alts, o.Next)
			}
			it.contOp = true
		}
		items[i] = it
	}
	return items
}

func uanyItems(s *grammar.UAnySection) []sectionItem {
	items := make([]sectionItem, len(s.Rules))
	for i, r := range s.Rules {
		it := sectionItem{pos: r.Pos, end: r.EndPos}
		if r.Event != nil {
			it.lhs, it.op, it.rhs = "EVENT", r.Dir, []string{typeText(r.Event)}
		} else {
			it.lhs, it.op, it.rhs = typeText(r.In), "=>", []string{typeText(r.Out)}
		}
		items[i] = it
	}
	return items
}

func (p *printer) typesSection(d *grammar.Decl, nextOffset int) {
	items := make([]sectionItem, len(d.Types.Defs))
	for i, td := range d.Types.Defs {
		rhs := typeText(td.Type)
		if td.Annotation != "" {
			rhs += " " + td.Annotation
		}
		items[i] = sectionItem{pos: td.Pos, end: td.EndPos, lhs: td.Name.Name + "()", op: td.Sep, rhs: []string{rhs}}
	}
	p.section(d, "+TYPES", "", items, nextOffset)
}

func (p *printer) ruleSection(d *grammar.Decl, header string, items []sectionItem, nextOffset int) {
	p.section(d, header, "    ", items, nextOffset)
}

// section prints a UBF(B) section: its header line, then one item per
// line, separated by ";" and ended by ".".
func (p *printer) section(d *grammar.Decl, header, indent string, items []sectionItem, nextOffset int) {
	headerLine := d.Pos.Line
	for i := range items {
		items[i].end.Line = p.endLine(items[i].end)
	}
	firstItem := nextOffset
	if len(items) > 0 {
		firstItem = items[0].pos.Offset
	}
	// The header's own line may carry a comment (for +STATE, after the
	// state name).
	hc := ""
	if len(items) == 0 || items[0].pos.Line != headerLine {
		hc = p.trailing(headerLine, firstItem)
	}
	p.line(header, hc)
	p.prevLine = headerLine
	// Alignment width per run of consecutive items.
	widths := make([]int, len(items))
	runStart := 0
	for i := range items {
		if i > 0 && p.breaksRun(items[i-1], items[i]) {
			runStart = i
		}
		w := len(items[i].lhs)
		for j := runStart; j < i; j++ {
			if widths[j] > w {
				w = widths[j]
			}
		}
		for j := runStart; j <= i; j++ {
			widths[j] = w
		}
	}
	for i, it := range items {
		p.leadingIndent(it.pos.Offset, indent)
		p.blank(it.pos.Line)
		limit := nextOffset
		if i+1 < len(items) {
			limit = items[i+1].pos.Offset
		}
		term := ";"
		if i == len(items)-1 {
			term = "."
		}
		w := widths[i]
		first := indent + pad(it.lhs, w) + " " + it.op + " " + it.rhs[0]
		if len(it.rhs) == 1 {
			// Hoist comments inside the item, except one on its last line.
			p.hoistInside(it, indent)
			p.line(first+term, p.trailing(it.end.Line, limit))
		} else {
			// Several replies: each keeps the comments at the end of its
			// line and on their own lines before it (altDecl).
			for k, r := range it.rhs {
				l := first
				if k > 0 {
					l = indent + strings.Repeat(" ", w) + " |  " + r
				}
				end := it.alts[k]
				p.hoistUntil(end.Pos.Offset, end.Pos.Line, indent)
				if k == len(it.rhs)-1 {
					p.line(l+term, p.trailing(it.end.Line, limit))
				} else {
					p.line(l, p.trailing(end.Pos.Line, limit))
				}
			}
		}
		p.prevLine = it.end.Line
	}
	// A comment after the last item but before the section's "." on the
	// same line as the "." is trailing to the last item's line; any other
	// comment inside the section is printed before the next declaration.
	p.prevLine = max(p.prevLine, p.endLine(d.EndPos))
}

// hoistInside prints, before an item, the comments that lie inside it on
// a line other than its last.
func (p *printer) hoistInside(it sectionItem, indent string) {
	for p.next < len(p.comments) {
		c := p.comments[p.next]
		if c.Pos.Offset >= it.end.Offset || c.Pos.Line == it.end.Line {
			return
		}
		p.out = append(p.out, outLine{text: indent + c.Text, own: true})
		p.next++
	}
}

// breaksRun reports whether a blank line or an own-line comment separates
// two items in the source, which ends an alignment run.
func (p *printer) breaksRun(a, b sectionItem) bool {
	lastLine := a.end.Line
	for i := p.next; i < len(p.comments); i++ {
		c := p.comments[i]
		if c.Pos.Offset >= b.pos.Offset {
			break
		}
		if c.Pos.Offset < a.end.Offset {
			continue
		}
		if c.Pos.Line != a.end.Line {
			return true
		}
	}
	return b.pos.Line-lastLine > 1
}

func pad(s string, w int) string {
	if len(s) >= w {
		return s
	}
	return s + strings.Repeat(" ", w-len(s))
}

// typeText prints a type expression from the syntax tree in canonical
// spacing, keeping literals as written.
func typeText(t *grammar.Type) string {
	parts := make([]string, len(t.Alts))
	for i, a := range t.Alts {
		parts[i] = primText(a)
	}
	return strings.Join(parts, " | ")
}

func primText(p *grammar.Prim) string {
	switch {
	case p.Tuple != nil:
		return "{" + typeList(p.Tuple.Elems) + "}"
	case p.List != nil:
		l := p.List
		s := "["
		if l.Elem != nil {
			s += typeText(l.Elem)
		}
		s += "]"
		switch {
		case l.Plus:
			s += "+"
		case l.Opt:
			s += "?"
		case l.Bounds != nil:
			s += "{" + l.Bounds.Min
			if l.Bounds.Comma {
				s += ","
			}
			s += l.Bounds.Max + "}"
		}
		return s
	case p.ExtRec != nil:
		return "##" + recordText(p.ExtRec)
	case p.Record != nil:
		return "#" + recordText(p.Record)
	case p.Map != nil:
		parts := make([]string, len(p.Map.Entries))
		for i, e := range p.Map.Entries {
			if e.Open {
				parts[i] = ".."
			} else {
				parts[i] = e.Key + " " + e.Op + " " + typeText(e.Value)
			}
		}
		return "#{" + strings.Join(parts, ", ") + "}"
	case p.Call != nil:
		attrs := make([]string, len(p.Call.Attrs))
		for i, a := range p.Call.Attrs {
			attrs[i] = a.Name.Text
			if a.Arg != "" {
				attrs[i] += "(" + a.Arg + ")"
			}
		}
		s := p.Call.Name + "(" + strings.Join(attrs, ", ") + ")"
		if p.Call.Optional {
			s += "?"
		}
		return s
	case p.Range != nil:
		s := p.Range.Lo
		if p.Range.Dots {
			s += ".." + p.Range.Hi
		}
		return s
	case p.OpenLo != nil:
		return ".." + *p.OpenLo
	case p.Tail != nil:
		return ".." + primText(p.Tail)
	case p.Var != nil:
		return *p.Var
	case p.Bind != nil:
		return p.Bind.Var + " = " + typeText(p.Bind.Type)
	case p.Float != nil:
		return *p.Float
	case p.Atom != nil:
		return *p.Atom
	case p.String != nil:
		return *p.String
	case p.Binary != nil:
		return *p.Binary
	}
	return ""
}

func typeList(ts []*grammar.Type) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = typeText(t)
	}
	return strings.Join(parts, ", ")
}

func recordText(r *grammar.Record) string {
	parts := make([]string, len(r.Fields))
	for i, f := range r.Fields {
		s := f.Name.Text
		if f.Default != nil {
			s += " = " + typeText(f.Default)
		}
		parts[i] = s + " :: " + typeText(f.Type)
	}
	return r.Name.Text + "{" + strings.Join(parts, ", ") + "}"
}
