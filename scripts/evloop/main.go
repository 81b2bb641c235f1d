//go:build linux

// Command evloop measures what an event loop would give ubfproxy's TCP
// path. It is a proxy built the way HAProxy is: one epoll loop per
// processor, each owning both directions of its connections, with
// non-blocking sockets read and written by raw system calls (which never
// block, so the scheduler need not hear of them) and epoll polled without
// waiting before it is waited on. No goroutine per direction, no lock, no
// wake-up of a parked goroutine per read.
//
// Without -contract it copies bytes both ways, a pass-through to compare
// with scripts/passthrough (the same job in goroutines) and with HAProxy.
// With -contract it also does ubfproxy's per-message work for Redis: both
// directions decoded by the RESP wrapper, every request and reply checked
// by the checker library against the contract, the decoders' terms given
// back once a reply is checked, and the messages' bytes forwarded. It is
// not a proxy to deploy: a violation or a malformed frame closes the
// connection, and it has none of ubfproxy's modes, limits, time-outs,
// records or metrics. Its figures bound what an event loop could save,
// not what ubfproxy would cost on one.
//
//	evloop -listen 127.0.0.1:7002 -upstream 127.0.0.1:6379
//	evloop -listen 127.0.0.1:7003 -upstream 127.0.0.1:6379 -contract contracts/redis.con
//	evloop -wait poller ...   (an idle loop parks in the Go runtime's poller)
//	evloop -keep-poller ...   (the sockets stay in the Go runtime's poller too)
//
// -keep-poller measures what an event loop would give if it ran beside
// the net package rather than instead of it, on descriptors the runtime's
// poller still watches: the way a loop inside ubfproxy could take over
// its net.Conn sockets without duplicating and closing them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/ubfproxy/ubfproxy/checker"
	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

// maxFD bounds the descriptors a loop tracks: an accepted connection with
// a larger descriptor is refused.
const maxFD = 1 << 16

// readSize is what one read asks for.
const readSize = 64 << 10

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "service address (IPv4 host:port)")
	conPath := flag.String("contract", "", "check RESP traffic against this contract (default: copy bytes only)")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "event loops")
	wait := flag.String("wait", "syscall", "how an idle loop waits: syscall (epoll_wait in its thread) or poller (the loop's epoll descriptor waited on by the Go runtime's poller)")
	keep := flag.Bool("keep-poller", false, "leave every socket registered with the Go runtime's poller as well (a loop beside the net package, not instead of it)")
	flag.Parse()
	if *wait != "syscall" && *wait != "poller" {
		fmt.Fprintln(os.Stderr, "evloop: -wait is syscall or poller")
		os.Exit(2)
	}
	opts := options{loops: *loops, viaPoller: *wait == "poller", keepPoller: *keep}
	if err := run(*listen, *upstream, *conPath, opts); err != nil {
		fmt.Fprintln(os.Stderr, "evloop:", err)
		os.Exit(1)
	}
}

// options are how serve runs its loops.
type options struct {
	loops int
	// viaPoller: an idle loop waits in the Go runtime's poller, not in
	// epoll_wait(2) on its thread.
	viaPoller bool
	// keepPoller: the sockets stay registered with the runtime's poller,
	// open through their net.Conn, and the loop works on duplicates of
	// their descriptors.
	keepPoller bool
}

func run(listen, upstream, conPath string, opts options) error {
	var m *checker.Machine
	if conPath != "" {
		var err error
		if m, err = loadContract(conPath); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	log.Printf("evloop: %s -> %s (%d loops, checking: %v, beside the runtime's poller: %v)", ln.Addr(), upstream, opts.loops, m != nil, opts.keepPoller)
	return serve(ln, upstream, m, opts)
}

// loadContract loads and prepares the contract at path.
func loadContract(path string) (*checker.Machine, error) {
	c, diags, err := contract.Load(path, contract.Options{})
	if err != nil {
		return nil, err
	}
	if c == nil || diags.HasErrors() {
		return nil, fmt.Errorf("%s: %v", path, diags)
	}
	return checker.Prepare(c), nil
}

// serve proxies the connections ln accepts to upstream (IPv4 host:port),
// checking them against m unless it is nil, until ln is closed. The loops
// it starts run on: it is a measurement tool, and its process ends with it.
func serve(ln net.Listener, upstream string, m *checker.Machine, opts options) error {
	up, err := net.ResolveTCPAddr("tcp4", upstream)
	if err != nil {
		return fmt.Errorf("-upstream: %w", err)
	}
	ls := make([]*loop, max(opts.loops, 1))
	for i := range ls {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("epoll_create1: %w", err)
		}
		ls[i] = &loop{ep: ep, conns: make([]atomic.Pointer[conn], maxFD), buf: make([]byte, readSize), keepPoller: opts.keepPoller}
		wait := ls[i].waitSyscall
		if opts.viaPoller {
			if wait, err = ls[i].poller(); err != nil {
				return err
			}
		}
		go ls[i].run(wait)
	}
	for n := 0; ; n++ {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		if err := ls[n%len(ls)].add(c, up, m); err != nil {
			log.Printf("evloop: %v", err)
		}
	}
}

