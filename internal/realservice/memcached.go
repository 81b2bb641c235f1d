package realservice

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Memcached starts memcached on a free loopback TCP port (UDP off) with
// 64 MB of memory and items of up to 1 MB, and returns its address. It is
// stopped when the test ends.
func Memcached(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		tb.Skip("memcached is not installed (Debian package memcached); skipping the test against a real memcached")
	}
	addr, _ := start(tb, "memcached", 10*time.Second, func(addr string) (string, []string) {
		args := []string{"-l", "127.0.0.1", "-p", portOf(addr), "-U", "0", "-m", "64", "-I", "1m", "-c", "64"}
		if os.Geteuid() == 0 {
			// memcached refuses to run as root without a user to switch to.
			args = append(args, "-u", "nobody")
		}
		return bin, args
	})
	return addr
}
