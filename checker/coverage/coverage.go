// Package coverage counts which parts of a contract conversations
// exercised: every rule of every state, every reply alternative of those
// rules, every transition and every event, with the +anystate ones. replay
// --coverage reports it for recorded traces, ubfproxy test for generated
// conversations, and the proxy exports the counts of live traffic.
//
// A Tracker is told each message a checker.Session accepted, with the
// states the session was in before it; it finds the items the message
// matches by shape (checker.Machine.MatchShape: the session has already
// checked the variables' values). Or, right after the check, it is given
// the session itself (AppendTaken), and reads what the session took the
// message by.
package coverage

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

// Kind is the kind of a coverage item.
type Kind string

// The kinds of items.
const (
	KindRule       Kind = "rule"       // a call rule: its request was sent
	KindReply      Kind = "reply"      // one reply alternative of a rule: it was answered
	KindTransition Kind = "transition" // a transition to another state was taken
	KindEvent      Kind = "event"      // an event (a transition back to its state) was sent
)

// All is the key of the summary of every kind in Summarize.
const All Kind = "all"

// AnyState is the State of the items of +anystate rules and events.
const AnyState = checker.AnyState

// Item is one part of the contract and how often it was exercised; the
// JSON names are part of the CLI's interface.
type Item struct {
	Kind  Kind   `json:"kind"`
	State string `json:"state"`
	// Rule is the item in the contract's notation: the request type of a
	// rule; "REQUEST -> REPLY x NEXT" for a reply; "out T x N" or "in T"
	// for a transition or an event.
	Rule  string `json:"rule"`
	File  string `json:"file"`
	Line  int    `json:"line"`
	Count int    `json:"count"`
}

// hit is a rule a pending call matched, in one state.
type hit struct {
	rule  *contract.Rule
	items []int // the rule's item, then one per reply alternative
}

// Tracker counts the items of one contract. It is not safe for concurrent
// use; Merge combines trackers of the same contract.
type Tracker struct {
	m     *checker.Machine
	items []Item
	// events[state] are a state's transitions and events.
	events map[string][]eventItem
	// hitOf finds the hit of a call rule in a state, for the machine's
	// answers (AppendShapedCalls): by the rule, then the state, since a
	// rule written for several states is one *contract.Rule in each.
	hitOf map[*contract.Rule][]stateHit
	// pending holds, per call awaiting its reply (oldest first), the rules
	// it matched.
	pending [][]hit
	// byPart is the item of each of the machine's parts (checker.Part),
	// -1 for none, for AppendTaken.
	byPart []int
}

// stateHit is a call rule's hit in one state (or AnyState).
type stateHit struct {
	state string
	hit   hit
}

type eventItem struct {
	ev   *contract.Event
	item int
}

// New lists the items of the machine's contract, none exercised yet.
func New(m *checker.Machine) *Tracker {
	c := m.Contract()
	t := &Tracker{m: m, events: map[string][]eventItem{}, hitOf: map[*contract.Rule][]stateHit{}}
	addRules := func(state string, rules []*contract.Rule) {
		for _, r := range rules {
			h := hit{rule: r, items: []int{t.add(KindRule, state, r.In.String(), r.Pos)}}
			for _, o := range r.Outs {
				text := r.In.String() + " -> " + o.Type.String()
				if o.Next != "" {
					text += " x " + o.Next
				}
				h.items = append(h.items, t.add(KindReply, state, text, o.Pos))
			}
			t.hitOf[r] = append(t.hitOf[r], stateHit{state, h})
		}
	}
	addEvents := func(state string, evs []*contract.Event) {
		for _, e := range evs {
			kind, text := KindEvent, e.Dir.String()+" "+e.Type.String()
			if e.Next != "" && e.Next != state {
				kind, text = KindTransition, text+" x "+e.Next
			}
			t.events[state] = append(t.events[state], eventItem{ev: e, item: t.add(kind, state, text, e.Type.Position())})
		}
	}
	for _, st := range c.States {
		if st.Name == contract.StopState && len(st.Rules) == 0 && len(st.Events) == 0 {
			continue
		}
		addRules(st.Name, st.Rules)
		addEvents(st.Name, st.Events)
	}
	addRules(AnyState, c.Anystate)
	addEvents(AnyState, c.AnyEvents)
	for _, p := range m.Parts() {
		t.byPart = append(t.byPart, t.itemOf(p))
	}
	return t
}

