package main

import "github.com/spf13/cobra"

// STUB: replaced by the issue that builds this command.
func newDecodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "decode",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("decode: not built yet")
		},
	}
}
