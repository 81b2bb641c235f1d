package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/contract"
	"github.com/ubfproxy/ubfproxy/contracts"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/proxy/fileserver"
	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// demoContract is the contract the demo enforces, from the embedded copy of
// contracts/ so that the demo runs from any directory.
const demoContract = "file.con"

// exitInterrupted is the shell's status for a command ended by Ctrl-C.
const exitInterrupted = 130

type demoOptions struct {
	quiet   bool
	wire    bool
	timeout time.Duration
	serve   string
}

func newDemoCmd() *cobra.Command {
	var opts demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See the proxy stop an off-spec conversation, in a few seconds",
		Long: `demo runs the main job of ubfproxy on a built-in example, all on 127.0.0.1:

  - a legacy service: the file server of Joe Armstrong's talk, speaking UBF(A).
    It is naive, as legacy services are: it answers a read on a file that
    was closed.
  - ubfproxy in front of it, enforcing contracts/file.con in kill mode.
  - a scripted client that holds the talk's "silly" conversation (open,
    close, read_line) with the service directly, then a conversation that
    keeps the contract through the proxy, then the silly one through the
    proxy, one that reads on past the end of the file without rewinding,
    and last one that reads with a handle the service never gave (the
    contract binds the handle open returns to a variable, H).

Every message is printed as it passes, then, for each conversation the
proxy stops, its record of the violation (a log/slog JSON line, as
"ubfproxy run" writes them) and the end of the killed session. Exit status
0 means every step went as described.

demo --serve ADDR runs only the demo's service, the file server, on ADDR
(such as 127.0.0.1:4000; port 0 picks a free one), until interrupted, so
that run, test and replay can be tried against it; it prints the address
and the commands.`,
		Example: `  # the whole story, in a few seconds
  ubfproxy demo

  # with the UBF(A) bytes of every message as they cross the wire
  ubfproxy demo --wire

  # just the outcomes and the violation records
  ubfproxy demo -q

  # keep the file server running, to try run and test against it
  ubfproxy demo --serve 127.0.0.1:4000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sigCtx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if opts.serve != "" {
				return serveDemo(sigCtx, cmd.OutOrStdout(), opts.serve)
			}
			ctx, cancel := context.WithTimeout(sigCtx, opts.timeout)
			defer cancel()
			err := runDemo(ctx, cmd.OutOrStdout(), opts)
			switch {
			case err == nil:
				return nil
			case sigCtx.Err() != nil:
				return &exitError{code: exitInterrupted, err: errors.New("demo: interrupted")}
			case ctx.Err() != nil:
				return &exitError{code: exitViolation, err: fmt.Errorf("demo: did not finish within %v: %w", opts.timeout, err)}
			}
			return &exitError{code: exitViolation, err: fmt.Errorf("demo: %w", err)}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.quiet, "quiet", "q", false, "print only the outcome of each conversation and the violation record")
	f.BoolVar(&opts.wire, "wire", false, "also print the UBF(A) bytes of every message")
	f.DurationVar(&opts.timeout, "timeout", 30*time.Second, "give up if the demo has not finished by then")
	f.StringVar(&opts.serve, "serve", "", "only run the demo's file server on `ADDR` until interrupted")
	return cmd
}

// serveDemo runs the demo's file server on addr until ctx ends.
func serveDemo(ctx context.Context, out io.Writer, addr string) error {
	at, stop, err := fileserver.Listen(ctx, addr, fileserver.Config{})
	if err != nil {
		return usageErrorf("demo: --serve %s: %v", addr, err)
	}
	defer stop()
	fmt.Fprintf(out, "the demo's file server (contracts/%s, UBF(A)) is listening on %s; Ctrl-C stops it\n", demoContract, at)
	fmt.Fprintf(out, "  ubfproxy run --contract contracts/%s --listen 127.0.0.1:5000 --upstream %s --wire ubf --no-meta\n", demoContract, at)
	fmt.Fprintf(out, "  ubfproxy test --contract contracts/%s --wire ubf --upstream %s\n", demoContract, at)
	<-ctx.Done()
	return nil
}

// runDemo starts the service and the proxy, holds the five conversations
// and stops everything again. It returns an error when a step did not go as
// the demo says it does.
func runDemo(ctx context.Context, out io.Writer, opts demoOptions) error {
	p := &printer{w: out, quiet: opts.quiet, wire: opts.wire}

	src, err := contracts.FS.ReadFile(demoContract)
	if err != nil {
		return fmt.Errorf("reading the built-in contract: %w", err)
	}
	c, diags := contract.Compile("contracts/"+demoContract, src, contract.Options{})
	if c == nil || diags.HasErrors() {
		return fmt.Errorf("the built-in contract does not compile: %v", errors.Join(diagErrors(diags)...))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	received := &requestLog{}
	svcAddr, stopService, err := fileserver.Listen(ctx, "127.0.0.1:0", fileserver.Config{OnRequest: func(req term.Term) {
		received.add(req)
		// Closing a file takes the service a moment (a flush, say), so
		// the silly client's read, sent right behind the close, is always
		// in the proxy's hands before the close's reply leads to stop.
		// Without it the proxy could also end the conversation at stop
		// before reading the read: legal too, but not what the demo is
		// here to show.
		if tag, _ := term.Tag(req); tag == "close" {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}})
	if err != nil {
		return err
	}
	defer stopService()

	records := newRecordLog()
	srv, err := proxy.New(proxy.Config{
		Contract: c,
		Upstream: svcAddr.String(),
		Wire:     ubf.Wire{},
		Mode:     proxy.Kill,
		Logger:   slog.New(slog.NewJSONHandler(records, nil)),
		Limits:   proxy.Limits{Grace: time.Second},
		Explain:  proxy.ExplainFull, // the demo shows the whole policy in the error reply
		// As ubfproxy run serves by default.
		EventLoop: proxy.EventLoopAvailable,
	})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	proxyCtx, stopProxy := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(proxyCtx, ln) }()
	defer func() {
		stopProxy()
		<-served
	}()

	p.header(svcAddr.String(), ln.Addr().String(), c)
	if err := demoDirect(ctx, p, svcAddr.String()); err != nil {
		return fmt.Errorf("conversation 1 (direct): %w", err)
	}
	if err := demoConforming(ctx, p, ln.Addr().String(), records, received); err != nil {
		return fmt.Errorf("conversation 2 (conforming): %w", err)
	}
	if err := demoSilly(ctx, p, ln.Addr().String(), records, received); err != nil {
		return fmt.Errorf("conversation 3 (silly): %w", err)
	}
	if err := demoPastEOF(ctx, p, ln.Addr().String(), records, received); err != nil {
		return fmt.Errorf("conversation 4 (past the end): %w", err)
	}
	if err := demoWrongHandle(ctx, p, ln.Addr().String(), records, received); err != nil {
		return fmt.Errorf("conversation 5 (a handle never given): %w", err)
	}
	p.footer(svcAddr.String(), ln.Addr().String())
	return nil
}

// silly is the talk's silly() on the wire: open a file, close it, read it.
var silly = []term.Term{
	term.MustParse(`{open, "notes.txt", read}`),
	term.MustParse(`{close, 1}`),
	term.MustParse(`{read_line, 1}`),
}

// demoDirect shows the service's flaw: with nothing in between, the read
// after close is answered.
func demoDirect(ctx context.Context, p *printer, addr string) error {
	p.section("1. The talk's silly conversation, straight to the service")
	cl, err := dialDemo(ctx, p, addr)
	if err != nil {
		return err
	}
	defer cl.close()
	var last term.Term
	for _, req := range silly {
		if last, err = cl.call(req); err != nil {
			return err
		}
	}
	if !isOK(last) {
		return fmt.Errorf("the service answered the read after close with %s; the demo expects {{ok, Line}, State}", last)
	}
	p.outcome("The service read from a file it had closed, and nothing on the wire stopped it.")
	return nil
}

// demoConforming holds a conversation that keeps the contract: it passes
// the proxy untouched and ends when the contract says it does.
func demoConforming(ctx context.Context, p *printer, addr string, records *recordLog, received *requestLog) error {
	p.section("2. A conversation that keeps the contract, through the proxy")
	received.reset()
	before := records.count("session end")
	cl, err := dialDemo(ctx, p, addr)
	if err != nil {
		return err
	}
	defer cl.close()
	reply, err := cl.call(term.MustParse(`{open, "notes.txt", read}`))
	if err != nil {
		return err
	}
	h, ok := okValue(reply)
	if !ok {
		return fmt.Errorf("open was answered %s", reply)
	}
	readAll := func() error {
		for range 100 {
			r, err := cl.call(term.Tuple{term.Atom("read_line"), h})
			if err != nil {
				return err
			}
			if isEOF(r) {
				return nil
			}
		}
		return errors.New("no eof after 100 lines")
	}
	if err := readAll(); err != nil {
		return err
	}
	if _, err := cl.call(term.Tuple{term.Atom("rewind"), h}); err != nil {
		return err
	}
	if _, err := cl.call(term.Tuple{term.Atom("read_line"), h}); err != nil {
		return err
	}
	if _, err := cl.call(term.Tuple{term.Atom("close"), h}); err != nil {
		return err
	}
	if err := cl.expectEOF(); err != nil {
		return err
	}
	end, err := records.wait(ctx, "session end", before+1)
	if err != nil {
		return err
	}
	if end.str("reason") != "finished" {
		return fmt.Errorf("the proxy ended the session with reason %q, want finished: %s", end.str("reason"), end.raw)
	}
	if v := records.count("contract violation"); v != 0 {
		return fmt.Errorf("the proxy reported %d violations in a conforming conversation", v)
	}
	if n := received.len(); n != cl.calls {
		return fmt.Errorf("the service received %d requests, the client sent %d", n, cl.calls)
	}
	p.outcome(fmt.Sprintf("The proxy passed all %d requests and their replies, and closed the session when the contract reached stop (session end: reason %s).",
		cl.calls, end.str("reason")))
	return nil
}

// demoSilly holds the silly conversation through the proxy. The client
// sends the read right behind the close, without waiting for its reply, as
// a client that believes the file still open does. The close leads to
// stop, where the conversation is over: the proxy holds the read (one
// request at a time towards a ubf service), reports it as a request in
// state stop and kills the session, so the read never reaches the service.
func demoSilly(ctx context.Context, p *printer, addr string, records *recordLog, received *requestLog) error {
	p.section("3. The silly conversation, through the proxy")
	received.reset()
	marks := markRecords(records)
	cl, err := dialDemo(ctx, p, addr)
	if err != nil {
		return err
	}
	defer cl.close()
	if _, err := cl.call(silly[0]); err != nil {
		return err
	}
	if err := cl.send(silly[1:]...); err != nil {
		return err
	}
	if err := showKill(ctx, p, cl, records, marks); err != nil {
		return err
	}
	return serviceReceived(p, received, 2, "the read after close never reached it.")
}

// demoPastEOF holds a conversation that reads on at the end of the file
// without rewinding. The naive service would answer eof again; the
// contract allows only close or rewind in atEof, so the proxy kills the
// session.
func demoPastEOF(ctx context.Context, p *printer, addr string, records *recordLog, received *requestLog) error {
	p.section("4. Reading past the end without rewinding, through the proxy")
	received.reset()
	marks := markRecords(records)
	cl, err := dialDemo(ctx, p, addr)
	if err != nil {
		return err
	}
	defer cl.close()
	if _, err := cl.call(term.MustParse(`{open, "todo.txt", read}`)); err != nil {
		return err
	}
	reads := 0
	for r := term.Term(nil); !isEOF(r); reads++ {
		if reads == 100 {
			return errors.New("no eof after 100 lines")
		}
		if r, err = cl.call(term.MustParse(`{read_line, 1}`)); err != nil {
			return err
		}
	}
	if err := cl.send(term.MustParse(`{read_line, 1}`)); err != nil {
		return err
	}
	if err := showKill(ctx, p, cl, records, marks); err != nil {
		return err
	}
	return serviceReceived(p, received, 1+reads, "the read past the end never reached it.")
}

// demoWrongHandle opens a file and reads with another handle than the one
// open returned. The naive service would answer; the contract binds the
// handle to H, so the proxy kills the session, and its record says what H
// is bound to.
func demoWrongHandle(ctx context.Context, p *printer, addr string, records *recordLog, received *requestLog) error {
	p.section("5. Reading with a handle the service never gave, through the proxy")
	received.reset()
	marks := markRecords(records)
	cl, err := dialDemo(ctx, p, addr)
	if err != nil {
		return err
	}
	defer cl.close()
	reply, err := cl.call(term.MustParse(`{open, "notes.txt", read}`))
	if err != nil {
		return err
	}
	h, ok := okValue(reply)
	hi, isInt := h.(term.Integer)
	if !ok || !isInt || !hi.IsInt64() {
		return fmt.Errorf("open was answered %s; the demo expects {{ok, Handle}, State} with an integer handle", reply)
	}
	if err := cl.send(term.Tuple{term.Atom("read_line"), term.Int(hi.Int64() + 1)}); err != nil {
		return err
	}
	if err := showKill(ctx, p, cl, records, marks); err != nil {
		return err
	}
	return serviceReceived(p, received, 1, "the read with a handle it never gave never reached it.")
}

// recordMarks are the counts of the proxy's violation and session-end
// records before a conversation starts, so that showKill waits for that
// conversation's own records and not an earlier one's.
type recordMarks struct{ violations, ends int }

func markRecords(records *recordLog) recordMarks {
	return recordMarks{
		violations: records.count("contract violation"),
		ends:       records.count("session end"),
	}
}

// showKill reads the client's last frames up to the close, then checks and
// prints the violation and session-end records of the killed session.
func showKill(ctx context.Context, p *printer, cl *demoClient, records *recordLog, before recordMarks) error {
	errReply, err := cl.receiveAll()
	if err != nil {
		return err
	}
	end, err := records.wait(ctx, "session end", before.ends+1)
	if err != nil {
		return err
	}
	v, err := records.wait(ctx, "contract violation", before.violations+1)
	if err != nil {
		return err
	}
	if v.str("side") != "client" || v.str("action") != "killed" {
		return fmt.Errorf("violation record: side %q, action %q; want client, killed: %s", v.str("side"), v.str("action"), v.raw)
	}
	if end.str("reason") != "violation" {
		return fmt.Errorf("the session ended with reason %q, want violation: %s", end.str("reason"), end.raw)
	}
	if errReply == nil {
		return errors.New("the proxy killed the session without sending {{clientBrokeContract, ...}, State} first")
	}
	p.record(v, end)
	return nil
}

// serviceReceived prints what the service received and fails unless it
// is the first want requests of the conversation: the proxy must have
// stopped the rest.
func serviceReceived(p *printer, received *requestLog, want int, text string) error {
	got := received.all()
	if len(got) != want {
		return fmt.Errorf("the service received %d requests (%s), want %d", len(got), joinTerms(got), want)
	}
	p.outcome(fmt.Sprintf("The service received %s; %s", joinTerms(got), text))
	return nil
}

// demoClient is the scripted client: it encodes requests with the ubf
// wrapper's encoder and reads replies with its decoder, printing both.
type demoClient struct {
	ctx   context.Context
	conn  net.Conn
	dec   *ubf.Decoder
	p     *printer
	stop  func() bool
	calls int // requests sent
}

// stepTimeout bounds every read and write of the scripted client; all
// parties run on loopback, so a step that takes longer is a failure.
const stepTimeout = 5 * time.Second

func dialDemo(ctx context.Context, p *printer, addr string) (*demoClient, error) {
	d := net.Dialer{Timeout: stepTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &demoClient{
		ctx:  ctx,
		conn: conn,
		dec:  ubf.NewDecoder(conn, wrappers.DefaultLimits()),
		p:    p,
		stop: context.AfterFunc(ctx, func() { conn.Close() }),
	}, nil
}

func (c *demoClient) close() {
	c.stop()
	c.conn.Close()
}

// send writes reqs in one write, as one segment on the wire.
func (c *demoClient) send(reqs ...term.Term) error {
	var buf []byte
	for _, r := range reqs {
		start := len(buf)
		var err error
		if buf, err = ubf.AppendEncode(buf, r); err != nil {
			return fmt.Errorf("encoding %s: %w", r, err)
		}
		buf = append(buf, '\n')
		c.p.message("client >", r, buf[start:])
		c.calls++
	}
	c.conn.SetWriteDeadline(time.Now().Add(stepTimeout))
	if _, err := c.conn.Write(buf); err != nil {
		return c.wrap("sending", err)
	}
	return nil
}

// receive reads one frame and prints it; the error replies of the proxy
// are labelled as the proxy's.
func (c *demoClient) receive() (term.Term, error) {
	c.conn.SetReadDeadline(time.Now().Add(stepTimeout))
	t, raw, err := c.dec.Frame()
	if err != nil {
		if errors.Is(err, io.EOF) || isReset(err) {
			// Close at once, as a client does when the peer has gone:
			// the proxy waits for that before it records the session end.
			c.conn.Close()
			return nil, io.EOF
		}
		return nil, c.wrap("reading", err)
	}
	if t == nil { // white space before the end of the stream
		return c.receive()
	}
	who := "server <"
	if isContractError(t) {
		who = "proxy  <"
	}
	c.p.message(who, t, raw)
	return t, nil
}

// call sends req and returns the reply without its state.
func (c *demoClient) call(req term.Term) (term.Term, error) {
	if err := c.send(req); err != nil {
		return nil, err
	}
	t, err := c.receive()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("the connection closed instead of answering %s", req)
	}
	if err != nil {
		return nil, err
	}
	if tup, ok := t.(term.Tuple); ok && len(tup) == 2 {
		return tup[0], nil
	}
	return nil, fmt.Errorf("%s was answered %s, not {Reply, State}", req, t)
}

// receiveAll reads and prints frames up to the end of the stream and
// returns the last contract error reply among them, if any.
func (c *demoClient) receiveAll() (errReply term.Term, err error) {
	for range 100 {
		t, err := c.receive()
		if errors.Is(err, io.EOF) {
			c.p.event("connection closed by the proxy (EOF)")
			return errReply, nil
		}
		if err != nil {
			return nil, err
		}
		if isContractError(t) {
			errReply = t
		}
	}
	return nil, errors.New("the connection stayed open after 100 frames")
}

// expectEOF reads the end of the stream.
func (c *demoClient) expectEOF() error {
	t, err := c.receive()
	switch {
	case errors.Is(err, io.EOF):
		c.p.event("connection closed by the proxy (EOF)")
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("got %s where the proxy should have closed the connection", t)
}

func (c *demoClient) wrap(what string, err error) error {
	if c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

func isContractError(t term.Term) bool {
	tup, ok := t.(term.Tuple)
	if !ok || len(tup) != 2 {
		return false
	}
	tag, _ := term.Tag(tup[0])
	return tag == "clientBrokeContract" || tag == "serverBrokeContract"
}

func okValue(t term.Term) (term.Term, bool) {
	tup, ok := t.(term.Tuple)
	if !ok || len(tup) != 2 || tup[0] != term.Term(term.Atom("ok")) {
		return nil, false
	}
	return tup[1], true
}

func isOK(t term.Term) bool { _, ok := okValue(t); return ok }

func isEOF(t term.Term) bool { return t == term.Term(term.Atom("eof")) }

func joinTerms(ts []term.Term) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	switch len(s) {
	case 0:
		return "nothing"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func diagErrors(ds contract.Diagnostics) []error {
	var errs []error
	for _, d := range ds {
		if d.Severity == contract.Error {
			errs = append(errs, d)
		}
	}
	return errs
}
