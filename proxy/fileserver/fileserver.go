// Package fileserver is the file server of Joe Armstrong's talk "Making
// reliable distributed systems in the presence of software errors", as a
// legacy service speaking UBF(C) over TCP: it serves in-memory files line by
// line (open, read_line, rewind, close, info) and answers every request with
// {Reply, NextState}$, as a ubf server does.
//
// It implements contracts/file.con, but only as far as a well-behaved client
// goes. Like the legacy services ubfproxy is put in front of, it is naive:
// it answers a read_line on a handle that was closed (the talk's "silly"
// conversation) and never checks which state a request arrives in. That is
// what the proxy is for. ubfproxy demo, the proxy's benchmark and its
// hostile-client tests run it.
package fileserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// DefaultFiles are the files a server serves when none are given.
func DefaultFiles() map[string]string {
	return map[string]string{
		"notes.txt": "Black boxes communicate with defined protocols.\n" +
			"The protocol is checked externally.\n" +
			"How the black box works internally is irrelevant.\n",
		"todo.txt": "Write loads of wrappers for legacy applications.\n" +
			"Implement UBF in all languages known to man.\n",
	}
}

// Config configures a Server. The zero value serves DefaultFiles.
type Config struct {
	// Files maps a file name to its content; read_line returns one line of
	// it at a time, without the newline.
	Files map[string]string
	// Limits bound what the server's decoder accepts; zero fields take the
	// wrappers' defaults.
	Limits wrappers.Limits
	// IdleTimeout closes a connection that sends nothing for this long;
	// zero means never.
	IdleTimeout time.Duration
	// Logger receives a record for every connection ended by an error
	// (malformed input, write failure). Nil discards them.
	Logger *slog.Logger
	// OnRequest, when set, is called with every request the server
	// receives, before it answers, so that a demo or a test can show what
	// reached the service. It is called from the connection's goroutine.
	OnRequest func(req term.Term)
	// Rewrite, when set, is given every request with the reply and the
	// state the server is about to send and returns what it sends
	// instead: a test makes a broken variant of the server with it.
	Rewrite func(req, reply term.Term, state string) (term.Term, string)
	// Greeting, when set, is the service name the server greets every
	// connection with, {'ubf1.0', Greeting, Help}$, before any request,
	// as a ubf 2.x server started with startplugin greets with its
	// service's name. Empty: no greeting (the client speaks first).
	Greeting string
}

// Server serves the file protocol. Its methods are safe for concurrent use.
type Server struct {
	files  map[string][]string
	limits wrappers.Limits
	idle   time.Duration
	log    *slog.Logger
	onReq  func(term.Term)
	lie    func(req, reply term.Term, state string) (term.Term, string)
	hello  []byte // the greeting frame, nil for none

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	src := cfg.Files
	if src == nil {
		src = DefaultFiles()
	}
	files := make(map[string][]string, len(src))
	for name, content := range src {
		files[name] = splitLines(content)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		files:  files,
		limits: cfg.Limits.WithDefaults(),
		idle:   cfg.IdleTimeout,
		log:    log,
		onReq:  cfg.OnRequest,
		lie:    cfg.Rewrite,
		hello:  greeting(cfg.Greeting),
		conns:  make(map[net.Conn]struct{}),
	}
}

// splitLines cuts content into lines; a final newline does not start an
// empty last line.
func splitLines(content string) []string {
	content = strings.TrimSuffix(content, "\n")
	if content == "" {
		return nil
	}
	return strings.Split(content, "\n")
}

// Serve accepts connections on ln and serves each in its own goroutine until
// ctx is done or ln fails. It then closes ln and every open connection,
// waits for their goroutines, and returns nil if ctx ended it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer s.closeAll()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("fileserver: accept: %w", err)
		}
		s.track(conn)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(conn)
			s.ServeConn(conn)
		}()
	}
}

// Listen starts a server on addr (for example "127.0.0.1:0") in the
// background. It returns the address it listens on and a function that
// stops the server and waits until every connection is closed.
func Listen(ctx context.Context, addr string, cfg Config) (net.Addr, func(), error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("fileserver: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	srv := New(cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			srv.log.Error("file server stopped", "err", err)
		}
	}()
	return ln.Addr(), func() { cancel(); <-done }, nil
}

func (s *Server) track(c net.Conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) closeAll() {
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ServeConn holds one conversation on conn and closes it when the client
// leaves, sends a malformed frame or stays idle too long. The connection
// stays open after close: a naive server lets the client go on.
func (s *Server) ServeConn(conn net.Conn) {
	defer conn.Close()
	dec := newRequestDecoder(conn, s.limits)
	conv := newConversation(s.files)
	if s.hello != nil {
		if _, err := conn.Write(s.hello); err != nil {
			s.log.Warn("file server connection ended", "client", conn.RemoteAddr().String(), "err", err)
			return
		}
	}
	var out []byte
	for {
		if s.idle > 0 {
			conn.SetReadDeadline(time.Now().Add(s.idle))
		}
		req, isCall, err := dec.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("file server connection ended", "client", conn.RemoteAddr().String(), "err", err)
			}
			return
		}
		if !isCall {
			continue // client events ({'event_in', E}) are never answered
		}
		if s.onReq != nil {
			s.onReq(req)
		}
		reply, state := conv.answer(req)
		if s.lie != nil {
			reply, state = s.lie(req, reply, state)
		}
		out, err = appendReply(out[:0], reply, state)
		if err != nil {
			s.log.Error("file server cannot encode its reply", "err", err)
			return
		}
		if _, err := conn.Write(out); err != nil {
			s.log.Warn("file server connection ended", "client", conn.RemoteAddr().String(), "err", err)
			return
		}
	}
}
