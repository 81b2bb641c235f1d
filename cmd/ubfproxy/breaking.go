package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/compat"
	"github.com/ubfproxy/ubfproxy/contract"
)

type breakingFlags struct {
	againstGit string
	format     string
	types      []string
	disable    []string
	strict     bool
	traces     string
}

func newBreakingCmd() *cobra.Command {
	var f breakingFlags
	cmd := &cobra.Command{
		Use:   "breaking [--format text|json|sarif] [--traces DIR] OLD NEW | --against-git REF FILE...",
		Short: "Report what a new version of a contract breaks for old clients and old services",
		Long: `breaking compares two versions of a contract as state machines. It walks
both from their initial states over the conversations the old contract
allows, pairing states by what they accept (a renamed state is not a
change), and reports in each pair of states:

  breaks-client-request   (error)    a client message the old contract
                                     accepts and the new one refuses
  breaks-client-reply     (error)    a reply or server message the new
                                     contract allows and old clients do not
                                     expect
  breaks-service-request  (warning)  a client message the new contract
                                     accepts that an old service never had
                                     to handle
  breaks-service-reply    (warning)  a reply or server message an old
                                     service may send that the new contract
                                     refuses
  may-break               (warning)  a type whose inclusion in the other
                                     contract's could not be decided (two
                                     different patterns) and no sample
                                     message told apart

Each finding comes with the shortest conversation that shows it, as a trace
that replay reproduces: replay accepts it on one contract and reports the
violation at its last message on the other. --traces DIR writes each one to
a file.

With --against-git REF, each FILE is the new version and its old version is
read from git at REF (git show REF:FILE); a file that REF does not have is
new, and has nothing to break.

Exit status: 0 when no comparison finds an error (warnings are allowed unless
--strict), 1 when one does, 2 for usage errors, unreadable files and
contracts with errors.`,
		Example: `  # what the working copy of a contract breaks against main
  ubfproxy breaking --against-git main contracts/file.con

  # two versions side by side, with the traces written to a folder
  ubfproxy breaking --traces breaks/ v1/file.con v2/file.con
  ubfproxy replay --contract v1/file.con breaks/001-breaks-client-request.trace

  # for GitHub code scanning
  ubfproxy breaking --format sarif --against-git origin/main contracts/*.con`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.againstGit == "" && len(args) != 2:
				return usageErrorf("breaking: name the OLD and the NEW contract, or --against-git REF and the contract files")
			case f.againstGit != "" && len(args) == 0:
				return usageErrorf("breaking: --against-git %s: name at least one contract file", f.againstGit)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBreaking(cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.againstGit, "against-git", "", "read each file's old version from git at `REF`")
	fl.StringVar(&f.format, "format", formatText, "output format: text, json or sarif")
	fl.StringArrayVar(&f.types, "types", nil, "contract `FILE` whose named types both versions may use (repeatable)")
	fl.StringSliceVar(&f.disable, "disable", nil, "do not report findings of this `CODE` (a warning; repeatable, or comma-separated)")
	fl.BoolVar(&f.strict, "strict", false, "treat warnings as errors (exit status 1)")
	fl.StringVar(&f.traces, "traces", "", "write each finding's conversation to a trace file in `DIR`")
	return withFlagHint(cmd)
}

// comparison is the result of one pair of versions; the JSON names are
// part of the CLI's interface.
type comparison struct {
	Old       string            `json:"old"`
	New       string            `json:"new"`
	Pairs     int               `json:"pairs"`
	Truncated bool              `json:"truncated"`
	Findings  []breakingFinding `json:"findings"`
}

type breakingFinding struct {
	finding
	Breaks    contract.Code `json:"breaks,omitempty"`
	OldStates []string      `json:"old_states"`
	NewStates []string      `json:"new_states"`
	Role      string        `json:"role"`
	Type      string        `json:"type"`
	Trace     []string      `json:"trace"`
	Replay    replayVerdict `json:"replay"`
	TraceFile string        `json:"trace_file,omitempty"`

	// in is the file that holds the contract whose type the finding names,
	// for SARIF when it is a git version.
	in string
}

type replayVerdict struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// version is one contract to compare: its text and the name it is known by.
type version struct {
	name string // as the output names it
	src  []byte
	// path is the file the version is compiled as, which +import paths
	// are relative to: for a git version, the working copy's path.
	path string
}

func runBreaking(stdout, stderr io.Writer, f breakingFlags, args []string) error {
	switch f.format {
	case formatText, formatJSON, formatSARIF:
	default:
		return usageErrorf("breaking: unknown --format %q (want text, json or sarif)", f.format)
	}
	disable, err := disabledCodes("breaking", "docs/breaking.md", f.disable)
	if err != nil {
		return err
	}
	if err := checkReadable(f.types); err != nil {
		return usageErrorf("breaking: %v", err)
	}
	var pairs [][2]version
	if f.againstGit == "" {
		var vs [2]version
		for i, name := range args {
			src, err := os.ReadFile(name)
			if err != nil {
				return usageErrorf("breaking: %v", describePathError(name, err))
			}
			vs[i] = version{name: name, src: src, path: name}
		}
		pairs = append(pairs, vs)
	} else {
		for _, name := range args {
			src, err := os.ReadFile(name)
			if err != nil {
				return usageErrorf("breaking: %v", describePathError(name, err))
			}
			old, ok, err := gitShow(f.againstGit, name)
			if err != nil {
				return usageErrorf("breaking: --against-git %s: %v", f.againstGit, err)
			}
			if !ok {
				fmt.Fprintf(stderr, "ubfproxy: breaking: %s is new since %s: nothing to compare\n", name, f.againstGit)
				continue
			}
			pairs = append(pairs, [2]version{{name: f.againstGit + ":" + name, src: old, path: name}, {name: name, src: src, path: name}})
		}
	}

	var results []comparison
	var errs, warns int
	n := 0
	for _, p := range pairs {
		oldC, err := compileVersion(p[0], f.types, stderr)
		if err != nil {
			return err
		}
		newC, err := compileVersion(p[1], f.types, stderr)
		if err != nil {
			return err
		}
		res := compat.Compare(oldC, newC, compat.Options{})
		cmp := comparison{Old: p[0].name, New: p[1].name, Pairs: res.Pairs, Truncated: res.Truncated, Findings: []breakingFinding{}}
		for _, fd := range res.Findings {
			if slices.Contains(disable, fd.Code) {
				continue
			}
			n++
			bf := toBreakingFinding(fd, p)
			if f.traces != "" {
				path, err := writeTrace(f.traces, n, fd, p)
				if err != nil {
					return fmt.Errorf("breaking: %w", err)
				}
				bf.TraceFile = path
			}
			if bf.isError() {
				errs++
			} else {
				warns++
			}
			cmp.Findings = append(cmp.Findings, bf)
		}
		results = append(results, cmp)
	}

	switch f.format {
	case formatText:
		for _, c := range results {
			for _, bf := range c.Findings {
				fmt.Fprintln(stdout, bf.text())
				for _, line := range bf.Trace {
					fmt.Fprintf(stdout, "\t%s\n", line)
				}
			}
			more := ""
			if c.Truncated {
				more = ", stopped at a bound: some pairs were not compared"
			}
			fmt.Fprintf(stderr, "%s -> %s: %s of states compared%s\n", c.Old, c.New, plural(c.Pairs, "pair"), more)
		}
		s := fmt.Sprintf("%s compared, %s, %s", plural(len(results), "contract"), plural(errs, "error"), plural(warns, "warning"))
		if f.strict && warns > 0 {
			s += " (warnings fail with --strict)"
		}
		fmt.Fprintln(stderr, s)
	case formatJSON:
		if results == nil {
			results = []comparison{}
		}
		if err := writeJSON(stdout, results); err != nil {
			return fmt.Errorf("breaking: writing json: %w", err)
		}
	case formatSARIF:
		var all []finding
		for _, c := range results {
			for _, bf := range c.Findings {
				fd := bf.finding
				if bf.in != fd.File {
					// A git version is not a file a viewer can open: point
					// at the working copy, without a line.
					fd.File, fd.Line, fd.Column = bf.in, 0, 0
				}
				all = append(all, fd)
			}
		}
		if err := writeSARIFFor(stdout, all, true, "breaking"); err != nil {
			return fmt.Errorf("breaking: writing sarif: %w", err)
		}
	}
	if errs > 0 || f.strict && warns > 0 {
		return &exitError{code: exitViolation}
	}
	return nil
}

// compileVersion compiles one version; a contract with errors cannot be
// compared.
func compileVersion(v version, types []string, stderr io.Writer) (*contract.Contract, error) {
	c, diags := contract.Compile(v.path, v.src, contract.Options{TypeFiles: types})
	if diags.HasErrors() || c == nil {
		for _, d := range sortDiagnostics(diags) {
			if d.Severity == contract.Error {
				if d.Pos.File == v.path {
					d.Pos.File = v.name
				}
				fmt.Fprintln(stderr, d.Error())
			}
		}
		return nil, usageErrorf("breaking: %s has errors; see ubfproxy check", v.name)
	}
	return c, nil
}

func toBreakingFinding(fd compat.Finding, p [2]version) breakingFinding {
	old, new := fd.Verdicts()
	bf := breakingFinding{
		finding: finding{
			File:     fd.Pos.File,
			Line:     fd.Pos.Line,
			Column:   fd.Pos.Column,
			Severity: fd.Severity().String(),
			Code:     fd.Code,
			Message:  fd.Summary(),
		},
		Breaks:    fd.Breaks,
		OldStates: fd.OldStates,
		NewStates: fd.NewStates,
		Role:      fd.Role,
		Type:      fd.Type,
		Trace:     []string{},
		Replay:    replayVerdict{Old: old, New: new},
		in:        p[1].name,
	}
	if fd.InOld {
		if p[0].name == p[0].path {
			bf.in = p[0].name
		}
		if bf.File == p[0].path {
			// The old version as the output names it (REF:FILE).
			bf.File = p[0].name
		}
	}
	if bf.File == "" {
		// A built-in type has no position: name the contract.
		bf.File = p[1].name
		if fd.InOld {
			bf.File = p[0].name
		}
	}
	for _, st := range fd.Trace {
		bf.Trace = append(bf.Trace, st.String())
	}
	return bf
}

// writeTrace writes a finding's conversation as DIR/NNN-CODE.trace.
func writeTrace(dir string, n int, fd compat.Finding, p [2]version) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("--traces: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%03d-%s.trace", n, fd.Code))
	var b bytes.Buffer
	fmt.Fprintf(&b, "# old: %s\n# new: %s\n", p[0].name, p[1].name)
	b.WriteString(fd.TraceText())
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("--traces: %w", err)
	}
	return path, nil
}

// text is the finding as one line, as check prints them.
func (bf breakingFinding) text() string { return bf.finding.text() }

// gitShow reads file as it is at ref, in the repository that holds it;
// ok is false when ref does not have the file.
func gitShow(ref, file string) (src []byte, ok bool, err error) {
	dir, base := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	// Does ref exist at all? An unknown ref is a usage error, not a new file.
	verify := exec.Command("git", "-C", dir, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if out, err := verify.CombinedOutput(); err != nil {
		if len(bytes.TrimSpace(out)) > 0 {
			return nil, false, fmt.Errorf("%s", bytes.TrimSpace(out))
		}
		return nil, false, fmt.Errorf("no commit named %s in the repository of %s", ref, file)
	}
	// REF:./path is relative to the folder git runs in.
	cmd := exec.Command("git", "-C", dir, "show", ref+":./"+base)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := stderr.String()
		if strings.Contains(msg, "does not exist") || strings.Contains(msg, "exists on disk, but not in") {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("git show %s:%s: %s", ref, file, strings.TrimSpace(msg))
	}
	return out, true, nil
}
