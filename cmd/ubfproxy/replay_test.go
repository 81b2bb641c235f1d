package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/golden"
	"github.com/ubfproxy/ubfproxy/term"
)

// The golden files under testdata/replay/ record what a user sees from
// replay: exit status, stdout and stderr. Rewrite them after an intended
// change with
//
//	go test ./cmd/ubfproxy/ -run Replay -update

const replayDir = "testdata/replay"

func rp(name string) string { return filepath.Join(replayDir, name) }

func TestReplayGolden(t *testing.T) {
	con := rp("file.con")
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"ok", "", []string{"--contract", con, rp("ok.trace")}, 0},
		{"unfinished", "", []string{"--contract", con, rp("unfinished.trace")}, 0},
		{"client", "", []string{"--contract", con, rp("client.trace")}, 1},
		{"server", "", []string{"--contract", con, rp("server.trace")}, 1},
		{"wrong_direction", "", []string{"--contract", con, rp("wrong_direction.trace")}, 1},
		{"next_state", "", []string{"--contract", con, rp("next_state.trace")}, 1},
		{"after_stop", "", []string{"--contract", con, rp("after_stop.trace")}, 1},
		{"pipelined", "", []string{"--contract", con, rp("pipelined.trace")}, 1},
		{"several", "", []string{"--contract", con, rp("ok.trace"), rp("client.trace"), rp("unfinished.trace")}, 1},
		{"json", "", []string{"--contract", con, "--format", "json", rp("ok.trace"), rp("server.trace")}, 1},
		{"json_ok", "", []string{"--contract", con, "--format=json", rp("unfinished.trace")}, 0},
		{"stdin", "> info\n< \"v1\"\n", []string{"--contract", con, "-"}, 0},
		{"initial", "", []string{"--contract", con, "--initial", "ready", rp("ready.trace")}, 0},
		{"types", "", []string{"--contract", rp("uses_types.con"), "--types", rp("types.con"), rp("uses_types.trace")}, 1},
		{"handle_ok", "", []string{"--contract", rp("handle.con"), rp("handle_ok.trace")}, 0},
		{"handle_wrong", "", []string{"--contract", rp("handle.con"), rp("handle_wrong.trace")}, 1},
		{"handle_wrong_json", "", []string{"--contract", rp("handle.con"), "--format", "json", rp("handle_wrong.trace")}, 1},
		{"secret", "", []string{"--contract", rp("secret.con"), rp("secret.trace"), rp("secret_reply.trace")}, 1},
		{"secret_json", "", []string{"--contract", rp("secret.con"), "--format", "json", rp("secret.trace"), rp("secret_reply.trace")}, 1},
		{"ftp_ok", "", []string{"--contract", rp("ftp.con"), rp("ftp_ok.trace")}, 0},
		{"ftp_early", "", []string{"--contract", rp("ftp.con"), rp("ftp_early.trace")}, 1},
		{"ftp_sending", "", []string{"--contract", rp("ftp.con"), rp("ftp_sending.trace")}, 1},
		{"ftp_bad_tail", "", []string{"--contract", rp("ftp.con"), rp("ftp_bad_tail.trace")}, 1},
		{"bad_direction", "", []string{"--contract", con, rp("bad_direction.trace")}, 2},
		{"bad_term", "", []string{"--contract", con, rp("bad_term.trace")}, 2},
		{"bad_trailing", "", []string{"--contract", con, rp("bad_trailing.trace")}, 2},
		{"bad_state", "", []string{"--contract", con, rp("bad_state.trace")}, 2},
		{"empty_line", "", []string{"--contract", con, rp("empty_line.trace")}, 2},
		{"malformed_and_violation", "", []string{"--contract", con, rp("client.trace"), rp("bad_term.trace")}, 2},
		{"missing_trace", "", []string{"--contract", con, rp("nosuch.trace")}, 2},
		{"no_traces", "", []string{"--contract", con}, 2},
		{"no_contract", "", []string{rp("ok.trace")}, 2},
		{"folder", "", []string{"--contract", con, rp("folder")}, 0},
		{"folder_no_contract", "", []string{rp("folder")}, 2},
		{"coverage", "", []string{"--contract", con, "--coverage", rp("folder")}, 0},
		{"coverage_json", "", []string{"--contract", con, "--coverage", "--format", "json", rp("folder/read.trace"), rp("folder/error.trace")}, 0},
		{"coverage_violation", "", []string{"--contract", con, "--coverage", rp("client.trace"), rp("ok.trace")}, 1},
		{"min_coverage_below", "", []string{"--contract", con, "--min-coverage", "80", rp("folder")}, 1},
		{"min_coverage_met", "", []string{"--min-coverage", "60", rp("folder/sub/handle.trace")}, 0},
		{"min_coverage_bad", "", []string{"--min-coverage", "120", rp("folder")}, 2},
		{"no_trace_folder", "", []string{"--contract", con, "testdata/check/types"}, 2},
		{"missing_contract", "", []string{"--contract", rp("nosuch.con"), rp("ok.trace")}, 2},
		{"broken_contract", "", []string{"--contract", rp("broken.con"), rp("ok.trace")}, 2},
		{"bad_format", "", []string{"--contract", con, "--format", "yaml", rp("ok.trace")}, 2},
		{"bad_initial", "", []string{"--contract", con, "--initial", "nowhere", rp("ok.trace")}, 2},
		{"bad_flag", "", []string{"--contract", con, "--colour", rp("ok.trace")}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runUbfproxy(t, tc.stdin, append([]string{"replay"}, tc.args...)...)
			if res.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", res.code, tc.code, res)
			}
			golden.Check(t, rp(tc.name+".golden"), []byte(res.String()))
		})
	}
}

