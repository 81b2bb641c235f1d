package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	wjson "github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

func newEncodeCmd() *cobra.Command {
	var wire, side string
	cmd := &cobra.Command{
		Use:   "encode [FILE]",
		Short: "Write terms given in the text notation as wire bytes",
		Long: `encode reads terms in the text notation (standard input, or FILE) and writes
each as one message of the wire format: for ubf a canonical UBF(A) frame
"X$" and a newline, for json one line of JSON. Terms are separated by white
space and usually written one per line; a line starting with "# " is a
comment. Lines in replay's trace notation are understood, so the output of
"decode --side" can be encoded again: "> T" and "< T" are the term T,
"< T x State" is a UBF(C) reply {T, State}, and the events ">! T" and "<! T"
are wrapped as the wire carries them ({'event_in', T} and {'event_out', T}
for ubf, {"$E": T} for json).

For resp, "> T" (or a bare T with --side client) is a command, an array of
bulk strings ({set, <<"k">>, <<"v">>} is SET k v), and "< T" a server frame:
{error, Text} an error, ok a simple string, nil a null, integers, binaries,
lists and maps as RESP3 writes them.

For the text wires (smtp, ftp, pop3, irc, memcached, line) each term is one
message as docs/wires describes it: "> T" (or ">! T") a client's, "< T" (or
"<! T") a server's; a term without a marker is sent by --side (client unless
told). A POP3 answer carries its dot-terminated block itself ({ok, Text,
[Line, ...]}), as a memcached command carries its data block (the binary at
its end).

Floats and maps have no UBF(A) form, and a map key must be a string or an
atom in JSON; a text wire cannot carry a word with a space where it splits
at spaces, nor a line break inside a line: such a term is an error (exit
status 2) naming its line.`,
		Example: `  echo '{person, "Joe", 123, <<"abc">>, [a, b]}' | ubfproxy encode --wire ubf
  echo '{open, "foo.dat", read}' | ubfproxy encode --wire json
  echo '{privmsg, "#erlang", "hello joe"}' | ubfproxy encode --wire irc
  printf '> {set, "k", "0", "0", "2", <<"hi">>}\n< stored\n' | ubfproxy encode --wire memcached`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, ok := proxyWires[wire]; !ok {
				return usageErrorf("unknown wire format %q (want %s)", wire, strings.Join(proxyWireNames(), ", "))
			}
			var bareSide wrappers.Side
			switch side {
			case "client":
				bareSide = wrappers.Client
			case "server":
				bareSide = wrappers.Server
			default:
				return usageErrorf("--side must be client or server, not %q", side)
			}
			in, closeIn, err := openInput(cmd, args)
			if err != nil {
				return err
			}
			defer closeIn()
			text, err := io.ReadAll(in)
			if err != nil {
				return usageErrorf("encode: reading: %v", err)
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			src := string(text)
			rest := src
			var buf []byte
			for {
				var marker string
				rest, marker = skipTextFiller(rest)
				if rest == "" {
					return nil
				}
				at := len(src) - len(rest)
				t, after, err := term.ParsePrefix(rest)
				if err != nil {
					var se *term.SyntaxError
					if errors.As(err, &se) {
						line, col := lineCol(src, at+se.Offset)
						return usageErrorf("encode: line %d, column %d: %s", line, col, se.Msg)
					}
					return usageErrorf("encode: %v", err)
				}
				// "Reply x State" is a reply with the state the server
				// announced: UBF(C) carries it as {Reply, State}.
				if state, rest, ok := announcedState(after); ok {
					if wire == "ubf" {
						t = term.Tuple{t, term.Atom(state)}
					}
					after = rest
				}
				from := bareSide
				switch marker {
				case ">", ">!":
					from = wrappers.Client
				case "<", "<!":
					from = wrappers.Server
				}
				if buf, err = appendWire(buf[:0], wire, from, marker, t); err != nil {
					line, _ := lineCol(src, at)
					return usageErrorf("encode: line %d: %v", line, err)
				}
				if _, err := out.Write(buf); err != nil {
					return fmt.Errorf("encode: writing: %w", err)
				}
				rest = after
			}
		},
	}
	cmd.Flags().StringVar(&wire, "wire", "ubf", "wire format: "+strings.Join(proxyWireNames(), ", "))
	cmd.Flags().StringVar(&side, "side", "client", "text wires: who sends a term without a > or < marker (client or server)")
	return cmd
}

// skipTextFiller skips white space, comment lines ("# ..." or a lone "#")
// and returns the trace marker (>, <, >!, <!) that starts the next term, if
// any.
func skipTextFiller(s string) (rest, marker string) {
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		switch {
		case strings.HasPrefix(s, "# "), s == "#", strings.HasPrefix(s, "#\n"), strings.HasPrefix(s, "#\t"):
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[i+1:]
			} else {
				s = ""
			}
		case strings.HasPrefix(s, ">! "), strings.HasPrefix(s, "<! "):
			return s[3:], s[:2]
		case strings.HasPrefix(s, "> "), strings.HasPrefix(s, "< "):
			return s[2:], s[:1]
		default:
			return s, ""
		}
	}
}

// appendWire writes t, sent by from with the trace marker (>, <, >!, <!
// or none), as a message of the wire called name: text and RESP messages
// carry their own line ends, a UBF or JSON message gets a newline and an
// event its envelope.
func appendWire(dst []byte, name string, from wrappers.Side, marker string, t term.Term) ([]byte, error) {
	if fam := textFamily(name); fam != nil {
		return fam.AppendEncode(dst, from, t)
	}
	var err error
	switch name {
	case "resp":
		return resp.AppendEncode(dst, from, t)
	case "json":
		dst, err = wjson.AppendEncode(dst, wrapEvent(name, marker, t))
	default:
		dst, err = ubf.AppendEncode(dst, wrapEvent("ubf", marker, t))
	}
	if err != nil {
		return dst, err
	}
	return append(dst, '\n'), nil
}

// wrapEvent gives an event of the trace notation the envelope its wire
// format carries events in: UBF(C)'s {'event_out', E} and {'event_in', E},
// and {"$E": E} for JSON.
func wrapEvent(wire, marker string, t term.Term) term.Term {
	switch {
	case marker == "<!" && wire == "ubf":
		return term.Tuple{term.Atom("event_out"), t}
	case marker == ">!" && wire == "ubf":
		return term.Tuple{term.Atom("event_in"), t}
	case (marker == "<!" || marker == ">!") && wire == "json":
		return term.Map{{Key: term.String("$E"), Value: t}}
	}
	return t
}

// announcedState reads " x State" after a reply's term, as decode --side
// server prints it and replay reads it.
func announcedState(s string) (state, rest string, ok bool) {
	t := strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(t, "x ") && !strings.HasPrefix(t, "x\t") {
		return "", s, false
	}
	t = strings.TrimLeft(t[1:], " \t")
	end := strings.IndexAny(t, " \t\r\n#%,")
	if end < 0 {
		end = len(t)
	}
	if end == 0 {
		return "", s, false
	}
	return t[:end], t[end:], true
}

func lineCol(s string, off int) (line, col int) {
	if off > len(s) {
		off = len(s)
	}
	line = 1 + strings.Count(s[:off], "\n")
	col = off - strings.LastIndexByte(s[:off], '\n')
	return line, col
}
