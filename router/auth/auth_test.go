package auth

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testdata is where the Node peers live (shared with the gateway's e2e tests).
const testdata = "../../gateway/testdata"

func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	if _, err := os.Stat(filepath.Join(testdata, "node_modules", "jsonwebtoken")); err != nil {
		t.Skip("jsonwebtoken not installed (make test-deps)")
	}
}

type minted struct {
	Secret string            `json:"secret"`
	Tokens map[string]string `json:"tokens"`
}

// mint runs jwt-mint.js: fresh keys (public PEMs in dir) and the token cases.
func mint(t *testing.T, dir string, args ...string) minted {
	t.Helper()
	out, err := exec.Command("node", append([]string{filepath.Join(testdata, "jwt-mint.js"), "--dir", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("jwt-mint.js: %v", err)
	}
	var m minted
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("jwt-mint.js output: %v", err)
	}
	return m
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestVerifyNodeTokens: every case jwt-mint.js makes, with its answer.
func TestVerifyNodeTokens(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	m := mint(t, dir)
	v, err := New(Config{
		Keys:     []string{"hs256:" + m.Secret, filepath.Join(dir, "rsa.pem"), filepath.Join(dir, "ec.pem"), filepath.Join(dir, "ed.pem")},
		Issuer:   "https://id.example",
		Audience: "wsgate",
	}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]error{
		"hs256": nil, "rs256": nil, "ps256": nil, "es256": nil, "eddsa": nil,
		"leeway_expired":  nil, // 10 s past exp: within the 30 s leeway
		"nested_ok":       nil, // the same names inside a nested object are not duplicates
		"dup_claims_case": ErrInvalid, "dup_claims_escaped": ErrInvalid, "dup_claims_fold": ErrInvalid,
		"alg_none": ErrInvalid, "confusion": ErrInvalid, "wrong_kid": ErrInvalid, "bad_signature": ErrInvalid,
		"other_secret": ErrInvalid, "es256_as_rs256": ErrInvalid, "expired": ErrExpired, "not_yet_valid": ErrInvalid,
		"no_exp": ErrInvalid, "wrong_iss": ErrInvalid, "wrong_aud": ErrInvalid, "big": ErrInvalid,
		"non_json_payload": ErrInvalid, "dup_claims": ErrInvalid, "dup_header": ErrInvalid, "garbage": ErrInvalid,
	}
	for name, tok := range m.Tokens {
		w, ok := want[name]
		if !ok {
			t.Errorf("jwt-mint.js case %q has no expected answer here", name)
			continue
		}
		c, err := v.Verify(tok)
		switch {
		case w == nil && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case w == nil:
			if c.Subject != "alice" || !c.MaySubscribe("news") || !c.MaySubscribe("room-42") || c.MaySubscribe("secret") ||
				!c.MayPublish("room-1") || c.MayPublish("room-2") || c.Expires.IsZero() {
				t.Errorf("%s: claims %+v", name, c)
			}
		case !errors.Is(err, w):
			t.Errorf("%s: got %v, want %v", name, err, w)
		}
	}
	if len(m.Tokens["big"]) < 64<<10 {
		t.Errorf("big token is only %d bytes", len(m.Tokens["big"]))
	}
}

// TestVerifyOnlyConfiguredAlgs: without an HS256 key, an HS256 token (even
// one signed with the RSA public key's PEM) never verifies; with only the
// HS256 key, an RS256 token never does.
func TestVerifyOnlyConfiguredAlgs(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	m := mint(t, dir)
	rsaOnly, err := New(Config{Keys: []string{filepath.Join(dir, "rsa.pem")}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hs256", "confusion"} {
		if _, err := rsaOnly.Verify(m.Tokens[name]); !errors.Is(err, ErrInvalid) {
			t.Errorf("RSA-only verifier, %s: %v", name, err)
		}
	}
	if _, err := rsaOnly.Verify(m.Tokens["rs256"]); err != nil {
		t.Errorf("RSA-only verifier, rs256: %v", err)
	}
	hsOnly, err := New(Config{Keys: []string{"hs256:" + m.Secret}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hsOnly.Verify(m.Tokens["rs256"]); !errors.Is(err, ErrInvalid) {
		t.Errorf("HS-only verifier, rs256: %v", err)
	}
}

func TestTokenFrom(t *testing.T) {
	for _, tc := range []struct {
		header, query, cookie, want string
		err                         error
	}{
		{"Bearer abc", "", "", "abc", nil},
		{"bearer abc", "abc", "", "abc", nil},
		{"", "q", "c", "", ErrConflict},
		{"", "", "c", "c", nil},
		{"Bearer abc", "xyz", "", "", ErrConflict},
		{"Bearer abc", "", "xyz", "", ErrConflict},
		{"", "abc", "xyz", "", ErrConflict}, // the query verified, another cookie forwarded
		{"", "abc", "abc", "abc", nil},
		{"Bearer abc", "", "abc", "abc", nil},
		{"Basic dXNlcjpwYXNz", "", "", "", ErrMissing},
		{"Basic dXNlcjpwYXNz", "q", "", "q", nil},
		{"", "", "", "", ErrMissing},
	} {
		got, err := TokenFrom(tc.header, tc.query, tc.cookie)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("TokenFrom(%q, %q, %q) = %q, %v; want %q, %v", tc.header, tc.query, tc.cookie, got, err, tc.want, tc.err)
		}
	}
}

func TestMatch(t *testing.T) {
	p := []string{"news", "room-*"}
	for topic, want := range map[string]bool{"news": true, "newsy": false, "room-": true, "room-7": true, "room": false, "": false} {
		if Match(p, topic) != want {
			t.Errorf("Match(%q) = %v", topic, !want)
		}
	}
	if !Match([]string{"*"}, "anything") || Match(nil, "x") {
		t.Error("* or nil patterns")
	}
}

// jwksServer starts jwt-jwks-server.js and returns its base URL.
func jwksServer(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("node", append([]string{filepath.Join(testdata, "jwt-jwks-server.js")}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("jwt-jwks-server.js: %v", err)
	}
	return "http://127.0.0.1:" + strings.TrimSpace(strings.TrimPrefix(line, "listening "))
}

func httpDo(t *testing.T, method, url string) string {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestJWKSRotation: keys from a JWK set (RS256 and ES256), a rotation
// picked up at once through an unknown kid, a failing refresh keeping the
// last good keys, and no start without the set (fail closed).
func TestJWKSRotation(t *testing.T) {
	needNode(t)
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			base := jwksServer(t, "--alg", alg, "--drop", "1")
			v, err := New(Config{JWKS: base + "/jwks.json", JWKSRefresh: time.Hour}, quiet())
			if err != nil {
				t.Fatal(err)
			}
			v.gap = 0 // let an unknown kid refresh at once
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go v.Run(ctx)
			old := httpDo(t, "GET", base+"/mint?topics=news")
			if _, err := v.Verify(old); err != nil {
				t.Fatalf("token of the first key: %v", err)
			}
			httpDo(t, "POST", base+"/rotate")
			fresh := httpDo(t, "GET", base+"/mint?topics=news")
			if _, err := v.Verify(fresh); !errors.Is(err, ErrInvalid) {
				t.Fatalf("unknown kid verified before a refresh: %v", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for _, err := v.Verify(fresh); err != nil; _, err = v.Verify(fresh) {
				if time.Now().After(deadline) {
					t.Fatalf("rotated key never picked up: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := v.Verify(old); !errors.Is(err, ErrInvalid) {
				t.Errorf("dropped key still verifies: %v", err)
			}
			// The set fails: the last good keys stay.
			httpDo(t, "POST", base+"/fail?on=1")
			fails := v.RefreshFail.Load()
			_, _ = v.Verify(old) // unknown kid again: a refresh, which fails
			for v.RefreshFail.Load() == fails {
				if time.Now().After(deadline.Add(5 * time.Second)) {
					t.Fatal("failing refresh not counted")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := v.Verify(fresh); err != nil {
				t.Errorf("last good keys dropped after a failed refresh: %v", err)
			}
			// Fail closed at start.
			if _, err := New(Config{JWKS: base + "/jwks.json", JWKSRefresh: time.Hour}, quiet()); err == nil {
				t.Error("started with a JWK set that answers 500")
			}
		})
	}
}

// TestPlainRemoteJWKS: a key set fetched over plain http from a host that is
// not loopback is warned about at start (whoever is on the path could swap
// the keys); loopback sidecars and https are not.
func TestPlainRemoteJWKS(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://keys.example.com/jwks.json": true,
		"http://10.0.0.5:8080/jwks":         true,
		"http://[::ffff:10.0.0.5]/jwks":     true,
		"http://0.0.0.0:1/jwks":             true,
		"http://127.0.0.1:9000/jwks":        false,
		"http://127.3.4.5/jwks":             false,
		"http://[::1]:9000/jwks":            false,
		"http://localhost:9000/jwks":        false,
		"https://keys.example.com/jwks":     false,
	} {
		if got := plainRemote(raw); got != want {
			t.Errorf("plainRemote(%q) = %v, want %v", raw, got, want)
		}
	}
	// Through New: 0.0.0.0:1 refuses at once, so the start fails (fail
	// closed) after the warning; the log must name the risk, not a secret.
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	if _, err := New(Config{JWKS: "http://0.0.0.0:1/jwks", JWKSRefresh: time.Hour}, log); err == nil {
		t.Fatal("started without its key set")
	}
	if !strings.Contains(logged.String(), "plain http") {
		t.Errorf("no warning for a plain-http remote key set; log: %q", logged.String())
	}
	logged.Reset()
	_, _ = New(Config{JWKS: "http://127.0.0.1:1/jwks", JWKSRefresh: time.Hour}, log)
	if strings.Contains(logged.String(), "plain http") {
		t.Errorf("warned for a loopback key set: %q", logged.String())
	}
}
