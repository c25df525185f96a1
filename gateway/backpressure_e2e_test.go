package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// TestE2EBackpressureTunnel: a backend floods a tunnel whose client never
// reads. The gateway must stop reading the backend once the client's outbound
// backlog is over its cap, so the flood stalls in the kernel's socket buffers
// (the backend's writes block) instead of piling up in the gateway's memory.
// Without backpressure the gateway reads loopback at GB/s into its heap.
func TestE2EBackpressureTunnel(t *testing.T) {
	requireE2E(t, false, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var written atomic.Int64
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		key := req.Header.Get("Sec-WebSocket-Key")
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wstest.AcceptKey(key) + "\r\n\r\n"))
		// Unmasked binary frames of 64 KiB, as fast as the gateway takes them, for at most 6 s.
		frame := append([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, make([]byte, 64<<10)...)
		stop := time.Now().Add(6 * time.Second)
		for time.Now().Before(stop) {
			_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			n, _ := c.Write(frame)
			written.Add(int64(n))
		}
	}()

	g := startGatewayProcess(t, "-backend", "flood="+ln.Addr().String(), "-route", "/flood=backend:flood")
	client := upgradeRaw(t, g.Addr, "/flood", 0)
	_ = client // never read from: its receive window fills and stays full

	time.Sleep(2 * time.Second)
	w1 := written.Load()
	rss1, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	w2 := written.Load()
	rss2, _ := g.rss()
	t.Logf("backend wrote %d MiB after 2 s, %d MiB after 4 s; gateway RSS %d MiB, %d MiB",
		w1>>20, w2>>20, rss1>>20, rss2>>20)
	// The stall: socket buffers on three sockets plus the 256 KiB cap, a few MiB;
	// unthrottled, loopback moves that much in milliseconds.
	if w2-w1 > 8<<20 {
		t.Errorf("backend kept writing %d MiB while the client read nothing: no backpressure", (w2-w1)>>20)
	}
	if rss2 > 100<<20 {
		t.Errorf("gateway RSS %d MiB: the flood is in its memory", rss2>>20)
	}
	if g.exited() {
		t.Fatal("gateway exited")
	}

	// The client starts reading: the paused backend must be read again.
	var got int64
	buf := make([]byte, 256<<10)
	stop := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(stop) {
		_ = client.SetReadDeadline(stop)
		n, err := client.R.Read(buf)
		got += int64(n)
		if err != nil {
			break
		}
	}
	w3 := written.Load()
	t.Logf("after the client read %d MiB in 1.5 s, the backend had written %d MiB more", got>>20, (w3-w2)>>20)
	if w3-w2 < 16<<20 || got < 16<<20 {
		t.Errorf("the tunnel did not resume: client read %d MiB, backend wrote %d MiB more", got>>20, (w3-w2)>>20)
	}
}

// TestE2EBackpressureDownload: a 32 MiB HTTP response through the proxy to a
// client that reads as fast as it can arrives whole. The server side is
// paused whenever the client's backlog passes the cap and must be resumed
// each time, or the response stalls until server-timeout cuts it.
func TestE2EBackpressureDownload(t *testing.T) {
	requireE2E(t, false, false)
	const size = 32 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		chunk := make([]byte, 1<<20)
		for i := 0; i < size/len(chunk); i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	g := startGateway(t, "-backend", "dl="+ln.Addr().String()+";server-timeout=5s", "-route", "/=backend:dl")
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get("http://" + g.Addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		t.Fatalf("downloaded %d of %d bytes: %v", n, size, err)
	}
}

// TestE2EBackpressureResponseEnds: responses of every size around the
// backlog cap, to clients that read late, must end and leave the keep-alive
// connection ready: when a body's last bytes push the client's backlog over
// the cap, the exchange still completes and the next request is answered.
func TestE2EBackpressureResponseEnds(t *testing.T) {
	requireE2E(t, false, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(make([]byte, n))
	})
	mux.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	g := startGateway(t, "-backend", "dl="+ln.Addr().String()+";server-timeout=3s", "-route", "/=backend:dl")

	var sizes []int
	for n := 2 << 20; n <= 6<<20; n += 16 << 10 {
		sizes = append(sizes, n)
	}
	errs := make(chan string, len(sizes))
	sem := make(chan struct{}, 32)
	for _, n := range sizes {
		sem <- struct{}{}
		go func(n int) {
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", g.Addr, 3*time.Second)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "GET /big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
			time.Sleep(300 * time.Millisecond) // read late: the gateway backs up
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				errs <- fmt.Sprintf("%d: %v", n, err)
				return
			}
			if got, err := io.Copy(io.Discard, resp.Body); err != nil || got != int64(n) {
				errs <- fmt.Sprintf("%d: body %d bytes: %v", n, got, err)
				return
			}
			t0 := time.Now()
			fmt.Fprintf(c, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err = http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusOK || time.Since(t0) > 2*time.Second {
				errs <- fmt.Sprintf("%d: next request on the connection: %v after %v", n, err, time.Since(t0).Round(time.Millisecond))
				return
			}
			errs <- ""
		}(n)
	}
	var bad []string
	for range sizes {
		if e := <-errs; e != "" {
			bad = append(bad, e)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d sizes failed, e.g. %q", len(bad), len(sizes), bad[:min(3, len(bad))])
	}
}

// TestE2EBackpressureWhileConnecting: uploads to a pool whose server does
// not answer SYNs (a listener with a full accept queue) wait for the connect;
// meanwhile the clients are not read, so the gateway does not buffer their
// bodies. Memory stays flat instead of growing by 64 KiB per tick per client.
func TestE2EBackpressureWhileConnecting(t *testing.T) {
	requireE2E(t, false, false)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted from: SYNs beyond the queue are dropped
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; i < 4; i++ { // fill the accept queue
		go func() {
			if c, err := net.DialTimeout("tcp", addr, 8*time.Second); err == nil {
				time.Sleep(8 * time.Second)
				c.Close()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	g := startGatewayProcess(t, "-backend", "bh="+addr+";connect-timeout=6s", "-route", "/=backend:bh")
	before, _ := g.rss()
	chunk := make([]byte, 64<<10)
	for i := 0; i < 10; i++ {
		c, err := net.DialTimeout("tcp", g.Addr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1<<30)
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(4 * time.Second)
	after, _ := g.rss()
	t.Logf("gateway RSS %d MiB before, %d MiB after 4 s of 10 uploads waiting for a connect", before>>20, after>>20)
	if after-before > 40<<20 {
		t.Fatalf("gateway RSS grew by %d MiB while uploads waited for their server: their bodies were read into memory", (after-before)>>20)
	}
}
