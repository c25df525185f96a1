package gateway_test

// TLS termination end to end: real peers (Node's ws over wss://, Go's crypto/tls, openssl
// s_client) against the TLS listener, beside plain clients of the same routes.

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A broadcast topic route serves a plain ws:// client and a Node `ws` client over wss:// (trusting
// the test CA through NODE_EXTRA_CA_CERTS): each one's message reaches the other.
func TestTLSBroadcastAcrossPlainAndWSS(t *testing.T) {
	requireNodeModules(t, "ws")
	g := startTLSGateway(t)
	t.Setenv("NODE_EXTRA_CA_CERTS", g.pki.caPEM)
	secure := startWSPeer(t, g.wssURL("/ws"), 20*time.Second)
	secure.waitOpen(t)
	plain := startWSPeer(t, g.wsURL("/ws"), 20*time.Second)
	plain.waitOpen(t)
	time.Sleep(200 * time.Millisecond) // both subscribed

	secure.send(t, map[string]any{"text": "from wss"})
	plain.send(t, map[string]any{"text": "from ws"})
	for _, p := range []*wsPeer{secure, plain} {
		got := map[string]bool{}
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < 2 && time.Now().Before(deadline) {
			ev := p.next(t, 5*time.Second)
			if ev.Ev == "message" {
				got[string(ev.payload())] = true
			}
		}
		if !got["from wss"] || !got["from ws"] {
			t.Errorf("peer got %v, want both messages", got)
		}
	}
	m := scrapeMetrics(t, g.Admin)
	m.atLeast(t, "wsgate_tls_handshakes_total", `result="ok"`, 1)
	m.atLeast(t, "wsgate_tls_connections_open", "", 1)
	m.atLeast(t, "wsgate_tls_cert_expiry_timestamp_seconds", `name="localhost"`, 1)
}

// The built-in page over https, and an HTTP request on a kept-alive TLS connection.
func TestTLSServesPageOverHTTPS(t *testing.T) {
	g := startTLSGateway(t)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: g.pki.clientConfig("localhost")}}
	for i := 0; i < 2; i++ { // the second request reuses the connection
		resp, err := client.Get("https://" + strings.TrimPrefix(g.wssURL("/"), "wss://"))
		if err != nil {
			t.Fatalf("GET page over https: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<html") {
			t.Fatalf("GET / over https: %d %.80q", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
			t.Errorf("ALPN: %+v, want http/1.1", resp.TLS)
		}
	}
	// The stats page shows the listener, its connections and the certificate's expiry.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + g.Admin + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"TLS listener " + g.TLS, "localhost (default)", "localhost, 127.0.0.1", "expires"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("stats page lacks %q", want)
		}
	}
}

// Plain HTTP sent to the TLS port gets net/http's answer (400) and a close; so does garbage, with
// no answer; both are counted.
func TestTLSRefusesPlainHTTPAndGarbage(t *testing.T) {
	g := startTLSGateway(t)
	c, err := net.DialTimeout("tcp", g.TLS, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("plain HTTP to the TLS port: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "HTTPS") {
		t.Errorf("plain HTTP to the TLS port: %d %q, want 400 about HTTPS", resp.StatusCode, body)
	}

	c2, err := net.DialTimeout("tcp", g.TLS, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, _ = c2.Write([]byte("\x16\x03\x01\x00\x05garbagegarbage"))
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(c2)
	if err != nil {
		t.Errorf("garbage: connection not closed: %v", err)
	}
	if len(rest) > 0 && rest[0] != 0x15 {
		t.Errorf("garbage: got %q, want an alert or nothing", rest)
	}
	waitFor(t, 3*time.Second, func() bool {
		m := scrapeMetrics(t, g.Admin)
		h, _ := m.get("wsgate_tls_handshakes_total", `reason="http"`)
		o, _ := m.get("wsgate_tls_handshakes_total", `result="failed"`)
		return h >= 1 && o >= 2
	}, "failed handshakes counted (http, and the garbage)")
}

// A ClientHello written one byte at a time still completes.
func TestTLSClientHelloInOneByteWrites(t *testing.T) {
	g := startTLSGateway(t)
	raw, err := net.DialTimeout("tcp", g.TLS, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Client(&oneByteWriter{Conn: raw}, g.pki.clientConfig("localhost"))
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake over 1-byte writes: %v", err)
	}
	_, _ = tc.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET / after a 1-byte-write handshake: %v %v", resp, err)
	}
}

// oneByteWriter splits every write into 1-byte writes with a pause, so each lands in its own read.
type oneByteWriter struct{ net.Conn }

func (w *oneByteWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := w.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
		time.Sleep(time.Millisecond)
	}
	return len(p), nil
}

// waitFor polls cond until it holds or fails the test after d.
func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A graceful close ends with close_notify: a TLS 1.2 client (whose alerts keep their record type)
// sends a WebSocket close, gets the echo, and the last record before EOF is an alert.
func TestTLSCloseNotify(t *testing.T) {
	g := startTLSGateway(t)
	raw, err := net.DialTimeout("tcp", g.TLS, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rec := &recordingConn{Conn: raw}
	cfg := g.pki.clientConfig("localhost")
	cfg.MaxVersion = tls.VersionTLS12
	tc := tls.Client(rec, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade over TLS: %v %v", resp, err)
	}
	_, _ = tc.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}) // close 1000, zero mask key
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading to EOF: %v", err)
	}
	if len(rest) < 2 || rest[0] != 0x88 {
		t.Fatalf("got %x, want the close echo", rest)
	}
	last := rec.lastRecordType()
	if last != 21 {
		t.Errorf("last record before EOF has type %d, want 21 (alert: close_notify)", last)
	}
}

// recordingConn keeps what was read, to look at the record layer.
type recordingConn struct {
	net.Conn
	in []byte
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.in = append(r.in, p[:n]...)
	return n, err
}

func (r *recordingConn) lastRecordType() byte {
	var typ byte
	for b := r.in; len(b) >= 5; {
		n := int(b[3])<<8 | int(b[4])
		if len(b) < 5+n {
			break
		}
		typ, b = b[0], b[5+n:]
	}
	return typ
}