// conn is one direction of a session: the socket it reads, and what it
// has read that the socket of peer has not taken yet.
type conn struct {
	fd   int
	peer *conn
	s    *session // nil when only copying
	// out holds bytes for fd that a write did not take; while it does,
	// the peer is not read (backpressure) and fd waits for EPOLLOUT.
	out []byte
	// eof: fd's stream ended; its peer's write side is shut once out is
	// empty.
	eof     bool
	closed  bool
	watched bool // fd is in the loop's epoll set
	// kept is the net.Conn whose descriptor fd duplicates, with
	// options.keepPoller; closed with fd.
	kept net.Conn
}

// session is what checking keeps for a connection pair: the decoders of
// both directions and the checker. Only the loop that owns the pair
// touches it.
type session struct {
	client, service *conn
	creader         fdReader
	sreader         fdReader
	cdec, sdec      wrappers.Decoder
	crec, srec      wrappers.Recycler
	chk             *checker.Session
	// pending are the requests awaiting their replies, oldest at head:
	// their terms go back to the client's decoder with the reply.
	pending []term.Term
	head    int
}

type loop struct {
	ep    int
	conns []atomic.Pointer[conn] // by descriptor; set before the descriptor is in ep
	buf   []byte                 // the loop's read buffer, when copying
	out   []byte                 // the bytes a check forwards, reused
	// keepPoller (options.keepPoller): add keeps each socket's net.Conn
	// open, and registered with the runtime's poller, until close.
	keepPoller bool
}

// add takes an accepted connection, connects to the service at up and
// hands both sockets to l.
func (l *loop) add(c net.Conn, up *net.TCPAddr, m *checker.Machine) (err error) {
	var kept [2]net.Conn // the client's and the service's, with keepPoller
	cfd, sfd := -1, -1
	defer func() {
		// A pair that failed half-way is let go of whole: closing a
		// descriptor also takes it out of the epoll set, where the loop,
		// which never had it in its table, would skip its events forever.
		if err != nil {
			for _, fd := range [...]int{cfd, sfd} {
				if fd >= 0 {
					syscall.Close(fd)
				}
			}
			for _, k := range kept {
				if k != nil {
					k.Close()
				}
			}
		}
	}()
	if cfd, kept[0], err = l.take(c); err != nil {
		return err
	}
	sc, err := net.DialTCP("tcp4", nil, up)
	if err != nil {
		return fmt.Errorf("connecting to the service: %w", err)
	}
	if sfd, kept[1], err = l.take(sc); err != nil {
		return err
	}
	if cfd >= maxFD || sfd >= maxFD {
		return errors.New("descriptor beyond the loop's table")
	}
	for _, fd := range [...]int{cfd, sfd} {
		if err := syscall.SetNonblock(fd, true); err != nil {
			return err
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	client, service := &conn{fd: cfd, kept: kept[0]}, &conn{fd: sfd, kept: kept[1]}
	client.peer, service.peer = service, client
	if m != nil {
		chk, err := m.NewSession(checker.Options{})
		if err != nil {
			return err
		}
		s := &session{client: client, service: service, chk: chk}
		s.creader.fd, s.sreader.fd = cfd, sfd
		codec := resp.Wire{}.NewSession(wrappers.Options{Limits: wrappers.DefaultLimits()})
		s.cdec, s.sdec = codec.ClientDecoder(&s.creader), codec.ServerDecoder(&s.sreader)
		s.crec, _ = s.cdec.(wrappers.Recycler)
		s.srec, _ = s.sdec.(wrappers.Recycler)
		client.s, service.s = s, s
	}
	// Only the loop changes a connection once it has it, and it has it
	// from the moment its table holds it: so both connections are set up
	// and in the epoll set first, and stored last. An event the loop reads
	// before then finds no connection and is skipped; the epoll set is
	// level-triggered, so it comes again. (Stored first, a stale event of
	// an earlier connection on the same descriptor number could have the
	// loop change the epoll set before the ADD, which then undid it.)
	events := [...]syscall.EpollEvent{
		{Events: client.events(), Fd: int32(cfd)},
		{Events: service.events(), Fd: int32(sfd)},
	}
	client.watched, service.watched = true, true
	for i := range events {
		if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, int(events[i].Fd), &events[i]); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	l.conns[cfd].Store(client)
	l.conns[sfd].Store(service)
	return nil
}

// take returns a duplicate of c's descriptor for the loop, and c itself
// when the loop keeps it open (keepPoller). Otherwise c is closed, which
// takes the descriptor out of the runtime's poller: the duplicate is then
// the loop's alone.
func (l *loop) take(c net.Conn) (fd int, kept net.Conn, err error) {
	fd, err = dup(c)
	if !l.keepPoller || err != nil {
		c.Close()
		return fd, nil, err
	}
	return fd, c, nil
}

// dup duplicates the descriptor of c, which stays open.
func dup(c net.Conn) (int, error) {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = syscall.Dup(int(s)) }); err != nil {
		return -1, err
	}
	return fd, dupErr
}

