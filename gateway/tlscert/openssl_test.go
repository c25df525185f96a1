package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The openssl CLI is the other implementation: PEM files it makes must load,
// and its s_client must see the policy from the outside.

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
}

func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestOpenSSLFiles: keys and certificates as openssl writes them (PKCS#8,
// traditional "EC PRIVATE KEY" after "EC PARAMETERS", "RSA PRIVATE KEY",
// key and certificate in one file) load, and their names select them.
func TestOpenSSLFiles(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	// P-256, PKCS#8 key in its own file.
	openssl(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ec.key",
		"-out", "ec.crt", "-days", "30", "-subj", "/CN=ec.ossl.test", "-addext", "subjectAltName=DNS:ec.ossl.test,IP:127.0.0.9")
	// ecparam -genkey writes EC PARAMETERS then EC PRIVATE KEY; the certificate is appended to the key file.
	openssl(t, dir, "ecparam", "-name", "prime256v1", "-genkey", "-out", "ecparam.pem")
	openssl(t, dir, "req", "-x509", "-key", "ecparam.pem", "-out", "ecparam.crt", "-days", "30", "-subj", "/CN=ecparam.ossl.test")
	// RSA 2048, traditional PKCS#1 key.
	openssl(t, dir, "genrsa", "-traditional", "-out", "rsa.key", "2048")
	openssl(t, dir, "req", "-x509", "-key", "rsa.key", "-out", "rsa.crt", "-days", "5", "-subj", "/CN=rsa.ossl.test",
		"-addext", "subjectAltName=DNS:*.rsa.ossl.test")
	combined := append(mustRead(t, filepath.Join(dir, "ecparam.crt")), mustRead(t, filepath.Join(dir, "ecparam.pem"))...)
	if err := os.WriteFile(filepath.Join(dir, "ecparam-combined.pem"), combined, 0o600); err != nil {
		t.Fatal(err)
	}
	specs := []string{dir + "/ec.crt," + dir + "/ec.key", dir + "/ecparam-combined.pem", dir + "/rsa.crt," + dir + "/rsa.key"}
	o := Options{Listen: "127.0.0.1:8443", Certs: specs}
	warns, err := o.Check(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `"CN=rsa.ossl.test" expires in 4 days`) {
		t.Errorf("warnings %q: want the RSA certificate's expiry (5 days)", warns)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, c := range s.Certs() {
		names = append(names, strings.Join(c.Names, " "))
	}
	if got := strings.Join(names, "|"); got != "ec.ossl.test 127.0.0.9|ecparam.ossl.test|*.rsa.ossl.test" {
		t.Errorf("names %q", got)
	}
	// A key openssl made for another certificate is refused.
	if _, err := New(Options{Certs: []string{dir + "/ec.crt," + dir + "/ecparam.pem"}}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched openssl key: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sClient runs openssl s_client against addr and returns its output and the
// subject CN of the certificate it was served ("" if none).
func sClient(t *testing.T, addr string, args ...string) (out, cn string, ok bool) {
	t.Helper()
	cmd := exec.Command("openssl", append([]string{"s_client", "-connect", addr, "-ign_eof"}, args...)...)
	cmd.Stdin = strings.NewReader("")
	b, err := cmd.CombinedOutput()
	out = string(b)
	if i := strings.Index(out, "-----BEGIN CERTIFICATE-----"); i >= 0 {
		if block, _ := pem.Decode([]byte(out[i:])); block != nil {
			if c, err := x509.ParseCertificate(block.Bytes); err == nil {
				cn = c.Subject.CommonName
			}
		}
	}
	return out, cn, err == nil && strings.Contains(out, "ok\n")
}

// TestOpenSSLClient serves store.Config() on a real crypto/tls listener and
// checks it with openssl s_client: SNI, the default certificate, refused old
// versions and ALPN, resumption, and a reload seen by new handshakes.
func TestOpenSSLClient(t *testing.T) {
	needOpenSSL(t)
	p := newPKI(t)
	ca := filepath.Join(p.dir, "root.pem")
	specs := []string{
		p.pair(t, "default", p.leaf(t, certSpec{cn: "default", dns: []string{"default.test"}}), false),
		p.pair(t, "a", p.leaf(t, certSpec{cn: "a-rsa", dns: []string{"a.test"}, rsa: true}), true),
		p.pair(t, "wild", p.leaf(t, certSpec{cn: "wild", dns: []string{"*.wild.test"}}), true),
	}
	s, err := New(Options{Listen: "127.0.0.1:0", Certs: specs})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := serve(t, s.Config())
	verify := []string{"-CAfile", ca, "-verify_return_error"}

	for _, c := range []struct{ sni, want string }{{"a.test", "a-rsa"}, {"x.wild.test", "wild"}, {"default.test", "default"}, {"unknown.test", "default"}} {
		args := slices.Concat(verify, []string{"-servername", c.sni})
		if c.want != "default" || c.sni == "default.test" {
			args = append(args, "-verify_hostname", c.sni) // the default certificate does not name unknown.test
		}
		out, cn, ok := sClient(t, addr, args...)
		if h := next(t, results); !ok || h.err != nil || cn != c.want {
			t.Errorf("SNI %s: served %q, want %q (server %v)\n%s", c.sni, cn, c.want, h.err, out)
		}
	}
	// Old versions: the client is allowed to offer them (security level 0),
	// the server refuses.
	for _, v := range []string{"-tls1", "-tls1_1"} {
		out, _, ok := sClient(t, addr, v, "-cipher", "DEFAULT:@SECLEVEL=0", "-servername", "a.test")
		if h := next(t, results); ok || h.err == nil || !strings.Contains(h.err.Error(), "unsupported versions") {
			t.Errorf("%s: accepted or refused for another reason (server %v)\n%s", v, h.err, out)
		}
	}
	// ALPN: h2 alone is refused with no_application_protocol; http/1.1 is chosen.
	out, _, ok := sClient(t, addr, "-alpn", "h2", "-servername", "a.test")
	if h := next(t, results); ok || h.err == nil || !strings.Contains(out, "no application protocol") {
		t.Errorf("-alpn h2: accepted or not with no_application_protocol (server %v)\n%s", h.err, out)
	}
	out, _, ok = sClient(t, addr, "-alpn", "h2,http/1.1", "-servername", "a.test")
	if h := next(t, results); !ok || h.state.NegotiatedProtocol != "http/1.1" || !strings.Contains(out, "ALPN protocol: http/1.1") {
		t.Errorf("-alpn h2,http/1.1: server %v, alpn %q\n%s", h.err, h.state.NegotiatedProtocol, out)
	}
	// TLS 1.2: only ECDHE with AEAD.
	out, _, ok = sClient(t, addr, "-tls1_2", "-cipher", "AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256", "-servername", "a.test")
	if h := next(t, results); ok || h.err == nil {
		t.Errorf("TLS 1.2 without ECDHE+AEAD accepted\n%s", out)
	}
	// Resumption with a ticket, in TLS 1.3 and 1.2.
	for _, v := range []string{"-tls1_3", "-tls1_2"} {
		sess := filepath.Join(t.TempDir(), "sess.pem")
		out, _, ok := sClient(t, addr, v, "-servername", "a.test", "-sess_out", sess)
		if h := next(t, results); !ok || h.state.DidResume {
			t.Fatalf("%s first connection: server %v\n%s", v, h.err, out)
		}
		out, cn, ok := sClient(t, addr, v, "-servername", "a.test", "-sess_in", sess)
		if h := next(t, results); !ok || !h.state.DidResume || !strings.Contains(out, "Reused, TLSv1.") {
			t.Errorf("%s: not resumed (server %v, cn %q)\n%s", v, h.err, cn, out)
		}
	}
	// Reload with new files: new handshakes get the new certificate.
	p.pair(t, "a", p.leaf(t, certSpec{cn: "a-renewed", dns: []string{"a.test"}}), true)
	if err := s.Reload(nil); err != nil {
		t.Fatal(err)
	}
	out, cn, ok := sClient(t, addr, slices.Concat(verify, []string{"-servername", "a.test"})...)
	if h := next(t, results); !ok || cn != "a-renewed" {
		t.Errorf("after reload: served %q (server %v)\n%s", cn, h.err, out)
	}
	if tls.VersionName(s.Config().MinVersion) != "TLS 1.2" {
		t.Errorf("min version %s", tls.VersionName(s.Config().MinVersion))
	}
}

// TestOpenSSLMinVersion13: -tls-min-version 1.3 refuses TLS 1.2.
func TestOpenSSLMinVersion13(t *testing.T) {
	needOpenSSL(t)
	p := newPKI(t)
	s, err := New(Options{Certs: []string{p.pair(t, "site", p.leaf(t, certSpec{cn: "site", dns: []string{"site.test"}}), true)}, MinVersion: "1.3"})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := serve(t, s.Config())
	out, _, ok := sClient(t, addr, "-tls1_2", "-servername", "site.test")
	if h := next(t, results); ok || h.err == nil || !strings.Contains(h.err.Error(), "unsupported versions") {
		t.Errorf("TLS 1.2 against min 1.3: server %v\n%s", h.err, out)
	}
	out, _, ok = sClient(t, addr, "-tls1_3", "-servername", "site.test")
	if h := next(t, results); !ok || h.err != nil {
		t.Errorf("TLS 1.3: server %v\n%s", h.err, out)
	}
}

// TestOpenSSLRenegotiation: crypto/tls servers never renegotiate. A TLS 1.2
// client asking to ("R" in s_client) gets an alert and the connection ends;
// the configuration has nothing to set for it (Config.Renegotiation is
// client-only).
func TestOpenSSLRenegotiation(t *testing.T) {
	needOpenSSL(t)
	p := newPKI(t)
	s, err := New(Options{Certs: []string{p.pair(t, "site", p.leaf(t, certSpec{cn: "site", dns: []string{"site.test"}}), true)}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	readErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			readErr <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, s.Config())
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			readErr <- err
			return
		}
		_, err = tc.Read(make([]byte, 64)) // the client's renegotiation ClientHello arrives here
		readErr <- err
	}()
	cmd := exec.Command("openssl", "s_client", "-connect", ln.Addr().String(), "-tls1_2", "-servername", "site.test")
	cmd.Stdin = strings.NewReader("R\n")
	out, _ := cmd.CombinedOutput()
	select {
	case err := <-readErr:
		if err == nil || !strings.Contains(err.Error(), "unexpected handshake message") || !strings.Contains(string(out), "alert unexpected message") {
			t.Errorf("server read after renegotiation request: %v\n%s", err, out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server still reading")
	}
}
