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

// TestReset: a reset cache holds no slot, and caches again from its
// first slots.
func TestReset(t *testing.T) {
	c := New[int](64, 8)
	mk := func(s string) int { return len(s) }
	for i := range 100 {
		c.Get([]byte(strconv.Itoa(i)), mk)
	}
	c.Reset()
	if c.slots != nil {
		t.Fatalf("%d slots after Reset, want none", len(c.slots))
	}
	if _, made := c.Get([]byte("7"), mk); !made {
		t.Error("a key was found after Reset")
	}
	if _, made := c.Get([]byte("7"), mk); made {
		t.Error("a key was not cached again after Reset")
	}
	if len(c.slots) != firstSlots {
		t.Errorf("%d slots after Reset and one key, want %d", len(c.slots), firstSlots)
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

// TestSizedByUse: a cache holds no slots until its first key, a few while
// few keys are used, and grows to its size, no further, as keys collide;
// keys cached before a growth are still hits after it.
func TestSizedByUse(t *testing.T) {
	c := New[int](256, 16)
	mk := func(s string) int { return len(s) }
	if c.slots != nil {
		t.Fatal("slots before the first key")
	}
	c.Get([]byte("get"), mk)
	c.Get([]byte("ok"), mk)
	if len(c.slots) > 4*firstSlots { // one growth if they collide
		t.Fatalf("%d slots for two keys, want at most %d", len(c.slots), 4*firstSlots)
	}
	for i := range 1000 {
		c.Get([]byte(strconv.Itoa(i)), mk)
	}
	if len(c.slots) != 256 {
		t.Fatalf("%d slots after 1,000 keys, want the size, 256", len(c.slots))
	}
	hits := 0
	for i := 900; i < 1000; i++ {
		if _, made := c.Get([]byte(strconv.Itoa(i)), mk); !made {
			hits++
		}
	}
	if hits < 30 {
		t.Errorf("%d of the last 100 keys still cached, want most", hits)
	}
	small := New[int](4, 16)
	for i := range 100 {
		small.Get([]byte(strconv.Itoa(i)), mk)
	}
	if len(small.slots) != 4 {
		t.Errorf("%d slots in a cache of size 4", len(small.slots))
	}
}
