package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("demo: not built yet")
		},
	}
}
