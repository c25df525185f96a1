package tlsx

import (
	"bytes"
	"crypto/tls"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuf collects a process's output.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// step is a line for s_client's stdin and what its output must then contain.
type step struct{ in, want string }

// sClient runs openssl s_client against addr, plays steps, then closes its
// stdin. It returns the output and whether s_client exited cleanly.
func sClient(t *testing.T, addr string, args []string, steps ...step) (string, bool) {
	t.Helper()
	cmd := exec.Command("openssl", append([]string{"s_client", "-connect", addr}, args...)...)
	out := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for _, s := range steps {
		_, _ = io.WriteString(stdin, s.in)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), s.want) {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("s_client %v: no %q after %q in:\n%s", args, s.want, s.in, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stdin.Close()
	select {
	case err = <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		err = <-exited
	}
	return out.String(), err == nil
}

func nextResult(t *testing.T, results chan serveResult) serveResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("server saw no connection end")
		return serveResult{}
	}
}

func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	pki := newPKI(t)
	srv, err := NewServer(pki.serverConfig())
	must(t, err)
	addr, results := listen(t, srv)
	base := []string{"-CAfile", pki.caFile, "-verify_return_error", "-servername", "localhost", "-alpn", "http/1.1"}
	echo := []step{{"hello tlsx\n", "hello tlsx"}}

	t.Run("suites", func(t *testing.T) {
		for _, tc := range []struct{ flag, suite, name string }{
			{"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"},
			{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"},
			{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"},
			{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"},
			{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"},
			{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"},
			{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"},
			{"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"},
			{"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"},
		} {
			out, ok := sClient(t, addr, append([]string{tc.flag, tc.suite, tc.name}, base...), echo...)
			res := nextResult(t, results)
			if !ok || !strings.Contains(out, "Cipher is "+tc.name) || !strings.Contains(out, "Verify return code: 0 (ok)") ||
				!strings.Contains(out, "ALPN protocol: http/1.1") {
				t.Fatalf("%s: ok=%v\n%s", tc.name, ok, out)
			}
			if res.hsErr != nil || (res.err != nil && res.err != io.EOF) || res.conn.ServerName() != "localhost" || res.conn.ALPN() != "http/1.1" {
				t.Fatalf("%s: server %v %v sni %q", tc.name, res.hsErr, res.err, res.conn.ServerName())
			}
		}
	})

	t.Run("hello-retry", func(t *testing.T) {
		// A key share for ffdhe2048 only (Go has none), X25519 also offered: Go asks for X25519
		// with a HelloRetryRequest (plus a compatibility ChangeCipherSpec).
		out, ok := sClient(t, addr, append([]string{"-tls1_3", "-groups", "ffdhe2048:X25519", "-msg"}, base...), echo...)
		r := nextResult(t, results)
		if !ok || r.hsErr != nil || r.err != nil && r.err != io.EOF || !strings.Contains(out, "X25519") || strings.Count(out, "ServerHello") < 2 { // HRR is a ServerHello
			t.Fatalf("ok=%v server %v %v\n%s", ok, r.hsErr, r.err, out)
		}
	})

	t.Run("resumption", func(t *testing.T) {
		for _, v := range []string{"-tls1_2", "-tls1_3"} {
			sess := filepath.Join(t.TempDir(), "sess.pem")
			out, ok := sClient(t, addr, append([]string{v, "-sess_out", sess}, base...), echo...)
			if r := nextResult(t, results); !ok || r.conn.DidResume() {
				t.Fatalf("%s first: ok=%v\n%s", v, ok, out)
			}
			out, ok = sClient(t, addr, append([]string{v, "-sess_in", sess}, base...), echo...)
			if r := nextResult(t, results); !ok || !strings.Contains(out, "Reused,") || !r.conn.DidResume() || r.err != io.EOF && r.err != nil {
				t.Fatalf("%s resumed: ok=%v server %v\n%s", v, ok, r.err, out)
			}
		}
	})

	t.Run("keyupdate", func(t *testing.T) {
		// k: the client updates its keys; K: it also asks us to update ours.
		for _, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
			out, ok := sClient(t, addr, append([]string{"-tls1_3", "-ciphersuites", suite}, base...),
				step{"one\n", "one"}, step{"k\n", "one\nKEYUPDATE"}, step{"two\n", "KEYUPDATE\ntwo"},
				step{"K\n", "two\nKEYUPDATE"}, step{"three\n", "KEYUPDATE\nthree"}, step{"K\n", "three\nKEYUPDATE"},
				step{"four\n", "four"})
			r := nextResult(t, results)
			if !ok || r.err != nil && r.err != io.EOF || tls.CipherSuiteName(r.conn.CipherSuite()) != suite {
				t.Fatalf("%s: ok=%v server %v\n%s", suite, ok, r.err, out)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, args := range [][]string{
			{"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"},
			{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"},
			{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"}, // CBC: not "intermediate"
			{"-alpn", "h2"},
		} {
			out, ok := sClient(t, addr, append(args, "-CAfile", pki.caFile))
			r := nextResult(t, results)
			if ok || r.hsErr == nil || !strings.Contains(out, "alert") {
				t.Fatalf("%v accepted: server %v\n%s", args, r.hsErr, out)
			}
			t.Logf("%v: %v", args, r.hsErr)
		}
	})
}
