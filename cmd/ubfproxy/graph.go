package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/contract"
)

// Diagram formats of graph.
const (
	graphDOT     = "dot"
	graphMermaid = "mermaid"
)

type graphFlags struct {
	format string
	types  []string
}

func newGraphCmd() *cobra.Command {
	var f graphFlags
	cmd := &cobra.Command{
		Use:   "graph [--format dot|mermaid] [--types FILE]... FILE",
		Short: "Draw a contract's state machine (Graphviz DOT or Mermaid)",
		Long: `graph writes the state machine of a contract on standard output: states as
nodes (the initial state and terminal states marked), one edge per rule
labelled "request / reply", and the anystate rules and events listed.

Formats:
  dot      Graphviz (render with: dot -Tsvg)
  mermaid  a Mermaid stateDiagram, which GitHub renders inside a
           ` + "```mermaid" + ` block of a Markdown file

The contract must compile: errors are printed on stderr and the exit status
is 1. Warnings are printed on stderr and the diagram is drawn.`,
		Example: `  ubfproxy graph contracts/file.con | dot -Tsvg > file.svg
  ubfproxy graph --format mermaid contracts/bank.con`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("graph: name exactly one contract FILE (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGraph(cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", graphDOT, "diagram format: dot or mermaid")
	fl.StringArrayVar(&f.types, "types", nil, "contract `FILE` whose named types the contract may use (repeatable)")
	return withFlagHint(cmd)
}

func runGraph(stdout, stderr io.Writer, f graphFlags, file string) error {
	var write func(io.Writer, *contract.Contract) error
	switch f.format {
	case graphDOT:
		write = contract.WriteDOT
	case graphMermaid:
		write = contract.WriteMermaid
	default:
		return usageErrorf("graph: unknown --format %q (want dot or mermaid)", f.format)
	}
	if err := checkReadable(f.types); err != nil {
		return usageErrorf("graph: --types %v", err)
	}
	if err := checkReadable([]string{file}); err != nil {
		return usageErrorf("graph: %v", err)
	}
	c, diags, err := contract.Load(file, contract.Options{TypeFiles: f.types})
	if err != nil {
		return usageErrorf("graph: %v", err)
	}
	printDiagnostics(stderr, diags)
	if c == nil || diags.HasErrors() {
		return &exitError{code: exitViolation}
	}
	// Render fully before writing, so that a failure leaves no half
	// diagram on stdout.
	var buf bytes.Buffer
	if err := write(&buf, c); err != nil {
		return fmt.Errorf("graph: %s: %w", file, err)
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("graph: writing diagram: %w", err)
	}
	return nil
}
