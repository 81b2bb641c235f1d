package proxy

import (
	"strings"
	"testing"
)

// TestExplainLevels: what the client's error reply tells of a violation
// follows Config.Explain (brief by default: the rule broken, not every
// alternative; none: neither), while the record keeps everything.
func TestExplainLevels(t *testing.T) {
	for _, tc := range []struct {
		ex                    Explain
		expected, explanation bool
	}{
		{ExplainBrief, false, true},
		{ExplainFull, true, true},
		{ExplainNone, false, false},
	} {
		svc := startService(t, TCP, jsonKit, counterService(jsonKit, false))
		p := startProxy(t, svc, Config{Explain: tc.ex}, nil)
		c := p.dial(t)
		m := call(t, c, jsonKit, "{sub, 1}")
		raw := string(m.Raw)
		if !isErrorReply(m, jsonKit.errClient) {
			t.Fatalf("explain %d: got %s", tc.ex, raw)
		}
		if got := strings.Contains(raw, "{mul, integer()}") || strings.Contains(raw, "{add, integer()}"); got != tc.expected {
			t.Errorf("explain %d: the reply lists the alternatives: %v, want %v: %s", tc.ex, got, tc.expected, raw)
		}
		if got := strings.Contains(raw, "got {sub, 1}") || strings.Contains(raw, "no rule of this state"); got != tc.explanation {
			t.Errorf("explain %d: the reply explains: %v, want %v: %s", tc.ex, got, tc.explanation, raw)
		}
		v := p.logs.wait(t, "contract violation", 1)[0]
		if !strings.Contains(field(v, "expected"), "{add, integer()}") || field(v, "explanation") == "" {
			t.Errorf("explain %d: the record lost something: %v", tc.ex, v)
		}
	}
}
