package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/checker/coverage"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
)

type replayFlags struct {
	contract    string
	types       []string
	initial     string
	format      string
	coverage    bool
	minCoverage float64
}

func newReplayCmd() *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay [--contract FILE] [--types FILE]... [--initial STATE] [--format text|json] [--coverage] [--min-coverage PERCENT] TRACE|FOLDER...",
		Short: "Check recorded conversations against a contract",
		Long: `replay checks recorded conversations (traces) against a contract, offline,
exactly as the proxy would check them live: each trace starts a fresh session
in the initial state, and every message must be legal where it occurs.

A trace is a text file with one message per line, in the literal term notation:

  # a comment                       (lines starting with #, and blank lines)
  > {open, "foo.dat", read}          client to server: a request
  < {ok, 7}                          server to client: the reply
  < {ok, 7} x ready                  a reply with the next state the server
                                     announced (as UBF(C) carries it)
  <! {msg, "joe", "hi"}              server to client, unasked: an out
                                     transition or event (a greeting too)
  >! ping                            client to server, unasked: an in
                                     transition or event

A comment may also end a message line (after # or %). Replies answer requests
in order, so a trace may pipeline: several requests, then their replies. TRACE
may be - for standard input.

> and < lines are read as the proxy reads a wire that does not mark events:
the contract decides. A > line is a request if a call rule of the current
states accepts it, else an in transition or event; a < line is the reply to
the oldest pending request if it matches one of that request's replies, else
an out transition or event (so FTP's 150 reply and the 226 after it may both
be written <). >! and <! lines are always transitions or events, never
requests or replies. A violation that involves variables names the values
they were bound to and the trace line that bound them.

A TRACE may be a folder: it stands for every *.trace file below it, in
lexical order. A trace names its contract in a comment line of its own,
"# contract: FILE", FILE relative to the trace's folder; --contract is the
contract of the traces that name none. Each contract is loaded once.

--coverage reports, per contract, how often the traces exercised each part
of it: every rule (its request was sent), every reply alternative of a rule,
every transition and every event, +anystate ones included, as a table after
the verdicts (or under "coverage" in JSON), with the share of items
exercised at least once. --min-coverage PERCENT fails (exit 1) when a
contract's share is below PERCENT.

A trace may stop anywhere: ending in a non-terminal state, or with requests
unanswered, is not a violation (recordings are often cut). A message after
the conversation reached a terminal state (stop) is one.

Exit status: 0 when every trace conforms, 1 when a trace breaks the contract
or a contract's coverage is below --min-coverage
(each violation is printed as trace-file:line: who broke the contract in
which state, the message, why, and the types that were expected), 2 for
usage errors, unreadable files, a contract with errors, or a malformed trace
line (named by file:line:column).`,
		Example: `  # check the example conversation of the file server (CI friendly)
  ubfproxy replay --contract contracts/file.con contracts/file.trace

  # every trace below contracts/, each against the contract its
  # "# contract:" line names; fail below 80% coverage
  ubfproxy replay --coverage --min-coverage 80 contracts/

  # several traces, machine-readable results
  ubfproxy replay --contract service.con --format json traces/*.trace`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("replay: name at least one trace file (or - for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.contract, "contract", "", "the contract `FILE` to check against (required)")
	fl.StringArrayVar(&f.types, "types", nil, "contract `FILE` whose named types the contract may use (repeatable)")
	fl.StringVar(&f.initial, "initial", "", "start every trace in `STATE` instead of the contract's initial state")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.BoolVar(&f.coverage, "coverage", false, "report how often the traces exercised each rule, reply, transition and event")
	fl.Float64Var(&f.minCoverage, "min-coverage", 0, "exit with status 1 when a contract's coverage is below `PERCENT` (implies --coverage)")
	return withFlagHint(cmd)
}

// Directions of trace lines.
const (
	dirCall     = ">"
	dirReply    = "<"
	dirEventOut = "<!"
	dirEventIn  = ">!"
)

