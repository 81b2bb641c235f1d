package contract

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// WriteDOT draws the state machine in Graphviz DOT: one node per state (the
// initial state bold with an entry arrow, terminal states as double
// circles, a state's events listed under its name), one solid edge per
// rule output labelled "request / reply", one edge per transition (dashed
// and labelled "out T" for the server's, dotted and labelled "in T" for
// the client's), and a note listing the anystate rules and anystate
// events.
func WriteDOT(w io.Writer, c *Contract) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "digraph %s {\n", dotQuote(c.Name))
	bw.WriteString("  rankdir=LR;\n")
	bw.WriteString("  node [shape=ellipse, fontname=\"Helvetica\"];\n")
	bw.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	title := c.Name
	if c.Vsn != "" {
		title += " " + c.Vsn
	}
	fmt.Fprintf(bw, "  label=%s;\n  labelloc=t;\n", dotQuote(title))
	// States are nodes s0, s1, ... labelled with their names, so that no
	// state name can clash with the helper nodes.
	id := map[string]string{}
	for i, st := range c.States {
		id[st.Name] = "s" + strconv.Itoa(i)
	}
	if c.Initial != "" {
		bw.WriteString("  initial [shape=point, label=\"\"];\n")
		fmt.Fprintf(bw, "  initial -> %s;\n", id[c.Initial])
	}
	for _, st := range c.States {
		var attrs []string
		label := st.Name
		for _, e := range st.Events {
			if !e.Transition {
				label += "\n" + eventLabel(e)
			}
		}
		attrs = append(attrs, "label="+dotQuote(label))
		if st.Terminal {
			attrs = append(attrs, "shape=doublecircle")
		}
		if st.Name == c.Initial {
			attrs = append(attrs, "style=bold")
		}
		fmt.Fprintf(bw, "  %s [%s];\n", id[st.Name], strings.Join(attrs, ", "))
	}
	transitions(c, func(st *State, r *Rule, o Output) {
		fmt.Fprintf(bw, "  %s -> %s [label=%s];\n", id[st.Name], id[o.Next], dotQuote(r.In.String()+" / "+o.Type.String()))
	})
	moves(c, func(st *State, e *Event) {
		style := "dashed"
		if e.Dir == In {
			style = "dotted"
		}
		fmt.Fprintf(bw, "  %s -> %s [label=%s, style=%s];\n", id[st.Name], id[e.Next], dotQuote(moveLabel(e)), style)
	})
	if lines := anyLines(c); len(lines) > 0 {
		// \l ends a left-justified line in a DOT label.
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(dotEscape(l))
			b.WriteString(`\l`)
		}
		fmt.Fprintf(bw, "  anystate [shape=note, label=\"%s\"];\n", b.String())
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// WriteMermaid draws the state machine as a Mermaid stateDiagram-v2, with
// the same content as WriteDOT: [*] marks the initial state and follows
// terminal states; events and anystate rules are notes. Mermaid's state
// diagrams draw every transition alike, so a transition's label says its
// direction ("out T", "in T"), where DOT also changes the line.
func WriteMermaid(w io.Writer, c *Contract) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("stateDiagram-v2\n")
	ids := mermaidIDs(c)
	for _, st := range c.States {
		if id := ids[st.Name]; id != st.Name {
			fmt.Fprintf(bw, "    state \"%s\" as %s\n", mermaidEscape(st.Name), id)
		}
	}
	if c.Initial != "" {
		fmt.Fprintf(bw, "    [*] --> %s\n", ids[c.Initial])
	}
	transitions(c, func(st *State, r *Rule, o Output) {
		fmt.Fprintf(bw, "    %s --> %s : %s\n", ids[st.Name], ids[o.Next], mermaidEscape(r.In.String()+" / "+o.Type.String()))
	})
	moves(c, func(st *State, e *Event) {
		fmt.Fprintf(bw, "    %s --> %s : %s\n", ids[st.Name], ids[e.Next], mermaidEscape(moveLabel(e)))
	})
	for _, st := range c.States {
		if st.Terminal {
			fmt.Fprintf(bw, "    %s --> [*]\n", ids[st.Name])
		}
	}
	for _, st := range c.States {
		var notes []string
		for _, e := range st.Events {
			if !e.Transition {
				notes = append(notes, eventLabel(e))
			}
		}
		if len(notes) == 0 {
			continue
		}
		fmt.Fprintf(bw, "    note right of %s\n", ids[st.Name])
		for _, n := range notes {
			fmt.Fprintf(bw, "        %s\n", mermaidEscape(n))
		}
		bw.WriteString("    end note\n")
	}
	if lines := anyLines(c); len(lines) > 0 {
		anchor := c.Initial
		if anchor == "" && len(c.States) > 0 {
			anchor = c.States[0].Name
		}
		fmt.Fprintf(bw, "    note left of %s\n", ids[anchor])
		for _, l := range lines {
			fmt.Fprintf(bw, "        %s\n", mermaidEscape(l))
		}
		bw.WriteString("    end note\n")
	}
	return bw.Flush()
}

