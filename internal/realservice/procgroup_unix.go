//go:build unix

package realservice

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd the leader of a new process group and has its
// context's cancellation kill the whole group.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
