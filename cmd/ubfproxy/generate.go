package main

// The CLI reference under docs/cli is generated from the cobra commands by
// TestCLIDocs, which fails when the pages are stale; with -update it
// rewrites them.
//go:generate go test -run ^TestCLIDocs$ -update .