// moves calls fn for every transition written as one (+state S out T x N,
// EVENT => T & N), in Walk's order; events are drawn in their states.
func moves(c *Contract, fn func(st *State, e *Event)) {
	Walk(c, Visitor{Event: func(st *State, e *Event) {
		if st != nil && e.Transition {
			fn(st, e)
		}
	}})
}

// moveLabel labels a transition's edge with its direction and type.
func moveLabel(e *Event) string {
	return e.Dir.String() + " " + e.Type.String()
}

func eventLabel(e *Event) string {
	return "event " + e.Dir.String() + " " + e.Type.String()
}

// anyLines lists the anystate rules and events, one per line.
func anyLines(c *Contract) []string {
	var lines []string
	Walk(c, Visitor{
		Rule: func(st *State, r *Rule) {
			if st != nil {
				return
			}
			for _, o := range r.Outs {
				lines = append(lines, r.In.String()+" / "+o.Type.String())
			}
		},
		Event: func(st *State, e *Event) {
			if st == nil {
				lines = append(lines, eventLabel(e))
			}
		},
	})
	if len(lines) == 0 {
		return nil
	}
	return append([]string{"in any state:"}, lines...)
}

func dotQuote(s string) string { return `"` + dotEscape(s) + `"` }

// dotEscape escapes a string for a double-quoted DOT ID; newlines become
// centred line breaks.
func dotEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var mermaidIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// mermaidReserved are words Mermaid's state diagram parser treats as
// keywords.
var mermaidReserved = map[string]bool{
	"state": true, "note": true, "end": true, "direction": true, "class": true,
	"classDef": true, "style": true, "click": true, "as": true, "left": true, "right": true, "of": true,
}

// mermaidIDs gives every state an identifier Mermaid accepts: its own name
// when possible, otherwise s1, s2, ... with the name as label.
func mermaidIDs(c *Contract) map[string]string {
	ids := map[string]string{}
	used := map[string]bool{}
	for _, st := range c.States {
		if mermaidIdent.MatchString(st.Name) && !mermaidReserved[st.Name] {
			ids[st.Name] = st.Name
			used[st.Name] = true
		}
	}
	n := 0
	for _, st := range c.States {
		if _, ok := ids[st.Name]; ok {
			continue
		}
		for {
			n++
			id := "s" + strconv.Itoa(n)
			if !used[id] {
				ids[st.Name] = id
				used[id] = true
				break
			}
		}
	}
	return ids
}

// mermaidEscape replaces the characters that end a Mermaid statement or
// start an entity with Mermaid's entity codes.
func mermaidEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '#':
			b.WriteString("#35;")
		case ';':
			b.WriteString("#59;")
		case '"':
			b.WriteString("#quot;")
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
