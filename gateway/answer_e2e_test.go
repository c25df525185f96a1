package gateway_test

// Requests the gateway answers itself (issue 11 items 2 and 7): a body on a
// request for the page is dropped or ends the connection, never read as the
// next request; and a client that pipelines without reading is not served
// past a small backlog, on the page and on proxied requests alike (a process
// test: it bounds the gateway's RSS).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestE2EPageRequestBody(t *testing.T) {
	g := startGateway(t, "-demo-path", "/page", "-route", "/topic=topic:chat")
	get := "GET /page HTTP/1.1\r\nHost: h\r\n\r\n"
	for _, tc := range []struct {
		name, raw string
		// the page's answers, then whether the connection closed after the last
		pages   int
		closing bool
	}{
		{"small body dropped, kept alive", "GET /page HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nGET /" + get, 2, false},
		{"chunked body dropped, kept alive", "GET /page HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n" + get, 2, false},
		{"body not all here: closed", "GET /page HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nGET /topic HTTP/1.1\r\n", 1, true},
		{"body over the discard cap: closed", "GET /page HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat("x", 70000) + get, 1, true},
		{"unfinished chunked body: closed", "GET /page HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n" + get, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", g.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			for i := range tc.pages {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<html")) {
					t.Fatalf("response %d: %d %q, want the page", i, resp.StatusCode, body[:min(len(body), 80)])
				}
				if last := i == tc.pages-1; last && resp.Close != tc.closing {
					t.Fatalf("last page: Connection: close %v, want %v", resp.Close, tc.closing)
				}
			}
			// Nothing else: no answer to the body read as a request.
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			extra, err := br.ReadByte()
			if err == nil {
				rest, _ := br.Peek(br.Buffered())
				t.Fatalf("more after the pages: %q", append([]byte{extra}, rest...))
			}
			if ne, ok := err.(net.Error); tc.closing == (ok && ne.Timeout()) {
				t.Fatalf("after the pages: %v; want closed %v", err, tc.closing)
			}
		})
	}
}

// floodRSS writes raw to the gateway as fast as it takes it on a client
// that never reads, for up to 4 s, and returns the gateway's RSS growth and
// the bytes it took.
func floodRSS(t *testing.T, g *testGateway, raw []byte) (growth, sent int64) {
	t.Helper()
	rss0, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10) // the answers stay in the gateway, not in our socket
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.SetWriteDeadline(time.Now().Add(4 * time.Second))
		n, _ := c.Write(raw)
		sent = int64(n)
	}()
	wg.Wait()
	time.Sleep(time.Second) // what was taken is answered by now
	rss1, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	return rss1 - rss0, sent
}

// TestE2EPipelineFloodPage is 58,000 pipelined GETs of the page (1.6 MB)
// from a client that never reads: before the cap the gateway answered every
// one into its memory (+118 MB RSS).
func TestE2EPipelineFloodPage(t *testing.T) {
	requireE2E(t, false, false)
	g := startGatewayProcess(t, "-demo-path", "/page", "-handshake-timeout", "30s")
	raw := bytes.Repeat([]byte("GET /page HTTP/1.1\r\nHost: h\r\n\r\n"), 58000)
	growth, sent := floodRSS(t, g, raw)
	t.Logf("page flood: %d of %d bytes taken, gateway RSS +%d KiB", sent, len(raw), growth>>10)
	if growth > 10<<20 {
		t.Errorf("gateway RSS grew %d MiB answering a client that never reads, want < 10 MiB", growth>>20)
	}
}

// TestE2EPipelineFloodProxy is 1,500 pipelined proxied GETs with 60 KB
// answers from a client that never reads: before, each finished exchange
// started the next one and the answers piled up (+87 MB RSS).
func TestE2EPipelineFloodProxy(t *testing.T) {
	requireE2E(t, false, false)
	// Each answer in one write, so that it reaches the gateway in one read
	// and its exchange ends at once, backlog or not.
	answer := append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 60000)), bytes.Repeat([]byte("a"), 60000)...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
					_ = req.Body.Close()
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	g := startGatewayProcess(t, "-backend", "app="+ln.Addr().String(), "-route", "/app/=backend:app",
		"-handshake-timeout", "30s", "-server-timeout", "30s")
	raw := bytes.Repeat([]byte("GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n"), 1500)
	growth, sent := floodRSS(t, g, raw)
	t.Logf("proxy flood: %d of %d bytes taken, gateway RSS +%d KiB", sent, len(raw), growth>>10)
	if growth > 10<<20 {
		t.Errorf("gateway RSS grew %d MiB answering a client that never reads, want < 10 MiB", growth>>20)
	}
}

// TestE2EPipelineHeldResumes: a client held for its backlog is served again
// once it reads: every pipelined request gets its answer, in order, on the
// page and the proxy path alike.
func TestE2EPipelineHeldResumes(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(append([]byte(r.URL.Path), bytes.Repeat([]byte("b"), 32000)...))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(ln) }()
	defer backend.Close()
	g := startGateway(t, "-demo-path", "/page", "-backend", "app="+ln.Addr().String(), "-route", "/app/=backend:app")
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// 8,000 pages (16 MB: more than loopback's socket buffers hold, so the
	// gateway's own backlog passes its cap while we do not read), then
	// pages and proxied requests in turn.
	const pages, n = 8000, 8200
	var raw []byte
	for i := range n {
		if i < pages || i%2 == 0 {
			raw = append(raw, "GET /page HTTP/1.1\r\nHost: h\r\n\r\n"...)
		} else {
			raw = append(raw, fmt.Sprintf("GET /app/%d HTTP/1.1\r\nHost: h\r\n\r\n", i)...)
		}
	}
	go func() { _, _ = c.Write(raw) }()
	time.Sleep(time.Second) // let the backlog build up and the gateway hold the client
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i, n, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := []byte("<html")
		if i >= pages && i%2 == 1 {
			want = []byte(fmt.Sprintf("/app/%d", i))
		}
		if resp.StatusCode != 200 || !bytes.Contains(body, want) {
			t.Fatalf("response %d: %d, body without %q", i, resp.StatusCode, want)
		}
	}
}

// Security review finding 4: HEAD /wsgate.js on a kept connection gets the
// head only; a body there would be read as the answer to the next request.
func TestE2EResumeScriptHEADHasNoBody(t *testing.T) {
	g := startGateway(t, "-route", "/ws=topic:chat")
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("HEAD /wsgate.js HTTP/1.1\r\nHost: h\r\n\r\nGET /wsgate.js HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	head, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	head.Body.Close()
	get, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the GET after the HEAD: %v (the HEAD carried a body?)", err)
	}
	body, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil || get.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("GET: %d, %d bytes, %v", get.StatusCode, len(body), err)
	}
	if head.StatusCode != 200 || head.ContentLength != int64(len(body)) {
		t.Fatalf("HEAD: %d, Content-Length %d; want 200, %d", head.StatusCode, head.ContentLength, len(body))
	}
}
