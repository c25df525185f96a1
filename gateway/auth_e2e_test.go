package gateway_test

// End-to-end tests of access control (issue 13): the real wsgate binary, tokens minted by Node
// (testdata/jwt-mint.js: jsonwebtoken and Node's crypto, not the code under test), Node `ws` clients
// (testdata/ws-peer.js) and the raw RFC 6455 client of e2e_helpers_test.go.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"github.com/wsgate/wsgate/codec/wstest"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// authTokens is jwt-mint.js's output plus the directory holding its public keys.
type authTokens struct {
	Secret string            `json:"secret"`
	Tokens map[string]string `json:"tokens"`
	dir    string
}

// mintTokens runs jwt-mint.js (claims: sub alice, topics news and room-*, publish room-1).
func mintTokens(t *testing.T, args ...string) *authTokens {
	t.Helper()
	checkNodeModules(t, "jsonwebtoken")
	dir := t.TempDir()
	var m authTokens
	runNodeJSON(t, 30*time.Second, &m, "jwt-mint.js", append([]string{"--dir", dir}, args...)...)
	m.dir = dir
	return &m
}

// keyFlags are the -jwt-* flags that verify m's tokens.
func (m *authTokens) keyFlags() []string {
	return []string{"-jwt-key", "hs256:" + m.Secret, "-jwt-key", filepath.Join(m.dir, "rsa.pem"),
		"-jwt-key", filepath.Join(m.dir, "ec.pem"), "-jwt-key", filepath.Join(m.dir, "ed.pem"),
		"-jwt-issuer", "https://id.example", "-jwt-audience", "wsgate"}
}

// authRequest sends an upgrade for path with extra header lines and reads the answer.
func authRequest(t *testing.T, addr, path string, headers ...string) (*rawConn, *http.Response) {
	t.Helper()
	c := dialRaw(t, addr)
	req := strings.TrimSuffix(wstest.UpgradeRequest(addr, path, wstest.NewKey()), "\r\n")
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		t.Fatalf("write request: %v", err)
	}
	return c, readResponse(t, c, 5*time.Second)
}

func publishAPI(t *testing.T, admin, topic, bearer, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+admin+"/v1/publish/"+topic, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/publish/%s: %v", topic, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// nextMessage waits for a message event, skipping pings.
func nextMessage(t *testing.T, p *wsPeer) peerEvent {
	t.Helper()
	for {
		ev := p.next(t, 5*time.Second)
		if ev.Ev != "ping" {
			return ev
		}
	}
}

// TestAuthReadOnlyRoute: a publish=none route fed by the publish API. A Node `ws` client receives;
// its own message is refused with close 1008 "publish not allowed" and counted.
func TestAuthReadOnlyRoute(t *testing.T) {
	requireE2E(t, true, false)
	g := startGateway(t, "-route", "/feed/=topic:*;publish=none", "-route", "/ws=topic:chat")
	p := startWSPeer(t, g.wsURL("/feed/scores"), 20*time.Second)
	p.waitOpen(t)
	time.Sleep(100 * time.Millisecond) // the subscription is made on the gateway's loop after the 101
	if code := publishAPI(t, g.Admin, "scores", "", "1-0"); code != http.StatusAccepted {
		t.Fatalf("publish API: %d", code)
	}
	if ev := nextMessage(t, p); ev.Ev != "message" || string(ev.payload()) != "1-0" {
		t.Fatalf("subscriber got %+v, want the published message", ev)
	}
	p.send(t, map[string]any{"text": "I score too"})
	if ev := nextMessage(t, p); ev.Ev != "close" || ev.Code != 1008 || ev.Reason != "publish not allowed" {
		t.Fatalf("after a client message: %+v, want close 1008 publish not allowed", ev)
	}
	scrapeMetrics(t, g.Admin).atLeast(t, "wsgate_auth_refusals_total", `reason="publish_denied"`, 1)
	// One topic namespace: /feed/chat reads topic chat, so /ws's clients may not publish to it either.
	c := upgradeRaw(t, g.Addr, "/ws", 0)
	writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("hi")})
	if r := c.ReadUntilClose(5 * time.Second); r.Code != 1008 {
		t.Fatalf("chat route beside a publish=none topic:*: %v, want close 1008", r)
	}
	// A route without options, alone, is unchanged: its clients publish.
	g = startGateway(t, "-route", "/ws=topic:chat")
	c = upgradeRaw(t, g.Addr, "/ws", 0)
	writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("hi")})
	if f, err := c.ReadFrame(time.Now().Add(5 * time.Second)); err != nil || string(f.Payload) != "hi" {
		t.Fatalf("chat route: %v %q", err, f.Payload)
	}
}

