package realservice

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The POP3 server's user and the mails in its mailbox.
const (
	POP3User     = "alice"
	POP3Password = "secret"
	// POP3Mail1 is the first mail. Its body has lines that look like
	// protocol: an SMTP multi-line reply, and lines of a lone "." and of
	// "..two", which the server dot-stuffs on the wire.
	POP3Mail1 = "From: bob@example.org\nTo: alice@example.org\nSubject: lines\n\nfirst\n250-x\n.\n..two\n+OK not a status\nlast\n"
	// POP3Mail2 is the second mail.
	POP3Mail2 = "From: bob@example.org\nTo: alice@example.org\nSubject: second\n\nhi\n"
)

// POP3Server is a running dovecot POP3 server.
type POP3Server struct {
	Addr    string
	Maildir string // the user's mailbox, to check the server's state afterwards
}

// POP3 starts dovecot's POP3 server on a free loopback port, with plain
// text logins (USER/PASS and SASL PLAIN) and no TLS, one user POP3User with
// password POP3Password from a passwd file, and a Maildir holding POP3Mail1
// and POP3Mail2. It is stopped when the test ends.
func POP3(tb testing.TB) *POP3Server {
	tb.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		tb.Skip("dovecot is not installed (Debian packages dovecot-core and dovecot-pop3d); skipping the test against a real POP3 server")
	}
	if _, err := os.Stat("/usr/lib/dovecot/pop3"); err != nil {
		tb.Skip("dovecot's POP3 server is not installed (Debian package dovecot-pop3d); skipping the test against a real POP3 server")
	}
	// Not tb.TempDir: dovecot's sockets live under base_dir, and a socket
	// path must be shorter than 108 bytes; the mail user must also be able
	// to reach the mailbox, which TempDir's 0700 parent forbids.
	dir, err := os.MkdirTemp("", "dovecot")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}

	// As root, dovecot runs its login processes as dovenull and its
	// internal ones as dovecot (users the Debian package creates) and
	// reads the mail as nobody; otherwise everything runs as the user who
	// started it.
	loginUser, internalUser, internalGroup, mailUser := "dovenull", "dovecot", "dovecot", "nobody"
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			tb.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			tb.Fatal(err)
		}
		loginUser, internalUser, internalGroup, mailUser = u.Username, u.Username, g.Name, u.Username
	}
	mu, err := user.Lookup(mailUser)
	if err != nil {
		tb.Fatalf("dovecot: mail user: %v", err)
	}
	uid, _ := strconv.Atoi(mu.Uid)
	gid, _ := strconv.Atoi(mu.Gid)

	home := filepath.Join(dir, "home")
	maildir := filepath.Join(home, "Maildir")
	for _, d := range []string{"run", "state", "home", "home/Maildir", "home/Maildir/cur", "home/Maildir/new", "home/Maildir/tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	// The file names order the mails: 1 is POP3Mail1.
	writeFile(tb, filepath.Join(maildir, "new", "1000000001.M1P1.test"), POP3Mail1)
	writeFile(tb, filepath.Join(maildir, "new", "1000000002.M2P2.test"), POP3Mail2)
	if err := filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil && os.Geteuid() == 0 {
		tb.Fatal(err)
	}
	passwd := filepath.Join(dir, "passwd")
	writeFile(tb, passwd, POP3User+":{PLAIN}"+POP3Password+"::::::\n")

	// The listener's port is in the configuration, written for each port
	// start tries.
	path := filepath.Join(dir, "dovecot.conf")
	config := func(addr string) (string, []string) {
		conf := fmt.Sprintf(`protocols = pop3
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = ubfproxy-test-%[2]s
log_path = %[1]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
auth_failure_delay = 0
default_login_user = %[3]s
default_internal_user = %[4]s
default_internal_group = %[10]s
mail_location = maildir:%[5]s
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[6]s
}
userdb {
  driver = static
  args = uid=%[7]d gid=%[8]d home=%[9]s
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[2]s
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
`, dir, portOf(addr), loginUser, internalUser, maildir, passwd, uid, gid, home, internalGroup)
		writeFile(tb, path, conf)
		// -F: stay in the foreground.
		return bin, []string{"-F", "-c", path}
	}
	// dovecot logs to its file, not to its output: show it when the test
	// failed. Cleanups run last first, so this runs while the file exists.
	tb.Cleanup(func() {
		if tb.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			tb.Logf("dovecot's log:\n%s", b)
		}
	})
	addr, _ := start(tb, "dovecot", 15*time.Second, config)
	return &POP3Server{Addr: addr, Maildir: maildir}
}
