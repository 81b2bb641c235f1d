//go:build !unix

package realservice

import "os/exec"

// ownGroup does nothing where there are no process groups: cancellation
// kills the process alone.
func ownGroup(*exec.Cmd) {}
