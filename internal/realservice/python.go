package realservice

import (
	"bytes"
	"context"
	"embed"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

//go:embed clients/*.py
var clients embed.FS

// The everyday client sessions of Python's standard library, for
// RunClient: each prints what its user sees, so that a session through
// the proxy can be compared with a direct one.
const (
	// FTPClient: ftplib; arguments host, port, file name.
	FTPClient = "ftp_client.py"
	// POP3Client: poplib; arguments host, port, user, password.
	POP3Client = "pop3_client.py"
)

// RunClient runs one of the client sessions of this package (FTPClient,
// POP3Client) with python3 and returns what it printed; it fails the test
// if the client fails. The test is skipped when there is no python3.
func RunClient(tb testing.TB, client string, args ...string) string {
	tb.Helper()
	python := pythonWith("sys")
	if python == "" {
		tb.Skip("python3 is not installed (Debian package python3); skipping the test with a real client")
	}
	src, err := clients.ReadFile("clients/" + client)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), client)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{path}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %v: %v\n%s%s", client, args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
