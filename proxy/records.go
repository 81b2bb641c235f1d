package proxy

import "github.com/ubfproxy/ubfproxy/contract"

// recordFields indexes the record types of c by name for wire formats that
// carry records as named fields (wrappers.Options.RecordFields).
func recordFields(c *contract.Contract) map[string][]string { return contract.RecordFields(c) }
