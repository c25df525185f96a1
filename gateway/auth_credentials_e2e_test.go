// Access control against credentials that could be read two ways: a kept-alive connection that
// changes user, and requests whose token sources disagree (the server behind must never get an
// unverified credential).
package gateway_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsgate/wsgate/codec/wstest"
)

// hs256Token signs an HS256 token for sub with the review's secret.
func hs256Token(t *testing.T, secret []byte, sub string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "topics": []string{"news"}, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthUserLimitKeepAlive (found in review; fixed): -max-conns-per-user counts
// a connection against the sub of the first upgrade that passed access
// control on it. An upgrade the backend refuses (404, keep-alive) leaves the
// connection in the handshake with that count, and a second upgrade on the
// same connection, with another user's token, is not counted against its own
// user: a user at the limit opens one more session per such connection.
func TestAuthUserLimitKeepAlive(t *testing.T) {
	requireE2E(t, false, false)
	secret := []byte("0123456789abcdef0123456789abcdef")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r) // an upgrade the server does not serve: 404, connection kept
	}))
	defer backend.Close()
	g := startGateway(t, "-jwt-key", "hs256:"+base64.StdEncoding.EncodeToString(secret), "-max-conns-per-user", "1",
		"-backend", "app="+strings.TrimPrefix(backend.URL, "http://"),
		"-route", "/app/=backend:app;auth=jwt", "-route", "/rooms/=topic:*;auth=jwt")
	alice, bob := hs256Token(t, secret, "alice"), hs256Token(t, secret, "bob")

	// alice's one allowed session.
	if _, resp := authRequest(t, g.Addr, "/rooms/news", "Authorization: Bearer "+alice); resp.StatusCode != 101 {
		t.Fatalf("alice's first session: %d", resp.StatusCode)
	}
	// The limit holds on a fresh connection.
	if _, resp := authRequest(t, g.Addr, "/rooms/news", "Authorization: Bearer "+alice); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice's second session on a fresh connection: %d, want 429", resp.StatusCode)
	}
	// One connection: bob's upgrade to the backend (404, kept alive), then alice's.
	c, resp := authRequest(t, g.Addr, "/app/x", "Authorization: Bearer "+bob)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's upgrade to the backend: %d, want the backend's 404", resp.StatusCode)
	}
	req := strings.TrimSuffix(wstest.UpgradeRequest(g.Addr, "/rooms/news", wstest.NewKey()), "\r\n") +
		"Authorization: Bearer " + alice + "\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatalf("second request: %v", err)
	}
	resp = readResponse(t, c, 5*time.Second)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice's second session after bob's refused upgrade on the same connection: %d, want 429 "+
			"(-max-conns-per-user bypassed: the connection counts against bob)", resp.StatusCode)
	}
}

// TestAuthJWTCredentialsForwarded (found in review; fixed): on an auth=jwt backend
// route the gateway verifies one credential and forwards the others to the
// server untouched, so the server can read another identity than the one the
// gateway judged. auth=request refuses two Authorization fields for exactly
// that reason (gateway/access forwardOf), and auth=jwt refuses a bearer token
// that disagrees with the cookie (router/auth TokenFrom's ErrConflict), but
//   - a second Authorization field passes (only the first is verified);
//   - a ?token= that disagrees with the -jwt-cookie passes (the query is
//     verified and cut, the cookie reaches the server).
func TestAuthJWTCredentialsForwarded(t *testing.T) {
	requireE2E(t, false, false)
	secret := []byte("0123456789abcdef0123456789abcdef")
	var mu sync.Mutex
	var seen []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, strings.Join(r.Header.Values("Authorization"), " | ")+" cookie="+r.Header.Get("Cookie"))
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer backend.Close()
	g := startGateway(t, "-jwt-key", "hs256:"+base64.StdEncoding.EncodeToString(secret), "-jwt-cookie", "jwt",
		"-backend", "app="+strings.TrimPrefix(backend.URL, "http://"), "-route", "/app/=backend:app;auth=jwt")
	alice := hs256Token(t, secret, "alice")
	// A token the server would read as mallory's (unsigned: alg none).
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","exp":4102444800}`)) + "."

	get := func(path string, hdr ...string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+g.Addr+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Control: bearer and cookie disagreeing is refused.
	if code := get("/app/x", "Authorization", "Bearer "+alice, "Cookie", "jwt="+forged); code != http.StatusUnauthorized {
		t.Errorf("bearer vs cookie: %d, want 401", code)
	}
	if code := get("/app/x", "Authorization", "Bearer "+alice, "Authorization", "Bearer "+forged); code == http.StatusOK {
		t.Errorf("two Authorization fields: 200, want a refusal (400, as auth=request answers)")
	}
	if code := get("/app/x?token="+alice, "Cookie", "jwt="+forged); code == http.StatusOK {
		t.Errorf("?token= vs -jwt-cookie: 200, want 401 (they disagree, as bearer vs cookie is refused)")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if strings.Contains(s, forged) {
			t.Errorf("the server got the unverified credential: %.120s...", s)
		}
	}
}
