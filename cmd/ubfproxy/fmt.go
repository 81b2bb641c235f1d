package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newFmtCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fmt",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("fmt: not built yet")
		},
	}
}
