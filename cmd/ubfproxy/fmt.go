package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/contract"
)

// stdinName names standard input in messages and diffs, as gofmt does.
const stdinName = "<standard input>"

type fmtFlags struct {
	write, list, diff, check bool
}

func newFmtCmd() *cobra.Command {
	var f fmtFlags
	cmd := &cobra.Command{
		Use:   "fmt [-w] [-l] [-d] [--check] [PATH...]",
		Short: "Print contracts in the canonical layout (like gofmt)",
		Long: `fmt prints contracts in their canonical layout: one declaration per
paragraph, alternatives aligned, the same spacing everywhere. Comments are
kept where they were written (a comment at the end of a reply's line
stays on that reply) and the meaning never changes; formatting a
formatted file changes nothing. The dialect of the file (Armstrong or UBF(B)) is kept.

A PATH is a contract file or a folder (every *.con file below it). Without a
PATH, fmt reads standard input and writes standard output.

By default the formatted contracts are printed. The flags change that:
  -l  list the files whose layout differs from the canonical one
  -w  rewrite those files in place (their permissions are kept)
  -d  print a unified diff from each file to its canonical layout
  --check  print nothing but the names of the files whose layout differs,
      and exit with status 1 if there is any (for CI; add -d to see how)

Exit status: 0 on success (also when files differ, unless --check), 1 when
a contract has syntax errors (they are printed and the file is left alone)
or, with --check, when a file is not formatted, 2 for usage errors and
files that cannot be read or written.`,
		Example: `  # show what would change, then rewrite every contract
  ubfproxy fmt -d contracts/
  ubfproxy fmt -w contracts/

  # fail a CI job when a contract is not formatted
  ubfproxy fmt --check contracts/

  # format from an editor: standard input to standard output
  ubfproxy fmt < contracts/file.con`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFmt(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.write, "write", "w", false, "write the result to the file instead of standard output")
	fl.BoolVarP(&f.list, "list", "l", false, "list files whose formatting differs")
	fl.BoolVarP(&f.diff, "diff", "d", false, "print a unified diff instead of the formatted contract")
	fl.BoolVar(&f.check, "check", false, "list files whose formatting differs and exit with status 1 if any does")
	return withFlagHint(cmd)
}

// fmtStatus accumulates the outcome of formatting several files.
type fmtStatus struct {
	syntaxErrors bool // exit 1
	unformatted  bool // exit 1 with --check
	ioErrors     bool // exit 2
}

func (s fmtStatus) err() error {
	switch {
	case s.ioErrors:
		return &exitError{code: exitUsage}
	case s.syntaxErrors, s.unformatted:
		return &exitError{code: exitViolation}
	}
	return nil
}

func runFmt(stdin io.Reader, stdout, stderr io.Writer, f fmtFlags, args []string) error {
	if len(args) == 0 {
		if f.write {
			return usageErrorf("fmt: -w needs a PATH: standard input cannot be rewritten")
		}
		src, err := io.ReadAll(stdin)
		if err != nil {
			return usageErrorf("fmt: reading standard input: %w", err)
		}
		var st fmtStatus
		formatOne(stdout, stderr, f, stdinName, src, nil, &st)
		return st.err()
	}

	files, err := expandPaths(args)
	if err != nil {
		return usageErrorf("fmt: %v", err)
	}
	var st fmtStatus
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "ubfproxy: fmt: %v\n", describePathError(file, err))
			st.ioErrors = true
			continue
		}
		write := func(out []byte) error { return writeFileKeepMode(file, out) }
		formatOne(stdout, stderr, f, file, src, write, &st)
	}
	return st.err()
}

// formatOne formats one contract and does what the flags ask with the
// result; write rewrites the original (nil for standard input).
func formatOne(stdout, stderr io.Writer, f fmtFlags, name string, src []byte, write func([]byte) error, st *fmtStatus) {
	out, diags := contract.Format(name, src)
	if diags.HasErrors() {
		printDiagnostics(stderr, diags)
		st.syntaxErrors = true
		return
	}
	changed := !bytes.Equal(src, out)
	if f.check && changed {
		st.unformatted = true
	}
	if (f.list || f.check) && changed {
		fmt.Fprintln(stdout, name)
	}
	if f.write && changed && write != nil {
		if err := write(out); err != nil {
			fmt.Fprintf(stderr, "ubfproxy: fmt: %v\n", err)
			st.ioErrors = true
			return
		}
	}
	if f.diff && changed {
		stdout.Write(unifiedDiff(name+".orig", name, src, out))
	}
	if !f.list && !f.write && !f.diff && !f.check {
		stdout.Write(out)
	}
}

// writeFileKeepMode replaces the contents of file, keeping its permissions.
// It writes a temporary file next to it and renames it over the original,
// so that a crash or a full disk never leaves a half-written contract. A
// symbolic link is followed: its target is rewritten, the link kept.
func writeFileKeepMode(file string, data []byte) error {
	target, err := filepath.EvalSymlinks(file)
	if err != nil {
		return describePathError(file, err)
	}
	info, err := os.Stat(target)
	if err != nil {
		return describePathError(file, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%s: cannot write: %w", file, err)
	}
	tmpName := tmp.Name()
	cleanup := func(err error) error {
		tmp.Close()
		os.Remove(tmpName)
		return fmt.Errorf("%s: cannot write: %w", file, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return cleanup(err)
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		return cleanup(err)
	}
	if err := tmp.Close(); err != nil {
		return cleanup(err)
	}
	if err := os.Rename(tmpName, target); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("%s: cannot write: %w", file, err)
	}
	return nil
}
