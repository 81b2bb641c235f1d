package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	wjson "github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// lookupWire returns the wire format decode reads. Every format run knows
// can be decoded with --side; without it only ubf and json, whose frames
// read the same whichever side sent them.
func lookupWire(name, side string) (wrappers.Wire, error) {
	w, ok := proxyWires[name]
	if !ok {
		return nil, usageErrorf("decode: unknown wire format %q (want %s)", name, strings.Join(proxyWireNames(), ", "))
	}
	if side == "" && name != "ubf" && name != "json" {
		return nil, usageErrorf("decode: --wire %s needs --side client or --side server: its client and server frames differ", name)
	}
	return w, nil
}

func newDecodeCmd() *cobra.Command {
	var (
		wire      string
		side      string
		simpleRPC bool
		limits    wrappers.Limits
	)
	cmd := &cobra.Command{
		Use:   "decode [FILE]",
		Short: "Print the messages of captured wire bytes as terms, one per line",
		Long: `decode reads the bytes one side of a connection sent (standard input, or FILE)
and prints each message as a term in the text notation, one per line.

Without --side it prints each frame's term as it is on the wire. With
--side client or --side server it classifies the frames as the proxy does
and prints them in the trace notation of replay:

  > request    a call (client)          >! event   a client event
  < reply      a reply (server)         <! event   a server event
  # greeting {'ubf1.0', ...}            (UBF(C)'s hello, not part of a contract)

For ubf, a reply {Reply, NextState} is printed as "< Reply x NextState",
the trace notation for a reply with the state the server announced, so
replay checks that state too and encode writes the tuple back.

resp and the text wires (smtp, ftp, pop3, irc, memcached, line) need
--side: a client's and a server's frames read differently. resp tells a
reply from an event by the requests outstanding, which decoding one side
alone cannot know: with --side server its frames all print as events (<!);
edit them into replies (<) to build a trace. A text wire does not say what
a message is: its lines print as "> T" (client) and "< T" (server), which
replay classifies by the contract (a call, a reply, a transition or an
event). Where the framing of an answer depends on the request (POP3's LIST,
memcached's get), decoding the server's side alone frames every answer as
one line.

Malformed input stops decoding with the byte offset and what was wrong
(exit status 2), after printing the messages before it.`,
		Example: `  printf "'person'>p # {p \"Joe\" 123} & {p 'fred' 3~abc~} & \$" | ubfproxy decode --wire ubf
  ubfproxy decode --wire json --side client capture.ndjson
  printf '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n' | ubfproxy decode --wire resp --side client
  printf 'PRIVMSG #erlang :hello joe\r\n' | ubfproxy decode --wire irc --side client`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := lookupWire(wire, side)
			if err != nil {
				return err
			}
			in, closeIn, err := openInput(cmd, args)
			if err != nil {
				return err
			}
			defer closeIn()
			if u, ok := w.(ubf.Wire); ok {
				u.SimpleRPC = simpleRPC
				w = u
			}
			opts := wrappers.Options{Limits: limits}
			sess := w.NewSession(opts)
			var next func() (wrappers.Message, error)
			switch side {
			case "":
				next = rawFrames(wire, in, opts)
			case "client":
				next = sess.ClientDecoder(in).Next
			case "server":
				next = sess.ServerDecoder(in).Next
			default:
				return usageErrorf("--side must be client or server, not %q", side)
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			var line []byte
			for {
				m, err := next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					out.Flush()
					var fe *wrappers.FrameError
					if errors.As(err, &fe) {
						return usageErrorf("decode: %v", fe)
					}
					return usageErrorf("decode: %w", err)
				}
				if m.Kind == wrappers.Filler {
					continue
				}
				line = appendMessage(line[:0], m, side)
				if _, err := out.Write(line); err != nil {
					return fmt.Errorf("decode: writing: %w", err)
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&wire, "wire", "ubf", "wire format: "+strings.Join(proxyWireNames(), ", ")+" (all but ubf and json need --side)")
	f.StringVar(&side, "side", "", "classify the frames as sent by the client or the server (trace notation)")
	f.BoolVar(&simpleRPC, "simple-rpc", false, "ubf: replies are bare, without {Reply, NextState}")
	f.IntVar(&limits.MaxFrame, "max-frame", 0, "largest frame in bytes (0: 16 MiB)")
	f.IntVar(&limits.MaxDepth, "max-depth", 0, "deepest nesting of tuples, lists and maps (0: 1000)")
	f.IntVar(&limits.MaxBinary, "max-binary", 0, "longest binary or string in bytes (0: 16 MiB)")
	return cmd
}

// rawFrames returns every frame's term unclassified (as a Call).
func rawFrames(wire string, in io.Reader, opts wrappers.Options) func() (wrappers.Message, error) {
	var frame func() (term.Term, []byte, error)
	if wire == "json" {
		frame = wjson.NewDecoder(in, opts).Frame
	} else {
		frame = ubf.NewDecoder(in, opts.Limits).Frame
	}
	return func() (wrappers.Message, error) {
		t, raw, err := frame()
		if err != nil {
			return wrappers.Message{}, err
		}
		if t == nil {
			return wrappers.Message{Kind: wrappers.Filler, Raw: raw}, nil
		}
		return wrappers.Message{Kind: wrappers.Call, Term: t, Raw: raw}, nil
	}
}

func appendMessage(b []byte, m wrappers.Message, side string) []byte {
	if side != "" {
		switch m.Kind {
		case wrappers.Greeting:
			b = append(b, "# greeting "...)
		case wrappers.Call:
			b = append(b, "> "...)
		case wrappers.Reply:
			b = append(b, "< "...)
		case wrappers.Unknown:
			// The contract decides what it is (replay does).
			if side == "client" {
				b = append(b, "> "...)
			} else {
				b = append(b, "< "...)
			}
		case wrappers.Event:
			if side == "client" {
				b = append(b, ">! "...)
			} else {
				b = append(b, "<! "...)
			}
		}
	}
	b = term.AppendText(b, m.Term)
	if side != "" && m.NextState != "" {
		b = append(b, " x "...)
		b = append(b, m.NextState...)
	}
	return append(b, '\n')
}

// openInput returns standard input, or the file named by the only
// argument ("-" is standard input too).
func openInput(cmd *cobra.Command, args []string) (io.Reader, func(), error) {
	if len(args) == 0 || args[0] == "-" {
		return cmd.InOrStdin(), func() {}, nil
	}
	f, err := os.Open(args[0])
	if err != nil {
		return nil, nil, usageErrorf("%v", err)
	}
	return f, func() { f.Close() }, nil
}
