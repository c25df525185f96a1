package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tlsFiles writes self-signed P-256 certificates for -check: NAME.crt and
// NAME.key, and NAME.pem with both.
type tlsFiles struct {
	t   *testing.T
	dir string
	sn  int64
}

func (f *tlsFiles) make(name, cn string, notAfter time.Time) (crt, key, pemFile string) {
	t := f.t
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.sn++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(f.sn), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), crypto.Signer(k))
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kp := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	crt, key, pemFile = filepath.Join(f.dir, name+".crt"), filepath.Join(f.dir, name+".key"), filepath.Join(f.dir, name+".pem")
	for path, data := range map[string][]byte{crt: c, key: kp, pemFile: append(append([]byte{}, c...), kp...)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return crt, key, pemFile
}

// TestCheckTLSErrors: the table of broken TLS settings and the [ALERT] each
// gives.
func TestCheckTLSErrors(t *testing.T) {
	f := &tlsFiles{t: t, dir: t.TempDir()}
	crtA, _, pemA := f.make("a", "a.test", time.Now().Add(90*24*time.Hour))
	_, keyB, _ := f.make("b", "b.test", time.Now().Add(90*24*time.Hour))
	_, _, expired := f.make("old", "old.test", time.Now().Add(-time.Minute))
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-tls-listen", ":8443"}, []string{`[ALERT] -tls-listen: needs at least one -tls-cert CERT.pem[,KEY.pem]`}},
		{[]string{"-tls-listen", "8443", "-tls-cert", pemA}, []string{`[ALERT] -tls-listen: "8443": want [HOST]:PORT`}},
		{[]string{"-tls-listen", ":8080", "-tls-cert", pemA}, []string{`[ALERT] -tls-listen: ":8080" is also -listen: give each its own port`}},
		{[]string{"-tls-listen", ":8443", "-tls-cert", pemA, "-tls-min-version", "1.0"}, []string{`[ALERT] -tls-min-version: "1.0": want 1.2 or 1.3`}},
		{[]string{"-tls-listen", ":8443", "-tls-cert", crtA + "," + keyB}, []string{`[ALERT] -tls-cert "` + crtA + "," + keyB + `": the private key in ` + keyB + ` does not match certificate 1 "CN=a.test"`}},
		{[]string{"-tls-listen", ":8443", "-tls-cert", expired}, []string{`[ALERT] -tls-cert "` + expired + `": certificate 1 "CN=old.test" expired on `}},
		{[]string{"-tls-listen", ":8443", "-tls-cert", crtA}, []string{`[ALERT] -tls-cert "` + crtA + `": ` + crtA + `: no PRIVATE KEY in PEM form`}},
		{[]string{"-tls-listen", ":8443", "-tls-cert", crtA + ","}, []string{`[ALERT] -tls-cert "` + crtA + `,": want CERT.pem[,KEY.pem] (one pair per flag)`}},
		// Certificates are checked even without -tls-listen.
		{[]string{"-tls-cert", expired}, []string{`[ALERT] -tls-cert "` + expired + `": certificate 1 "CN=old.test" expired`}},
		// Every problem is reported, with the others'.
		{[]string{"-tls-listen", ":8443", "-tls-cert", expired, "-tls-cert", crtA + "," + keyB, "-max-header-bytes", "10"}, []string{
			`[ALERT] -tls-cert "` + expired + `": certificate 1 "CN=old.test" expired`,
			`[ALERT] -tls-cert "` + crtA + "," + keyB + `": the private key`,
			`[ALERT] -max-header-bytes: 10 is too small`}},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(append([]string{"-check"}, c.args...), &out, &errOut)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1 (stderr %q)", c.args, code, errOut.String())
			continue
		}
		if n := strings.Count(errOut.String(), "[ALERT]"); n != len(c.want) {
			t.Errorf("%q: %d [ALERT] lines, want %d:\n%s", c.args, n, len(c.want), errOut.String())
		}
		for _, w := range c.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, w, errOut.String())
			}
		}
	}
}

