package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret32 is a valid hs256 -jwt-key secret (32 bytes, base64).
const secret32 = "hs256:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// TestCheckAuthErrors: access-control options and -jwt-* flags (issue 13)
// broken in each way, and the line -check prints for it.
func TestCheckAuthErrors(t *testing.T) {
	dir := t.TempDir()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(priv)
	privFile := filepath.Join(dir, "priv.pem")
	if err := os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-route", "/ws=topic:chat;auth=jwt"}, `[ALERT] -route "/ws=topic:chat;auth=jwt": auth=jwt needs -jwt-key or -jwt-jwks`},
		{[]string{"-route", "/ws=topic:chat;auth=request:authz/check"},
			`[ALERT] -route "/ws=topic:chat;auth=request:authz/check": auth=request: no -backend named "authz"`},
		{[]string{"-route", "/ws=topic:chat;auth=request:authz/a#b", "-backend", "authz=127.0.0.1:1"},
			`auth=request:authz/a#b: want request:POOL/PATH`},
		{[]string{"-route", "/ws=topic:chat;auth-cache=30s", "-backend", "authz=127.0.0.1:1"},
			`auth-cache= caches auth=request answers: it needs auth=request:POOL/PATH`},
		{[]string{"-route", "/ws=topic:chat;auth=request:authz/check;auth-cache=-1s", "-backend", "authz=127.0.0.1:1"},
			`auth-cache=-1s: want a positive duration (e.g. 30s)`},
		{[]string{"-auth-timeout", "0s"}, `[ALERT] -auth-timeout: 0s must be positive`},
		{[]string{"-route", "/ws=topic:chat;auth=magic"}, `[ALERT] -route: route "/ws=topic:chat;auth=magic": auth=magic: want none, jwt or request:POOL/PATH`},
		{[]string{"-route", "/api=backend:app;publish=none", "-backend", "app=127.0.0.1:1"},
			`[ALERT] -route: route "/api=backend:app;publish=none": publish=none: only a topic route has publishers`},
		{[]string{"-jwt-key", "hs256:c2hvcnQ="}, `[ALERT] -jwt-key hs256: secret of 5 bytes, want at least 32 (RFC 7518 3.2)`},
		{[]string{"-jwt-key", "hs256:***"}, `[ALERT] -jwt-key hs256: the secret is not base64`},
		{[]string{"-jwt-key", filepath.Join(dir, "missing.pem")}, `no such file or directory (want hs256:BASE64SECRET or a PEM public key file)`},
		{[]string{"-jwt-key", privFile}, `PEM block "EC PRIVATE KEY": want a PUBLIC KEY (a private key does not belong on the gateway)`},
		{[]string{"-jwt-key", junk}, `junk.pem: no PEM block`},
		{[]string{"-jwt-jwks", "ftp://keys.example/jwks.json"}, `[ALERT] -jwt-jwks: "ftp://keys.example/jwks.json": want an http(s) URL`},
		{[]string{"-jwt-jwks", "http://127.0.0.1:1/jwks", "-jwt-jwks-refresh", "10ms"}, `[ALERT] -jwt-jwks-refresh: 10ms: want at least 1s`},
		{[]string{"-max-conns-per-user", "-1"}, `[ALERT] -jwt-expiry-grace, -max-conns-per-user: must be >= 0`},
		// One topic namespace: routes that can reach the same topic must agree on auth= (README's old example).
		{[]string{"-jwt-key", secret32, "-route", "/rooms/=topic:*;publish=none;auth=jwt", "-route", "/scores/=topic:*;publish=none"},
			`[ALERT] -route "/rooms/=topic:*;publish=none;auth=jwt" (auth=jwt) and "/scores/=topic:*;publish=none" (auth=none) share one topic namespace: give them the same auth= or`},
		{[]string{"-jwt-key", secret32, "-route", "/rooms/=topic:*", "-route", "/rooms/vip=topic:vip;auth=jwt"},
			`[ALERT] -route "/rooms/=topic:*" (auth=none) and "/rooms/vip=topic:vip;auth=jwt" (auth=jwt) share one topic namespace`},
		{[]string{"-jwt-key", secret32, "-route", "/a=topic:vip", "-route", "/b=topic:vip;auth=jwt"},
			`[ALERT] -route "/a=topic:vip" (auth=none) and "/b=topic:vip;auth=jwt" (auth=jwt) share one topic namespace`},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(append([]string{"-check"}, c.args...), &out, &errOut)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1 (stderr %q)", c.args, code, errOut.String())
			continue
		}
		if n := strings.Count(errOut.String(), "[ALERT]"); n != 1 {
			t.Errorf("%q: %d [ALERT] lines, want 1:\n%s", c.args, n, errOut.String())
		}
		if !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%q: stderr lacks %q:\n%s", c.args, c.want, errOut.String())
		}
	}
}

// TestCheckAuthValid: the example routes with a key pass -check
// (every topic route with the same auth=: they share one topic namespace).
func TestCheckAuthValid(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-check", "-jwt-key", secret32, "-jwt-issuer", "https://id.example", "-max-conns-per-user", "3",
		"-route", "/rooms/=topic:*;publish=none;auth=jwt", "-route", "/feed=topic:scores;publish=none;auth=jwt",
		"-route", "/api=backend:app;auth=jwt", "-backend", "app=127.0.0.1:1",
		"-route", "/app=backend:app;auth=request:authz/;auth-cache=30s",
		"-backend", "authz=127.0.0.1:2;maxconn=5", "-auth-timeout", "500ms"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "route /rooms/=topic:*;publish=none;auth=jwt") {
		t.Errorf("stdout lacks the route:\n%s", out.String())
	}
}
