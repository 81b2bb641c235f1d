package proxy_test

import (
	"context"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// A proxy enforcing contracts/file.con in front of a ubf service on port
// 2001, stopped by SIGTERM, reloading its contract on SIGHUP.
func Example() {
	c, diags, err := contract.Load("contracts/file.con", contract.Options{})
	if err != nil || diags.HasErrors() {
		log.Fatal(err, diags)
	}
	srv, err := proxy.New(proxy.Config{
		Contract: c,
		Upstream: "127.0.0.1:2001",
		Wire:     ubf.Wire{},
		Mode:     proxy.Kill,
		Limits:   proxy.Limits{MaxSessions: 1000},
		Logger:   slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Println(http.ListenAndServe("127.0.0.1:9090", srv.MetricsHandler())) }()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if c, diags, err := contract.Load("contracts/file.con", contract.Options{}); err == nil && !diags.HasErrors() {
				_ = srv.Reload(c) // new sessions only; open ones keep theirs
			}
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", ":2000")
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
}
