package proxy

import (
	"testing"

	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// TestNewPrelude: the ubf wire's meta contract compiles, and only a wire
// configured for a prelude gets one.
func TestNewPrelude(t *testing.T) {
	p, err := newPrelude(ubf.Wire{Meta: true})
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.v.c.Name != "ubf_meta" || p.v.c.Initial != "start" {
		t.Fatalf("prelude %+v", p)
	}
	for _, w := range []wrappers.Wire{ubf.Wire{}, json.Wire{}} {
		if p, err := newPrelude(w); err != nil || p != nil {
			t.Errorf("%s: prelude %v, %v; want none", w.Name(), p, err)
		}
	}
}
