package proxy_test

import (
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

// memcachedConversation is what an application does with its cache:
// values that look like protocol lines of other protocols and of
// memcached itself, noreply commands, a multi-get, gets and cas, counters,
// a pipelined batch, and quit. It returns every byte the client received.
func memcachedConversation(t *testing.T, addr string) string {
	c := realservice.Dial(t, addr)
	var got strings.Builder
	for _, st := range []struct{ send, want string }{
		{"set a 5 0 6\r\n354 go\r\n", "STORED\r\n"},
		{"set b 0 0 5\r\n250-x\r\n", "STORED\r\n"},
		{"set c 0 0 3\r\nEND\r\n", "STORED\r\n"},
		{"set d 0 0 6\r\nBDAT 5\r\n", "STORED\r\n"},
		{"set e 0 0 11\r\nVALUE x 0 1\r\n", "STORED\r\n"},
		// noreply: no answer; the get's answer is the next thing received.
		{"set f 0 0 3 noreply\r\nEND\r\nadd g 0 0 1 noreply\r\n1\r\ndelete a noreply\r\nget f g a\r\n", "END\r\n"},
		{"get a b c d e nope\r\n", "END\r\n"},
		{"gets b\r\n", "END\r\n"},
		{"cas b 0 0 3 2\r\nEND\r\n", "STORED\r\n"},
		{"cas b 0 0 3 2\r\nEND\r\n", "EXISTS\r\n"},
		{"set n 0 0 1\r\n5\r\nincr n 3\r\ndecr n 100\r\nincr b 1\r\n", "value\r\n"},
		{"append e 0 0 2\r\n\r\n\r\nprepend e 0 0 1\r\n.\r\nreplace zz 0 0 1\r\nx\r\ntouch e 60\r\n", "TOUCHED\r\n"},
		{"delete zz\r\nincr zz 1\r\ntouch zz 1\r\nget e\r\n", "END\r\n"},
		{"stats\r\n", "END\r\n"},
	} {
		got.WriteString(c.Exchange(st.send, st.want))
	}
	c.Send("quit\r\n")
	got.WriteString(c.Closed())
	// stats change from run to run: keep only their names.
	var out []string
	for _, l := range strings.SplitAfter(got.String(), "\r\n") {
		if name, ok := strings.CutPrefix(l, "STAT "); ok {
			l = "STAT " + strings.Fields(name)[0] + "\r\n"
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// TestMemcachedThroughProxy: an application's conversation with memcached
// is the same through ubfproxy enforcing contracts/memcached.con, with no
// violation; the commands the contract refuses get CLIENT_ERROR and never
// reach memcached.
func TestMemcachedThroughProxy(t *testing.T) {
	t.Run("conversation", func(t *testing.T) {
		direct := memcachedConversation(t, realservice.Memcached(t))
		p := startTextProxy(t, "memcached.con", text.Memcached, realservice.Memcached(t), proxy.Kill, proxy.Limits{})
		sameAsDirect(t, direct, memcachedConversation(t, p.addr))
		p.noViolations(t)
		if !strings.Contains(direct, "VALUE b 0 5\r\n250-x\r\nVALUE c 0 3\r\nEND\r\n") {
			t.Errorf("the conversation lost its point: %q", direct)
		}
	})

	t.Run("refused commands never reach memcached", func(t *testing.T) {
		server := realservice.Memcached(t)
		p := startTextProxy(t, "memcached.con", text.Memcached, server, proxy.Reject, proxy.Limits{})
		c := realservice.Dial(t, p.addr)
		c.Exchange("set k 0 0 2\r\nhi\r\n", "STORED\r\n")
		refused := []string{"flush_all", "shutdown", "verbosity 1", "stats detail on",
			"stats slabs", "slabs automove 0", "lru_crawler disable", "watch", "SET k 0 0 1", "mg k v"}
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(p.logs.String())
			}
		})
		for _, cmd := range refused {
			got := c.Exchange(cmd+"\r\n", "\r\n")
			if !strings.HasPrefix(got, "CLIENT_ERROR contract violation: client sent ") {
				t.Errorf("%s: got %q, want CLIENT_ERROR", cmd, got)
			}
		}
		// A noreply command gets no answer, not even a refusal: the next
		// answer the client reads is its next command's.
		if got := c.Exchange("flush_all noreply\r\nversion\r\n", "\r\n"); !strings.HasPrefix(got, "VERSION ") {
			t.Errorf("flush_all noreply, version: got %q, want the VERSION answer only", got)
		}
		c.Send("quit\r\n")
		c.Closed()
		// memcached's state: the value is there and no flush was counted,
		// it still runs (no shutdown), its settings are as it started, and
		// no one watches its log.
		d := realservice.Dial(t, server)
		if got := d.Exchange("get k\r\n", "END\r\n"); got != "VALUE k 0 2\r\nhi\r\nEND\r\n" {
			t.Errorf("after the refused commands get k is %q", got)
		}
		settings := d.Exchange("stats settings\r\n", "END\r\n")
		settings += d.Exchange("stats\r\n", "END\r\n")
		for _, want := range []string{"STAT verbosity 0\r\n", "STAT detail_enabled no\r\n", "STAT lru_crawler yes\r\n",
			"STAT slab_automove 1\r\n", "STAT cmd_flush 0\r\n", "STAT log_watchers 0\r\n"} {
			if !strings.Contains(settings, want) {
				t.Errorf("memcached's settings lack %q: a refused command reached it:\n%s", want, settings)
			}
		}
		if n := p.violations(); n != len(refused)+1 {
			t.Errorf("%d violations logged, want %d:\n%s", n, len(refused), p.logs.String())
		}
	})

	t.Run("kill mode ends the session", func(t *testing.T) {
		server := realservice.Memcached(t)
		p := startTextProxy(t, "memcached.con", text.Memcached, server, proxy.Kill, proxy.Limits{})
		c := realservice.Dial(t, p.addr)
		c.Exchange("set k 0 0 2\r\nhi\r\n", "STORED\r\n")
		c.Send("flush_all\r\nget k\r\n")
		if got := c.Closed(); !strings.HasPrefix(got, "CLIENT_ERROR contract violation: client sent flush_all in state ready") || strings.Contains(got, "VALUE") {
			t.Errorf("flush_all in kill mode: %q", got)
		}
		// A block of another length than its command named is the
		// client's fault: the session ends before memcached sees it.
		c = realservice.Dial(t, p.addr)
		c.Send("set k 0 0 1\r\nxyz\r\n")
		c.Closed()
		d := realservice.Dial(t, server)
		if got := d.Exchange("get k\r\n", "END\r\n"); got != "VALUE k 0 2\r\nhi\r\nEND\r\n" {
			t.Errorf("after the refused commands get k is %q", got)
		}
	})
}
