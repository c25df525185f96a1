package gateway_test

// Process-level TLS: SIGHUP re-reads the certificate files with no dropped connection, and the RSS
// an idle wss connection costs the gateway process (WSGATE_TLS_BENCH=1; not part of make test).

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// SIGHUP with renewed certificate files: a connection open before keeps working, a handshake after
// gets the new certificate, and a broken file keeps the current one.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	requireE2E(t, false, false)
	pki := newTestPKI(t)
	spec, _ := pki.leaf(t, "site", "localhost", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	g := startGatewayProcess(t, "-tls-listen", addr, "-tls-cert", spec)
	awaitTCP(t, addr)
	serial := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, pki.clientConfig("localhost"))
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	old, err := tls.Dial("tcp", addr, pki.clientConfig("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldBR := bufio.NewReader(old)
	getPage := func() error {
		_ = old.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(old, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(oldBR, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := getPage(); err != nil {
		t.Fatalf("page over the first connection: %v", err)
	}

	pki.leaf(t, "site", "localhost", "127.0.0.1") // same files, new certificate and key
	reloads := strings.Count(g.log.String(), "tls certificates reloaded")
	g.signal(t, syscall.SIGHUP)
	flWaitLog(t, g, "tls certificates reloaded", reloads, 10*time.Second)
	if after := serial(); after == before {
		t.Errorf("after SIGHUP the handshake still gets certificate serial %s", before)
	}
	if err := getPage(); err != nil {
		t.Errorf("the connection opened before the reload failed after it: %v", err)
	}

	cert, _, _ := strings.Cut(spec, ",")
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	current := serial()
	refused := strings.Count(g.log.String(), "reload refused")
	g.signal(t, syscall.SIGHUP)
	flWaitLog(t, g, "reload refused", refused, 10*time.Second) // -tls-cert is checked with the other flags
	if got := serial(); got != current {
		t.Errorf("a broken certificate file replaced the served certificate (%s → %s)", current, got)
	}
}

// TestTLSIdleMemoryBench: RSS over baseline per idle connection on a topic route, plain ws and wss
// (TLS 1.3 and 1.2), each in a gateway process of its own, clients in this process (Go crypto/tls
// goroutines answering the gateway's pings; their memory is not the gateway's). Run with
//
//	WSGATE_TLS_BENCH=1 [WSGATE_TLS_BENCH_N=9000] go test -count=1 -timeout 20m ./gateway/ -run TestTLSIdleMemoryBench -v
func TestTLSIdleMemoryBench(t *testing.T) {
	if os.Getenv("WSGATE_TLS_BENCH") == "" {
		t.Skip("set WSGATE_TLS_BENCH=1 (opens thousands of connections)")
	}
	requireE2E(t, false, false)
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("WSGATE_TLS_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	pki := newTestPKI(t)
	spec, _ := pki.leaf(t, "site", "localhost", "127.0.0.1")
	modes := []struct {
		name string
		tls  *tls.Config
	}{
		{"ws", nil},
		{"wss TLS 1.3", &tls.Config{RootCAs: pki.pool, ServerName: "localhost", MinVersion: tls.VersionTLS13}},
		{"wss TLS 1.2", &tls.Config{RootCAs: pki.pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12}},
	}
	var report []string
	for _, m := range modes {
		tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		g := startGatewayProcess(t, "-tls-listen", tlsAddr, "-tls-cert", spec, "-ping-interval", "2s", "-idle-timeout", "1h")
		awaitTCP(t, tlsAddr)
		addr := g.Addr
		if m.tls != nil {
			addr = tlsAddr
		}
		settle := func() int64 {
			time.Sleep(5 * time.Second) // two ping rounds: every connection pinged, its pong read, its ciphers released
			for i := 0; i < 2; i++ {
				if resp, err := http.Get("http://" + g.Admin + "/debug/pprof/heap?gc=1"); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				time.Sleep(time.Second)
			}
			rss, err := g.rss()
			if err != nil {
				t.Fatal(err)
			}
			return rss
		}
		rss0 := settle()
		ctx, cancel := context.WithCancel(context.Background())
		conns, err := openIdleClients(ctx, addr, m.tls, n, nil)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", m.name, err)
		}
		rss1 := settle()
		heap, _ := scrapeMetrics(t, g.Admin).get("go_memstats_heap_inuse_bytes", "")
		per := float64(rss1-rss0) / float64(n)
		line := fmt.Sprintf("%-12s %d idle connections: RSS %d → %d MiB, %.0f B/conn over baseline (heap in use %d MiB)",
			m.name, n, rss0>>20, rss1>>20, per, int64(heap)>>20)
		t.Log(line)
		report = append(report, line)
		cancel()
		for _, c := range conns {
			c.Close()
		}
		g.proc.stop()
	}
	t.Logf("summary:\n%s", strings.Join(report, "\n"))
}

// openIdleClients opens n WebSocket connections to /ws at addr (TLS when cfg is set), each with a
// goroutine that answers pings until ctx ends and counts the other frames it gets in got (if set).
func openIdleClients(ctx context.Context, addr string, cfg *tls.Config, n int, got *atomic.Int64) ([]net.Conn, error) {
	var (
		mu    sync.Mutex
		conns []net.Conn
		fails atomic.Int64
		first atomic.Pointer[error]
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := idleClient(addr, cfg)
			if err != nil {
				fails.Add(1)
				first.CompareAndSwap(nil, &err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go answerPings(ctx, c, got)
		}()
	}
	wg.Wait()
	if f := fails.Load(); f > 0 {
		for _, c := range conns {
			c.Close()
		}
		return nil, fmt.Errorf("%d of %d connections failed, first: %v", f, n, *first.Load())
	}
	return conns, nil
}

func idleClient(addr string, cfg *tls.Config) (net.Conn, error) {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 10 * time.Second}
	if cfg != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if err == nil {
		err = read101(c)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// read101 reads a 101 response head byte by byte (nothing after it is consumed).
func read101(c net.Conn) error {
	var head []byte
	b := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := c.Read(b); err != nil {
			return err
		}
		head = append(head, b[0])
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 101") {
		return errors.New("upgrade refused: " + string(head))
	}
	return nil
}

// answerPings reads server frames (unmasked, small) and answers each ping with a masked pong.
func answerPings(ctx context.Context, c net.Conn, got *atomic.Int64) {
	go func() { <-ctx.Done(); c.Close() }()
	r := bufio.NewReaderSize(c, 512)
	hdr := make([]byte, 2)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(hdr[1] & 0x7f)
		if n >= 126 {
			return // no big frames on an idle topic
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		if op := hdr[0] & 0x0f; op != 0x9 && got != nil {
			got.Add(1)
		}
		if hdr[0]&0x0f == 0x9 {
			pong := append([]byte{0x8a, 0x80 | byte(n), 0, 0, 0, 0}, payload...) // zero mask key
			if _, err := c.Write(pong); err != nil {
				return
			}
		}
	}
}

// TestTLSHandshakeCPUBench: gateway CPU (utime+stime of its process) per connection that does a full
// or a resumed TLS handshake (ECDSA P-256) and one GET of the demo page, K connections 8 at a time,
// and the same over plain TCP for reference. Run with
//
//	WSGATE_TLS_BENCH=1 [WSGATE_TLS_BENCH_K=3000] go test -count=1 ./gateway/ -run TestTLSHandshakeCPUBench -v
func TestTLSHandshakeCPUBench(t *testing.T) {
	if os.Getenv("WSGATE_TLS_BENCH") == "" {
		t.Skip("set WSGATE_TLS_BENCH=1")
	}
	requireE2E(t, false, false)
	k := 3000
	if v, err := strconv.Atoi(os.Getenv("WSGATE_TLS_BENCH_K")); err == nil && v > 0 {
		k = v
	}
	pki := newTestPKI(t)
	spec, _ := pki.leaf(t, "site", "localhost", "127.0.0.1")
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	g := startGatewayProcess(t, "-tls-listen", tlsAddr, "-tls-cert", spec)
	awaitTCP(t, tlsAddr)
	cache := tls.NewLRUClientSessionCache(16)
	modes := []struct {
		name string
		addr string
		cfg  func() *tls.Config
	}{
		{"plain", g.Addr, nil},
		{"TLS 1.3 full", tlsAddr, func() *tls.Config { return pki.clientConfig("localhost") }},
		{"TLS 1.3 resumed", tlsAddr, func() *tls.Config {
			c := pki.clientConfig("localhost")
			c.ClientSessionCache = cache
			return c
		}},
		{"TLS 1.2 full", tlsAddr, func() *tls.Config {
			c := pki.clientConfig("localhost")
			c.MaxVersion = tls.VersionTLS12
			return c
		}},
	}
	for _, m := range modes {
		get := func() error {
			var c net.Conn
			var err error
			if m.cfg != nil {
				c, err = tls.Dial("tcp", m.addr, m.cfg())
			} else {
				c, err = net.Dial("tcp", m.addr)
			}
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, c)
			return err
		}
		if err := get(); err != nil { // primes the session cache for the resumed run
			t.Fatalf("%s: %v", m.name, err)
		}
		cpu0 := procCPU(t, g)
		start := time.Now()
		var wg sync.WaitGroup
		var fails atomic.Int64
		sem := make(chan struct{}, 8)
		for i := 0; i < k; i++ {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if get() != nil {
					fails.Add(1)
				}
			}()
		}
		wg.Wait()
		cpu := procCPU(t, g) - cpu0
		t.Logf("%-16s %d connections in %v: gateway CPU %v, %.0f µs/conn (%.0f conns per CPU-second), %d failed",
			m.name, k, time.Since(start).Round(time.Millisecond), cpu, float64(cpu.Microseconds())/float64(k),
			float64(k)/cpu.Seconds(), fails.Load())
	}
	if v, _ := scrapeMetrics(t, g.Admin).get("wsgate_tls_handshakes_total", `result="resumed"`); v < float64(k)/2 {
		t.Errorf("only %v resumed handshakes counted", v)
	}
}

// procCPU is the gateway process's user+system CPU time (/proc/PID/stat, clock ticks of 10 ms).
func procCPU(t *testing.T, g *testGateway) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.proc.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), ") ") // comm may hold spaces
	f := strings.Fields(rest)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// TestTLSBroadcastCPUBench: gateway CPU per broadcast delivery, 3,000 subscribers of the default
// topic receiving 10 messages a second for 10 s, over ws and over wss (TLS 1.3, AES-128-GCM: each
// delivery is one AEAD seal per subscriber). Run with
//
//	WSGATE_TLS_BENCH=1 go test -count=1 ./gateway/ -run TestTLSBroadcastCPUBench -v
func TestTLSBroadcastCPUBench(t *testing.T) {
	if os.Getenv("WSGATE_TLS_BENCH") == "" {
		t.Skip("set WSGATE_TLS_BENCH=1")
	}
	requireE2E(t, false, false)
	const subs, msgs = 3000, 100
	pki := newTestPKI(t)
	spec, _ := pki.leaf(t, "site", "localhost", "127.0.0.1")
	for _, secure := range []bool{false, true} {
		tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		g := startGatewayProcess(t, "-tls-listen", tlsAddr, "-tls-cert", spec, "-ping-interval", "10m", "-idle-timeout", "1h")
		awaitTCP(t, tlsAddr)
		addr, cfg, name := g.Addr, (*tls.Config)(nil), "ws"
		if secure {
			addr, cfg, name = tlsAddr, pki.clientConfig("localhost"), "wss"
		}
		var got atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		conns, err := openIdleClients(ctx, addr, cfg, subs, &got)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", name, err)
		}
		time.Sleep(2 * time.Second)
		cpu0 := procCPU(t, g)
		payload := strings.Repeat("x", 64)
		tk := time.NewTicker(100 * time.Millisecond)
		for i := 0; i < msgs; i++ {
			<-tk.C
			resp, err := http.Post("http://"+g.Admin+"/v1/publish/chat", "text/plain", strings.NewReader(payload))
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		tk.Stop()
		deadline := time.Now().Add(10 * time.Second)
		for got.Load() < subs*msgs && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cpu := procCPU(t, g) - cpu0
		d := got.Load()
		t.Logf("%-4s %d subscribers x %d messages: %d deliveries, gateway CPU %v, %.2f µs/delivery",
			name, subs, msgs, d, cpu, float64(cpu.Microseconds())/float64(max(d, 1)))
		if d < subs*msgs {
			t.Errorf("%s: %d of %d deliveries", name, d, subs*msgs)
		}
		cancel()
		for _, c := range conns {
			c.Close()
		}
		g.proc.stop()
	}
}
