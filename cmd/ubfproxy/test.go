package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/checker/coverage"
	"github.com/ubfproxy/ubfproxy/internal/conformance"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

type testFlags struct {
	contract, wire, upstream, initial, out string
	types                                  []string
	sessions, steps                        int
	mutants                                bool
	seed                                   uint64
	seedSet                                bool
	timeout                                time.Duration
	coverage                               bool
}

func newTestCmd() *cobra.Command {
	var f testFlags
	cmd := &cobra.Command{
		Use:   "test --contract FILE --wire WIRE --upstream HOST:PORT [flags]",
		Short: "Test a live service against its contract with random conversations",
		Long: `test holds conversations with a running service, as a client would, and checks
everything the service sends against the contract. Each conversation is a
random walk through the contract from the initial state: at each step it
picks a request (or an in transition) the contract allows in the states the
conversation is in, with values generated from the types and the contract's
variables bound to what the service answered (the handle open returned is
the one read_line sends), sends it over the wire format, and checks the
reply and anything else the service sends.

The first message by which the service breaks the contract ends the run
(a reply not allowed, a reply due and not sent within --timeout, the
connection closed with a request unanswered). The conversation that shows
it is then shrunk: requests are left out, then their values generated
again smaller, as long as the service still breaks the contract the same
way, each try a new conversation. The result
is written as a trace (--out) that replay reproduces, with a "# contract:"
line, so that it can join the traces checked in CI.

A run is reproducible: --seed gives every conversation's values and
choices (a run prints its seed; without --seed it is taken from the
clock). At the end, test prints how much of the contract the conversations
covered (--coverage for the whole table).

--mutants adds as many conversations again (--sessions), each ending with
one off-spec request after a legal start: a request of another state, one with an element of the
wrong type, or a random term. It reports how the service answered each:
refused (an error reply, no reply, or the connection closed while the
service goes on accepting others), answered as if legal (a reply the
contract allows a legal request), or crashed (no longer accepts
connections). Mutants do not change the exit status.

Exit status: 0 when the service kept the contract in every conversation,
1 when it broke it, 2 for usage errors, a contract with errors, or a
service that cannot be reached.`,
		Example: `  # the demo's file server, kept running by demo --serve
  ubfproxy demo --serve 127.0.0.1:7000 &
  ubfproxy test --contract contracts/file.con --wire ubf --upstream 127.0.0.1:7000

  # a Redis, starting after AUTH, with off-spec requests too
  ubfproxy test --contract contracts/redis.con --wire resp --upstream 127.0.0.1:6379 \
      --initial ready --sessions 200 --mutants --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.seedSet = cmd.Flags().Changed("seed")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTest(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.contract, "contract", "", "the contract `FILE` the service must keep (required)")
	fl.StringArrayVar(&f.types, "types", nil, "contract `FILE` whose named types the contract may use (repeatable)")
	fl.StringVar(&f.wire, "wire", "ubf", "wire format: "+strings.Join(proxyWireNames(), ", "))
	fl.StringVar(&f.upstream, "upstream", "", "the service's `HOST:PORT` (required)")
	fl.StringVar(&f.initial, "initial", "", "start every conversation in `STATE` instead of the contract's initial state")
	fl.IntVar(&f.sessions, "sessions", 50, "number of conversations")
	fl.IntVar(&f.steps, "steps", 20, "most requests in one conversation")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the run's random choices, for reproducing it (default: from the clock)")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Second, "how long to wait for a reply that is due")
	fl.BoolVar(&f.mutants, "mutants", false, "then hold as many conversations again, each ending in an off-spec request")
	fl.StringVar(&f.out, "out", "", "write the shrunk failing conversation to this trace `FILE` (default ubfproxy-test-SEED.trace)")
	fl.BoolVar(&f.coverage, "coverage", false, "print the coverage table, not only its summary")
	return withFlagHint(cmd)
}

func runTest(ctx context.Context, stdout, stderr io.Writer, f testFlags) error {
	switch {
	case f.contract == "":
		return usageErrorf("test: --contract FILE is required")
	case f.upstream == "":
		return usageErrorf("test: --upstream HOST:PORT is required (the service to test)")
	case f.sessions < 1 || f.steps < 1:
		return usageErrorf("test: --sessions and --steps must be at least 1")
	}
	w, err := proxyWire(f.wire)
	if err != nil {
		return usageErrorf("test: unknown wire format %q (want %s)", f.wire, strings.Join(proxyWireNames(), ", "))
	}
	enc := clientEncoder(f.wire)
	c, err := loadContract(stderr, "test", f.contract, f.types)
	if err != nil {
		return err
	}
	m := checker.Prepare(c)
	if f.initial != "" && !m.HasState(f.initial) {
		return usageErrorf("test: --initial %s: %s has no such state", f.initial, f.contract)
	}
	if !f.seedSet {
		f.seed = uint64(time.Now().UnixNano())
	}
	fmt.Fprintf(stdout, "testing %s against %s over %s: %d conversations of up to %d requests, seed %d\n",
		f.contract, f.upstream, f.wire, f.sessions, f.steps, f.seed)
	mutants := 0
	if f.mutants {
		mutants = f.sessions
	}
	rep, err := conformance.Run(ctx, conformance.Config{
		Machine: m, Initial: f.initial, Wire: w, Encode: enc, Addr: f.upstream,
		Sessions: f.sessions, Steps: f.steps, Seed: f.seed, Timeout: f.timeout, Mutants: mutants,
	})
	if err != nil {
		return usageErrorf("test: %s: %v", f.upstream, err)
	}
	if f.coverage {
		io.WriteString(stdout, coverage.Table(rep.Coverage))
	} else {
		fmt.Fprintln(stdout, coverageLine(rep.Coverage))
	}
	if fl := rep.Failure; fl != nil {
		out := f.out
		if out == "" {
			out = fmt.Sprintf("ubfproxy-test-%d.trace", f.seed)
		}
		fmt.Fprintf(stdout, "FAIL: conversation %d: %s\n", fl.Session, fl.Error)
		fmt.Fprintf(stdout, "shrunk from %d to %s:\n", fl.Found, plural(fl.Shrunk, "client message"))
		for _, st := range fl.Steps {
			fmt.Fprintf(stdout, "  %s\n", traceText(st))
		}
		if err := writeFailureTrace(out, f, fl); err != nil {
			fmt.Fprintf(stderr, "ubfproxy: test: %v\n", err)
		} else {
			fmt.Fprintf(stdout, "written to %s; reproduce it with: ubfproxy replay %s\n", out, out)
		}
		return &exitError{code: exitViolation}
	}
	fmt.Fprintf(stdout, "ok: %s, %s, the service kept the contract\n", plural(f.sessions, "conversation"), plural(rep.Messages, "message"))
	if len(rep.Mutants) > 0 {
		printMutants(stdout, rep.Mutants)
	}
	return nil
}

// coverageLine is the summary of the coverage table.
func coverageLine(items []coverage.Item) string {
	t := coverage.Table(items)
	lines := strings.Split(strings.TrimSpace(t), "\n")
	return lines[len(lines)-1]
}

// traceText is a step as a trace line.
func traceText(st conformance.Step) string {
	s := st.Dir + " " + st.Term.String()
	if st.Next != "" {
		s += " x " + st.Next
	}
	return s
}

// writeFailureTrace writes the failing conversation as a trace that names
// its contract, relative to the trace's folder.
func writeFailureTrace(out string, f testFlags, fl *conformance.Failure) error {
	con := f.contract
	if absOut, err := filepath.Abs(filepath.Dir(out)); err == nil {
		if absCon, err := filepath.Abs(f.contract); err == nil {
			if rel, err := filepath.Rel(absOut, absCon); err == nil {
				con = filepath.ToSlash(rel)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# contract: %s\n", con)
	fmt.Fprintf(&b, "# Found by: ubfproxy test --contract %s --wire %s --seed %d (conversation %d), shrunk from %d to %d client messages.\n",
		f.contract, f.wire, f.seed, fl.Session, fl.Found, fl.Shrunk)
	fmt.Fprintf(&b, "# The last message breaks the contract: %s\n", strings.ReplaceAll(fl.Error, "\n", " "))
	for _, st := range fl.Steps {
		b.WriteString(traceText(st))
		b.WriteByte('\n')
	}
	if f.initial != "" {
		b.WriteString("# (starts in state " + f.initial + ": replay it with --initial " + f.initial + ")\n")
	}
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

func printMutants(w io.Writer, ms []conformance.Mutant) {
	counts := map[conformance.Outcome]int{}
	for _, m := range ms {
		counts[m.Outcome]++
	}
	fmt.Fprintf(w, "mutants: %s: %d refused, %d answered as if legal, %d crashed\n", plural(len(ms), "off-spec request"),
		counts[conformance.Refused], counts[conformance.AnsweredLegal], counts[conformance.Crashed])
	for _, m := range ms {
		if m.Outcome == conformance.Refused {
			continue
		}
		reply := "no reply"
		if m.Reply != nil {
			reply = m.Reply.String()
		}
		fmt.Fprintf(w, "  %s: %s in state %s after %s: %s\n", m.Outcome, term.Truncated(m.Request, 80),
			strings.Join(m.States, ", "), plural(len(m.Prefix), "message"), term.Truncated(termOrNil(m.Reply, reply), 80))
	}
}

func termOrNil(t term.Term, text string) term.Term {
	if t == nil {
		return term.Atom(text)
	}
	return t
}

// clientEncoder returns how a client writes a message on the wire called
// name: requests as they are, in transitions and events wrapped as the
// wire carries them.
func clientEncoder(name string) conformance.Encoder {
	return func(dst []byte, t term.Term, event bool) ([]byte, error) {
		marker := ">"
		if event {
			marker = ">!"
		}
		return appendWire(dst, name, wrappers.Client, marker, t)
	}
}
