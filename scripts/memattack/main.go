// Command memattack holds many connections to a proxy, each with an
// unfinished frame of the same size, and reports how much memory the
// proxy process holds meanwhile and after they close (issue 11's memory
// attack). It also serves as the sink service the proxy dials (-sink).
//
//	memattack -sink 127.0.0.1:7001 &
//	ubfproxy run --wire ubf --no-meta --contract contracts/file.con --listen 127.0.0.1:7000 --upstream 127.0.0.1:7001 &
//	memattack -addr 127.0.0.1:7000 -pid $! -conns 22 -bytes 14700000
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	sink := flag.String("sink", "", "serve as the service: accept on `ADDR` and discard what arrives")
	addr := flag.String("addr", "", "the proxy's `ADDR`")
	pid := flag.Int("pid", 0, "the proxy's process id, whose memory is reported")
	conns := flag.Int("conns", 22, "connections")
	size := flag.Int("bytes", 14_700_000, "bytes of the unfinished frame each connection sends")
	unit := flag.String("unit", "1 ", "what the frame repeats after its opening '{'")
	hold := flag.Duration("hold", 5*time.Second, "how long the connections stay open once sent")
	after := flag.Duration("after", 10*time.Second, "how long after the close the memory is measured again")
	flag.Parse()
	if *sink != "" {
		serveSink(*sink)
		return
	}
	frame := append([]byte("{"), bytes.Repeat([]byte(*unit), (*size-1)/len(*unit))...)
	var wg sync.WaitGroup
	cs := make([]net.Conn, *conns)
	refused := 0
	var mu sync.Mutex
	for i := range cs {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		cs[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The proxy refuses the session (reply and close) or reads
			// it all; either way the write ends.
			if _, err := c.Write(frame); err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	time.Sleep(*hold)
	rss, hwm := memOf(*pid)
	answered := 0
	for _, c := range cs {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if b, _ := io.ReadAll(c); len(b) > 0 {
			answered++
		}
	}
	fmt.Printf("%d connections x %d bytes: proxy RSS %s (peak %s); %d writes cut short, %d sessions answered (refused)\n",
		*conns, len(frame), rss, hwm, refused, answered)
	for _, c := range cs {
		c.Close()
	}
	time.Sleep(*after)
	rss, _ = memOf(*pid)
	fmt.Printf("%s after the connections closed: proxy RSS %s\n", *after, rss)
}

func memOf(pid int) (rss, hwm string) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?", "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch k {
		case "VmRSS":
			rss = strings.TrimSpace(v)
		case "VmHWM":
			hwm = strings.TrimSpace(v)
		}
	}
	return rss, hwm
}

func serveSink(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}