// traceLine is one message of a trace.
type traceLine struct {
	line     int
	dir      string
	msg      term.Term
	next     string // announced next state of a reply, "" when none
	hasState bool
}

// traceError is a malformed trace line.
type traceError struct {
	file      string
	line, col int
	msg       string
}

func (e *traceError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.col, e.msg)
}

// parseTrace reads the trace notation of section 6 of the language.
func parseTrace(file string, src []byte) ([]traceLine, error) {
	var out []traceLine
	for i, raw := range strings.Split(string(src), "\n") {
		n := i + 1
		text := strings.TrimRight(raw, "\r")
		body := strings.TrimLeft(text, " \t")
		indent := len(text) - len(body)
		if body == "" || body[0] == '#' {
			continue
		}
		fail := func(at int, format string, args ...any) error {
			return &traceError{file: file, line: n, col: indent + at + 1, msg: fmt.Sprintf(format, args...)}
		}
		var dir string
		switch {
		case strings.HasPrefix(body, dirEventOut):
			dir = dirEventOut
		case strings.HasPrefix(body, dirEventIn):
			dir = dirEventIn
		case strings.HasPrefix(body, dirCall):
			dir = dirCall
		case strings.HasPrefix(body, dirReply):
			dir = dirReply
		default:
			return nil, fail(0, "a line must start with > (request), < (reply), >! (client event) or <! (server event); # starts a comment")
		}
		rest := body[len(dir):]
		// "#{" starts a map term; any other "#" starts a comment.
		if r := strings.TrimLeft(rest, " \t"); r == "" || r[0] == '#' && !strings.HasPrefix(r, "#{") {
			return nil, fail(len(dir), "expected a term after %s", dir)
		}
		msg, after, err := term.ParsePrefix(rest)
		if err != nil {
			var se *term.SyntaxError
			if errors.As(err, &se) {
				return nil, fail(len(dir)+se.Offset, "%s", se.Msg)
			}
			return nil, fail(len(dir), "%v", err)
		}
		tl := traceLine{line: n, dir: dir, msg: msg}
		pos := len(body) - len(after) // offset of what follows the term
		after, pos = traceSkipBlanks(after, pos)
		if strings.HasPrefix(after, "x ") || strings.HasPrefix(after, "x\t") || after == "x" {
			if dir != dirReply {
				return nil, fail(pos, "only a reply (<) may name the next state the server announced")
			}
			after, pos = traceSkipBlanks(after[1:], pos+1)
			name := after
			if k := strings.IndexAny(after, " \t#%"); k >= 0 {
				name = after[:k]
			}
			if name == "" {
				return nil, fail(pos, "expected a state name after x")
			}
			tl.next, tl.hasState = name, true
			after, pos = traceSkipBlanks(after[len(name):], pos+len(name))
		}
		if after != "" && after[0] != '#' && after[0] != '%' {
			return nil, fail(pos, "unexpected %q after the message (a comment starts with # or %%)", traceFirstWord(after))
		}
		out = append(out, tl)
	}
	return out, nil
}

func traceSkipBlanks(s string, pos int) (string, int) {
	t := strings.TrimLeft(s, " \t")
	return t, pos + len(s) - len(t)
}

func traceFirstWord(s string) string {
	if k := strings.IndexAny(s, " \t"); k >= 0 {
		return s[:k]
	}
	return s
}

// traceResult is the outcome of one trace; the JSON names are part of the
// CLI's interface.
type traceResult struct {
	File      string           `json:"file"`
	Contract  string           `json:"contract,omitempty"` // the contract it was checked against
	OK        bool             `json:"ok"`
	Messages  int              `json:"messages"` // messages checked (up to the violation)
	States    []string         `json:"states"`   // where the session ended (or broke)
	Done      bool             `json:"done"`     // reached a terminal state
	Pending   int              `json:"pending"`  // requests left unanswered
	Violation *violationResult `json:"violation,omitempty"`
	Error     string           `json:"error,omitempty"` // unreadable or malformed trace
}

