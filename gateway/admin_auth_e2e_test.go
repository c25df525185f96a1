package gateway_test

// Issue 11 items 12 and 13 on the admin listener: -stats-auth guards every admin path but /healthz,
// /debug/pprof/cmdline never shows a secret, auth scheme names are case-insensitive, and the publish
// API names topics by the same rule as WebSocket paths.

import (
	"bytes"
	"encoding/base64"
	"github.com/wsgate/wsgate/codec/wstest"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// adminDo sends one request to the admin listener with the given Authorization header ("" for none).
func adminDo(t *testing.T, method, url, auth string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// rawPublish posts "x" to /v1/publish/NAME with the target exactly as given (Go's client would refuse
// a bad escape before sending it) and returns the status.
func rawPublish(t *testing.T, admin, name string) int {
	t.Helper()
	c := dialRaw(t, admin)
	req := "POST /v1/publish/" + name + " HTTP/1.1\r\nHost: " + admin + "\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, c, 5*time.Second).StatusCode
}

func basic(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

// TestE2EAdminAuth: with -stats-auth, /metrics, /v1/servers, the profiles and every other admin path
// answer 401 without the credentials (before the fix: 200, and cmdline printed both secrets), and
// /healthz stays open; with them, /debug/pprof/cmdline shows the command line with the token and the
// password redacted. The publish API takes its bearer token or the stats credentials, and scheme
// names in any case (RFC 9110 11.1).
func TestE2EAdminAuth(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	const token, userPass = "tok-Zq81x", "admin:pw-Hh27c"
	g := startGatewayProcess(t, "-stats-auth", userPass, "-publish-token", token, "-drain-time", "100ms")
	base := "http://" + g.Admin

	for _, path := range []string{"/metrics", "/v1/servers", "/stats", "/debug/pprof/", "/debug/pprof/cmdline",
		"/debug/pprof/symbol", "/debug/pprof/heap", "/nonexistent"} {
		for _, auth := range []string{"", basic("admin:wrong"), "Bearer " + token} {
			if code, _, body := adminDo(t, http.MethodGet, base+path, auth, nil); code != http.StatusUnauthorized {
				t.Errorf("GET %s with %q: %d, want 401 (%.80q)", path, auth, code, body)
			}
		}
	}
	if code, _, _ := adminDo(t, http.MethodGet, base+"/healthz", "", nil); code != http.StatusOK {
		t.Errorf("GET /healthz without credentials: %d, want 200 (probes carry none)", code)
	}
	for _, auth := range []string{basic(userPass), "basic " + base64.StdEncoding.EncodeToString([]byte(userPass)),
		"BASIC  " + base64.StdEncoding.EncodeToString([]byte(userPass))} {
		for _, path := range []string{"/metrics", "/v1/servers", "/stats?json", "/debug/pprof/cmdline"} {
			if code, _, body := adminDo(t, http.MethodGet, base+path, auth, nil); code != http.StatusOK {
				t.Errorf("GET %s with %q: %d, want 200 (%.80q)", path, auth, code, body)
			}
		}
	}
	_, _, cmdline := adminDo(t, http.MethodGet, base+"/debug/pprof/cmdline", basic(userPass), nil)
	if bytes.Contains(cmdline, []byte("tok-Zq81x")) || bytes.Contains(cmdline, []byte("pw-Hh27c")) {
		t.Errorf("/debug/pprof/cmdline shows a secret: %q", cmdline)
	}
	if !bytes.Contains(cmdline, []byte("-publish-token")) || !bytes.Contains(cmdline, []byte("-drain-time")) {
		t.Errorf("/debug/pprof/cmdline lost the command line: %q", cmdline)
	}

	pub := base + "/v1/publish/news"
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{basic("admin:wrong"), http.StatusUnauthorized},
		{"Bearer " + token, http.StatusAccepted},
		{"bearer " + token, http.StatusAccepted},
		{"BEARER  " + token, http.StatusAccepted},
		{basic(userPass), http.StatusAccepted},
	} {
		code, hdr, body := adminDo(t, http.MethodPost, pub, c.auth, []byte("hello"))
		if code != c.want {
			t.Errorf("POST /v1/publish/news with %q: %d, want %d (%q)", c.auth, code, c.want, body)
		}
		if code == http.StatusUnauthorized && len(hdr.Values("WWW-Authenticate")) != 2 {
			t.Errorf("401 from the publish API challenges with %q, want Bearer and Basic", hdr.Values("WWW-Authenticate"))
		}
	}
}

// TestE2EAdminAuthPublishNeedsStatsAuth: -stats-auth without -publish-token closes the publish API too
// (before the fix it stayed open: 202 to anyone).
func TestE2EAdminAuthPublishNeedsStatsAuth(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-stats-auth", "ops:pw", "-drain-time", "100ms")
	pub := "http://" + g.Admin + "/v1/publish/news"
	if code, _, _ := adminDo(t, http.MethodPost, pub, "", []byte("x")); code != http.StatusUnauthorized {
		t.Errorf("POST /v1/publish/news without credentials: %d, want 401", code)
	}
	if code, _, _ := adminDo(t, http.MethodPost, pub, basic("ops:pw"), []byte("x")); code != http.StatusAccepted {
		t.Errorf("POST /v1/publish/news with the stats credentials: %d, want 202", code)
	}
}

// TestE2EPublishTopicName: one rule for topic names on WebSocket paths and in the publish API. A
// browser's /rooms/%C3%A9t%C3%A9 and POST /v1/publish/%C3%A9t%C3%A9 are the same topic "été" (before
// the fix the WebSocket client sat in topic "%C3%A9t%C3%A9" and got nothing); %2F, a '/' inside the
// name, bad escapes, invalid UTF-8 and names over 256 bytes are 400 on both sides (before: the
// WebSocket side accepted them all).
func TestE2EPublishTopicName(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-route", "/rooms/=topic:*", "-drain-time", "100ms")
	pubBase := "http://" + g.Admin + "/v1/publish/"

	c := upgradeRaw(t, g.Addr, "/rooms/%C3%A9t%C3%A9", 0)
	if code, _, body := adminDo(t, http.MethodPost, pubBase+"%C3%A9t%C3%A9", "", []byte("bonjour")); code != http.StatusAccepted {
		t.Fatalf("POST /v1/publish/%%C3%%A9t%%C3%%A9: %d %q", code, body)
	}
	if f, err := c.ReadFrame(time.Now().Add(5 * time.Second)); err != nil || string(f.Payload) != "bonjour" {
		t.Errorf("client on /rooms/%%C3%%A9t%%C3%%A9: %q, %v; want the message published to %%C3%%A9t%%C3%%A9", f.Payload, err)
	}

	long := strings.Repeat("x", 257)
	for _, name := range []string{"a%2Fb", "a%2fb", "%FF", "%zz", long, "a/b"} {
		raw := dialRaw(t, g.Addr)
		if _, err := raw.Write([]byte(wstest.UpgradeRequest(g.Addr, "/rooms/"+name, wstest.NewKey()))); err != nil {
			t.Fatal(err)
		}
		if resp := readResponse(t, raw, 5*time.Second); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("upgrade /rooms/%.40s: %d, want 400", name, resp.StatusCode)
		}
		if code := rawPublish(t, g.Admin, name); code != http.StatusBadRequest {
			t.Errorf("POST /v1/publish/%.40s: %d, want 400", name, code)
		}
	}
	ok := strings.Repeat("y", 256)
	upgradeRaw(t, g.Addr, "/rooms/"+ok, 0)
	if code, _, _ := adminDo(t, http.MethodPost, pubBase+ok, "", []byte("x")); code != http.StatusAccepted {
		t.Errorf("POST /v1/publish/<256 bytes>: %d, want 202", code)
	}
}
