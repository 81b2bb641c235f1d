package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("version: not built yet")
		},
	}
}
