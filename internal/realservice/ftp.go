package realservice

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// FTPFile is the file the FTP server offers at its root; its name has
// spaces, as RFC 959 allows (the argument of RETR is the rest of the line).
const FTPFile = "my file.txt"

// FTPFileContent is what FTPFile holds.
const FTPFileContent = "hello from vsftpd\r\n250-x\r\n.\r\n"

// FTPGreeting is vsftpd's greeting text as a regular expression: "(vsFTPd
// 3.0.3)" on Debian 12. Tests match the shape with it rather than pin one
// release, so that a newer vsftpd passes them; the rest of the line is
// theirs to anchor.
const FTPGreeting = `\(vsFTPd [0-9]+(\.[0-9]+)+\)`

// ftpGreetingLine is the whole first line vsftpd sends.
var ftpGreetingLine = regexp.MustCompile(`^220 ` + FTPGreeting + "\r\n$")

// NextFTPGreeting reads the next line from c and fails the test unless it
// is vsftpd's greeting, "220 (vsFTPd VERSION)" and CRLF; it returns it.
func NextFTPGreeting(c *Conn) string {
	c.tb.Helper()
	l := c.Next("\r\n")
	if !ftpGreetingLine.MatchString(l) {
		c.tb.Fatalf("got %q, want vsftpd's greeting %q", l, ftpGreetingLine)
	}
	return l
}

// FTPServer is a running vsftpd.
type FTPServer struct {
	Addr string // the control connection's address
	// Root is the directory anonymous users see as "/": FTPFile, and a
	// directory "pub" holding "readme". A test checks the server's state
	// afterwards here (a refused DELE left the file).
	Root string
	// Home is the directory PWD names after the login: "/" when the
	// server runs as root and confines the session to Root; Root itself
	// otherwise, as vsftpd can then neither chroot nor change user.
	Home string
}

// FTP starts vsftpd on a free loopback port with anonymous read-only
// access: user "anonymous" (or "ftp") with any password, no uploads, no
// directory changes, passive and active mode. There is no login for a
// local user: vsftpd checks those with PAM against the system's users,
// which a test should not create. It is stopped when the test ends.
func FTP(tb testing.TB) *FTPServer {
	tb.Helper()
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		tb.Skip("vsftpd is not installed (Debian package vsftpd); skipping the test against a real FTP server")
	}
	dir := tb.TempDir()
	root := filepath.Join(dir, "root")
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{root, filepath.Join(root, "pub"), empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	writeFile(tb, filepath.Join(root, FTPFile), FTPFileContent)
	writeFile(tb, filepath.Join(root, "pub", "readme"), "read me\n")
	// vsftpd refuses an anonymous root the anonymous user could write to.
	if err := os.Chmod(root, 0o555); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.Chmod(root, 0o755) }) // so TempDir can remove it

	privileged, home := "NO", "/"
	if os.Geteuid() != 0 {
		// Without root vsftpd can neither chroot nor change user: it then
		// serves as the user who started it.
		privileged, home = "YES", root
	}
	// seccomp and namespaces are off: they fail in containers, and the
	// listener is on loopback only.
	path := filepath.Join(dir, "vsftpd.conf")
	config := func(addr string) (string, []string) {
		conf := fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=%s
background=NO
run_as_launching_user=%s
anonymous_enable=YES
anon_root=%s
no_anon_password=NO
local_enable=NO
write_enable=NO
anon_upload_enable=NO
anon_mkdir_write_enable=NO
anon_other_write_enable=NO
connect_from_port_20=NO
pasv_enable=YES
port_enable=YES
secure_chroot_dir=%s
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
syslog_enable=NO
vsftpd_log_file=%s
ssl_enable=NO
idle_session_timeout=60
`, portOf(addr), privileged, root, empty, filepath.Join(dir, "vsftpd.log"))
		writeFile(tb, path, conf)
		return bin, []string{path}
	}
	addr, _ := start(tb, "vsftpd", 10*time.Second, config)
	return &FTPServer{Addr: addr, Root: root, Home: home}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}