// TestAuthJWTRoute: an auth=jwt, publish=none route with tokens of each algorithm in the query (Node
// `ws`) and in the Authorization header (raw client); the publish claim; every bad token's answer.
func TestAuthJWTRoute(t *testing.T) {
	requireE2E(t, true, false)
	m := mintTokens(t)
	g := startGateway(t, append(m.keyFlags(), "-jwt-cookie", "sess", "-route", "/rooms/=topic:*;publish=none;auth=jwt")...)

	if _, resp := authRequest(t, g.Addr, "/rooms/news", "Cookie: theme=dark; sess="+m.Tokens["rs256"]); resp.StatusCode != 101 {
		t.Fatalf("token in the -jwt-cookie cookie: %d", resp.StatusCode)
	}
	// Subscribe with each algorithm's token in the query; the ES256 one also publishes (claim room-1).
	var peers []*wsPeer
	for _, alg := range []string{"hs256", "rs256", "es256", "eddsa"} {
		p := startWSPeer(t, g.wsURL("/rooms/room-1?token="+url.QueryEscape(m.Tokens[alg])), 20*time.Second)
		p.waitOpen(t)
		peers = append(peers, p)
	}
	hdr, resp := authRequest(t, g.Addr, "/rooms/room-1", "Authorization: Bearer "+m.Tokens["ps256"])
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("token in the header: %d", resp.StatusCode)
	}
	time.Sleep(100 * time.Millisecond)
	peers[2].send(t, map[string]any{"text": "from es256"})
	for i, p := range peers {
		if ev := nextMessage(t, p); ev.Ev != "message" || string(ev.payload()) != "from es256" {
			t.Fatalf("peer %d got %+v", i, ev)
		}
	}
	if f, err := hdr.ReadFrame(time.Now().Add(5 * time.Second)); err != nil || string(f.Payload) != "from es256" {
		t.Fatalf("header client: %v %q", err, f.Payload)
	}
	// room-2 is a topic the token may read (room-*) but not publish to.
	p2 := startWSPeer(t, g.wsURL("/rooms/room-2?token="+url.QueryEscape(m.Tokens["hs256"])), 20*time.Second)
	p2.waitOpen(t)
	p2.send(t, map[string]any{"text": "not mine"})
	if ev := nextMessage(t, p2); ev.Ev != "close" || ev.Code != 1008 || ev.Reason != "publish not allowed" {
		t.Fatalf("publish without the claim: %+v", ev)
	}

	check := func(name string, status int, challenge string, headers []string, path string) {
		t.Helper()
		c, resp := authRequest(t, g.Addr, path, headers...)
		if resp.StatusCode != status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), challenge) {
			t.Errorf("%s: %d %q, want %d with %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), status, challenge)
		}
		if !c.WaitEOF(3 * time.Second) {
			t.Errorf("%s: connection not closed after the refusal", name)
		}
	}
	check("no token", 401, `Bearer realm="wsgate"`, nil, "/rooms/room-1")
	if c, resp := authRequest(t, g.Addr, "/rooms/room-1"); strings.Contains(resp.Header.Get("WWW-Authenticate"), "error=") {
		t.Errorf("no token: challenge %q has an error attribute (RFC 6750 3.1)", resp.Header.Get("WWW-Authenticate"))
		c.Close()
	}
	check("topic not granted", 403, `error="insufficient_scope"`, nil, "/rooms/secret?token="+m.Tokens["hs256"])
	check("header and query disagree", 401, `error="invalid_token"`, []string{"Authorization: Bearer " + m.Tokens["hs256"]}, "/rooms/room-1?token="+m.Tokens["es256"])
	// A server decodes parameter names: ?%74oken= is a token parameter too, and must agree with the header.
	check("header and encoded query name disagree", 401, `error="invalid_token"`, []string{"Authorization: Bearer " + m.Tokens["hs256"]},
		"/rooms/room-1?%74oken="+m.Tokens["other_secret"])
	check("forged token under an encoded name", 401, `error="invalid_token"`, nil, "/rooms/room-1?tok%65n="+url.QueryEscape(m.Tokens["other_secret"]))
	check("undecodable parameter name", 400, "", []string{"Authorization: Bearer " + m.Tokens["hs256"]}, "/rooms/room-1?%zzoken=x")
	check("header and cookie disagree", 401, `error="invalid_token"`, []string{"Authorization: Bearer " + m.Tokens["hs256"],
		"Cookie: sess=" + m.Tokens["other_secret"]}, "/rooms/room-1")
	check("expired", 401, `error_description="token expired"`, nil, "/rooms/room-1?token="+m.Tokens["expired"])
	for _, bad := range []string{"alg_none", "confusion", "wrong_kid", "bad_signature", "other_secret", "es256_as_rs256",
		"not_yet_valid", "no_exp", "wrong_iss", "wrong_aud", "non_json_payload", "dup_claims", "dup_header", "garbage"} {
		check(bad+" in the query", 401, `error="invalid_token"`, nil, "/rooms/room-1?token="+url.QueryEscape(m.Tokens[bad]))
		check(bad+" in the header", 401, `error="invalid_token"`, []string{"Authorization: Bearer " + m.Tokens[bad]}, "/rooms/room-1")
	}
	// 64 KB: over -max-header-bytes, refused by the head parser before any token is read.
	check("64 KB token", 431, "", []string{"Authorization: Bearer " + m.Tokens["big"]}, "/rooms/room-1")

	mt := scrapeMetrics(t, g.Admin)
	for _, reason := range []string{"missing", "invalid", "expired", "forbidden", "publish_denied"} {
		mt.atLeast(t, "wsgate_auth_refusals_total", `reason="`+reason+`"`, 1)
	}
	// Still serving after all that.
	if _, resp := authRequest(t, g.Addr, "/rooms/news?token="+m.Tokens["eddsa"]); resp.StatusCode != 101 {
		t.Fatalf("after the bad tokens: %d", resp.StatusCode)
	}
}

