package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/internal/suggest"
)

// Output formats of check.
const (
	formatText  = "text"
	formatJSON  = "json"
	formatSARIF = "sarif"
)

type checkFlags struct {
	strict  bool
	format  string
	types   []string
	disable []string
}

func newCheckCmd() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check [--strict] [--format text|json|sarif] [--types FILE]... PATH...",
		Short: "Validate contract files and report errors and warnings",
		Long: `check compiles contracts and reports every finding of the language's static
checks: syntax errors, types or states used but not defined, duplicate
definitions, bad ranges and attributes (errors), and unused types, unreachable
states, overlapping rules and the like (warnings).

A PATH is a contract file or a folder; a folder stands for every *.con file
below it, in lexical order (folders starting with a dot are skipped). A PATH
of - reads one contract from standard input.

Output formats:
  text   one line per finding, file:line:col: error|warning: message [code],
         as go vet prints them, and a summary line on stderr
  json   an array of {file, line, column, severity, code, message}; [] if clean
  sarif  SARIF 2.1.0, for GitHub code scanning (upload-sarif) and other tools

A --types file or +import that cannot be read is an error finding (code
import) of the contract that names it.

Warnings can be turned off: --disable CODE for every contract checked, or a
comment on the line before the finding for that finding alone:

  % ubfproxy:ignore overlapping-rules: the service answers "all" like any key

A suppression must give its reason after the colon; one that suppresses
nothing is itself a warning (unused-suppression). Errors cannot be turned
off. Every code has a page under docs/codes/.

Exit status: 0 when no contract has errors (warnings are allowed unless
--strict), 1 when a contract has errors (or warnings with --strict), 2 for
usage errors and files that cannot be read.`,
		Example: `  # check every contract of the repository, failing on warnings too
  ubfproxy check --strict contracts/

  # a contract that uses the named types of another one
  ubfproxy check --types contracts/types.con contracts/service.con

  # from an editor: the buffer on standard input
  ubfproxy check --format json - < contracts/file.con

  # every warning but overlapping rules fails the job
  ubfproxy check --strict --disable overlapping-rules contracts/

  # findings for GitHub code scanning
  ubfproxy check --format sarif contracts/ > ubfproxy.sarif`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("check: name at least one contract file or folder (for example: ubfproxy check contracts/)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.strict, "strict", false, "treat warnings as errors (exit status 1)")
	fl.StringVar(&f.format, "format", formatText, "output format: text, json or sarif")
	fl.StringArrayVar(&f.types, "types", nil, "contract `FILE` whose named types every checked contract may use (repeatable)")
	fl.StringSliceVar(&f.disable, "disable", nil, "do not report warnings of this `CODE` (repeatable, or comma-separated)")
	return withFlagHint(cmd)
}

// finding is one diagnostic as check reports it; the JSON field names are
// part of the CLI's interface.
type finding struct {
	File     string        `json:"file"`
	Line     int           `json:"line"`
	Column   int           `json:"column"`
	Severity string        `json:"severity"`
	Code     contract.Code `json:"code"`
	Message  string        `json:"message"`
}

func (f finding) isError() bool { return f.Severity == contract.Error.String() }

func (f finding) severity() contract.Severity {
	if f.isError() {
		return contract.Error
	}
	return contract.Warning
}

