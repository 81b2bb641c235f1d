package proxytest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/contracts"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/proxy/fileserver"
	"github.com/ubfproxy/ubfproxy/proxy/proxytest"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

func fileContract(t *testing.T) *contract.Contract {
	src, err := contracts.FS.ReadFile("file.con")
	if err != nil {
		t.Fatal(err)
	}
	c, diags := contract.Compile("contracts/file.con", src, contract.Options{})
	if c == nil || diags.HasErrors() {
		t.Fatalf("contracts/file.con: %v", diags)
	}
	return c
}

func TestStart(t *testing.T) {
	c := fileContract(t)
	svc, stop, err := fileserver.Listen(context.Background(), "127.0.0.1:0", fileserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	srv, err := proxy.New(proxy.Config{Contract: c, Upstream: svc.String(), Wire: ubf.Wire{}})
	if err != nil {
		t.Fatal(err)
	}
	p := proxytest.Start(t, srv)
	conn, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	// A request the contract refuses gets ubf's error reply from the
	// proxy: it is there, in front of the service.
	if _, err := conn.Write([]byte("{'bogus'}$")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "{{'clientBrokeContract',{'bogus'}") {
		t.Fatalf("reply %q, %v", line, err)
	}

	p.Close()
	p.Close() // again: a no-op
	if !p.Wait(0) {
		t.Error("Serve has not returned after Close")
	}
	// Asked of the listener, not by dialling: another test may have the
	// port by now.
	if _, err := p.Listener.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestNewUnstarted: a Server never started is cleaned up all the same.
func TestNewUnstarted(t *testing.T) {
	c := fileContract(t)
	srv, err := proxy.New(proxy.Config{Contract: c, Upstream: "127.0.0.1:1", Wire: ubf.Wire{}})
	if err != nil {
		t.Fatal(err)
	}
	p := proxytest.NewUnstarted(t, srv)
	if p.Addr == "" {
		t.Fatalf("server %+v", p)
	}
	p.Close()
	if _, err := p.Listener.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// failingServable returns an error from Serve, which Close reports.
type failingServable struct{}

func (failingServable) Serve(ctx context.Context, ln net.Listener) error {
	ln.Close()
	return net.ErrClosed
}

// TestCloseReportsServeError runs Close on a recording testing.TB.
func TestCloseReportsServeError(t *testing.T) {
	rec := &recordingTB{TB: t}
	p := proxytest.Start(rec, failingServable{})
	p.Close()
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "Serve") {
		t.Errorf("errors reported: %q", rec.errors)
	}
}

type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
