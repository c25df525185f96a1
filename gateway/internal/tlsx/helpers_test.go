package tlsx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testPKI is a throwaway CA with an ECDSA P-256 and an RSA-2048 leaf for
// "localhost" (RSA for the ECDHE-RSA suites).
type testPKI struct {
	pool   *x509.CertPool
	certs  []tls.Certificate
	caFile string
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsx test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	must(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	must(t, err)
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	for i, k := range []any{ecKey, rsaKey} {
		leaf := &x509.Certificate{
			SerialNumber: big.NewInt(int64(2 + i)), Subject: pkix.Name{CommonName: "localhost"},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		var pub any = &ecKey.PublicKey
		if i == 1 {
			pub = &rsaKey.PublicKey
		}
		der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, pub, caKey)
		must(t, err)
		p.certs = append(p.certs, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k})
	}
	p.caFile = filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return p
}

func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: p.certs, NextProtos: []string{"http/1.1"}}
}

func (p *testPKI) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// loopHooks stands in for the gateway: handshake bytes are written straight
// to the socket, completion is posted to the serving loop.
type loopHooks struct {
	w    io.Writer
	mu   sync.Mutex
	done chan error
}

func (h *loopHooks) HandshakeWrite(p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, _ = h.w.Write(p)
}

func (h *loopHooks) HandshakeDone(err error) { h.done <- err }

// serveResult is what a test server saw.
type serveResult struct {
	conn   *Conn
	hsErr  error // handshake error
	err    error // record-layer error (nil or io.EOF for a clean end)
	outErr []byte
}

// serve runs an echo server over nc, one "event loop" goroutine feeding the
// Conn chunk bytes at a time (0 = as read). It returns when the peer goes or
// after one echo if once is set.
func serve(srv *Server, nc net.Conn, chunk int, once bool) serveResult {
	hooks := &loopHooks{w: nc, done: make(chan error, 1)}
	c := srv.New(hooks, nc.LocalAddr(), nc.RemoteAddr())
	reads := make(chan []byte)
	stop := make(chan struct{})
	defer func() { // detach the reader so the caller may use nc afterwards
		close(stop)
		_ = nc.SetReadDeadline(time.Now())
		for range reads {
		}
		_ = nc.SetReadDeadline(time.Time{})
	}()
	go func() {
		defer close(reads)
		for {
			buf := make([]byte, 4096)
			n, err := nc.Read(buf)
			if n > 0 {
				select {
				case reads <- buf[:n]:
				case <-stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	res := serveResult{conn: c}
	var plain []byte
	handle := func(in []byte) bool {
		var out []byte
		var err error
		plain, out, err = c.Feed(plain[:0], in)
		if chunk == 1 {
			c.Release() // exercise AEAD rebuilding
		}
		if len(out) > 0 {
			hooks.HandshakeWrite(out)
		}
		if err != nil {
			res.err = err
			res.outErr = out
			return false
		}
		if len(plain) > 0 && c.HandshakeDone() {
			echo, err := c.Seal(nil, plain)
			if err != nil {
				res.err = err
				return false
			}
			hooks.HandshakeWrite(echo)
			if once {
				return false
			}
		}
		return true
	}
	for {
		select {
		case err := <-hooks.done:
			if err != nil {
				res.hsErr = err
				return res
			}
			if !handle(nil) {
				return res
			}
		case in, ok := <-reads:
			if !ok {
				if c.HandshakeDone() {
					c.Close(nil)
				} else {
					c.Abort()
					res.hsErr = errors.New("peer went during the handshake")
				}
				return res
			}
			for len(in) > 0 {
				n := len(in)
				if chunk > 0 {
					n = min(n, chunk)
				}
				if !handle(in[:n]) {
					return res
				}
				in = in[n:]
			}
		}
	}
}

// listen starts a TCP echo server on 127.0.0.1; results arrive on the channel.
func listen(t testing.TB, srv *Server) (string, chan serveResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	results := make(chan serveResult, 64)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				results <- serve(srv, nc, 0, false)
			}()
		}
	}()
	return ln.Addr().String(), results
}
