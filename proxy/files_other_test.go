//go:build !unix

package proxy_test

import "testing"

// ensureFiles skips the test: holding thousands of connections is measured
// on Unix systems only, where the open-file limit can be read and raised.
func ensureFiles(t testing.TB, n uint64) {
	t.Helper()
	t.Skipf("needs %d open files; the limit is read and raised on Unix systems only", n)
}