type violationResult struct {
	Line        int      `json:"line"`
	Side        string   `json:"side"`
	Kind        string   `json:"kind"`
	States      []string `json:"states"`
	Message     string   `json:"message,omitempty"`
	Request     string   `json:"request,omitempty"`
	Explanation string   `json:"explanation"`
	Expected    []string `json:"expected"`
	Error       string   `json:"error"`
}

type replayReport struct {
	Contract string          `json:"contract"`
	OK       bool            `json:"ok"`
	Traces   []traceResult   `json:"traces"`
	Coverage []contractCover `json:"coverage,omitempty"`
}

// contractCover is the coverage of one contract by the traces replayed
// against it.
type contractCover struct {
	Contract string                             `json:"contract"`
	Traces   int                                `json:"traces"`
	Summary  map[coverage.Kind]coverage.Summary `json:"summary"`
	Items    []coverage.Item                    `json:"items"`
	tracker  *coverage.Tracker
}

// replayContract is a contract loaded for replay, once however many
// traces name it.
type replayContract struct {
	file  string
	m     *checker.Machine
	cover *contractCover
}

// traceHeader finds the "# contract: FILE" line of a trace: FILE is the
// trace's contract, relative to the folder of the trace.
var traceHeader = regexp.MustCompile(`(?m)^#[ \t]*contract:[ \t]*(\S+)[ \t]*\r?$`)

// traceExt is the extension of trace files looked for below folders.
const traceExt = ".trace"

func runReplay(stdin io.Reader, stdout, stderr io.Writer, f replayFlags, args []string) error {
	if f.format != "text" && f.format != "json" {
		return usageErrorf("replay: unknown --format %q (want text or json)", f.format)
	}
	if f.minCoverage < 0 || f.minCoverage > 100 {
		return usageErrorf("replay: --min-coverage %g: give a percentage from 0 to 100", f.minCoverage)
	}
	if f.minCoverage > 0 {
		f.coverage = true
	}
	files, err := expandTracePaths(args)
	if err != nil {
		return usageErrorf("replay: %v", err)
	}
	if err := checkReadable(f.types); err != nil {
		return usageErrorf("replay: %v", err)
	}
	contracts := map[string]*replayContract{}
	var order []*replayContract
	// load returns the contract at file, loading it the first time.
	load := func(file string) (*replayContract, error) {
		key := filepath.Clean(file)
		if rc, ok := contracts[key]; ok {
			return rc, nil
		}
		m, err := loadReplayContract(stderr, file, f)
		if err != nil {
			return nil, err
		}
		rc := &replayContract{file: file, m: m}
		if f.coverage {
			rc.cover = &contractCover{Contract: file, tracker: coverage.New(m)}
		}
		contracts[key] = rc
		order = append(order, rc)
		return rc, nil
	}
	if f.contract != "" {
		if _, err := load(f.contract); err != nil {
			return err
		}
	}

	report := replayReport{Contract: f.contract, OK: true}
	malformed := false
	usedStdin := false
	for _, file := range files {
		res := traceResult{File: file}
		var src []byte
		if file == "-" {
			if usedStdin {
				return usageErrorf("replay: - (standard input) may be named once")
			}
			usedStdin = true
			res.File = "<stdin>"
			src, err = io.ReadAll(stdin)
		} else {
			src, err = os.ReadFile(file)
			if err != nil {
				err = describePathError(file, err)
			}
		}
		var lines []traceLine
		if err == nil {
			lines, err = parseTrace(res.File, src)
		}
		var rc *replayContract
		if err == nil {
			rc, err = traceContractOf(file, src, f.contract, load)
		}
		if err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				return err
			}
			malformed = true
			report.OK = false
			res.Error = err.Error()
			report.Traces = append(report.Traces, res)
			fmt.Fprintf(stderr, "ubfproxy: replay: %v\n", err)
			continue
		}
		res.Contract = rc.file
		var tracker *coverage.Tracker
		if rc.cover != nil {
			rc.cover.Traces++
			tracker = rc.cover.tracker
			tracker.Reset()
		}
		if err := replayTrace(rc.m, f.initial, lines, tracker, &res); err != nil {
			return err
		}
		if !res.OK {
			report.OK = false
		}
		report.Traces = append(report.Traces, res)
	}

	var below []string
	for _, rc := range order {
		if rc.cover == nil {
			continue
		}
		c := rc.cover
		c.Items = c.tracker.Items()
		c.Summary = coverage.Summarize(c.Items)
		report.Coverage = append(report.Coverage, *c)
		if p := c.Summary[coverage.All].Percent; f.minCoverage > 0 && p < f.minCoverage {
			below = append(below, fmt.Sprintf("%s: coverage %.1f%% is below --min-coverage %g%%", c.Contract, p, f.minCoverage))
		}
	}

	switch f.format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("replay: writing the report: %w", err)
		}
	default:
		for _, res := range report.Traces {
			if res.Error == "" {
				printTraceResult(stdout, res)
			}
		}
		for _, c := range report.Coverage {
			fmt.Fprintf(stdout, "\n%s: coverage by %s\n", c.Contract, plural(c.Traces, "trace"))
			io.WriteString(stdout, coverage.Table(c.Items))
		}
	}
	for _, b := range below {
		fmt.Fprintf(stderr, "ubfproxy: replay: %s\n", b)
	}
	switch {
	case malformed:
		return &exitError{code: exitUsage}
	case !report.OK, len(below) > 0:
		return &exitError{code: exitViolation}
	}
	return nil
}

