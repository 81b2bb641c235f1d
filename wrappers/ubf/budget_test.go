package ubf

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// TestLongStringsAndAtoms: strings and atoms of several MiB are accepted
// when the frame is under MaxFrame (the memory they cost is measured
// against the bytes read up to their end, not their start), with and
// without escapes.
func TestLongStringsAndAtoms(t *testing.T) {
	for _, size := range []int{1<<20 + 1, 3 << 20} {
		body := strings.Repeat("x", size)
		for _, frame := range []string{
			`"` + body + `"$`,
			`'` + body + `'$`,
			`{"` + body + `", '` + body + `'}$`,
			`"\"` + body + `"$`,
		} {
			d := NewDecoder(strings.NewReader(frame), wrappers.Limits{})
			got, _, err := d.Frame()
			if err != nil {
				t.Fatalf("%d bytes (%.10s...): %v", size, frame, err)
			}
			if n := len(got.String()); n < size {
				t.Fatalf("%d bytes: decoded to a term of %d characters", size, n)
			}
		}
	}
}

// budget is a wrappers.Budget of max bytes that remembers its peak.
type budget struct {
	mu              sync.Mutex
	max, used, peak int64
}

func (b *budget) Take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

func (b *budget) Give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("budget: more given back than taken")
	}
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// TestSharedBudget: a frame whose decoding needs more than the shared
// budget holds is refused with a limit error, while the same frame under
// a larger budget decodes; the budget gets back what a frame took when the
// frame ends, and small frames never ask it.
func TestSharedBudget(t *testing.T) {
	frame := "{" + strings.Repeat("1111 ", 1<<20) + "}$" // about 32 MiB of decoding state
	small := &budget{max: 4 << 20}
	d := NewDecoder(strings.NewReader(frame), wrappers.Limits{MaxFrameMemory: 1 << 30, Budget: small})
	_, _, err := d.Frame()
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || !fe.Limit || !strings.Contains(fe.Msg, "shared memory budget") {
		t.Fatalf("under a 4 MiB budget: %v, want a shared-budget limit error", err)
	}
	if small.peak > small.max {
		t.Fatalf("peak %d over the budget %d", small.peak, small.max)
	}

	large := &budget{max: 1 << 30}
	input := frame + strings.Repeat("{'ok', 'x', \"y\"}$", 100)
	d = NewDecoder(bytes.NewReader([]byte(input)), wrappers.Limits{MaxFrameMemory: 1 << 30, Budget: large})
	got, _, err := d.Frame()
	if err != nil {
		t.Fatalf("under a 1 GiB budget: %v", err)
	}
	if n := len(got.(term.Tuple)); n != 1<<20 {
		t.Fatalf("decoded %d elements", n)
	}
	if large.peak < 8<<20 {
		t.Errorf("the big frame took %d bytes of the budget; it holds far more", large.peak)
	}
	for i := 0; i < 100; i++ {
		if _, _, err := d.Frame(); err != nil {
			t.Fatal(err)
		}
		// The read buffer still holds the small frames behind the big
		// one; the decoding state of the big frame went back.
		if i == 99 {
			d.rd.Begin()
		}
	}
	if u := large.inUse(); u != 0 {
		t.Errorf("%d bytes of the budget still taken after the frames ended", u)
	}
}
