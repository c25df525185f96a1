package gateway_test

// TLS in front, plain to the backends: proxied sessions over the TLS listener, and the handshake's
// timeouts and leaks.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Socket.IO with cookie stickiness through the TLS listener: polling over https, the upgrade over
// wss, all acks from the server the cookie names; the backends speak plain HTTP.
func TestTLSProxySocketIOSticky(t *testing.T) {
	srv := startSIOPair(t)
	g := startTLSGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID"), "-route", "/=backend:app")
	t.Setenv("NODE_EXTRA_CA_CERTS", g.pki.caPEM)
	url := "https://" + strings.TrimPrefix(g.wssURL(""), "wss://")
	var s sioSummary
	runNodeJSON(t, 20*time.Second, &s, "sio-client.js", "--url", url, "--count", strconv.Itoa(sioEvents))
	t.Logf("socket.io over TLS: first transport %s, acks %v, final %s, cookies %v, %d ms",
		s.FirstTransport, s.Acks, s.Transport, s.Cookies, s.ElapsedMs)
	if p := sioProblems(&s); len(p) > 0 {
		t.Fatalf("socket.io client over TLS behind cookie=SERVERID: %s", strings.Join(p, "; "))
	}
	if got := s.Cookies["SERVERID"]; got != s.Acks[0] {
		t.Errorf("SERVERID cookie %q, but the acks come from %q", got, s.Acks[0])
	}
}

// A backend behind the TLS listener is told X-Forwarded-Proto: https; behind the plain one, http.
func TestTLSForwardedProto(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()
	g := startTLSGateway(t, "-backend", "api=b1@"+strings.TrimPrefix(backend.URL, "http://"), "-route", "/api=backend:api")
	get := func(c *http.Client, url string) string {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	tc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: g.pki.clientConfig("localhost")}}
	if got := get(tc, "https://"+strings.TrimPrefix(g.wssURL("/api/x"), "wss://")); got != "https" {
		t.Errorf("over TLS the backend saw X-Forwarded-Proto %q, want https", got)
	}
	if got := get(&http.Client{Timeout: 5 * time.Second}, "http://"+g.Addr+"/api/x"); got != "http" {
		t.Errorf("over plain the backend saw X-Forwarded-Proto %q, want http", got)
	}
}

// A handshake that stalls (half a ClientHello, then nothing) is closed at -handshake-timeout and
// counted; a client that vanishes mid-handshake leaves no goroutine behind.
func TestTLSHandshakeStallAndVanish(t *testing.T) {
	g := startTLSGateway(t, "-handshake-timeout", "1s")
	hello := clientHello(t)

	base := runtime.NumGoroutine()
	// Stall: the whole ClientHello, then silence (the handshake goroutine waits for our answer).
	stall, err := net.DialTimeout("tcp", g.TLS, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	_, _ = stall.Write(hello)
	start := time.Now()
	_ = stall.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, stall) // the server's flight, then EOF at the timeout
	if d := time.Since(start); d < 800*time.Millisecond || d > 3*time.Second {
		t.Errorf("stalled handshake closed after %v, want about -handshake-timeout 1s", d)
	}
	waitFor(t, 3*time.Second, func() bool {
		v, _ := scrapeMetrics(t, g.Admin).get("wsgate_tls_handshakes_total", `reason="timeout"`)
		return v >= 1
	}, "the stalled handshake counted as reason=timeout")

	// Vanish: many clients send a ClientHello and close at once.
	for i := 0; i < 50; i++ {
		c, err := net.DialTimeout("tcp", g.TLS, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(hello)
		c.Close()
	}
	waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= base+5 }, "handshake goroutines gone")
	waitFor(t, 3*time.Second, func() bool {
		v, _ := scrapeMetrics(t, g.Admin).get("wsgate_tls_connections_open", "")
		return v == 0
	}, "no TLS connection left open")
}

// clientHello captures the first flight of a crypto/tls client.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		_ = tls.Client(a, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}).Handshake()
	}()
	defer a.Close()
	defer b.Close()
	_ = b.SetReadDeadline(time.Now().Add(3 * time.Second))
	r := bufio.NewReader(b)
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(r, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// -reuseport shares the TLS port: two gateways bound to one -tls-listen address both serve
// handshakes (the kernel spreads connections over both).
func TestTLSReusePort(t *testing.T) {
	pki := newTestPKI(t)
	spec, _ := pki.leaf(t, "localhost", "localhost", "127.0.0.1")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	a := startGateway(t, "-reuseport", "-tls-listen", addr, "-tls-cert", spec)
	b := startGateway(t, "-reuseport", "-tls-listen", addr, "-tls-cert", spec)
	awaitTCP(t, addr)
	for i := 0; i < 40; i++ {
		c, err := tls.Dial("tcp", addr, pki.clientConfig("localhost"))
		if err != nil {
			t.Fatalf("TLS dial %d: %v", i, err)
		}
		c.Close()
	}
	for _, g := range []*testGateway{a, b} {
		v, _ := scrapeMetrics(t, g.Admin).get("wsgate_tls_handshakes_total", `result="ok"`)
		if v == 0 {
			t.Errorf("gateway %s served none of 40 handshakes on the shared TLS port", g.Addr)
		}
	}
}

// Messages larger than a TLS record (16 KiB) both ways through wss: on a topic route (the gateway
// reassembles the frame from many records and seals the broadcast into many), and through a tunnel
// to a plain Node `ws` echo backend (bytes relayed record by record).
func TestTLSLargeMessages(t *testing.T) {
	requireNodeModules(t, "ws")
	echo := startFlEcho(t, "e1")
	g := startTLSGateway(t, "-backend", "echo=e1@"+echo.Addr, "-route", "/echo=backend:echo", "-route", "/ws=topic:chat")
	t.Setenv("NODE_EXTRA_CA_CERTS", g.pki.caPEM)
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	b64 := base64.StdEncoding.EncodeToString(big)
	for _, path := range []string{"/ws", "/echo"} {
		p := startWSPeer(t, g.wssURL(path), 20*time.Second)
		p.waitOpen(t)
		time.Sleep(100 * time.Millisecond)
		p.send(t, map[string]any{"b64": b64, "binary": true})
		deadline := time.Now().Add(10 * time.Second)
		for {
			ev := p.next(t, 10*time.Second)
			if ev.Ev == "message" && ev.Binary {
				if got := ev.payload(); !bytes.Equal(got, big) {
					t.Errorf("%s: got %d bytes back, not the 300 KiB sent", path, len(got))
				}
				break
			}
			if ev.Ev == "close" || ev.Ev == "error" || time.Now().After(deadline) {
				t.Fatalf("%s: %+v before the message came back", path, ev)
			}
		}
	}
}