// TestAuthTokenExpiresMidSession: a session ends with its token: close 1008 "token expired" at exp
// (+ -jwt-expiry-grace), timed by the loop's wheel.
func TestAuthTokenExpiresMidSession(t *testing.T) {
	requireE2E(t, true, false)
	m := mintTokens(t, "--ttl", "5")
	tok := m.Tokens["es256"]
	var claims struct {
		Exp int64 `json:"exp"`
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("token payload: %v", err)
	}
	due := time.Unix(claims.Exp, 0).Add(500 * time.Millisecond) // exp + -jwt-expiry-grace
	g := startGateway(t, append(m.keyFlags(), "-jwt-expiry-grace", "500ms", "-route", "/rooms/=topic:*;auth=jwt")...)
	c, resp := authRequest(t, g.Addr, "/rooms/news", "Authorization: Bearer "+tok)
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	if time.Until(due) < time.Second {
		t.Skipf("the machine is too slow: the token is about to expire already (%v left)", time.Until(due))
	}
	r := c.ReadUntilClose(time.Until(due) + 5*time.Second)
	if !r.GotClose || r.Code != 1008 || r.Reason != "token expired" {
		t.Fatalf("got %v, want close 1008 token expired", r)
	}
	// The wheel ticks every 100 ms; allow scheduling delay on a loaded machine.
	if late := time.Since(due); late < -200*time.Millisecond || late > 2*time.Second {
		t.Errorf("closed %v after exp + grace, want within a tick or so", late)
	}
	scrapeMetrics(t, g.Admin).atLeast(t, "wsgate_auth_sessions_expired_total", "", 1)
}