// waitSyscall waits for events in a blocking epoll_wait(2). Under load
// events are usually ready: a poll that cannot block goes first, since a
// system call that blocks makes the runtime hand the loop's processor to
// another thread.
func (l *loop) waitSyscall(events []syscall.EpollEvent) (int, error) {
	n, err := epollPoll(l.ep, events)
	if err == nil && n == 0 {
		n, err = syscall.EpollWait(l.ep, events, -1)
	}
	return n, err
}

// poller returns a wait that polls the loop's epoll descriptor and, when
// nothing is ready, lets the Go runtime's poller wait for it (an epoll
// descriptor is readable when it has events): the loop's goroutine parks
// rather than its thread blocking in a system call.
func (l *loop) poller() (func([]syscall.EpollEvent) (int, error), error) {
	if err := syscall.SetNonblock(l.ep, true); err != nil {
		return nil, err
	}
	rc, err := os.NewFile(uintptr(l.ep), "epoll").SyscallConn()
	if err != nil {
		return nil, err
	}
	return func(events []syscall.EpollEvent) (n int, err error) {
		rerr := rc.Read(func(uintptr) bool {
			n, err = epollPoll(l.ep, events)
			return err != nil || n > 0
		})
		if err == nil {
			err = rerr
		}
		return n, err
	}, nil
}

func (l *loop) run(wait func([]syscall.EpollEvent) (int, error)) {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := wait(events)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			log.Fatalf("evloop: epoll_wait: %v", err)
		}
		for _, ev := range events[:n] {
			c := l.conns[ev.Fd].Load()
			if c == nil || c.closed {
				continue
			}
			if ev.Events&syscall.EPOLLOUT != 0 && !l.drain(c) {
				continue
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && len(c.peer.out) == 0 {
				if c.s != nil {
					l.check(c)
				} else {
					l.copy(c)
				}
			}
		}
	}
}

// copy moves what c has to its peer.
func (l *loop) copy(c *conn) {
	n, err := rawRead(c.fd, l.buf)
	switch {
	case errors.Is(err, syscall.EAGAIN):
	case err != nil:
		l.close(c)
	case n == 0:
		l.ended(c)
	default:
		l.send(c.peer, l.buf[:n])
	}
}

// check decodes, checks and forwards what c has, for a checking session.
func (l *loop) check(c *conn) {
	s := c.s
	r, dec := &s.creader, s.cdec
	if c == s.service {
		r, dec = &s.sreader, s.sdec
	}
	r.drained = false
	out := l.out[:0]
	defer func() { l.out = out[:0] }()
	for {
		m, err := dec.Next()
		if err != nil {
			if wrappers.IsWouldBlock(err) {
				break
			}
			if r.eof {
				l.send(c.peer, out)
				l.ended(c)
				return
			}
			log.Printf("evloop: %v", err)
			l.close(c)
			return
		}
		if v := s.judge(c, m); v != nil {
			log.Printf("evloop: %v", v)
			l.close(c)
			return
		}
		out = append(out, m.Raw...)
	}
	l.send(c.peer, out)
}

// judge checks m, read from c, and keeps the bookkeeping of requests and
// their replies.
func (s *session) judge(c *conn, m wrappers.Message) *checker.Violation {
	if c == s.client {
		if m.Kind != wrappers.Call {
			return nil
		}
		if v := s.chk.Call(m.Term); v != nil {
			return v
		}
		s.pending = append(s.pending, m.Term)
		return nil
	}
	if m.Kind != wrappers.Reply {
		return nil
	}
	if v := s.chk.Reply(m.Term); v != nil {
		return v
	}
	if s.head == len(s.pending) {
		return nil // a reply the checker took without a request of ours
	}
	req := s.pending[s.head]
	s.pending[s.head] = nil
	if s.head++; s.head == len(s.pending) {
		s.pending, s.head = s.pending[:0], 0
	}
	if !s.chk.KeepsTerms() {
		if s.crec != nil {
			s.crec.Recycle(req)
		}
		if s.srec != nil {
			s.srec.Recycle(m.Term)
		}
	}
	return nil
}

