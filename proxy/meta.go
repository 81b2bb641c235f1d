package proxy

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/ubfproxy/ubfproxy/contract"
)

// metaSource is the contract of ubf's meta service (meta.con).
//
//go:embed meta.con
var metaSource []byte

var metaOnce = sync.OnceValues(func() (*contract.Contract, error) {
	c, diags := contract.Compile("meta.con", metaSource, contract.Options{})
	if c == nil || diags.HasErrors() {
		var msgs []string
		for _, d := range diags {
			msgs = append(msgs, d.Error())
		}
		return nil, fmt.Errorf("proxy: the built-in meta contract does not compile: %s", strings.Join(msgs, "; "))
	}
	return c, nil
})

// MetaContract returns the compiled contract of ubf's meta service, which
// sessions follow before {startSession, Name, Args} when Config.Meta is
// set. The contract is shared and read-only.
func MetaContract() (*contract.Contract, error) { return metaOnce() }
