package main

import "testing"

func TestByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		text string
	}{
		{"268435456", 256 << 20, "256MiB"},
		{"512MiB", 512 << 20, "512MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"2g", 2 << 30, "2GiB"},
		{"64 KiB", 64 << 10, "64KiB"},
		{"1000", 1000, "1000"},
		{"0", 0, ""},
		{"-1GiB", 0, ""},
		{"lots", 0, ""},
		{"9999999TiB", 0, ""},
	} {
		var b byteSize
		err := b.Set(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("Set(%q) = %d, want an error", tt.in, b)
			}
			continue
		}
		if err != nil || int64(b) != tt.want || b.String() != tt.text {
			t.Errorf("Set(%q): %d %q %v, want %d %q", tt.in, int64(b), b.String(), err, tt.want, tt.text)
		}
	}
}
