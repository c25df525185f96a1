package gateway_test

// The TLS listener against openssl s_client (SNI, ALPN, old versions refused, session
// resumption) and testssl.sh (protocols, ciphers, vulnerabilities: nothing HIGH or CRITICAL).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sClient runs openssl s_client against addr with args; stdin stays open for hold so that
// post-handshake messages (TLS 1.3 tickets) are read. It returns stdout+stderr.
func sClient(t *testing.T, addr string, hold time.Duration, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-connect", addr}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdin = pr
	go func() {
		time.Sleep(hold)
		pw.Close()
	}()
	out, _ := cmd.CombinedOutput() // a refused handshake exits non-zero: the output says what happened
	return string(out)
}

// SNI picks the certificate; no SNI gets the first (default) one.
func TestTLSOpenSSLSNI(t *testing.T) {
	pki := newTestPKI(t)
	first, _ := pki.leaf(t, "first", "localhost", "127.0.0.1")
	second, _ := pki.leaf(t, "second", "other.test")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startGateway(t, "-tls-listen", addr, "-tls-cert", first, "-tls-cert", second)
	awaitTCP(t, addr)
	for _, c := range []struct{ sni, wantCN string }{{"other.test", "CN = other.test"}, {"localhost", "CN = localhost"}, {"", "CN = localhost"}} {
		args := []string{"-CAfile", pki.caPEM}
		if c.sni != "" {
			args = append(args, "-servername", c.sni)
		} else {
			args = append(args, "-noservername")
		}
		out := sClient(t, addr, 200*time.Millisecond, args...)
		if !strings.Contains(out, "subject="+c.wantCN) && !strings.Contains(out, "s:"+c.wantCN) {
			t.Errorf("SNI %q: certificate not %q:\n%s", c.sni, c.wantCN, tail(out, 2000))
		}
		if !strings.Contains(out, "Verify return code: 0 (ok)") {
			t.Errorf("SNI %q: chain does not verify against the test CA:\n%s", c.sni, tail(out, 2000))
		}
	}
}

// ALPN: http/1.1 is chosen; a client offering only h2 is refused with no_application_protocol.
func TestTLSOpenSSLALPN(t *testing.T) {
	g := startTLSGateway(t)
	out := sClient(t, g.TLS, 200*time.Millisecond, "-CAfile", g.pki.caPEM, "-servername", "localhost", "-alpn", "h2,http/1.1")
	if !strings.Contains(out, "ALPN protocol: http/1.1") {
		t.Errorf("ALPN h2,http/1.1: want http/1.1 chosen:\n%s", tail(out, 2000))
	}
	out = sClient(t, g.TLS, 200*time.Millisecond, "-CAfile", g.pki.caPEM, "-servername", "localhost", "-alpn", "h2")
	if !strings.Contains(out, "no application protocol") {
		t.Errorf("ALPN h2 only: want the no_application_protocol alert:\n%s", tail(out, 2000))
	}
	waitFor(t, 3*time.Second, func() bool {
		v, _ := scrapeMetrics(t, g.Admin).get("wsgate_tls_handshakes_total", `reason="alpn"`)
		return v >= 1
	}, "the refused ALPN counted as reason=alpn")
}

// TLS 1.0 and 1.1 are refused (openssl's own floor lowered so that it offers them); with
// -tls-min-version 1.3, so is TLS 1.2.
func TestTLSOpenSSLOldVersionsRefused(t *testing.T) {
	g := startTLSGateway(t)
	for _, v := range []string{"-tls1", "-tls1_1"} {
		out := sClient(t, g.TLS, 200*time.Millisecond, "-servername", "localhost", v, "-cipher", "DEFAULT:@SECLEVEL=0")
		if strings.Contains(out, "Cipher is ") && !strings.Contains(out, "Cipher is (NONE)") {
			t.Errorf("%s: handshake completed:\n%s", v, tail(out, 2000))
		}
	}
	out := sClient(t, g.TLS, 200*time.Millisecond, "-CAfile", g.pki.caPEM, "-servername", "localhost", "-tls1_2")
	if !strings.Contains(out, "Protocol  : TLSv1.2") && !strings.Contains(out, "TLSv1.2, Cipher is") {
		t.Errorf("-tls1_2 refused at the default -tls-min-version 1.2:\n%s", tail(out, 2000))
	}
	waitFor(t, 3*time.Second, func() bool {
		v, _ := scrapeMetrics(t, g.Admin).get("wsgate_tls_handshakes_total", `reason="version"`)
		return v >= 2
	}, "both old versions counted as reason=version")

	g13 := startTLSGateway(t, "-tls-min-version", "1.3")
	out = sClient(t, g13.TLS, 200*time.Millisecond, "-servername", "localhost", "-tls1_2")
	if strings.Contains(out, "TLSv1.2, Cipher is ECDHE") {
		t.Errorf("-tls-min-version 1.3 accepted TLS 1.2:\n%s", tail(out, 2000))
	}
}