// itemOf is the item of part p, or -1 when the tracker lists none.
func (t *Tracker) itemOf(p checker.Part) int {
	for _, sh := range t.hitOf[p.Rule] {
		if p.Rule != nil && sh.state == p.State {
			return sh.hit.items[0]
		}
	}
	for _, e := range t.events[p.State] {
		if p.Event != nil && e.ev == p.Event {
			return e.item
		}
	}
	return -1
}

func (t *Tracker) add(kind Kind, state, rule string, at contract.Pos) int {
	t.items = append(t.items, Item{Kind: kind, State: state, Rule: rule, File: at.File, Line: at.Line})
	return len(t.items) - 1
}

// Reset forgets the calls awaiting replies, for the next conversation;
// the counts stay.
func (t *Tracker) Reset() { t.pending = t.pending[:0] }

// Call counts a request the session accepted as a call in states: the
// rules of those states it matches, or the +anystate rules it matches in
// a state where no rule does. It returns the items counted.
func (t *Tracker) Call(states []string, msg term.Term) []Item {
	hits := t.matchCall(states, msg)
	var counted []Item
	for _, h := range hits {
		t.items[h.items[0]].Count++
		counted = append(counted, t.items[h.items[0]])
	}
	t.pending = append(t.pending, hits)
	return counted
}

// matchCall finds the rules a call matches in states, without counting,
// in the contract's order.
func (t *Tracker) matchCall(states []string, msg term.Term) []hit {
	var buf [4]*contract.Rule
	var hits []hit
	for _, st := range states {
		n := len(hits)
		hits = t.appendHits(hits, buf[:0], st, msg)
		if len(hits) == n {
			hits = t.appendHits(hits, buf[:0], AnyState, msg)
		}
	}
	hits = dedupe(hits)
	slices.SortFunc(hits, func(a, b hit) int { return a.items[0] - b.items[0] })
	return hits
}

// appendHits appends to hits those of the call rules of state msg matches
// (scratch is room for the machine's answer).
func (t *Tracker) appendHits(hits []hit, scratch []*contract.Rule, state string, msg term.Term) []hit {
	for _, r := range t.m.AppendShapedCalls(scratch, state, msg) {
		for _, sh := range t.hitOf[r] {
			if sh.state == state {
				hits = append(hits, sh.hit)
			}
		}
	}
	return hits
}

// Reply counts the reply to the oldest call awaiting one: the reply
// alternatives of that call's rules it matches.
func (t *Tracker) Reply(msg term.Term) []Item {
	if len(t.pending) == 0 {
		return nil
	}
	hits := t.pending[0]
	t.pending = slices.Delete(t.pending, 0, 1)
	var counted []Item
	for _, h := range hits {
		for i, o := range h.rule.Outs {
			if t.m.MatchShape(msg, o.Type) {
				it := &t.items[h.items[i+1]]
				it.Count++
				counted = append(counted, *it)
			}
		}
	}
	return counted
}

// Message counts a transition or event sent in dir in states: those of
// the states it matches, or the +anystate ones.
func (t *Tracker) Message(states []string, dir contract.Direction, msg term.Term) []Item {
	var counted []Item
	for _, i := range t.matchMessage(states, dir, msg) {
		t.items[i].Count++
		counted = append(counted, t.items[i])
	}
	return counted
}

// matchMessage finds the transitions and events msg matches in states,
// without counting.
func (t *Tracker) matchMessage(states []string, dir contract.Direction, msg term.Term) []int {
	var out []int
	add := func(evs []eventItem) bool {
		found := false
		for _, e := range evs {
			if e.ev.Dir == dir && t.m.MatchShape(msg, e.ev.Type) {
				found = true
				if !slices.Contains(out, e.item) {
					out = append(out, e.item)
				}
			}
		}
		return found
	}
	for _, st := range states {
		if !add(t.events[st]) {
			add(t.events[AnyState])
		}
	}
	return out
}

