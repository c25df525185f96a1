package tlscert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Throwaway PKI for the tests, made with crypto/x509: a root CA, an
// intermediate, and leaves with the names and lifetimes each test needs.

type certSpec struct {
	cn        string
	dns       []string
	ips       []net.IP
	rsa       bool
	ca        bool
	notBefore time.Time // zero: an hour ago
	notAfter  time.Time // zero: in 90 days
}

type keyCert struct {
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

var serial struct {
	sync.Mutex
	n int64
}

// mkCert issues spec signed by parent (nil: self-signed).
func mkCert(t *testing.T, spec certSpec, parent *keyCert) *keyCert {
	t.Helper()
	var key crypto.Signer
	var err error
	if spec.rsa {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if spec.notBefore.IsZero() {
		spec.notBefore = now.Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = now.Add(90 * 24 * time.Hour)
	}
	serial.Lock()
	serial.n++
	sn := serial.n
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn), Subject: pkix.Name{CommonName: spec.cn},
		NotBefore: spec.notBefore, NotAfter: spec.notAfter,
		DNSNames: spec.dns, IPAddresses: spec.ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if spec.rsa {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if spec.ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageCertSign|x509.KeyUsageCRLSign, nil
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &keyCert{cert: c, der: der, key: key}
}

// pki is a root and an intermediate CA: leaves are issued by the intermediate.
type pki struct {
	root, inter *keyCert
	dir         string
}

func newPKI(t *testing.T) *pki {
	root := mkCert(t, certSpec{cn: "wsgate test root", ca: true, notAfter: time.Now().Add(10 * 365 * 24 * time.Hour)}, nil)
	inter := mkCert(t, certSpec{cn: "wsgate test intermediate", ca: true, notAfter: time.Now().Add(5 * 365 * 24 * time.Hour)}, root)
	p := &pki{root: root, inter: inter, dir: t.TempDir()}
	p.write(t, "root.pem", pemCerts(root))
	return p
}

// leaf issues a leaf from the intermediate.
func (p *pki) leaf(t *testing.T, spec certSpec) *keyCert { return mkCert(t, spec, p.inter) }

// pair writes leaf+intermediate to NAME.crt and the key to NAME.key and
// returns the -tls-cert value; combined puts the key in the .crt file.
func (p *pki) pair(t *testing.T, name string, leaf *keyCert, combined bool) string {
	chain := pemCerts(leaf, p.inter)
	if combined {
		return p.write(t, name+".pem", chain, pemKey(t, leaf.key))
	}
	return p.write(t, name+".crt", chain) + "," + p.write(t, name+".key", pemKey(t, leaf.key))
}

func (p *pki) write(t *testing.T, name string, parts ...[]byte) string {
	t.Helper()
	var data []byte
	for _, b := range parts {
		data = append(data, b...)
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root.cert)
	return pool
}

func pemCerts(certs ...*keyCert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})...)
	}
	return out
}

func pemKey(t *testing.T, key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// handshake is the server's side of one connection.
type handshake struct {
	err   error
	state tls.ConnectionState
}

// serve runs a TLS server with cfg on 127.0.0.1:0: each connection is
// handshaken, answered "ok\n" and closed; the server's result of each is sent
// on the channel.
func serve(t *testing.T, cfg *tls.Config) (string, <-chan handshake) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan handshake, 64)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				err := tc.Handshake()
				results <- handshake{err: err, state: tc.ConnectionState()}
				if err == nil {
					_, _ = tc.Write([]byte("ok\n"))
					_ = tc.Close()
				}
			})
		}
	}()
	return ln.Addr().String(), results
}

func next(t *testing.T, results <-chan handshake) handshake {
	t.Helper()
	select {
	case h := <-results:
		return h
	case <-time.After(15 * time.Second):
		t.Fatal("no handshake on the server")
		return handshake{}
	}
}
