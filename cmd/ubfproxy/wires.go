package main

import (
	"slices"
	"strings"

	"github.com/ubfproxy/ubfproxy/wrappers"
	wjson "github.com/ubfproxy/ubfproxy/wrappers/json"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// proxyWires are the wire formats run can put in front of a service, by
// their --wire name: ubf, json, resp, and one per text protocol family
// (smtp, ftp, pop3, irc, memcached, line). Adding a format is one line
// here.
var proxyWires = func() map[string]wrappers.Wire {
	m := map[string]wrappers.Wire{
		"ubf":  ubf.Wire{},
		"json": wjson.Wire{},
		"resp": resp.Wire{},
	}
	for _, f := range text.Families() {
		m[f.Name] = text.NewWire(f)
	}
	return m
}()

// textFamily returns the text protocol family of the wire called name, or
// nil when it is not a text wire.
func textFamily(name string) *text.Family {
	if w, ok := proxyWires[name].(text.Wire); ok {
		return w.Family
	}
	return nil
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
