package main

import (
	"slices"
	"strings"

	"github.com/ubfproxy/ubfproxy/wrappers"
	wjson "github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/line"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// proxyWires are the wire formats run can put in front of a service, by
// their --wire name. Adding a format is one line here.
var proxyWires = map[string]wrappers.Wire{
	"ubf":  ubf.Wire{},
	"json": wjson.Wire{},
	"resp": resp.Wire{},
	"line": line.Wire{},
}

// proxyWire returns the wire format named name, or a usage error listing
// the known ones.
func proxyWire(name string) (wrappers.Wire, error) {
	if w, ok := proxyWires[name]; ok {
		return w, nil
	}
	return nil, usageErrorf("run: unknown wire format %q (want %s)", name, strings.Join(proxyWireNames(), ", "))
}

// proxyWireNames lists the known wire formats in order.
func proxyWireNames() []string {
	names := make([]string, 0, len(proxyWires))
	for n := range proxyWires {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// hasPrelude reports whether sessions on w begin with a prelude (ubf's
// meta service).
func hasPrelude(w wrappers.Wire) bool {
	p, ok := w.(wrappers.Prelude)
	if !ok {
		return false
	}
	_, _, ok = p.PreludeContract()
	return ok
}
