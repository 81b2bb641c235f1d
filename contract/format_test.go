package contract

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/grammar"
	"github.com/ubfproxy/ubfproxy/internal/golden"
)

// fixtures lists every contract under testdata with the --types files it
// needs.
func fixtures(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.Walk("testdata", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".con") {
			out[path] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out[filepath.Join("testdata", "ubf", "stateful_plugin.con")] = []string{filepath.Join("testdata", "ubf", "types_plugin.con")}
	return out
}

// TestFormatFixtures formats every fixture and checks that formatting is
// idempotent, keeps every comment, and compiles to the same model.
func TestFormatFixtures(t *testing.T) {
	for path, types := range fixtures(t) {
		t.Run(path, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, diags := Format(path, src)
			if diags.HasErrors() {
				if !strings.Contains(path, "syntax") {
					t.Fatalf("Format: %v", diags)
				}
				if diags[0].Code != "syntax" || out != nil {
					t.Errorf("a syntax error must come back as a finding: %v", diags)
				}
				return
			}
			again, diags := Format(path, out)
			if diags.HasErrors() {
				t.Fatalf("formatted output does not parse: %v\n%s", diags, out)
			}
			if string(again) != string(out) {
				t.Errorf("not idempotent:\n--- first\n%s--- second\n%s", out, again)
			}
			if got, want := commentTexts(t, path, out), commentTexts(t, path, src); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("comments changed:\n got %q\nwant %q", got, want)
			}
			opts := Options{TypeFiles: types}
			c1, d1 := Compile(path, src, opts)
			c2, d2 := Compile(path, out, opts)
			if codes(d1) != codes(d2) {
				t.Errorf("findings differ:\n%v\n%v", d1, d2)
			}
			if (c1 == nil) != (c2 == nil) {
				t.Fatalf("compiles before: %v, after: %v", c1 != nil, c2 != nil)
			}
			if c1 != nil && dumpModel(c1) != dumpModel(c2) {
				t.Errorf("model changed:\n--- before\n%s--- after\n%s", dumpModel(c1), dumpModel(c2))
			}
		})
	}
}

func TestFormatGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "format", "*.con"))
	if len(files) == 0 {
		t.Fatal("no inputs")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, diags := Format(f, src)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		golden.Check(t, strings.TrimSuffix(f, ".con")+".golden", out)
	}
}

func TestFormatSyntaxError(t *testing.T) {
	out, diags := Format("bad.con", []byte("+state start x a -> b x c\n"))
	if out != nil || len(diags) != 1 || diags[0].Code != "syntax" || diags[0].Pos.Line != 2 && diags[0].Pos.Line != 1 {
		t.Errorf("got %q %v", out, diags)
	}
}

func commentTexts(t *testing.T, name string, src []byte) []string {
	f, err := grammar.Parse(name, src)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range f.Comments {
		out = append(out, c.Text)
	}
	return out
}

func codes(ds Diagnostics) string {
	var cs []string
	for _, d := range ds {
		cs = append(cs, string(d.Code))
	}
	sort.Strings(cs)
	return strings.Join(cs, ",")
}

// dumpModel prints everything in a compiled contract except positions.
func dumpModel(c *Contract) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name %q vsn %q initial %q vars %v\n", c.Name, c.Vsn, c.Initial, c.Vars)
	var names []string
	for n, d := range c.Types {
		if !d.Builtin {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		d := c.Types[n]
		fmt.Fprintf(&b, "type %s() = %s imported=%v annotation=%q\n", n, d.Type, d.Imported, d.Annotation)
	}
	for _, s := range c.States {
		fmt.Fprintf(&b, "state %s terminal=%v\n", s.Name, s.Terminal)
		for _, r := range s.Rules {
			fmt.Fprintf(&b, "  rule %s ->", r.In)
			for _, o := range r.Outs {
				fmt.Fprintf(&b, " %s x %s;", o.Type, o.Next)
			}
			b.WriteString("\n")
		}
		for _, e := range s.Events {
			fmt.Fprintf(&b, "  event %s %s x %s transition=%v\n", e.Dir, e.Type, e.Next, e.Transition)
		}
	}
	for _, r := range c.Anystate {
		fmt.Fprintf(&b, "anystate %s -> %s\n", r.In, r.Outs[0].Type)
	}
	for _, e := range c.AnyEvents {
		fmt.Fprintf(&b, "anyevent %s %s\n", e.Dir, e.Type)
	}
	return b.String()
}
