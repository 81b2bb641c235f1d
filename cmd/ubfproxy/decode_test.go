package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
	"github.com/ubfproxy/ubfproxy/term"
)

// The golden files under testdata/decode and testdata/encode record the
// exit status, standard output and standard error of one command line
// reading one input file. Rewrite them after an intended change
// (internal/golden) with
//
//	go test ./cmd/ubfproxy/ -run 'Decode|Encode' -update

type codecCase struct {
	name  string // golden file testdata/<cmd>/<name>.golden
	input string // file under testdata/<cmd>/, given on standard input
	args  []string
}

// runCodecGolden runs each case through run() and compares what it printed
// with the golden file.
func runCodecGolden(t *testing.T, cmd string, cases []codecCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", cmd, c.input))
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{cmd}, c.args...), bytes.NewReader(in), &stdout, &stderr)
			got := "$ ubfproxy " + cmd + " " + strings.Join(c.args, " ") + " < " + c.input + "\nexit " +
				string(rune('0'+code)) + "\n-- stdout --\n" + stdout.String() + "-- stderr --\n" + stderr.String()
			golden.Check(t, filepath.Join("testdata", cmd, c.name+".golden"), []byte(got))
		})
	}
}

func TestDecodeGolden(t *testing.T) {
	runCodecGolden(t, "decode", []codecCase{
		{"ubf_frames", "ubf_frames.in", []string{"--wire", "ubf"}},
		{"ubf_default_wire", "ubf_frames.in", nil},
		{"ubf_server", "ubf_server.in", []string{"--wire", "ubf", "--side", "server"}},
		{"ubf_server_simple_rpc", "ubf_server.in", []string{"--wire", "ubf", "--side", "server", "--simple-rpc"}},
		{"ubf_client", "ubf_client.in", []string{"--wire", "ubf", "--side", "client"}},
		{"ubf_float", "ubf_float.in", []string{"--wire", "ubf"}},
		{"ubf_huge_binary", "ubf_huge_binary.in", []string{"--wire", "ubf"}},
		{"ubf_max_binary", "ubf_frames.in", []string{"--wire", "ubf", "--max-binary", "4"}},
		{"json", "json.in", []string{"--wire", "json"}},
		{"json_client", "json.in", []string{"--wire", "json", "--side", "client"}},
		{"json_server", "json.in", []string{"--wire", "json", "--side", "server"}},
		{"json_malformed", "json_malformed.in", []string{"--wire", "json"}},
		{"unknown_wire", "json.in", []string{"--wire", "xml"}},
		{"resp_client", "resp_client.in", []string{"--wire", "resp", "--side", "client"}},
		{"resp_no_side", "resp_client.in", []string{"--wire", "resp"}},
		{"smtp_server", "smtp_server.in", []string{"--wire", "smtp", "--side", "server"}},
		{"line_server", "smtp_server.in", []string{"--wire", "line", "--side", "server"}},
		{"irc_client", "irc_client.in", []string{"--wire", "irc", "--side", "client"}},
		{"memcached_client", "memcached_client.in", []string{"--wire", "memcached", "--side", "client"}},
		{"text_no_side", "irc_client.in", []string{"--wire", "irc"}},
		{"bad_side", "json.in", []string{"--side", "both"}},
		{"missing_file", "json.in", []string{"no-such-file.ubf"}},
	})
}

// TestDecodeFileArgument reads the input from a file named on the command
// line instead of standard input.
func TestDecodeFileArgument(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"decode", "--wire", "json", filepath.Join("testdata", "decode", "json.in")}, strings.NewReader("ignored"), &stdout, &stderr)
	if code != 0 || !strings.HasPrefix(stdout.String(), `{open, "foo.dat", read}`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// TestEncodeDecodeRoundTrip checks that decode gives back what encode was
// given, for both wire formats.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	terms := []string{
		`{open, "foo.dat", read}`,
		`{person, 'Joe Armstrong', 123456789012345678901234567890, <<1,2,255>>, "say \"hi\"\n$"}`,
		`[[], {}, [a, [b]], -1]`,
		`<<"~$~">>`,
	}
	for _, wire := range []string{"ubf", "json"} {
		var enc, dec, stderr bytes.Buffer
		if code := run([]string{"encode", "--wire", wire}, strings.NewReader(strings.Join(terms, "\n")), &enc, &stderr); code != 0 {
			t.Fatalf("%s: encode exit %d: %s", wire, code, stderr.String())
		}
		if code := run([]string{"decode", "--wire", wire}, bytes.NewReader(enc.Bytes()), &dec, &stderr); code != 0 {
			t.Fatalf("%s: decode exit %d: %s", wire, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(dec.String(), "\n"), "\n")
		if len(lines) != len(terms) {
			t.Fatalf("%s: decoded %d lines from %q", wire, len(lines), enc.String())
		}
		for i, l := range lines {
			if !term.Equal(term.MustParse(l), term.MustParse(terms[i])) {
				t.Errorf("%s: %s came back as %s", wire, terms[i], l)
			}
		}
	}
}