// TestReplayJSONShape: the JSON report parses and carries the violation's
// fields.
func TestReplayJSONShape(t *testing.T) {
	res := runUbfproxy(t, "", "replay", "--contract", rp("file.con"), "--format", "json", rp("client.trace"))
	var rep replayReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, res.stdout)
	}
	if rep.OK || len(rep.Traces) != 1 || rep.Traces[0].Violation == nil {
		t.Fatalf("report = %+v", rep)
	}
	v := rep.Traces[0].Violation
	if v.Line != 3 || v.Side != "client" || v.Kind != "bad-request" || len(v.Expected) != 5 ||
		!strings.Contains(v.Explanation, `expected fileHandle() = integer(), got "x"`) {
		t.Errorf("violation = %+v", v)
	}
}

// TestReplayExampleTraces: every example trace of contracts/ (the README
// uses them) conforms to the contract of the same name.
func TestReplayExampleTraces(t *testing.T) {
	traces, err := filepath.Glob("../../contracts/*.trace")
	if err != nil || len(traces) == 0 {
		t.Fatalf("no example traces under contracts/ (%v)", err)
	}
	for _, tr := range traces {
		con := strings.TrimSuffix(tr, ".trace") + ".con"
		res := runUbfproxy(t, "", "replay", "--contract", con, tr)
		if res.code != 0 || !strings.Contains(res.stdout, ": ok, ") || !strings.Contains(res.stdout, "ends in state stop") {
			t.Errorf("%s does not conform to %s:\n%s", tr, con, res)
		}
	}
}

func TestParseTrace(t *testing.T) {
	src := "# c\n\n  > {a, 1}   # note\n<{ok}x s % note\r\n<! e\n>! [1]\n< b x\tt\n"
	lines, err := parseTrace("t", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		s := l.dir + " " + l.msg.String()
		if l.hasState {
			s += " x " + l.next
		}
		got = append(got, s+" @"+replayItoa(l.line))
	}
	want := "> {a, 1} @3|< {ok} x s @4|<! e @5|>! [1] @6|< b x t @7"
	if strings.Join(got, "|") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, "|"), want)
	}
}

func replayItoa(i int) string { return fmt.Sprint(i) }

// FuzzParseTrace: the trace parser never panics, reports errors with a
// position inside the text, and what it reads prints back to the same
// terms.
//
//	go test -run '^$' -fuzz FuzzParseTrace -fuzztime 20s ./cmd/ubfproxy/
func FuzzParseTrace(f *testing.F) {
	f.Add("> {open, \"foo.dat\", read}\n< {ok, 7} x ready\n")
	f.Add("<! {msg, \"joe\", \"hi\"}  # event\n>! ping\n")
	f.Add("# only a comment\n\n")
	f.Add("> {a, [1, 2], #{k => <<\"v\">>}} % c\n< x\n")
	f.Add(">\n")
	f.Add("< {ok x\n")
	f.Fuzz(func(t *testing.T, src string) {
		lines, err := parseTrace("f", []byte(src))
		if err != nil {
			var te *traceError
			if !errors.As(err, &te) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if te.line < 1 || te.line > strings.Count(src, "\n")+1 || te.col < 1 {
				t.Fatalf("position %d:%d outside the text: %v", te.line, te.col, err)
			}
			return
		}
		for _, l := range lines {
			back, err := term.Parse(l.msg.String())
			if err != nil || !term.Equal(back, l.msg) {
				t.Fatalf("line %d: %s does not read back: %v", l.line, l.msg, err)
			}
		}
	})
}

// TestShippedContractsCoverage replays every trace under contracts/ (each
// against the contract its "# contract:" line names) as CI does: all
// conform, and every shipped contract that has traces is covered to 80%.
func TestShippedContractsCoverage(t *testing.T) {
	r := runUbfproxy(t, "", "replay", "--coverage", "--min-coverage", "80", "../../contracts")
	if r.code != exitOK {
		t.Fatalf("replay --coverage --min-coverage 80 contracts/:\n%s", r)
	}
	covered := strings.Count(r.stdout, ": coverage by ")
	cons, _ := filepath.Glob("../../contracts/*.con")
	if covered != len(cons) {
		t.Errorf("%d contracts have traces, of %d shipped: add traces for the others", covered, len(cons))
	}
}