// AppendTaken appends to dst the items (by number) of the rules,
// transitions and events by which s, a session of the tracker's machine,
// took the message it checked last (checker.Machine.AppendTaken), once
// each, in the contract's order, and returns it: what a proxy counts for
// live traffic. It is what Call or Message would count for that message,
// without matching it again, with two differences that make it exact: a
// call pipelined behind others counts in the states the pending replies
// lead to (Call is told the states before them), and with variables a
// rule counts only when the values kept it (Call and Message match by
// shape). Ask it right after the check. With room in dst it allocates
// nothing; it only reads the tracker, so sessions may share one.
func (t *Tracker) AppendTaken(dst []int, s *checker.Session) []int {
	from := len(dst)
	dst = t.m.AppendTaken(dst, s)
	out := dst[:from]
	for _, p := range dst[from:] {
		if it := t.byPart[p]; it >= 0 && !slices.Contains(out[from:], it) {
			out = append(out, it)
		}
	}
	if len(out)-from > 1 {
		slices.Sort(out[from:]) // most messages are taken by one rule
	}
	return out
}

// Len is the number of items; Item numbers them from 0, in the contract's
// order (the order of Items).
func (t *Tracker) Len() int { return len(t.items) }

// Item returns item i with its count.
func (t *Tracker) Item(i int) Item { return t.items[i] }

// Observe counts a message the session accepted in the role it returned;
// client says which side sent it, states where the session was before.
func (t *Tracker) Observe(states []string, client bool, role checker.Role, msg term.Term) []Item {
	switch role {
	case checker.RoleCall:
		return t.Call(states, msg)
	case checker.RoleReply:
		return t.Reply(msg)
	case checker.RoleTransition, checker.RoleEvent:
		dir := contract.Out
		if client {
			dir = contract.In
		}
		return t.Message(states, dir, msg)
	}
	return nil
}

// dedupe drops, in place, the hits of a rule already hit.
func dedupe(hits []hit) []hit {
	out := hits[:0]
	for _, h := range hits {
		if !slices.ContainsFunc(out, func(o hit) bool { return o.items[0] == h.items[0] }) {
			out = append(out, h)
		}
	}
	return out
}

// Items returns the items in the contract's order with their counts.
func (t *Tracker) Items() []Item { return slices.Clone(t.items) }

// Merge adds the counts of o, a tracker of the same contract.
func (t *Tracker) Merge(o *Tracker) {
	for i := range t.items {
		if i < len(o.items) {
			t.items[i].Count += o.items[i].Count
		}
	}
}

// Summary is how much of a contract was exercised, by kind and in all.
type Summary struct {
	Covered int     `json:"covered"`
	Total   int     `json:"total"`
	Percent float64 `json:"percent"`
}

// Summarize counts the items exercised at least once, per kind and in all
// (under All).
func Summarize(items []Item) map[Kind]Summary {
	out := map[Kind]Summary{}
	for _, it := range items {
		for _, k := range []Kind{All, it.Kind} {
			s := out[k]
			s.Total++
			if it.Count > 0 {
				s.Covered++
			}
			out[k] = s
		}
	}
	for k, s := range out {
		s.Percent = percent(s.Covered, s.Total)
		out[k] = s
	}
	return out
}

// percent is covered/total in percent, rounded down to a tenth so that a
// contract just short of a threshold never passes by rounding; 100 when
// there is nothing to cover.
func percent(covered, total int) float64 {
	if total == 0 {
		return 100
	}
	return float64(covered*1000/total) / 10
}

// Table writes items as a table, one per line, with a summary line.
func Table(items []Item) string {
	var b strings.Builder
	wState, wKind := len("STATE"), len("KIND")
	for _, it := range items {
		wState = max(wState, len(it.State))
		wKind = max(wKind, len(it.Kind))
	}
	fmt.Fprintf(&b, "%6s  %-*s  %-*s  %s\n", "COUNT", wKind, "KIND", wState, "STATE", "RULE")
	for _, it := range items {
		fmt.Fprintf(&b, "%6d  %-*s  %-*s  %s", it.Count, wKind, it.Kind, wState, it.State, it.Rule)
		if it.Line > 0 {
			fmt.Fprintf(&b, "  (line %d)", it.Line)
		}
		b.WriteByte('\n')
	}
	sum := Summarize(items)
	all := sum[All]
	fmt.Fprintf(&b, "coverage: %.1f%% (%d of %d items", all.Percent, all.Covered, all.Total)
	for _, k := range []struct {
		kind  Kind
		words string
	}{{KindRule, "rules"}, {KindReply, "replies"}, {KindTransition, "transitions"}, {KindEvent, "events"}} {
		if s, ok := sum[k.kind]; ok {
			fmt.Fprintf(&b, "; %s %d/%d", k.words, s.Covered, s.Total)
		}
	}
	b.WriteString(")\n")
	return b.String()
}
