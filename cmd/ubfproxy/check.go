package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("check: not built yet")
		},
	}
}
