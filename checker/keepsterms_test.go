package checker

import "testing"

// TestKeepsTerms: only a contract with variables makes a session hold on to
// parts of the messages it checked (the proxy reuses a request's memory
// when it does not).
func TestKeepsTerms(t *testing.T) {
	tests := []struct {
		name, src string
		want      bool
	}{
		{"no variables", `+name("a").
+state start x {get, binary()} -> binary() x start.
`, false},
		{"a variable", `+name("b").
+state start x {set, K = binary(), binary()} -> ok x bound.
+state bound x {set, K, binary()} -> ok x bound.
`, true},
		{"a variable in a named type", `+name("c").
+deftype hello() = {hello, W = binary()}.
+state start x hello() -> {welcome, W} x start.
`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Prepare(compileContract(t, tc.src)).NewSession(Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.KeepsTerms(); got != tc.want {
				t.Errorf("KeepsTerms() = %v, want %v", got, tc.want)
			}
		})
	}
}