// loadReplayContract compiles a contract for replay; a contract that
// cannot be read or has errors is a usage error.
func loadReplayContract(stderr io.Writer, file string, f replayFlags) (*checker.Machine, error) {
	if err := checkReadable([]string{file}); err != nil {
		return nil, usageErrorf("replay: %v", err)
	}
	c, diags, err := contract.Load(file, contract.Options{TypeFiles: f.types})
	if err != nil {
		return nil, usageErrorf("replay: %v", err)
	}
	if diags.HasErrors() || c == nil {
		for _, d := range diags {
			if d.Severity == contract.Error {
				fmt.Fprintln(stderr, d.Error())
			}
		}
		return nil, usageErrorf("replay: %s has errors; see ubfproxy check %s", file, file)
	}
	m := checker.Prepare(c)
	if f.initial != "" && !m.HasState(f.initial) {
		names := make([]string, 0, len(c.States))
		for _, st := range c.States {
			names = append(names, st.Name)
		}
		return nil, usageErrorf("replay: --initial %s: %s has no such state (it has %s)", f.initial, file, strings.Join(names, ", "))
	}
	return m, nil
}

// traceContractOf returns the contract a trace is checked against: the one
// its "# contract: FILE" line names, relative to the trace, or else
// --contract.
func traceContractOf(file string, src []byte, given string, load func(string) (*replayContract, error)) (*replayContract, error) {
	if m := traceHeader.FindSubmatch(src); m != nil && file != "-" {
		name := string(m[1])
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(file), name)
		}
		return load(name)
	}
	if given == "" {
		return nil, fmt.Errorf("%s: no contract: give --contract FILE, or start the trace with a line \"# contract: FILE\"", file)
	}
	return load(given)
}