// TestAuthPublishAPIAndUsers: a JWT with a publish claim may use the publish API for the topics it
// names (besides the operator's token); -max-conns-per-user and the stats page's per-user counts.
func TestAuthPublishAPIAndUsers(t *testing.T) {
	requireE2E(t, true, false)
	m := mintTokens(t)
	g := startGateway(t, append(m.keyFlags(), "-publish-token", "operator-secret", "-max-conns-per-user", "2",
		"-route", "/rooms/=topic:*;publish=none;auth=jwt")...)
	a, resp := authRequest(t, g.Addr, "/rooms/room-1?token="+m.Tokens["hs256"])
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	if _, resp := authRequest(t, g.Addr, "/rooms/news?token="+m.Tokens["rs256"]); resp.StatusCode != 101 {
		t.Fatalf("second session of alice: %d", resp.StatusCode)
	}
	if _, resp := authRequest(t, g.Addr, "/rooms/news?token="+m.Tokens["es256"]); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third session of alice: %d, want 429", resp.StatusCode)
	}
	for _, tc := range []struct {
		topic, bearer string
		want          int
	}{
		{"room-1", m.Tokens["es256"], 202},
		{"room-1", "operator-secret", 202},
		{"room-2", m.Tokens["es256"], 401},
		{"room-1", m.Tokens["expired"], 401},
		{"room-1", m.Tokens["alg_none"], 401},
		{"room-1", "", 401},
	} {
		if got := publishAPI(t, g.Admin, tc.topic, tc.bearer, "hello"); got != tc.want {
			t.Errorf("publish API %s with %.12q: %d, want %d", tc.topic, tc.bearer, got, tc.want)
		}
	}
	for i := 0; i < 2; i++ {
		if f, err := a.ReadFrame(time.Now().Add(5 * time.Second)); err != nil || string(f.Payload) != "hello" {
			t.Fatalf("subscriber: %v %q", err, f.Payload)
		}
	}
	res, err := http.Get("http://" + g.Admin + "/stats?json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Users []struct {
			Sub         string `json:"sub"`
			Connections int    `json:"connections"`
		} `json:"users"`
	}
	err = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if err != nil || len(st.Users) != 1 || st.Users[0].Sub != "alice" || st.Users[0].Connections != 2 {
		t.Errorf("stats users: %+v %v", st.Users, err)
	}
}

// TestAuthBackendRoute: auth=jwt on a backend route checks each request before it is proxied, and the
// token query parameter never reaches the server.
func TestAuthBackendRoute(t *testing.T) {
	requireE2E(t, true, false)
	m := mintTokens(t)
	var mu sync.Mutex
	var seen []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer backend.Close()
	g := startGateway(t, append(m.keyFlags(), "-backend", "app="+strings.TrimPrefix(backend.URL, "http://"),
		"-route", "/api=backend:app;auth=jwt")...)
	get := func(path, bearer string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+g.Addr+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/api/x", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, body := get("/api/x?a=1&token="+m.Tokens["hs256"]+"&b=2", ""); code != 200 || body != "ok" {
		t.Errorf("token in query: %d %q", code, body)
	}
	if code, _ := get("/api/y", m.Tokens["rs256"]); code != 200 {
		t.Errorf("token in header: %d", code)
	}
	if code, _ := get("/api/y", m.Tokens["wrong_aud"]); code != 401 {
		t.Errorf("wrong audience: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, " ") != "/api/x?a=1&b=2 /api/y" {
		t.Errorf("backend saw %q", seen)
	}
	for _, s := range seen {
		if bytes.Contains([]byte(s), []byte("token")) {
			t.Errorf("token reached the backend: %q", s)
		}
	}
}

// TestAuthBrowserQueryToken: headless Chromium, which cannot set headers on a WebSocket, passes the
// token in the query string: it joins an auth=jwt, publish=none route and publishes with its claim;
// without a token the browser's socket fails (the gateway answered 401).
func TestAuthBrowserQueryToken(t *testing.T) {
	requireE2E(t, true, true)
	m := mintTokens(t)
	g := startGateway(t, append(m.keyFlags(), "-route", "/rooms/=topic:*;publish=none;auth=jwt")...)
	var s struct {
		OK         bool   `json:"ok"`
		Error      string `json:"error"`
		Sent       string `json:"sent"`
		WithToken  any    `json:"withToken"`
		WithoutTok any    `json:"withoutToken"`
	}
	runNodeJSON(t, 100*time.Second, &s, "jwt-browser.js", "--url", "http://"+g.Addr+"/", "--ws", g.wsURL("/rooms/room-1"),
		"--token", m.Tokens["es256"], "--chromium", chromiumPath)
	if s.Error != "" || !s.OK {
		t.Fatalf("browser: ok=%v error=%q with token %+v without %+v", s.OK, s.Error, s.WithToken, s.WithoutTok)
	}
	mt := scrapeMetrics(t, g.Admin)
	mt.atLeast(t, "wsgate_auth_refusals_total", `reason="missing"`, 1)
}
