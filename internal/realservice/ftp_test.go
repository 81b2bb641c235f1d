package realservice

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFTP talks to a real vsftpd, with a bare client for the exact bytes
// and with Python's ftplib for an everyday session, and pins the facts the
// ftp wire relies on (docs/wires/ftp.md).
func TestFTP(t *testing.T) {
	srv := FTP(t)
	c := Dial(t, srv.Addr)
	NextFTPGreeting(c)
	steps := []struct{ send, want string }{
		{"LIST\r\n", "530 Please login with USER and PASS.\r\n"},
		{"user anonymous\r\n", "331 Please specify the password.\r\n"},
		{"PASS guest@\r\n", "230 Login successful.\r\n"},
		// RFC 959 multi-line replies: the middle lines do not start with
		// the code.
		{"FEAT\r\n", "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n"},
		{"SYST\r\nPWD\r\n", "215 UNIX Type: L8\r\n257 \"" + srv.Home + "\" is the current directory\r\n"},
		// The argument is the rest of the line, spaces and all.
		{"SIZE my file.txt\r\n", "213 29\r\n"},
		{"SIZE  my file.txt\r\n", "550 Could not get file size.\r\n"},
		{"RETR my file.txt\r\n", "425 Use PORT or PASV first.\r\n"},
		{"DELE my file.txt\r\n", "550 Permission denied.\r\n"},
		{"PORT 127,0,0,1,1,1\r\n", "500 Illegal PORT command.\r\n"},
		{"bogus\r\n", "500 Unknown command.\r\n"},
		{"NOOP\n", "200 NOOP ok.\r\n"},
	}
	for _, st := range steps {
		want := st.want[:strings.Index(st.want, "\r\n")+2]
		got := c.Exchange(st.send, want)
		if rest := st.want[len(want):]; rest != "" {
			got += c.Next(rest)
		}
		if got != st.want {
			t.Errorf("%q: got %q, want %q", st.send, got, st.want)
		}
	}
	help := c.Exchange("HELP\r\n", "214 Help OK.\r\n")
	if !strings.HasPrefix(help, "214-The following commands are recognized.\r\n ABOR ") {
		t.Errorf("HELP: got %q", help)
	}
	c.Send("QUIT\r\n")
	if got := c.Closed(); got != "221 Goodbye.\r\n" {
		t.Errorf("QUIT: got %q", got)
	}

	out := RunClient(t, FTPClient, "127.0.0.1", portOf(srv.Addr), FTPFile)
	if welcome := regexp.MustCompile(`(?m)^welcome 220 ` + FTPGreeting + `$`); !welcome.MatchString(out) {
		t.Errorf("ftplib session lacks a line matching %q:\n%s", welcome, out)
	}
	for _, want := range []string{
		"login 230 Login successful.\n",
		"list ['my file.txt', 'pub']\n",
		"nlst ['pub/readme']\n",
		`retr 226 Transfer complete. b'hello from vsftpd\r\n250-x\r\n.\r\n'` + "\n",
		"size 29\n",
		"quit 221 Goodbye.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ftplib session lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(srv.Root, FTPFile)); err != nil || string(b) != FTPFileContent {
		t.Errorf("after the sessions %s holds %q (%v), want it unchanged", FTPFile, b, err)
	}
}
