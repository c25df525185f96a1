package gateway_test

// Backpressure on HTTP responses through the proxy: a large download arrives whole, and responses of
// every size around the cap end. (The tunnel and connect-phase tests measure the gateway's RSS and run
// it as a process: rss_process_test.go.)

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

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
