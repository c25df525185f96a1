package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testTLSListener listens on 127.0.0.1 with a fresh self-signed ECDSA P-256
// certificate for "wsgate.test" and returns the certificate's PEM file.
func testTLSListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsgate.test"}, DNSNames: []string{"wsgate.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), caFile
}

// Churn over wss:// through the TLS bridge: every upgrade is a TLS
// handshake verified against the CA, and with -tls-resume they resume.
func TestChurnOverTLSResumes(t *testing.T) {
	ln, ca := testTLSListener(t)
	s := startLossyServerOn(t, ln)
	res, err := Run(Config{
		Scenario: "churn", URL: "wss://" + s.ln.Addr().String() + "/ws", Conns: 1,
		Sources: "127.0.1.1-127.0.1.4", Loops: 2, MaxInflight: 20, HandshakeTimeout: 5 * time.Second,
		DialRate: 200, Duration: time.Second, Deadline: 30 * time.Second,
		TLS: TLSOptions{CAFile: ca, ServerName: "wsgate.test", Resume: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, x := res.Churn, res.TLS
	if c == nil || x == nil || c.Upgraded < 50 || c.Failed != 0 || x.Failed != 0 {
		t.Fatalf("churn %+v tls %+v errors %v: want ≥ 50 upgrades, no failures", c, x, res.Errors)
	}
	if x.Handshakes < c.Upgraded || x.Resumed == 0 || x.Version != "TLS 1.3" {
		t.Fatalf("tls %+v after %d upgrades: want a handshake per upgrade, resumed ones, TLS 1.3", x, c.Upgraded)
	}
}

// A certificate that does not verify fails the connections, counted.
func TestTLSBadCertFails(t *testing.T) {
	ln, ca := testTLSListener(t)
	s := startLossyServerOn(t, ln)
	res, err := Run(Config{
		Scenario: "idle", URL: "ws://" + s.ln.Addr().String() + "/ws", Conns: 3,
		Loops: 1, MaxInflight: 10, HandshakeTimeout: 5 * time.Second, DialRate: 100, Hold: 10 * time.Millisecond,
		Deadline: 30 * time.Second, TLS: TLSOptions{Enabled: true, CAFile: ca, ServerName: "other.test"},
	})
	if err == nil && res.Connect != nil && res.Connect.Opened != 0 {
		t.Fatalf("opened %d connections with a wrong server name", res.Connect.Opened)
	}
	if res == nil || res.TLS == nil || res.TLS.Failed != 3 {
		t.Fatalf("result %+v: want 3 failed TLS handshakes", res)
	}
}