// Session resumption with tickets, TLS 1.2 and 1.3: the second connection says "Reused" and is
// counted as resumed.
func TestTLSOpenSSLResumption(t *testing.T) {
	g := startTLSGateway(t)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		sess := filepath.Join(t.TempDir(), "sess.pem")
		out := sClient(t, g.TLS, 500*time.Millisecond, "-CAfile", g.pki.caPEM, "-servername", "localhost", v, "-sess_out", sess)
		if _, err := os.Stat(sess); err != nil {
			t.Fatalf("%s: no session saved: %v\n%s", v, err, tail(out, 2000))
		}
		out = sClient(t, g.TLS, 500*time.Millisecond, "-CAfile", g.pki.caPEM, "-servername", "localhost", v, "-sess_in", sess)
		if !strings.Contains(out, "Reused, ") {
			t.Errorf("%s: second connection not resumed:\n%s", v, tail(out, 2000))
		}
	}
	waitFor(t, 3*time.Second, func() bool {
		v, _ := scrapeMetrics(t, g.Admin).get("wsgate_tls_handshakes_total", `result="resumed"`)
		return v >= 2
	}, "two resumed handshakes counted")
}

// testssl.sh scoped to protocols, cipher categories and vulnerabilities finds nothing rated HIGH or
// CRITICAL (about a minute). WSGATE_TLS_AUDIT=full runs its full scan instead (make tls-audit).
// Skipped when testssl.sh is not installed (make test-deps installs it) or in -short mode.
func TestTLSAuditTestssl(t *testing.T) {
	bin, err := exec.LookPath("testssl")
	if err != nil {
		if bin, err = exec.LookPath("testssl.sh"); err != nil {
			t.Skip("testssl.sh not installed (Debian package testssl.sh)")
		}
	}
	if testing.Short() {
		t.Skip("-short")
	}
	g := startTLSGateway(t)
	args := []string{"--add-ca", g.pki.caPEM, "-p", "-E", "-U"}
	if os.Getenv("WSGATE_TLS_AUDIT") == "full" {
		args = []string{"--add-ca", g.pki.caPEM}
	}
	findings := runTestssl(t, bin, g.TLS, args...)
	if len(findings) == 0 {
		t.Fatal("testssl.sh reported nothing")
	}
}

// runTestssl runs testssl.sh with args against addr and fails the test for each finding rated HIGH
// or CRITICAL; it returns every finding.
func runTestssl(t *testing.T, bin, addr string, args ...string) []testsslFinding {
	t.Helper()
	jf := filepath.Join(t.TempDir(), "testssl.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := append([]string{"--quiet", "--color", "0", "--warnings", "off", "--jsonfile", jf}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, addr)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("testssl.sh %v: %v, %v", args, time.Since(start).Round(time.Second), err)
	b, rerr := os.ReadFile(jf)
	if rerr != nil {
		t.Fatalf("testssl.sh wrote no JSON (%v):\n%s", rerr, tail(string(out), 4000))
	}
	var findings []testsslFinding
	if err := json.Unmarshal(b, &findings); err != nil {
		t.Fatalf("testssl.sh JSON: %v", err)
	}
	count := map[string]int{}
	for _, f := range findings {
		count[f.Severity]++
		switch {
		case f.ID == "cert_revocation":
			// The throwaway test CA publishes no CRL or OCSP responder: a property of the test
			// certificate, not of the listener (a real CA's certificate carries one).
			t.Logf("testssl.sh %s (test certificate, not counted): %s %s", f.Severity, f.ID, f.Finding)
		case f.Severity == "HIGH" || f.Severity == "CRITICAL":
			t.Errorf("testssl.sh %s: %s %s", f.Severity, f.ID, f.Finding)
		case f.Severity == "MEDIUM" || f.Severity == "LOW":
			t.Logf("testssl.sh %s: %s %s", f.Severity, f.ID, f.Finding)
		}
	}
	t.Logf("testssl.sh findings by severity: %v", count)
	return findings
}

type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}
