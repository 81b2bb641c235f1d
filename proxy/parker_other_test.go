//go:build !linux

package proxy

import "testing"

// wantParkedLetGo is parker_linux_test.go's: no reader parks on this
// system, so the tests that park skip.
func (p *testProxy) wantParkedLetGo(t testing.TB) {
	t.Skip("no parker on this system: readers do not park")
}
