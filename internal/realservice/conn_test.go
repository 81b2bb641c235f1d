package realservice

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// TestServeAndAnswers: a service started with Serve answers; Answers sees
// that, and sees no answer where the reply differs, where the service says
// nothing, and where nothing listens any more.
func TestServeAndAnswers(t *testing.T) {
	echo := Serve(t, func(c net.Conn) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			_, _ = c.Write([]byte("you said " + line))
		}
	})
	silent := Serve(t, func(c net.Conn) { _, _ = bufio.NewReader(c).ReadString('\n') })
	const wait = 2 * time.Second
	if !Answers(echo, []byte("hello\n"), "you said hello", wait) {
		t.Errorf("Answers: the echo service did not answer")
	}
	if Answers(echo, []byte("hello\n"), "goodbye", wait) {
		t.Errorf("Answers: an answer without the wanted bytes counted")
	}
	if Answers(silent, []byte("hello\n"), "you said", 200*time.Millisecond) {
		t.Errorf("Answers: a service that said nothing answered")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	if Answers(gone, []byte("hello\n"), "you said", wait) {
		t.Errorf("Answers: a closed port answered")
	}
}
