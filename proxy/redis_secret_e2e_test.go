package proxy_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/resp"
)

// TestRedisPasswordsHidden: contracts/redis.con marks passwords secret, so
// an AUTH or HELLO ... AUTH sent where it is illegal is refused without its
// password showing in the error reply, the violation record or the
// session-end record.
func TestRedisPasswordsHidden(t *testing.T) {
	redis := realservice.Redis(t, e2eRedisPassword)
	const leaked = "hunter2-must-not-show"
	cases := []struct {
		name  string
		mode  proxy.Mode
		sent  string
		reply string // what the error reply starts with, after +OK for the first AUTH
	}{
		{"AUTH again, kill", proxy.Kill, realservice.Command("AUTH", leaked),
			`-ERR contract: client broke the contract in state ready: sent {auth, '<secret>'}`},
		{"AUTH user password again, reject", proxy.Reject, realservice.Command("AUTH", "default", leaked),
			`-ERR contract: client broke the contract in state ready: sent {auth, <<"default">>, '<secret>'}`},
		{"HELLO with AUTH after AUTH, kill", proxy.Kill, realservice.Command("HELLO", "3", "AUTH", "default", leaked),
			`-ERR contract: client broke the contract in state ready: sent {hello, <<"3">>, <<"AUTH">>, <<"default">>, '<secret>'}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs realservice.Output
			_, addr := serveProxy(t, proxy.Config{
				Contract: redisContract(t), Upstream: redis, Wire: resp.Wire{}, Mode: c.mode,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			conn := realservice.DialRESP(t, addr)
			conn.Send(realservice.Command("AUTH", e2eRedisPassword))
			conn.Await("+OK\r\n", 1)
			conn.Send(c.sent + realservice.Command("QUIT"))
			got := conn.Closed()
			if !strings.HasPrefix(got, "+OK\r\n"+c.reply) {
				t.Errorf("error reply: got %q, want it to start %q", got, c.reply)
			}
			if strings.Contains(got, leaked) {
				t.Errorf("the error reply shows the password: %q", got)
			}
			// The records are written as the session ends, which may be
			// just after the client sees the connection close.
			records := awaitLog(t, &logs, `"msg":"session end"`)
			if !strings.Contains(records, `"kind":"bad-request"`) || !strings.Contains(records, `'<secret>'}","expected"`) {
				t.Errorf("no violation record with the password hidden:\n%s", records)
			}
			if strings.Contains(records, leaked) {
				t.Errorf("the records show the password:\n%s", records)
			}
		})
	}
}

// awaitLog waits until the records hold want, and returns them.
func awaitLog(t *testing.T, logs *realservice.Output, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := logs.String()
		if strings.Contains(s, want) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}
