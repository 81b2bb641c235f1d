package resp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
)

const redisPassword = "s3cret"

// recording holds both directions of one relayed connection.
type recording struct {
	client, server bytes.Buffer
	done           chan struct{}
}

// tee is a TCP relay that records every byte each way.
type tee struct {
	addr string
	mu   sync.Mutex
	recs []*recording
}

// startTee relays each connection it accepts to upstream, recording it.
// Recordings are kept in the order their connections were handled, which
// is the order the tests open them in: one at a time.
func startTee(t *testing.T, upstream string) *tee {
	t.Helper()
	tt := &tee{}
	tt.addr = realservice.Serve(t, func(c net.Conn) {
		u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
		if err != nil {
			return
		}
		defer u.Close()
		rec := &recording{done: make(chan struct{})}
		defer close(rec.done)
		tt.mu.Lock()
		tt.recs = append(tt.recs, rec)
		tt.mu.Unlock()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.MultiWriter(u, &rec.client), c)
			_ = u.(*net.TCPConn).CloseWrite()
		}()
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.MultiWriter(c, &rec.server), u)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		wg.Wait()
	})
	return tt
}

// last waits for the n-th recorded connection (from 0) to end.
func (tt *tee) wait(t *testing.T, n int) *recording {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tt.mu.Lock()
		var rec *recording
		if n < len(tt.recs) {
			rec = tt.recs[n]
		}
		tt.mu.Unlock()
		if rec != nil {
			select {
			case <-rec.done:
				return rec
			case <-time.After(time.Until(deadline)):
				t.Fatalf("relayed connection %d did not end within 10s", n)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no relayed connection %d within 10s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// decodeRecording decodes both directions of rec through one session.
func decodeRecording(t *testing.T, rec *recording) (client, server []msg) {
	t.Helper()
	sess := newSession()
	client, err := drain(t, sess.ClientDecoder(bytes.NewReader(rec.client.Bytes())))
	if err != nil {
		t.Fatalf("decode the recorded client bytes: %v\n%q", err, rec.client.Bytes())
	}
	server, err = drain(t, sess.ServerDecoder(bytes.NewReader(rec.server.Bytes())))
	if err != nil {
		t.Fatalf("decode the recorded server bytes: %v\n%q", err, rec.server.Bytes())
	}
	if joinRaw(client) != rec.client.String() || joinRaw(server) != rec.server.String() {
		t.Fatal("the decoded frames' raw bytes do not reproduce the recording")
	}
	return client, server
}

func TestRealRedis(t *testing.T) {
	redis := realservice.Redis(t, redisPassword)
	tt := startTee(t, redis)

	t.Run("pipelined RESP2", func(t *testing.T) {
		c := realservice.DialRESP(t, tt.addr)
		var batch strings.Builder
		batch.WriteString(realservice.Command("AUTH", redisPassword))
		const n = 100
		for i := range n {
			batch.WriteString(realservice.Command("SET", fmt.Sprintf("key:%d", i), fmt.Sprintf("value %d\r\n", i)))
			batch.WriteString(realservice.Command("GET", fmt.Sprintf("key:%d", i)))
		}
		batch.WriteString("PING\r\n") // inline, as telnet sends it
		batch.WriteString(realservice.Command("GET", "missing"))
		batch.WriteString(realservice.Command("MGET", "key:1", "missing"))
		batch.WriteString(realservice.Command("DEL", "key:1", "key:2", "missing"))
		batch.WriteString(realservice.Command("GET"))
		batch.WriteString(realservice.Command("MULTI") + realservice.Command("INCR", "n") + realservice.Command("EXPIRE", "n", "100") + realservice.Command("EXEC"))
		c.Send(batch.String())
		c.Await("\r\n*2\r\n:1\r\n:1\r\n", 1) // the EXEC reply, last
		c.Quit()
		client, server := decodeRecording(t, tt.wait(t, 0))
		var want []string
		want = append(want, `call {auth, <<"s3cret">>}`)
		for i := range n {
			want = append(want, fmt.Sprintf(`call {set, <<"key:%d">>, <<"value %d\r\n">>}`, i, i), fmt.Sprintf(`call {get, <<"key:%d">>}`, i))
		}
		want = append(want, `call ping`, `call {get, <<"missing">>}`, `call {mget, <<"key:1">>, <<"missing">>}`,
			`call {del, <<"key:1">>, <<"key:2">>, <<"missing">>}`, `call get`,
			`call multi`, `call {incr, <<"n">>}`, `call {expire, <<"n">>, <<"100">>}`, `call exec`, `call quit`)
		check(t, "client", client, want, joinRaw(client))
		want = []string{`reply ok`}
		for i := range n {
			want = append(want, `reply ok`, fmt.Sprintf(`reply <<"value %d\r\n">>`, i))
		}
		want = append(want, `reply pong`, `reply nil`, `reply [<<"value 1\r\n">>, nil]`, `reply 2`,
			`reply {error, <<"ERR wrong number of arguments for 'get' command">>}`,
			`reply ok`, `reply queued`, `reply queued`, `reply [1, 1]`, `reply ok`)
		check(t, "server", server, want, joinRaw(server))
	})

	t.Run("pub/sub RESP2", func(t *testing.T) {
		sub := realservice.DialRESP(t, tt.addr)
		sub.Send(realservice.Command("AUTH", redisPassword) + realservice.Command("SUBSCRIBE", "news", "sport") + realservice.Command("PSUBSCRIBE", "alerts.*"))
		sub.Await("alerts.*\r\n:3\r\n", 1)
		pub := realservice.DialRESP(t, redis)
		pub.Send(realservice.Command("AUTH", redisPassword) + realservice.Command("PUBLISH", "news", "hello") + realservice.Command("PUBLISH", "alerts.fire", "run"))
		pub.Await(":1\r\n", 2)
		sub.Await("$3\r\nrun\r\n", 1)
		sub.Send(realservice.Command("PING") + realservice.Command("UNSUBSCRIBE", "news", "sport") + realservice.Command("PUNSUBSCRIBE"))
		sub.Await("punsubscribe", 1)
		sub.Await(":0\r\n", 1)
		sub.Quit()
		_, server := decodeRecording(t, tt.wait(t, 1))
		check(t, "server", server, []string{
			`reply ok`,
			`reply {subscribe, [<<"news">>, <<"sport">>], 2}`,
			`reply {psubscribe, [<<"alerts.*">>], 3}`,
			`event {message, <<"news">>, <<"hello">>}`,
			`event {pmessage, <<"alerts.*">>, <<"alerts.fire">>, <<"run">>}`,
			`reply {pong, <<>>}`,
			`reply {unsubscribe, [<<"news">>, <<"sport">>], 1}`,
			`reply {punsubscribe, [<<"alerts.*">>], 0}`,
			`reply ok`,
		}, joinRaw(server))
	})

	t.Run("RESP3 types and pushes", func(t *testing.T) {
		c := realservice.DialRESP(t, tt.addr)
		c.Send(realservice.Command("HELLO", "3", "AUTH", "default", redisPassword) +
			realservice.Command("HSET", "h", "f", "1") + realservice.Command("HGETALL", "h") +
			realservice.Command("SADD", "s", "x") + realservice.Command("SMEMBERS", "s") +
			realservice.Command("ZADD", "z", "1.5", "m") + realservice.Command("ZSCORE", "z", "m") +
			realservice.Command("GET", "nothing") + realservice.Command("INFO", "server") +
			realservice.Command("SUBSCRIBE", "r3"))
		c.Await(">3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n", 1)
		pub := realservice.DialRESP(t, redis)
		pub.Send(realservice.Command("AUTH", redisPassword) + realservice.Command("PUBLISH", "r3", "pushed"))
		pub.Await(":1\r\n", 1)
		c.Await("pushed", 1)
		c.Send(realservice.Command("GET", "nothing"))
		c.Await("_\r\n", 2)
		c.Quit()
		rec := tt.wait(t, 2)
		_, server := decodeRecording(t, rec)
		got := summary(server)
		if len(got) != 13 {
			t.Fatalf("got %d messages:\n%s", len(got), strings.Join(got, "\n"))
		}
		if !strings.HasPrefix(got[0], `reply #{<<"server">> => <<"redis">>, <<"version">> => `) {
			t.Errorf("HELLO 3 reply: %s", got[0])
		}
		info := got[8]
		wantRest := map[int]string{
			1: `reply 1`, 2: `reply #{<<"f">> => <<"1">>}`, 3: `reply 1`, 4: `reply [<<"x">>]`,
			5: `reply 1`, 6: `reply 1.5`, 7: `reply nil`,
			9: `reply {subscribe, [<<"r3">>], 1}`, 10: `event {message, <<"r3">>, <<"pushed">>}`,
			11: `reply nil`, 12: `reply ok`,
		}
		for i, w := range wantRest {
			if got[i] != w {
				t.Errorf("message %d: got %s, want %s", i, got[i], w)
			}
		}
		// INFO is a verbatim string in RESP3: the term drops its "txt:".
		if !strings.HasPrefix(info, `reply <<"# Server\r\nredis_version:`) {
			t.Errorf("INFO reply: %.60s", info)
		}
		if !bytes.Contains(rec.server.Bytes(), []byte("=")) {
			t.Error("Redis did not send a verbatim string")
		}
	})

	t.Run("monitor feed", func(t *testing.T) {
		m := realservice.DialRESP(t, tt.addr)
		m.Send(realservice.Command("AUTH", redisPassword) + realservice.Command("MONITOR"))
		m.Await("+OK\r\n", 2)
		other := realservice.DialRESP(t, redis)
		other.Send(realservice.Command("AUTH", redisPassword) + realservice.Command("GET", "watched"))
		other.Await("$-1\r\n", 1)
		m.Await(`"watched"`, 1)
		m.Close()
		_, server := decodeRecording(t, tt.wait(t, 3))
		got := summary(server)
		if len(got) < 3 || got[0] != "reply ok" || got[1] != "reply ok" {
			t.Fatalf("got %v", got)
		}
		for _, g := range got[2:] {
			if !strings.HasPrefix(g, "event {monitor, <<\"") {
				t.Errorf("monitor line not an event: %s", g)
			}
		}
		if !strings.Contains(got[len(got)-1], `\"GET\" \"watched\"`) {
			t.Errorf("last monitor line: %s", got[len(got)-1])
		}
	})

	t.Run("redis-cli", func(t *testing.T) {
		cli, err := exec.LookPath("redis-cli")
		if err != nil {
			t.Skip("redis-cli is not installed (Debian package redis-tools)")
		}
		_, port, _ := net.SplitHostPort(tt.addr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", port, "-a", redisPassword, "--no-auth-warning",
			"INCR", "cli-counter").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Fatalf("redis-cli: %v: %s", err, out)
		}
		client, server := decodeRecording(t, tt.wait(t, 4))
		check(t, "client", client, []string{`call {auth, <<"s3cret">>}`, `call {incr, <<"cli-counter">>}`}, joinRaw(client))
		check(t, "server", server, []string{`reply ok`, `reply 1`}, joinRaw(server))
	})
}
