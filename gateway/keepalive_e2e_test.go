package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestE2EProxyRetryOnDeadKeepAlive: a server that closes a kept-alive
// connection just as the next request arrives on it (Node closes idle ones
// after 5 s) must not cost the client a 502: a bodyless request that got no
// answer is sent again once on a fresh connection.
func TestE2EProxyRetryOnDeadKeepAlive(t *testing.T) {
	requireE2E(t, false, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns, answered atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n == 1 && i == 1 {
						return // the first connection dies under its second request, unanswered
					}
					answered.Add(1)
					body := fmt.Sprintf("conn %d request %d", n, i)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				}
			}()
		}
	}()
	g := startGateway(t, "-backend", "ka="+ln.Addr().String(), "-route", "/=backend:ka")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	for i := 0; i < 3; i++ {
		resp, err := client.Get("http://" + g.Addr + "/x")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %q, want 200 (retried on a fresh server connection)", i, resp.StatusCode, body)
		}
		t.Logf("request %d: %s", i, body)
	}
	if conns.Load() != 2 || answered.Load() != 3 {
		t.Fatalf("server saw %d connections and answered %d requests, want 2 and 3", conns.Load(), answered.Load())
	}
}

// TestE2EProxyNoReplayOfPOST: the retry is for idempotent requests only. A
// bodyless POST whose kept-alive connection dies unanswered gets 502: the
// server may already have acted on it (RFC 9110 9.2.2), so it is not sent twice.
func TestE2EProxyNoReplayOfPOST(t *testing.T) {
	requireE2E(t, false, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var posts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if req.Method == http.MethodPost {
						posts.Add(1)
						return // acted on, then the connection died before the answer
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	g := startGateway(t, "-backend", "ka="+ln.Addr().String(), "-route", "/=backend:ka")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	resp, err := client.Get("http://" + g.Addr + "/warm") // opens the kept-alive server connection
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr+"/order", nil)
	req.Header.Set("Content-Length", "0")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || posts.Load() != 1 {
		t.Fatalf("POST: status %d, server saw it %d times; want 502 and exactly once", resp.StatusCode, posts.Load())
	}
}
