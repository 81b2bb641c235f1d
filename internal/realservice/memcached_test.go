package realservice

import (
	"testing"
)

// TestMemcached talks to a real memcached and pins the facts of its text
// protocol that the memcached wire relies on (docs/wires/memcached.md).
func TestMemcached(t *testing.T) {
	c := Dial(t, Memcached(t))
	type step struct{ send, want string }
	exchange := func(steps []step) {
		t.Helper()
		for _, st := range steps {
			if got := c.Exchange(st.send, st.want); got != st.want {
				t.Errorf("%q: got %q, want %q", st.send, got, st.want)
			}
		}
	}
	exchange([]step{
		// A value that looks like protocol is only data: its length is in
		// the command line.
		{"set a 5 0 6\r\n354 go\r\n", "STORED\r\n"},
		{"set b 0 0 5\r\n250-x\r\n", "STORED\r\n"},
		{"get a b nope\r\n", "VALUE a 5 6\r\n354 go\r\nVALUE b 0 5\r\n250-x\r\nEND\r\n"},
		{"gets a\r\n", "VALUE a 5 6 1\r\n354 go\r\nEND\r\n"},
		// noreply: no answer at all; the next command's answer comes next.
		{"set c 0 0 3 noreply\r\nEND\r\nget c\r\n", "VALUE c 0 3\r\nEND\r\nEND\r\n"},
		{"delete c noreply\r\nget c\r\n", "END\r\n"},
		// Verbs are case-sensitive; the block after an unknown verb is
		// read as a command of its own.
		{"SET d 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n"},
		// A block longer than the command said.
		{"set d 0 0 3\r\nabcd\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n"},
	})
	// incr reads the leading digits of a value. memcached rewrites the
	// value in place, padded with spaces to its old length, when nothing
	// else holds the item, and stores a new, shorter item when something
	// does (its LRU crawler or another thread may): the wire must take
	// either.
	switch got := c.Exchange("incr a 1\r\nget a\r\n", "END\r\n"); got {
	case "355\r\nVALUE a 5 6\r\n355   \r\nEND\r\n", "355\r\nVALUE a 5 3\r\n355\r\nEND\r\n":
	default:
		t.Errorf("incr then get: got %q, want 355 padded to 6 bytes, or 3 bytes long", got)
	}
	exchange([]step{
		{"incr b 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
		{"set n 0 0 1\r\n5\r\nincr n 3\r\ndecr n 100\r\n", "STORED\r\n8\r\n0\r\n"},
		{"delete zz\r\ntouch n 10\r\n", "NOT_FOUND\r\nTOUCHED\r\n"},
		{"cas n 0 0 1 999\r\nx\r\n", "EXISTS\r\n"},
		{"get\r\n", "ERROR\r\n"},
		{"shutdown\r\n", "ERROR: shutdown not enabled\r\n"},
		{"flush_all noreply\r\nversion\n", "VERSION "},
	})
	c.Lines(1) // the rest of the VERSION line
	c.Send("quit\r\n")
	if rest := c.Closed(); rest != "" {
		t.Errorf("quit: got %q before the close, want nothing", rest)
	}
}
