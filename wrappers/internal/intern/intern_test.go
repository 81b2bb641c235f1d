package intern

import (
	"strconv"
	"testing"
)

func TestGet(t *testing.T) {
	calls := 0
	mk := func(s string) string { calls++; return "<" + s + ">" }
	c := New[string](4, 3)
	tests := []struct {
		key       string
		want      string
		wantMade  bool
		wantCalls int
	}{
		{"ab", "<ab>", true, 1},
		{"ab", "<ab>", false, 1},    // a hit
		{"", "<>", true, 2},         // the empty key is cached too, not taken for an empty slot
		{"", "<>", false, 2},        //
		{"abcd", "<abcd>", true, 3}, // longer than maxLen: never cached
		{"abcd", "<abcd>", true, 4},
	}
	for i, tt := range tests {
		got, made := c.Get([]byte(tt.key), mk)
		if got != tt.want || made != tt.wantMade || calls != tt.wantCalls {
			t.Errorf("%d: Get(%q) = %q, %v after %d calls; want %q, %v after %d", i, tt.key, got, made, calls, tt.want, tt.wantMade, tt.wantCalls)
		}
	}
}

// TestEviction: a key that lost its slot to another is made again, and the
// cache never holds more than its size.
func TestEviction(t *testing.T) {
	c := New[int](8, 8)
	mk := func(s string) int { return len(s) }
	for i := range 1000 {
		if v, _ := c.Get([]byte(strconv.Itoa(i)), mk); v != len(strconv.Itoa(i)) {
			t.Fatalf("Get(%d) = %d", i, v)
		}
	}
	if len(c.slots) != 8 {
		t.Fatalf("%d slots, want 8", len(c.slots))
	}
	made := 0
	for i := range 1000 {
		if _, m := c.Get([]byte(strconv.Itoa(i)), mk); m {
			made++
		}
	}
	if made < 1000-8 {
		t.Errorf("only %d of 1000 keys made again through an 8-slot cache", made)
	}
}

func TestZeroCacheCachesNothing(t *testing.T) {
	var c Cache[string]
	for range 2 {
		if v, made := c.Get([]byte("x"), func(s string) string { return s }); v != "x" || !made {
			t.Fatalf("Get = %q, %v", v, made)
		}
	}
}

func TestNewRefusesOtherSizes(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(12, 4) did not panic")
		}
	}()
	New[int](8, MaxKey) // the largest keys
	New[int](12, 4)
}

// TestGetString: a key given as a string finds what the same bytes cached.
func TestGetString(t *testing.T) {
	c := New[string](16, 8)
	mk := func(s string) string { return s + "!" }
	c.Get([]byte("ok"), mk)
	if v, made := c.GetString("ok", mk); v != "ok!" || made {
		t.Errorf("GetString(ok) = %q, %v; want the cached ok!", v, made)
	}
}
