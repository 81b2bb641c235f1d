package suggest

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"kitten", "sitting", 3},
		{"raedy", "ready", 1},
		{"stae", "state", 1},
		{"ca", "abc", 3}, // optimal string alignment: no substring edited twice
		{"abc", "", 3},
		{"ab", "ba", 1},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"raedy", []string{"idle", "ready", "stop"}, "ready"},
		{"stae", []string{"name", "vsn", "state", "anystate"}, "state"},
		{"Ready", []string{"ready"}, "ready"},
		{"ready", []string{"ready"}, ""},
		{"xyz", []string{"ready", "stop"}, ""},
		{"stp", []string{"stop", "step"}, "step"}, // a tie goes to the first in order
		{"fileHandel", []string{"fileHandle", "file"}, "fileHandle"},
	}
	for _, tt := range tests {
		if got := Closest(tt.name, tt.candidates); got != tt.want {
			t.Errorf("Closest(%q, %v) = %q, want %q", tt.name, tt.candidates, got, tt.want)
		}
	}
}
