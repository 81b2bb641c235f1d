package contract

import (
	"os"
	"testing"
)

func mustCompile(t *testing.T, name, src string) *Contract {
	t.Helper()
	c, ds := Compile(name, []byte(src), Options{})
	if c == nil {
		t.Fatalf("Compile(%s) failed:\n%v", name, ds)
	}
	return c
}

func TestFileServerModel(t *testing.T) {
	src, err := os.ReadFile("testdata/file_server.con")
	if err != nil {
		t.Fatal(err)
	}
	c := mustCompile(t, "file_server.con", string(src))
	if c.Name != "file_server" || c.Vsn != "1.0" || c.Initial != "start" {
		t.Fatalf("name/vsn/initial = %q %q %q", c.Name, c.Vsn, c.Initial)
	}
	var names []string
	for _, s := range c.States {
		names = append(names, s.Name)
	}
	if got, want := len(names), 5; got != want {
		t.Fatalf("states %v", names)
	}
	ready := c.State("ready")
	if ready == nil || len(ready.Rules) != 3 || ready.Terminal {
		t.Fatalf("ready = %+v", ready)
	}
	r := ready.Rules[0]
	if r.In.String() != "{read_line, fileHandle()}" {
		t.Errorf("rule in = %s", r.In)
	}
	if len(r.Outs) != 2 || r.Outs[1].Next != "atEof" || r.Outs[1].Type.String() != "eof" {
		t.Errorf("outs = %+v", r.Outs)
	}
	if ref, ok := r.In.(*TupleType).Elems[1].(*Ref); !ok || ref.Def == nil || ref.Def.Type.String() != "integer()" {
		t.Errorf("fileHandle() not resolved: %#v", r.In.(*TupleType).Elems[1])
	}
	if !c.State("stop").Terminal {
		t.Error("stop must be terminal")
	}
	if len(c.Anystate) != 1 || c.Anystate[0].Outs[0].Next != "" {
		t.Errorf("anystate = %+v", c.Anystate)
	}
	active := c.State("active")
	if active == nil || len(active.Events) != 2 || active.Events[0].Dir != Out || active.Events[1].Dir != In {
		t.Errorf("active = %+v", active)
	}
}

// TestConcurrentCompile compiles contracts from several goroutines at once
// (run with -race): the parser and compiler share no mutable state.
func TestConcurrentCompile(t *testing.T) {
	src, err := os.ReadFile("testdata/ubf/test_plugin.con")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func() {
			c, _ := Compile("test_plugin.con", src, Options{})
			out, _ := Format("test_plugin.con", src)
			if c == nil || out == nil {
				done <- "failed"
				return
			}
			done <- dumpModel(c)
		}()
	}
	first := <-done
	for i := 1; i < 8; i++ {
		if got := <-done; got != first {
			t.Fatalf("concurrent compiles differ or failed: %q", got)
		}
	}
}
