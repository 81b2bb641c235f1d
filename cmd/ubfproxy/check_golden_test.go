package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// The golden files of check, fmt, graph and replay record what a user sees:
// the exit status, standard output and standard error of one command line.
// Run
//
//	go test ./cmd/ubfproxy/ -run 'Check|Fmt|Graph|Replay' -update
//
// to rewrite them after an intended change (internal/golden), and read the
// diff.

// cliResult is what one run of the CLI produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", r.code, r.stdout, r.stderr)
}

// runUbfproxy runs the CLI in-process as main would.
func runUbfproxy(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var in io.Reader = strings.NewReader(stdin)
	code := run(args, in, &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
