package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newReplayCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "replay",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("replay: not built yet")
		},
	}
}