// send writes p to c, keeping what the socket does not take for EPOLLOUT.
// p may be the loop's buffer: what is kept is copied.
func (l *loop) send(c *conn, p []byte) {
	for len(p) > 0 {
		n, err := rawWrite(c.fd, p)
		if errors.Is(err, syscall.EAGAIN) {
			c.out = append(c.out[:0], p...)
			_ = l.watch(c)
			_ = l.watch(c.peer) // backpressure: its reading pauses
			return
		}
		if err != nil {
			l.close(c)
			return
		}
		p = p[n:]
	}
}

// drain writes what c holds, when its socket takes more; it reports
// whether c is still open.
func (l *loop) drain(c *conn) bool {
	for len(c.out) > 0 {
		n, err := rawWrite(c.fd, c.out)
		if errors.Is(err, syscall.EAGAIN) {
			return true
		}
		if err != nil {
			l.close(c)
			return false
		}
		c.out = c.out[n:]
	}
	c.out = nil
	_ = l.watch(c)
	_ = l.watch(c.peer) // its reading goes on
	if c.peer.eof {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_WR)
	}
	return true
}

// ended handles the end of c's stream: its peer's write side is shut, and
// the pair closes once both streams ended.
func (l *loop) ended(c *conn) {
	c.eof = true
	if c.peer.eof {
		l.close(c)
		return
	}
	if len(c.peer.out) == 0 {
		_ = syscall.Shutdown(c.peer.fd, syscall.SHUT_WR)
	}
	_ = l.watch(c) // nothing more to read
}

// events are what c waits for: input while its stream goes on and its
// peer takes what it sends (a peer holding unsent bytes pauses it:
// level-triggered epoll would otherwise report it readable again and
// again), and room to write while it holds bytes.
func (c *conn) events() uint32 {
	var ev uint32
	if !c.eof && len(c.peer.out) == 0 {
		ev = syscall.EPOLLIN | syscall.EPOLLRDHUP
	}
	if len(c.out) > 0 {
		ev |= syscall.EPOLLOUT
	}
	return ev
}

// watch brings c's place in the loop's epoll set up to date with
// c.events(): a socket that waits for nothing (its stream ended and it has
// nothing to write, or it is paused) leaves the set, which would
// otherwise report its hang-up or its input again and again.
func (l *loop) watch(c *conn) error {
	if c.closed {
		return nil
	}
	events := c.events()
	ev := syscall.EpollEvent{Events: events, Fd: int32(c.fd)}
	switch {
	case events == 0 && c.watched:
		c.watched = false
		return syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
	case events == 0:
		return nil
	case c.watched:
		return syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, c.fd, &ev)
	}
	c.watched = true
	return syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, c.fd, &ev)
}

// close closes both sockets of c's pair.
func (l *loop) close(c *conn) {
	for _, c := range [...]*conn{c, c.peer} {
		if c.closed {
			continue
		}
		c.closed = true
		l.conns[c.fd].Store(nil)
		if c.watched {
			_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
		}
		_ = syscall.Close(c.fd)
		if c.kept != nil {
			_ = c.kept.Close()
		}
	}
}

// fdReader is a non-blocking socket as a decoder reads it. A read that
// finds nothing is wrappers.ErrWouldBlock; a read shorter than asked is
// taken to have drained the socket, and the next is ErrWouldBlock without
// a system call: epoll is level-triggered, so bytes left behind report the
// socket again.
type fdReader struct {
	fd      int
	drained bool
	eof     bool
}

func (r *fdReader) Read(p []byte) (int, error) {
	if r.drained || len(p) == 0 {
		return 0, wrappers.ErrWouldBlock
	}
	n, err := rawRead(r.fd, p)
	switch {
	case errors.Is(err, syscall.EAGAIN):
		r.drained = true
		return 0, wrappers.ErrWouldBlock
	case err != nil:
		return 0, err
	case n == 0:
		r.eof = true
		return 0, io.EOF
	}
	r.drained = n < len(p)
	return n, nil
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket.
// They never block, so they skip the scheduler's bookkeeping of a system
// call.
func rawRead(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// epollPoll is epoll_wait(2) with a zero time-out (as epoll_pwait with no
// signal mask, which every Linux architecture has).
func epollPoll(ep int, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
