package contract

import (
	"path/filepath"
	"testing"
)

// TestRealUBFContracts compiles contracts of the ubf 2.x project (and its
// jsonrpc and thrift siblings) exactly as they are published.
func TestRealUBFContracts(t *testing.T) {
	tests := []struct {
		file      string
		types     []string
		initial   string
		states    int // including stop
		anystate  int
		anyEvents int
	}{
		{file: "irc_plugin.con", initial: "start", states: 3, anystate: 3},
		{file: "file_plugin.con", initial: "start", states: 2, anystate: 3},
		{file: "ubf_plugin_meta.con", states: 1, anystate: 7},
		{file: "types_plugin.con", states: 1},
		{file: "stateful_plugin.con", types: []string{"types_plugin.con"}, initial: "start", states: 3, anystate: 4},
		{file: "ubf_thrift_plugin.con", states: 1, anystate: 5, anyEvents: 4},
		{file: "test_plugin.con", initial: "start", states: 4, anystate: 14},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var types []string
			for _, f := range tt.types {
				types = append(types, filepath.Join("testdata", "ubf", f))
			}
			c, diags, err := Load(filepath.Join("testdata", "ubf", tt.file), Options{TypeFiles: types})
			if err != nil {
				t.Fatal(err)
			}
			if c == nil {
				t.Fatalf("not compiled:\n%v", diags)
			}
			for _, d := range diags {
				t.Logf("%s [%s]", d.Error(), d.Code)
			}
			if c.Initial != tt.initial || len(c.States) != tt.states || len(c.Anystate) != tt.anystate || len(c.AnyEvents) != tt.anyEvents {
				t.Errorf("initial %q states %d anystate %d anyevents %d, want %q %d %d %d",
					c.Initial, len(c.States), len(c.Anystate), len(c.AnyEvents), tt.initial, tt.states, tt.anystate, tt.anyEvents)
			}
		})
	}
}