// replayTrace checks the lines of one trace in a fresh session, counting
// what they exercise in tracker (nil: no coverage).
func replayTrace(m *checker.Machine, initial string, lines []traceLine, tracker *coverage.Tracker, res *traceResult) error {
	s, err := m.NewSession(checker.Options{Initial: initial})
	if err != nil {
		return usageErrorf("replay: %v", err)
	}
	res.OK = true
	// seqLines[i] is the trace line of the session's message i+1, for
	// saying where a variable was bound.
	var seqLines []int
	for _, tl := range lines {
		res.Messages++
		seqLines = append(seqLines, tl.line)
		var before []string
		if tracker != nil {
			before = s.States()
		}
		role, v := replayStep(s, tl)
		if v != nil {
			res.OK = false
			res.Violation = describeViolation(tl.line, v, func(seq int) string {
				if seq < 1 || seq > len(seqLines) {
					return ""
				}
				return fmt.Sprintf("at line %d", seqLines[seq-1])
			})
			break
		}
		if tracker != nil {
			tracker.Observe(before, tl.dir == dirCall || tl.dir == dirEventIn, role, tl.msg)
		}
	}
	res.States, res.Done, res.Pending = s.States(), s.Done(), s.Pending()
	return nil
}

// expandTracePaths turns the TRACE... arguments into files: a file (or -)
// stands for itself, a folder for every *.trace file below it, in lexical
// order, skipping folders whose name starts with a dot. A folder without
// traces is an error.
func expandTracePaths(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		if arg == "-" {
			files = append(files, arg)
			continue
		}
		info, err := os.Stat(arg)
		if err != nil || !info.IsDir() {
			files = append(files, arg) // reported when read
			continue
		}
		found, err := filesBelow(arg, traceExt)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	return files, nil
}

// replayStep checks one message: > and < lines are classified by the
// contract (as on a wire that does not mark events), >! and <! lines are
// transitions or events.
func replayStep(s *checker.Session, tl traceLine) (checker.Role, *checker.Violation) {
	switch tl.dir {
	case dirCall:
		return s.Client(tl.msg)
	case dirReply:
		if tl.hasState {
			return checker.RoleReply, s.ReplyState(tl.msg, tl.next)
		}
		return s.Server(tl.msg)
	case dirEventIn:
		return checker.RoleTransition, s.EventIn(tl.msg)
	default:
		return checker.RoleTransition, s.EventOut(tl.msg)
	}
}

// describeViolation is v as the report shows it; place says where the
// message numbered seq was (the line that bound a variable).
func describeViolation(line int, v *checker.Violation, place func(seq int) string) *violationResult {
	out := &violationResult{
		Line:        line,
		Side:        v.Side.String(),
		Kind:        v.Kind.String(),
		States:      v.States,
		Explanation: v.Explanation,
		Expected:    v.ExpectedStrings(),
		Error:       v.Describe(place),
	}
	if v.Message != nil {
		out.Message = v.Message.String()
	}
	if v.Request != nil {
		out.Request = v.Request.String()
	}
	if out.States == nil {
		out.States = []string{}
	}
	return out
}

// maxExpectedShown bounds the expected types text output lists.
const maxExpectedShown = 12

func printTraceResult(w io.Writer, res traceResult) {
	if v := res.Violation; v != nil {
		fmt.Fprintf(w, "%s:%d: %s\n", res.File, v.Line, v.Error)
		switch len(v.Expected) {
		case 0:
		case 1:
			fmt.Fprintf(w, "\texpected: %s\n", v.Expected[0])
		default:
			fmt.Fprintf(w, "\texpected one of:\n")
			for i, e := range v.Expected {
				if i == maxExpectedShown {
					fmt.Fprintf(w, "\t\t... and %d more\n", len(v.Expected)-i)
					break
				}
				fmt.Fprintf(w, "\t\t%s\n", e)
			}
		}
		return
	}
	where := "state"
	if len(res.States) > 1 {
		where = "states"
	}
	extra := ""
	if res.Pending > 0 {
		extra = fmt.Sprintf(", %d %s unanswered", res.Pending, replayPlural(res.Pending, "request", "requests"))
	}
	fmt.Fprintf(w, "%s: ok, %d %s, ends in %s %s%s\n", res.File, res.Messages,
		replayPlural(res.Messages, "message", "messages"), where, strings.Join(res.States, ", "), extra)
}

func replayPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
