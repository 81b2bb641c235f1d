package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newEncodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "encode",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("encode: not built yet")
		},
	}
}
