//go:build unix

package proxy_test

import (
	"syscall"
	"testing"
)

// ensureFiles makes sure the process may open n files, raising its soft
// limit if needed, or skips the test.
func ensureFiles(t testing.TB, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if uint64(lim.Cur) >= n {
		return
	}
	if uint64(lim.Max) < n {
		t.Skipf("this test holds %d connections through the proxy and needs %d open files; the hard limit (ulimit -Hn) is %d", idleSessions, n, lim.Max)
	}
	raised := lim
	setLimit(&raised.Cur, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		t.Skipf("needs %d open files, and raising the soft limit from %d failed: %v", n, lim.Cur, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}

// setLimit sets an Rlimit field, which is a uint64 on Linux and macOS and
// an int64 on FreeBSD.
func setLimit[T int64 | uint64](field *T, n uint64) { *field = T(n) }
