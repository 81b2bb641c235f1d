// Command ubfproxy checks protocol contracts: it validates contract files
// (check, fmt, graph), replays recorded conversations against them (replay),
// decodes and encodes wire formats (decode, encode), and runs a proxy that
// enforces a contract in front of a legacy service (run, demo).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit statuses shared by every command.
const (
	exitOK        = 0
	exitViolation = 1 // a contract has errors, or a conversation broke one
	exitUsage     = 2 // bad flags, unreadable files, malformed input
)

// exitError carries an exit status up to main. A nil err means the command
// already printed what the user needs to see.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns an error that ends the command with exit status 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI with the given arguments and streams and returns the
// exit status; tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "ubfproxy: %v\n", ee.err)
		}
		return ee.code
	}
	// Errors cobra reports itself (unknown flags, missing arguments).
	fmt.Fprintf(stderr, "ubfproxy: %v\n", err)
	return exitUsage
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ubfproxy",
		Short: "Check protocol contracts and enforce them in front of legacy services",
		Long: `ubfproxy checks conversations against UBF-style contracts: a protocol is a
state machine whose edges are typed messages, written down in a .con file.

  ubfproxy check contracts/            validate contracts (CI friendly)
  ubfproxy replay --contract c.con t   check recorded conversations offline
  ubfproxy run --contract c.con ...    enforce a contract in front of a service
  ubfproxy demo                        see it all work in a few seconds`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       shortVersion(),
	}
	root.SetVersionTemplate("ubfproxy {{.Version}}\n")
	root.AddCommand(
		newCheckCmd(),
		newFmtCmd(),
		newGraphCmd(),
		newReplayCmd(),
		newEvalCmd(),
		newBreakingCmd(),
		newDecodeCmd(),
		newEncodeCmd(),
		newRunCmd(),
		newTestCmd(),
		newDemoCmd(),
		newVersionCmd(),
	)
	return root
}