// TestCheckTLSValid: valid pairs print the plan; an expiring certificate and
// certificates without a listener are [WARNING] lines, and the exit is 0.
func TestCheckTLSValid(t *testing.T) {
	f := &tlsFiles{t: t, dir: t.TempDir()}
	crtA, keyA, _ := f.make("a", "a.test", time.Now().Add(90*24*time.Hour))
	_, _, pemB := f.make("b", "b.test", time.Now().Add(3*24*time.Hour+time.Hour))
	var out, errOut bytes.Buffer
	code := run([]string{"-check", "-tls-listen", ":8443", "-tls-cert", crtA + "," + keyA, "-tls-cert", pemB, "-tls-min-version", "1.3"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, w := range []string{
		"tls listen :8443, min version 1.3, alpn http/1.1",
		"tls cert " + crtA + "," + keyA + " (default): names a.test; ECDSA key; chain of 1; not after ",
		"tls cert " + pemB + ": names b.test;",
		"Configuration is valid",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("stdout lacks %q:\n%s", w, out.String())
		}
	}
	if want := `[WARNING] -tls-cert "` + pemB + `": certificate 1 "CN=b.test" expires in 3 days`; !strings.Contains(errOut.String(), want) || strings.Count(errOut.String(), "[WARNING]") != 1 {
		t.Errorf("stderr %q, want one line %q", errOut.String(), want)
	}

	out.Reset()
	errOut.Reset()
	if code := run([]string{"-check", "-tls-cert", crtA + "," + keyA}, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "[WARNING] -tls-cert: given without -tls-listen: the certificates are checked but not served") ||
		!strings.Contains(out.String(), "tls listen off") {
		t.Errorf("-tls-cert alone: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	// No TLS flag: no TLS line.
	out.Reset()
	if run([]string{"-check"}, &out, &errOut); strings.Contains(out.String(), "tls") {
		t.Errorf("TLS plan without TLS flags:\n%s", out.String())
	}
}

// TestCheckTLSPairsFromEverywhere: pairs stay pairs whether they come from the
// command line, WSGATE_TLS_CERT (pairs separated by spaces) or -config (one
// per line); a source given wins whole, so pairs never mix across sources.
func TestCheckTLSPairsFromEverywhere(t *testing.T) {
	f := &tlsFiles{t: t, dir: t.TempDir()}
	crtA, keyA, _ := f.make("a", "a.test", time.Now().Add(90*24*time.Hour))
	crtB, keyB, _ := f.make("b", "b.test", time.Now().Add(90*24*time.Hour))
	_, _, pemC := f.make("c", "c.test", time.Now().Add(90*24*time.Hour))
	conf := filepath.Join(f.dir, "wsgate.conf")
	if err := os.WriteFile(conf, []byte("tls-listen :8443\ntls-cert "+crtB+","+keyB+"\ntls-cert "+pemC+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(args []string, env string) string {
		t.Helper()
		t.Setenv("WSGATE_TLS_CERT", env)
		if env == "" {
			os.Unsetenv("WSGATE_TLS_CERT")
		}
		var out, errOut bytes.Buffer
		if code := run(append([]string{"-check", "-config", conf}, args...), &out, &errOut); code != 0 {
			t.Fatalf("%q env %q: exit %d: %s", args, env, code, errOut.String())
		}
		var certs []string
		for line := range strings.SplitSeq(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "tls cert "); ok {
				certs = append(certs, rest[:strings.Index(rest, ":")])
			}
		}
		return strings.Join(certs, " ")
	}
	if got, want := check(nil, ""), crtB+","+keyB+" (default) "+pemC; got != want {
		t.Errorf("from -config: %q, want %q", got, want)
	}
	if got, want := check(nil, crtA+","+keyA+" "+pemC), crtA+","+keyA+" (default) "+pemC; got != want {
		t.Errorf("from WSGATE_TLS_CERT: %q, want %q", got, want)
	}
	if got, want := check([]string{"-tls-cert", pemC, "-tls-cert", crtA + "," + keyA}, crtB+","+keyB), pemC+" (default) "+crtA+","+keyA; got != want {
		t.Errorf("from the command line: %q, want %q", got, want)
	}
	// "CERT, KEY" with a space splits into a half pair and a lone key: refused, not mis-paired.
	t.Setenv("WSGATE_TLS_CERT", crtA+", "+keyA)
	var out, errOut bytes.Buffer
	if code := run([]string{"-check", "-tls-listen", ":8443"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), `[ALERT] -tls-cert "`+crtA+`,": want CERT.pem[,KEY.pem]`) {
		t.Errorf("split pair: exit %d\n%s", code, errOut.String())
	}
}
