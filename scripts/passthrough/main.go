// Command passthrough is the baseline of the proxy benchmarks: a plain TCP
// proxy that copies bytes both ways without looking at them, so that
// ubfproxy's figures can be read as what checking costs on top of being a
// proxy at all. It uses a read/write loop rather than io.Copy, which
// splices between TCP sockets on Linux and is slower for small messages.
//
//	passthrough -listen 127.0.0.1:7001 -upstream 127.0.0.1:6379
package main

import (
	"flag"
	"log"
	"net"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "service address (host:port)")
	flag.Parse()
	if *upstream == "" {
		log.Fatal("passthrough: -upstream is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("passthrough: %v", err)
	}
	log.Printf("passthrough: %s -> %s", ln.Addr(), *upstream)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("passthrough: %v", err)
		}
		go relay(c, *upstream)
	}
}

// relay copies both ways until either side closes.
func relay(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		log.Printf("passthrough: dial %s: %v", upstream, err)
		return
	}
	defer u.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pump(u, c) }()
	go func() { defer wg.Done(); pump(c, u) }()
	wg.Wait()
}

func pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
