package tlsside

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	gwmetrics "github.com/wsgate/wsgate/gateway/internal/metrics"
	"github.com/wsgate/wsgate/gateway/tlscert"
)

// The rig runs a Side's connections without sockets or gnet: the test's
// goroutine is the event loop, a sock stands in for gnet's connection and a
// crypto/tls client talks to it over an in-memory pipe.

// newTestSide writes a self-signed ECDSA certificate for localhost and
// opens a Side with it; the pool trusts it.
func newTestSide(t *testing.T) (*Side, *x509.CertPool, *gwmetrics.Set) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	reg := prometheus.NewRegistry()
	gm := gwmetrics.New(reg, func() float64 { return 0 })
	s, err := New(tlscert.Options{Listen: "127.0.0.1:8443", Certs: []string{cf + "," + kf}}, reg, gm,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return s, pool, gm
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func counter(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	_ = (<-ch).Write(&m)
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// half is one direction of the pipe: writes never block, reads wait.
type half struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	closed bool
}

func newHalf() *half {
	h := &half{}
	h.cond.L = &h.mu
	return h
}

func (h *half) write(p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.buf = append(h.buf, p...)
		h.cond.Broadcast()
	}
}

func (h *half) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.cond.Broadcast()
}

func (h *half) read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.buf) == 0 && !h.closed {
		h.cond.Wait()
	}
	if len(h.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	return n, nil
}

var (
	localAddr  = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	remoteAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
)

// sock is the gnet.Conn under a Conn: Write and AsyncWrite's bytes go to
// the client; AsyncWrite's callback is queued to the loop behind them (one
// FIFO, as gnet's). Calls tlsside must not make (the embedded nil
// gnet.Conn) panic.
type sock struct {
	gnet.Conn
	loop     chan func()
	toClient *half
	in       []byte // ciphertext not yet discarded (loop only)
	ctx      any
}

func (s *sock) Peek(int) ([]byte, error)   { return s.in, nil }
func (s *sock) Discard(n int) (int, error) { s.in = s.in[n:]; return n, nil }
func (s *sock) Write(p []byte) (int, error) {
	s.toClient.write(p)
	return len(p), nil
}

func (s *sock) AsyncWrite(p []byte, cb gnet.AsyncCallback) error {
	s.toClient.write(p)
	if cb != nil {
		s.loop <- func() { _ = cb(s, nil) }
	}
	return nil
}

func (s *sock) LocalAddr() net.Addr  { return localAddr }
func (s *sock) RemoteAddr() net.Addr { return remoteAddr }
func (s *sock) Context() any         { return s.ctx }

// host is the state machine: a line protocol that echoes each complete line
// upper-cased ("IDLE\n" after "idle\n" drops the cipher cache, "bye\n"
// is answered with close_notify), and records what the Conn asked of it.
type host struct {
	closed     bool // the connection has been closed (OnClose ran)
	quiet      bool // what Plaintext answers
	turns      int
	read       []byte
	handshaken int
	ends       []bool // linger of each End
	end        func() // closes the client's side of the pipe
}

func (h *host) Plaintext(c *Conn) bool {
	if h.closed {
		return false
	}
	h.turns++
	buf, _ := c.Peek(-1)
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 {
		return h.quiet // a partial line stays buffered
	}
	p, _ := c.Next(i + 1)
	h.read = append(h.read, p...)
	up := bytes.ToUpper(p)
	if _, err := c.Writev([][]byte{up[:1], up[1:]}); err != nil {
		panic(err)
	}
	switch {
	case bytes.HasSuffix(p, []byte("idle\n")):
		c.Idle()
	case bytes.HasSuffix(p, []byte("bye\n")):
		c.CloseNotify()
	}
	return h.quiet
}

func (h *host) Handshaken(*Conn) bool { h.handshaken++; return !h.closed }

func (h *host) End(_ *Conn, linger bool) {
	h.ends = append(h.ends, linger)
	h.end()
}

// rig is one connection on a test loop.
type rig struct {
	t        *testing.T
	side     *Side
	loop     *Loop
	host     *host
	sock     *sock
	conn     *Conn
	toClient *half
}

func newRig(t *testing.T, s *Side) *rig {
	r := &rig{t: t, side: s, host: &host{}, toClient: newHalf()}
	r.host.end = r.toClient.close
	r.loop = s.NewLoop(r.host)
	r.sock = &sock{loop: make(chan func(), 1024), toClient: r.toClient}
	r.conn = r.loop.Open(r.sock)
	r.sock.ctx = r.conn
	return r
}

// client is the peer's end of the pipe: its writes arrive on the loop as
// OnTraffic would deliver them.
func (r *rig) client() net.Conn { return &pipeEnd{r: r} }

type pipeEnd struct{ r *rig }

func (p *pipeEnd) Read(b []byte) (int, error) { return p.r.toClient.read(b) }
func (p *pipeEnd) Write(b []byte) (int, error) {
	cp := append([]byte(nil), b...)
	p.r.sock.loop <- func() {
		p.r.sock.in = append(p.r.sock.in, cp...)
		p.r.conn.Traffic()
	}
	return len(b), nil
}
func (p *pipeEnd) Close() error                     { p.r.toClient.close(); return nil }
func (p *pipeEnd) LocalAddr() net.Addr              { return remoteAddr }
func (p *pipeEnd) RemoteAddr() net.Addr             { return localAddr }
func (p *pipeEnd) SetDeadline(time.Time) error      { return nil }
func (p *pipeEnd) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeEnd) SetWriteDeadline(time.Time) error { return nil }

// run is the event loop: it runs what arrives until client has returned,
// then what is queued until until reports true (nil: nothing is left).
func (r *rig) run(client func() error, until func() bool) error {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- client() }()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-r.sock.loop:
			f()
			continue
		case err := <-done:
			for {
				select {
				case f := <-r.sock.loop:
					f()
					continue
				case <-timeout:
					r.t.Fatal("the loop did not finish")
				default:
				}
				if until == nil || until() {
					return err
				}
				time.Sleep(time.Millisecond) // the handshake goroutine may still queue its end
			}
		case <-timeout:
			r.t.Fatal("the client did not finish")
		}
	}
}

// close is OnClose.
func (r *rig) close(timedOut bool) {
	r.host.closed = true
	r.conn.Closed(timedOut)
	r.toClient.close()
}
