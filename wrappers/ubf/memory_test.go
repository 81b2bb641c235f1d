package ubf

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
)

// heldWhileDecoding decodes input frame by frame until the end or the
// first error and returns what the decoder and the terms it returned hold
// on the heap at that point (after a collection), with the error.
// Memory only grows while one frame is decoded, so at the end of a frame
// (or at the error that rejects it) this is its peak, but for the garbage
// of slices grown by doubling.
// memPerByte is the memory a frame may cost per byte under the default
// limits (MaxFrameMemory is 8 times MaxFrame).
const memPerByte = 8

// readChunk bounds what the read buffer holds past the bytes of a frame.
const readChunk = 4096

func heldWhileDecoding(input []byte, lim wrappers.Limits) (held int64, terms int, err error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := NewDecoder(bytes.NewReader(input), lim)
	var kept []term.Term
	for {
		t, _, ferr := d.Frame()
		if ferr != nil {
			if ferr != io.EOF {
				err = ferr
			}
			break
		}
		if t != nil {
			kept = append(kept, t)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(d)
	runtime.KeepAlive(kept)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc), len(kept), err
}

func repeatFrame(prefix, unit string, n int, suffix string) []byte {
	var b bytes.Buffer
	b.Grow(len(prefix) + len(unit)*n + len(suffix))
	b.WriteString(prefix)
	for range n {
		b.WriteString(unit)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

func countdown(n int, sep string) string {
	var b strings.Builder
	for i := n - 1; i >= 0; i-- {
		b.WriteString(strconv.Itoa(i))
		b.WriteString(sep)
	}
	return b.String()
}

// TestFloodsHoldLittle sends the cheapest constructs in bulk: each must
// cost the decoder at most memPerByte bytes per byte of the frame plus
// the floor (the budget of the default limits), plus the read buffer
// (at most twice the bytes read, plus a read chunk); a flood that would
// cost more must be refused with a limit error naming MaxFrameMemory.
// Before the budget, a megabyte of '#' held 61 MB.
func TestFloodsHoldLittle(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name    string
		in      []byte
		refused bool // the frame is over budget
	}{
		{"a megabyte of '#'", bytes.Repeat([]byte("#"), mb), true},
		{"a megabyte of '#' in a tuple", repeatFrame("{", "#", mb, "}$"), true},
		{"500,000 times '1 '", repeatFrame("", "1 ", mb/2, ""), true},
		{"500,000 times '1 ' in a tuple", repeatFrame("{", "1 ", mb/2, "}$"), true},
		{"500,000 times '{}'", repeatFrame("", "{}", mb/2, ""), true},
		{"500,000 times '{}' in a tuple", repeatFrame("{", "{}", mb/2, "}$"), true},
		{"a megabyte of register uses", repeatFrame("{1 1}>a{", "a", mb, "}$"), true},
		{"a megabyte of lists of lists", repeatFrame("{", "##&", mb/3, "}$"), true},
		{"a megabyte of tags", repeatFrame("{", "1`t`", mb/4, "}$"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held, _, err := heldWhileDecoding(tt.in, wrappers.Limits{})
			n := int64(len(tt.in))
			bound := memPerByte*n + memFloor + 2*n + readChunk
			t.Logf("%d bytes in, %d bytes held (%.2f per byte), error: %v", n, held, float64(held)/float64(n), err)
			if held > bound {
				t.Errorf("decoder held %d bytes for %d bytes of input, want at most %d", held, n, bound)
			}
			var fe *wrappers.FrameError
			if tt.refused && (!errors.As(err, &fe) || !fe.Limit || !strings.Contains(fe.Msg, "MaxFrameMemory")) {
				t.Errorf("error %v, want the frame refused over MaxFrameMemory", err)
			}
			if fe != nil && (fe.Offset <= 0 || fe.Offset > n) {
				t.Errorf("error offset %d outside the input", fe.Offset)
			}
		})
	}
}

// TestLegitimateFramesWithinBudget decodes big but ordinary frames under
// the default limits: they must be accepted, within the same bound.
func TestLegitimateFramesWithinBudget(t *testing.T) {
	var recs strings.Builder
	for i := range 20000 {
		recs.WriteString(`{'person',"name` + strconv.Itoa(i) + `",` + strconv.Itoa(1000+i) + `}`)
	}
	tests := []struct {
		name  string
		in    []byte
		check func(term.Term) bool
	}{
		{"list of 100,000 integers", []byte("#" + countdown(100000, "&") + "$"), func(x term.Term) bool {
			l, ok := x.(term.List)
			return ok && len(l) == 100000 && term.Equal(l[99999], term.Int(99999))
		}},
		{"tuple of 100,000 integers", []byte("{" + countdown(100000, ",") + "}$"), func(x term.Term) bool {
			tu, ok := x.(term.Tuple)
			return ok && len(tu) == 100000 && term.Equal(tu[0], term.Int(99999))
		}},
		{"tuple of 20,000 ones", repeatFrame("{", "1 ", 20000, "}$"), func(x term.Term) bool {
			tu, ok := x.(term.Tuple)
			return ok && len(tu) == 20000
		}},
		{"tuple of 20,000 records", []byte("{" + recs.String() + "}$"), func(x term.Term) bool {
			tu, ok := x.(term.Tuple)
			return ok && len(tu) == 20000 && term.Equal(tu[1], term.MustParse(`{person, "name1", 1001}`))
		}},
		{"list of 20,000 records through a register", []byte("'person'>p #" + strings.Repeat(`{p "Joe" 123}&`, 20000) + "$"), func(x term.Term) bool {
			l, ok := x.(term.List)
			return ok && len(l) == 20000 && term.Equal(l[0], term.MustParse(`{person, "Joe", 123}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in, wrappers.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Fatalf("decoded %s", term.Truncated(got, 200))
			}
			held, _, err := heldWhileDecoding(tt.in, wrappers.Limits{})
			n := int64(len(tt.in))
			t.Logf("%d bytes in, %d bytes held (%.2f per byte)", n, held, float64(held)/float64(n))
			if err != nil {
				t.Fatal(err)
			}
			if bound := memPerByte*n + memFloor + 2*n + readChunk; held > bound {
				t.Errorf("decoder held %d bytes for %d bytes of input, want at most %d", held, n, bound)
			}
		})
	}
}

// TestFrameMemoryLimit: a lower MaxFrameMemory refuses a frame the
// default accepts, at the byte where the budget ran out.
func TestFrameMemoryLimit(t *testing.T) {
	in := repeatFrame("{", "1 ", 20000, "}$")
	lim := wrappers.Limits{MaxFrame: 1 << 20, MaxFrameMemory: 256 << 10}
	_, err := Decode(in, lim)
	var fe *wrappers.FrameError
	if !errors.As(err, &fe) || !fe.Limit || !strings.Contains(fe.Msg, "MaxFrameMemory") {
		t.Fatalf("Decode error %v, want a MaxFrameMemory limit error", err)
	}
	if fe.Offset <= 0 || fe.Offset >= int64(len(in)) {
		t.Fatalf("error at byte %d, want inside the %d-byte frame", fe.Offset, len(in))
	}
	if _, err := Decode(in, wrappers.Limits{MaxFrame: 1 << 20}); err != nil {
		t.Fatalf("the default budget refused the frame: %v", err)
	}
}

// TestIdleDecoderIsSmall measures what a decoder holds after one small
// frame, as a proxy's decoders do between messages: no register table
// unless the frame used registers.
func TestIdleDecoderIsSmall(t *testing.T) {
	for _, tt := range []struct {
		name, frame string
		max         int64
	}{
		{"plain frame", "{'ok',\"hello\",42}$\n", 20 << 10},
		{"frame using a register", "'ok'>a{a a}$\n", 20 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 500
			ds := make([]*Decoder, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range ds {
				ds[i] = NewDecoder(strings.NewReader(tt.frame), wrappers.Limits{})
				if _, _, err := ds[i].Frame(); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(ds)
			per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
			t.Logf("%d bytes per idle decoder", per)
			if per > tt.max {
				t.Errorf("an idle decoder holds %d bytes, want at most %d", per, tt.max)
			}
		})
	}
}

// BenchmarkIdleDecoder reports what a new decoder costs with one small
// frame decoded.
func BenchmarkIdleDecoder(b *testing.B) {
	b.ReportAllocs()
	r := strings.NewReader("")
	for b.Loop() {
		r.Reset("{'ok',\"hello\",42}$\n")
		d := NewDecoder(r, wrappers.Limits{})
		if _, _, err := d.Frame(); err != nil {
			b.Fatal(err)
		}
	}
}