func runCheck(stdin io.Reader, stdout, stderr io.Writer, f checkFlags, args []string) error {
	switch f.format {
	case formatText, formatJSON, formatSARIF:
	default:
		return usageErrorf("check: unknown --format %q (want text, json or sarif)", f.format)
	}
	disable, err := disabledCodes("check", "docs/codes/", f.disable)
	if err != nil {
		return err
	}
	// "-" is a contract read from standard input (for editors); it is
	// checked first, whatever its place among the arguments.
	var paths []string
	fromStdin := false
	for _, a := range args {
		if a == "-" {
			fromStdin = true
		} else {
			paths = append(paths, a)
		}
	}
	var files []string
	if len(paths) > 0 {
		if files, err = expandPaths(paths); err != nil {
			return usageErrorf("check: %v", err)
		}
	}

	var (
		findings   []finding
		seen       = make(map[finding]bool)
		checked    int
		unreadable bool
	)
	opts := contract.Options{TypeFiles: f.types, Disable: disable}
	// A finding in a --types file would otherwise be repeated for every
	// contract that uses it.
	record := func(diags contract.Diagnostics) {
		checked++
		for _, d := range sortDiagnostics(diags) {
			fd := finding{
				File:     d.Pos.File,
				Line:     d.Pos.Line,
				Column:   d.Pos.Column,
				Severity: d.Severity.String(),
				Code:     d.Code,
				Message:  d.Message,
			}
			if !seen[fd] {
				seen[fd] = true
				findings = append(findings, fd)
			}
		}
	}
	if fromStdin {
		src, err := io.ReadAll(stdin)
		if err != nil {
			return usageErrorf("check: reading standard input: %w", err)
		}
		_, diags := contract.Compile(stdinName, src, opts)
		record(diags)
	}
	for _, file := range files {
		_, diags, err := contract.Load(file, opts)
		if err != nil && diags == nil {
			// The contract itself cannot be read; an unreadable --types
			// file or +import is a finding in diags.
			fmt.Fprintf(stderr, "ubfproxy: check: %v\n", err)
			unreadable = true
			continue
		}
		record(diags)
	}

	var errs, warns int
	for _, fd := range findings {
		if fd.isError() {
			errs++
		} else {
			warns++
		}
	}

	switch f.format {
	case formatText:
		for _, fd := range findings {
			fmt.Fprintln(stdout, fd.text())
		}
		fmt.Fprintln(stderr, checkSummary(checked, errs, warns, f.strict))
	case formatJSON:
		if findings == nil {
			findings = []finding{}
		}
		if err := writeJSON(stdout, findings); err != nil {
			return fmt.Errorf("check: writing json: %w", err)
		}
	case formatSARIF:
		if err := writeSARIF(stdout, findings, !unreadable); err != nil {
			return fmt.Errorf("check: writing sarif: %w", err)
		}
	}

	switch {
	case unreadable:
		return &exitError{code: exitUsage}
	case errs > 0, f.strict && warns > 0:
		return &exitError{code: exitViolation}
	}
	return nil
}

// text formats a finding as go vet does, with its code at the end for
// --disable and ubfproxy:ignore. It mirrors contract.Diagnostic.Error so
// that the JSON and text outputs can come from one list.
func (f finding) text() string {
	d := contract.Diagnostic{
		Pos:      contract.Pos{File: f.File, Line: f.Line, Column: f.Column},
		Severity: f.severity(),
		Message:  f.Message,
	}
	return d.Error() + " [" + string(f.Code) + "]"
}

// disabledCodes checks the codes given to --disable of command (check or
// breaking): each must be the code of a warning that command reports; docs
// is where the user finds that command's codes.
func disabledCodes(command, docs string, names []string) ([]contract.Code, error) {
	var codes []contract.Code
	for _, name := range names {
		code := contract.Code(strings.TrimSpace(name))
		info, ok := code.Info()
		switch {
		case !ok || info.Command() != command:
			msg := fmt.Sprintf("%s: --disable %s: %s reports no such code", command, name, command)
			var known []string
			for _, ci := range contract.Codes() {
				if ci.Command() == command {
					known = append(known, string(ci.Code))
				}
			}
			if s := suggest.Closest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return nil, usageErrorf("%s; the codes are listed in %s", msg, docs)
		case info.Severity == contract.Error:
			return nil, usageErrorf("%s: --disable %s: %s is an error, and errors cannot be disabled (only warnings)", command, name, name)
		}
		codes = append(codes, code)
	}
	return codes, nil
}

// checkSummary is the line check prints on stderr in text mode.
func checkSummary(checked, errs, warns int, strict bool) string {
	s := fmt.Sprintf("%s checked, %s, %s", plural(checked, "contract"), plural(errs, "error"), plural(warns, "warning"))
	if strict && warns > 0 {
		s += " (warnings fail with --strict)"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// sortDiagnostics orders findings by file and position, keeping the
// compiler's order among findings at one place.
func sortDiagnostics(ds contract.Diagnostics) contract.Diagnostics {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b contract.Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
		)
	})
	return out
}

// printDiagnostics writes findings one per line, as go vet does.
func printDiagnostics(w io.Writer, ds contract.Diagnostics) {
	for _, d := range sortDiagnostics(ds) {
		fmt.Fprintln(w, d.Error())
	}
}

// checkReadable reports the first of files that cannot be opened, so that a
// bad --types FILE is named once rather than once per contract.
func checkReadable(files []string) error {
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return describePathError(name, err)
		}
		info, err := fh.Stat()
		fh.Close()
		if err != nil {
			return describePathError(name, err)
		}
		if info.IsDir() {
			return fmt.Errorf("%s: is a folder, not a contract file", name)
		}
	}
	return nil
}

// writeJSON writes v indented, without escaping <, > and & (messages quote
// contract text such as "->").
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
