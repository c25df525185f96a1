package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// -listen "" is accepted with -tls-listen (TLS only) and refused without it.
func TestCheckTLSOnly(t *testing.T) {
	f := &tlsFiles{t: t, dir: t.TempDir()}
	_, _, pem := f.make("a", "a.test", time.Now().Add(90*24*time.Hour))
	var out, errOut bytes.Buffer
	if code := run([]string{"-check", "-listen", "", "-tls-listen", "127.0.0.1:8443", "-tls-cert", pem}, &out, &errOut); code != 0 {
		t.Errorf("-check -listen '' -tls-listen: exit %d, want 0\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	code := run([]string{"-check", "-listen", ""}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "no client listener") {
		t.Errorf("-check -listen '' without TLS: exit %d, want 1 with an alert about no client listener\n%s", code, errOut.String())
	}
}
