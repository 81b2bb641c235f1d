package proxy_test

// Shared by the end-to-end tests of the text wires against real servers
// (ngircd, memcached, vsftpd, dovecot): each runs a real client
// conversation once directly and once through ubfproxy enforcing the
// shipped contract, and wants the same bytes and no violation; and each
// sends the commands the contract refuses and checks the server's state
// afterwards, to show they never reached it.

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/contracts"
	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

// shippedContract compiles contracts/<file>.
func shippedContract(tb testing.TB, file string) *contract.Contract {
	tb.Helper()
	src, err := contracts.FS.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	c, diags := contract.Compile("contracts/"+file, src, contract.Options{})
	if c == nil || diags.HasErrors() {
		tb.Fatalf("contracts/%s: %v", file, diags)
	}
	return c
}

// textProxy is ubfproxy in front of a real text service.
type textProxy struct {
	addr string
	logs *realservice.Output
}

// startTextProxy starts ubfproxy on fam's wire in front of upstream,
// enforcing contracts/<file> in mode, with limits (zero: the defaults).
func startTextProxy(tb testing.TB, file string, fam *text.Family, upstream string, mode proxy.Mode, limits proxy.Limits) *textProxy {
	tb.Helper()
	logs := &realservice.Output{}
	_, addr := serveProxy(tb, proxy.Config{
		Contract: shippedContract(tb, file), Upstream: upstream, Wire: text.NewWire(fam), Mode: mode,
		Limits: limits, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	return &textProxy{addr: addr, logs: logs}
}

// violations counts the violation records logged so far.
func (p *textProxy) violations() int {
	return strings.Count(p.logs.String(), `"msg":"contract violation"`)
}

// noViolations fails the test if any violation was logged.
func (p *textProxy) noViolations(tb testing.TB) {
	tb.Helper()
	if n := p.violations(); n > 0 {
		tb.Errorf("%d violations logged:\n%s", n, p.logs.String())
	}
}

// sameAsDirect fails the test unless the conversation through the proxy
// got the bytes it got directly.
func sameAsDirect(tb testing.TB, direct, proxied string) {
	tb.Helper()
	if direct == proxied {
		return
	}
	i := 0
	for i < len(direct) && i < len(proxied) && direct[i] == proxied[i] {
		i++
	}
	from := max(0, i-200)
	tb.Errorf("through the proxy the client got other bytes than directly, from byte %d:\ndirect:  ...%q\nproxied: ...%q",
		i, direct[from:min(len(direct), i+200)], proxied[from:min(len(proxied), i+200)])
}
