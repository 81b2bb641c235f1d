package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newGraphCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "graph",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("graph: not built yet")
		},
	}
}
