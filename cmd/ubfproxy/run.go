package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("run: not built yet")
		},
	}
}
