package proxy_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ubfproxy/ubfproxy/internal/realservice"
	"github.com/ubfproxy/ubfproxy/proxy"
	"github.com/ubfproxy/ubfproxy/wrappers/text"
)

// ftplibSession runs Python's ftplib against addr (login, FEAT, HELP,
// SYST, PWD, LIST, NLST, RETR of a file with spaces in its name, SIZE,
// CWD, QUIT) and returns what it printed.
func ftplibSession(t *testing.T, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return realservice.RunClient(t, realservice.FTPClient, host, port, realservice.FTPFile)
}

// TestFTPThroughProxy: an ftplib session with vsftpd is the same through
// ubfproxy enforcing contracts/ftp.con as directly, with no violation
// (150 then 226 on every transfer); the commands the read-only policy
// refuses get 503 and never reach the server.
func TestFTPThroughProxy(t *testing.T) {
	srv := realservice.FTP(t)
	t.Run("ftplib", func(t *testing.T) {
		direct := ftplibSession(t, srv.Addr)
		p := startTextProxy(t, "ftp.con", text.FTP, srv.Addr, proxy.Kill, proxy.Limits{})
		sameAsDirect(t, direct, ftplibSession(t, p.addr))
		p.noViolations(t)
		for _, want := range []string{"feat ['211-Features:'", "retr 226 Transfer complete. b'hello from vsftpd\\r\\n250-x\\r\\n.\\r\\n'"} {
			if !strings.Contains(direct, want) {
				t.Errorf("the session lost its point: no %q in\n%s", want, direct)
			}
		}
	})

	t.Run("refused commands never reach the server", func(t *testing.T) {
		p := startTextProxy(t, "ftp.con", text.FTP, srv.Addr, proxy.Reject, proxy.Limits{})
		c := realservice.Dial(t, p.addr)
		realservice.NextFTPGreeting(c)
		c.Exchange("USER anonymous\r\n", "331 Please specify the password.\r\n")
		c.Exchange("PASS guest@\r\n", "230 Login successful.\r\n")
		refused := []string{"STOR new.txt", "APPE my file.txt", "DELE my file.txt", "RMD pub", "MKD evil",
			"RNFR my file.txt", "SITE CHMOD 777 my file.txt", "PORT 10,0,0,1,0,25", "EPRT |1|10.0.0.1|25|", "AUTH TLS"}
		for _, cmd := range refused {
			// The proxy's 503, then the answer to NOOP: vsftpd answered
			// nothing else (it would say 550 Permission denied, 500 Illegal
			// PORT command, 530...).
			got := c.Exchange(cmd+"\r\nNOOP\r\n", "200 NOOP ok.\r\n")
			if !strings.HasPrefix(got, "503 Contract violation: client sent ") || strings.Count(got, "\r\n") != 2 {
				t.Errorf("%s: got %q, want the proxy's 503, then 200 for NOOP", cmd, got)
			}
		}
		c.Send("QUIT\r\n")
		if got := c.Closed(); got != "221 Goodbye.\r\n" {
			t.Errorf("QUIT: %q", got)
		}
		if n := p.violations(); n != len(refused) {
			t.Errorf("%d violations logged, want %d:\n%s", n, len(refused), p.logs.String())
		}
		if b, err := os.ReadFile(filepath.Join(srv.Root, realservice.FTPFile)); err != nil || string(b) != realservice.FTPFileContent {
			t.Errorf("%s holds %q (%v), want it unchanged", realservice.FTPFile, b, err)
		}
		for _, name := range []string{"new.txt", "evil"} {
			if _, err := os.Stat(filepath.Join(srv.Root, name)); err == nil {
				t.Errorf("%s exists on the server", name)
			}
		}
	})

	t.Run("kill mode", func(t *testing.T) {
		p := startTextProxy(t, "ftp.con", text.FTP, srv.Addr, proxy.Kill, proxy.Limits{})
		c := realservice.Dial(t, p.addr)
		realservice.NextFTPGreeting(c)
		// Before the login only USER (and FEAT, HELP, SYST, NOOP, QUIT).
		c.Send("PORT 10,0,0,1,0,25\r\n")
		if got := c.Closed(); !strings.HasPrefix(got, "503 Contract violation: client sent {port, \"10,0,0,1,0,25\"} in state login") {
			t.Errorf("PORT: %q", got)
		}
	})
}
