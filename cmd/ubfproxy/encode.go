package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ubfproxy/ubfproxy/term"
	wjson "github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

func newEncodeCmd() *cobra.Command {
	var wire string
	cmd := &cobra.Command{
		Use:   "encode [FILE]",
		Short: "Write terms given in the text notation as wire bytes",
		Long: `encode reads terms in the text notation (standard input, or FILE) and writes
each as one message of the wire format: for ubf a canonical UBF(A) frame
"X$" and a newline, for json one line of JSON. Terms are separated by white
space and usually written one per line; a line starting with "# " is a
comment, and so are the trace markers "> ", "< ", ">! " and "<! " at the
start of a line, so the output of "decode --side" can be encoded again.

Floats and maps have no UBF(A) form, and a map key must be a string or an
atom in JSON: such a term is an error (exit status 2) naming its line.`,
		Example: `  echo '{person, "Joe", 123, <<"abc">>, [a, b]}' | ubfproxy encode --wire ubf
  echo '{open, "foo.dat", read}' | ubfproxy encode --wire json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var enc func([]byte, term.Term) ([]byte, error)
			switch wire {
			case "ubf":
				enc = ubf.AppendEncode
			case "json":
				enc = wjson.AppendEncode
			default:
				return usageErrorf("unknown wire format %q (want ubf or json)", wire)
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
				rest = skipTextFiller(rest)
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
				if buf, err = enc(buf[:0], t); err != nil {
					line, _ := lineCol(src, at)
					return usageErrorf("encode: line %d: %v", line, err)
				}
				buf = append(buf, '\n')
				if _, err := out.Write(buf); err != nil {
					return fmt.Errorf("encode: writing: %w", err)
				}
				rest = after
			}
		},
	}
	cmd.Flags().StringVar(&wire, "wire", "ubf", "wire format: ubf or json")
	return cmd
}

// skipTextFiller skips white space, comment lines ("# ..." or a lone "#")
// and trace markers at the start of a line.
func skipTextFiller(s string) string {
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
			s = s[3:]
		case strings.HasPrefix(s, "> "), strings.HasPrefix(s, "< "):
			s = s[2:]
		default:
			return s
		}
	}
}

func lineCol(s string, off int) (line, col int) {
	if off > len(s) {
		off = len(s)
	}
	line = 1 + strings.Count(s[:off], "\n")
	col = off - strings.LastIndexByte(s[:off], '\n')
	return line, col
}
