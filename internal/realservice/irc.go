package realservice

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// IRCServerName is the name the IRC server gives itself: the prefix of
// its numerics (":irc.test.local 001 nick :Welcome ...").
const IRCServerName = "irc.test.local"

// IRC starts ngircd on a free loopback port and returns its address. The
// server pings a client that has been idle for pingTimeout and closes the
// connection when no PONG comes within pingTimeout more. ngircd counts
// whole seconds and takes no less than 5: an idle client sees the PING
// 5 to 6 s after its last line, and the close 5 to 6 s after that. Its message of the day is the single line
// "ubfproxy test server". Penalties (ngircd's throttling of a client that
// sends commands quickly, about one command per second after a burst) are
// off so that tests are fast; real deployments have them, and a proxy
// must not mind answers that come late. Connections per address are not
// limited. It is stopped when the test ends.
func IRC(tb testing.TB, pingTimeout time.Duration) string {
	tb.Helper()
	bin, err := exec.LookPath("ngircd")
	if err != nil {
		tb.Skip("ngircd is not installed (Debian package ngircd); skipping the test against a real IRC server")
	}
	secs := int(pingTimeout / time.Second)
	if secs < 5 {
		secs = 5
	}
	dir := tb.TempDir()
	include := filepath.Join(dir, "conf.d") // empty: no settings from /etc
	if err := os.Mkdir(include, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "ngircd.conf")
	config := func(addr string) (string, []string) {
		conf := fmt.Sprintf(`[Global]
	Name = %s
	Info = ubfproxy test server
	AdminInfo1 = ubfproxy tests
	AdminInfo2 = loopback only
	AdminEMail = root@localhost
	Listen = 127.0.0.1
	Ports = %s
	MotdPhrase = ubfproxy test server
	IncludeDir = %s
[Limits]
	PingTimeout = %d
	PongTimeout = %d
	MaxConnectionsIP = 0
	MaxPenaltyTime = 0
[Options]
	DNS = no
	Ident = no
	PAM = no
`, IRCServerName, portOf(addr), include, secs, secs)
		writeFile(tb, path, conf)
		// -n: stay in the foreground, log to stderr; -p: passive, connect
		// to no other server.
		return bin, []string{"-n", "-p", "-f", path}
	}
	addr, _ := start(tb, "ngircd", 10*time.Second, config)
	return addr
}
