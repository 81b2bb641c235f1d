package proxy

import "testing"

func TestMetaContractCompiles(t *testing.T) {
	c, err := MetaContract()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "ubf_meta" || c.Initial != "start" {
		t.Fatalf("meta contract: name %q initial %q", c.Name, c.Initial)
	}
}
