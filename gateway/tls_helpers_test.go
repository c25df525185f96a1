package gateway_test

// TLS test fixtures: a throwaway CA and ECDSA P-256 leaves made with crypto/x509, written as PEM
// files, and a gateway started with a TLS listener beside the plain one.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a CA and the files of its leaves.
type testPKI struct {
	dir    string
	caPEM  string // path of the CA certificate
	pool   *x509.CertPool
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey, p.serial = key, 1
	p.pool.AddCert(p.ca)
	p.caPEM = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caPEM, "CERTIFICATE", der)
	return p
}

// leaf issues an ECDSA P-256 server certificate for names (DNS names and IP literals) and returns
// the -tls-cert value (cert.pem,key.pem) and the SPKI SHA-256 (base64) Chromium pins by.
func (p *testPKI) leaf(t *testing.T, file string, names ...string) (spec, spki string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, key2 := filepath.Join(p.dir, file+".pem"), filepath.Join(p.dir, file+".key")
	writePEM(t, cert, "CERTIFICATE", der, p.ca.Raw)
	writePEM(t, key2, "PRIVATE KEY", kder)
	leaf, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return cert + "," + key2, base64.StdEncoding.EncodeToString(sum[:])
}

func writePEM(t *testing.T, path, typ string, ders ...[]byte) {
	t.Helper()
	var b []byte
	for _, d := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: d})...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientConfig trusts the test CA.
func (p *testPKI) clientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: serverName, NextProtos: []string{"http/1.1"}}
}

// tlsGateway is an in-process gateway with a TLS listener at TLS.
type tlsGateway struct {
	*testGateway
	TLS string
	pki *testPKI
}

// startTLSGateway starts a gateway with -tls-listen on a fresh port and a certificate for
// localhost and 127.0.0.1, and waits until the TLS listener accepts.
func startTLSGateway(t *testing.T, flags ...string) *tlsGateway {
	t.Helper()
	pki := newTestPKI(t)
	spec, _ := pki.leaf(t, "localhost", "localhost", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	g := startGateway(t, append([]string{"-tls-listen", addr, "-tls-cert", spec}, flags...)...)
	awaitTCP(t, addr)
	return &tlsGateway{testGateway: g, TLS: addr, pki: pki}
}

func awaitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wssURL is the TLS listener's URL under the certificate's DNS name.
func (g *tlsGateway) wssURL(path string) string {
	_, port, _ := net.SplitHostPort(g.TLS)
	return "wss://localhost:" + port + path
}
