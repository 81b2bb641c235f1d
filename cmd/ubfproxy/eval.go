package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

type evalFlags struct {
	contract, state, format string
	types                   []string
}

func newEvalCmd() *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval --contract FILE [--state STATE] [--format text|json] TERM",
		Short: "Say which rule accepts one message in a state, and what may come back",
		Long: `eval takes one client message, TERM in the text notation, and says what the
contract does with it in STATE (the initial state when not given): which rule
accepts it as a request, with the replies that rule allows and the state each
leads to, or which in transition or event accepts it and where it leads. A
state rule is tried before the +anystate rules, as at run time.

A variable in a rule matches whatever the session bound it to; eval has no
session, so a variable matches any value here and is named in the output.

Exit status: 0 when the message is accepted, 1 when it is not (the output
lists what the state accepts), 2 for usage errors, a contract with errors or
a malformed TERM.`,
		Example: `  ubfproxy eval --contract contracts/file.con '{open, "notes.txt", read}'
  ubfproxy eval --contract contracts/file.con --state ready '{read_line, 7}'
  ubfproxy eval --contract contracts/redis.con --state ready --format json '{get, <<"k">>}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("eval: give one TERM, quoted for the shell (for example: ubfproxy eval --contract c.con 'ping')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEval(cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.contract, "contract", "", "the contract `FILE` (required)")
	fl.StringArrayVar(&f.types, "types", nil, "contract `FILE` whose named types the contract may use (repeatable)")
	fl.StringVar(&f.state, "state", "", "the `STATE` the message arrives in (default: the initial state)")
	fl.StringVar(&f.format, "format", formatText, "output format: text or json")
	return withFlagHint(cmd)
}

// evalResult is eval's answer; the JSON names are part of the CLI's
// interface.
type evalResult struct {
	Contract string      `json:"contract"`
	State    string      `json:"state"`
	Message  string      `json:"message"`
	Accepted bool        `json:"accepted"`
	Matches  []evalMatch `json:"matches"`
	// Expected lists what the state accepts, when nothing matched.
	Expected []string `json:"expected,omitempty"`
}

type evalMatch struct {
	Kind    string      `json:"kind"` // call, transition or event
	State   string      `json:"state"`
	Rule    string      `json:"rule"`
	File    string      `json:"file"`
	Line    int         `json:"line"`
	Replies []evalReply `json:"replies,omitempty"`
	Next    string      `json:"next,omitempty"` // where a transition leads
	Vars    []string    `json:"variables,omitempty"`
}

type evalReply struct {
	Reply string `json:"reply"`
	Next  string `json:"next"` // the state it leads to; the same state for +anystate rules
}

func runEval(stdout, stderr io.Writer, f evalFlags, text string) error {
	if f.format != formatText && f.format != formatJSON {
		return usageErrorf("eval: unknown --format %q (want text or json)", f.format)
	}
	if f.contract == "" {
		return usageErrorf("eval: --contract FILE is required")
	}
	c, err := loadContract(stderr, "eval", f.contract, f.types)
	if err != nil {
		return err
	}
	msg, err := term.Parse(text)
	if err != nil {
		return usageErrorf("eval: TERM: %v", err)
	}
	state := f.state
	if state == "" {
		state = c.Initial
	}
	st := c.State(state)
	if st == nil && !(state == "" && len(c.Anystate) > 0) {
		return usageErrorf("eval: %s has no state %q (it has %s)", f.contract, state, strings.Join(contractStates(c), ", "))
	}
	m := checker.Prepare(c)
	res := evalMessage(m, st, state, msg)
	res.Contract = f.contract
	if f.format == formatJSON {
		if res.Matches == nil {
			res.Matches = []evalMatch{}
		}
		if err := writeJSON(stdout, res); err != nil {
			return fmt.Errorf("eval: writing json: %w", err)
		}
	} else {
		printEval(stdout, res)
	}
	if !res.Accepted {
		return &exitError{code: exitViolation}
	}
	return nil
}

// evalMessage finds what accepts msg in st: its call rules, then the
// +anystate ones, and its in transitions and events, then the +anystate
// ones.
func evalMessage(m *checker.Machine, st *contract.State, state string, msg term.Term) evalResult {
	c := m.Contract()
	res := evalResult{State: state, Message: msg.String()}
	var rules []*contract.Rule
	var events []*contract.Event
	if st != nil {
		rules, events = st.Rules, st.Events
	}
	match := func(rules []*contract.Rule, any bool) {
		for _, r := range rules {
			if !m.MatchShape(msg, r.In) {
				continue
			}
			em := evalMatch{Kind: "call", State: state, Rule: r.In.String(), File: r.Pos.File, Line: r.Pos.Line, Vars: varsOf(r.In)}
			if any {
				em.State = "+anystate"
			}
			for _, o := range r.Outs {
				next := o.Next
				if next == "" {
					next = state
				}
				em.Replies = append(em.Replies, evalReply{Reply: o.Type.String(), Next: next})
			}
			res.Matches = append(res.Matches, em)
		}
	}
	match(rules, false)
	if len(res.Matches) == 0 {
		match(c.Anystate, true)
	}
	matchEvents := func(events []*contract.Event, any bool) bool {
		found := false
		for _, e := range events {
			if e.Dir != contract.In || !m.MatchShape(msg, e.Type) {
				continue
			}
			kind, next := "event", e.Next
			if next == "" {
				next = state
			}
			if next != state {
				kind = "transition"
			}
			em := evalMatch{Kind: kind, State: state, Rule: "in " + e.Type.String(), File: e.Type.Position().File, Line: e.Type.Position().Line, Next: next, Vars: varsOf(e.Type)}
			if any {
				em.State = "+anystate"
			}
			res.Matches = append(res.Matches, em)
			found = true
		}
		return found
	}
	if !matchEvents(events, false) {
		matchEvents(c.AnyEvents, true)
	}
	res.Accepted = len(res.Matches) > 0
	if !res.Accepted {
		for _, r := range rules {
			res.Expected = append(res.Expected, r.In.String())
		}
		for _, r := range c.Anystate {
			res.Expected = append(res.Expected, r.In.String())
		}
		for _, e := range append(append([]*contract.Event(nil), events...), c.AnyEvents...) {
			if e.Dir == contract.In {
				res.Expected = append(res.Expected, "in "+e.Type.String())
			}
		}
	}
	return res
}

// varsOf lists the variables a type reads (not those it binds), in order.
func varsOf(t contract.Type) []string {
	var out []string
	contract.VisitType(t, func(t contract.Type) bool {
		if v, ok := t.(*contract.Var); ok {
			out = appendNew(out, v.Name)
		}
		return true
	})
	return out
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func contractStates(c *contract.Contract) []string {
	names := make([]string, 0, len(c.States))
	for _, st := range c.States {
		names = append(names, st.Name)
	}
	return names
}

func printEval(w io.Writer, res evalResult) {
	where := "state " + res.State
	if !res.Accepted {
		fmt.Fprintf(w, "%s is not accepted in %s; it accepts:\n", res.Message, where)
		for _, e := range res.Expected {
			fmt.Fprintf(w, "  %s\n", e)
		}
		return
	}
	for _, m := range res.Matches {
		by := "the rule"
		if m.State == "+anystate" {
			by = "the +anystate rule"
		}
		switch m.Kind {
		case "call":
			fmt.Fprintf(w, "in %s, %s is a request accepted by %s %s (%s:%d); the replies allowed:\n", where, res.Message, by, m.Rule, m.File, m.Line)
			for _, r := range m.Replies {
				fmt.Fprintf(w, "  %s -> %s\n", r.Reply, r.Next)
			}
		default:
			fmt.Fprintf(w, "in %s, %s is an in %s (%s:%d) to state %s\n", where, res.Message, m.Kind, m.File, m.Line, m.Next)
		}
		if len(m.Vars) > 0 {
			fmt.Fprintf(w, "  (variables %s: at run time they must hold what the conversation bound them to)\n", strings.Join(m.Vars, ", "))
		}
	}
}
