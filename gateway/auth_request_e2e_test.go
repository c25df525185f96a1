package gateway_test

// End-to-end tests of the auth subrequest (auth=request:POOL/PATH, issue 13): an express auth service
// (testdata/auth-backend.js, checking a session cookie), Node `ws` clients (testdata/ws-peer.js) and
// the raw client, against the in-process gateway.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// authBackendStats is auth-backend.js's GET /stats.
type authBackendStats struct {
	Count  int               `json:"count"`
	Peak   int               `json:"peak"`
	Active int               `json:"active"`
	Last   map[string]string `json:"last"`
}

func authStats(t *testing.T, s *nodeServer, path string) authBackendStats {
	t.Helper()
	resp, err := adminClient.Get("http://" + s.Addr() + path)
	if err != nil {
		t.Fatalf("auth backend %s: %v", path, err)
	}
	defer resp.Body.Close()
	var st authBackendStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("auth backend %s: %v", path, err)
	}
	return st
}

// peerRefused waits for a ws-peer.js client's handshake to fail and returns the error message
// (`ws` reports "Unexpected server response: STATUS"); an open is a test failure.
func peerRefused(t *testing.T, p *wsPeer) string {
	t.Helper()
	for {
		ev := p.next(t, 10*time.Second)
		switch ev.Ev {
		case "open":
			t.Fatalf("ws-peer.js: the upgrade was accepted, want a refusal")
		case "error":
			return ev.Message
		}
	}
}

// TestAuthRequestTopicRoute: the auth service's session cookie decides the upgrade; its Wsgate-Topics
// narrows the route; its 401 and challenge reach the client; the headers it gets; a service that
// does not answer in -auth-timeout, then a killed one, give 503 — never an open door.
func TestAuthRequestTopicRoute(t *testing.T) {
	requireNodeModules(t, "express", "ws")
	ab := startNodeServer(t, "auth-backend.js", "auth1", 0)
	g := startGateway(t, "-backend", "authz=auth1@"+ab.Addr(), "-auth-timeout", "700ms",
		"-route", "/rooms/=topic:*;auth=request:authz/auth")
	// Another auth service reaching the same topics must be its own gateway: two services on routes that
	// share a topic namespace are refused by -check (the weaker one would be a way around the other).
	slow := startGateway(t, "-backend", "authz=auth1@"+ab.Addr(), "-auth-timeout", "700ms",
		"-route", "/slowrooms/=topic:*;auth=request:authz/slow")

	good := startWSPeer(t, g.wsURL("/rooms/news"), 20*time.Second, "--cookie", "theme=dark; sid=good")
	good.waitOpen(t)
	time.Sleep(100 * time.Millisecond) // the subscription is made on the gateway's loop after the 101
	if code := publishAPI(t, g.Admin, "news", "", "extra!"); code != http.StatusAccepted {
		t.Fatalf("publish API: %d", code)
	}
	if ev := nextMessage(t, good); ev.Ev != "message" || string(ev.payload()) != "extra!" {
		t.Fatalf("subscriber got %+v", ev)
	}
	if msg := peerRefused(t, startWSPeer(t, g.wsURL("/rooms/news"), 20*time.Second, "--cookie", "sid=bad")); !strings.Contains(msg, "401") {
		t.Errorf("bad cookie (ws): %q, want a 401", msg)
	}
	if msg := peerRefused(t, startWSPeer(t, g.wsURL("/rooms/secret"), 20*time.Second, "--cookie", "sid=good")); !strings.Contains(msg, "403") {
		t.Errorf("topic outside Wsgate-Topics (ws): %q, want a 403", msg)
	}
	c, resp := authRequest(t, g.Addr, "/rooms/room-9", "Cookie: sid=nope")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "Cookie realm=x" {
		t.Errorf("bad cookie (raw): %d %q, want 401 with the service's challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if !c.WaitEOF(3 * time.Second) {
		t.Error("connection not closed after the 401")
	}
	if _, resp := authRequest(t, g.Addr, "/rooms/room-9", "Cookie: sid=good"); resp.StatusCode != 101 {
		t.Errorf("room-9 (room-*): %d", resp.StatusCode)
	}

	// What the service got: the credentials, the forwarding headers, the target without its token.
	_, resp = authRequest(t, g.Addr, "/rooms/news?token=s3cret&x=1", "Cookie: sid=good", "Authorization: Basic eDp5",
		"Origin: https://app.example", "X-Forwarded-For: 10.1.2.3")
	if resp.StatusCode != 101 {
		t.Fatalf("with every header: %d", resp.StatusCode)
	}
	last := authStats(t, ab, "/stats").Last
	for k, want := range map[string]string{"cookie": "sid=good", "authorization": "Basic eDp5", "origin": "https://app.example",
		"x-forwarded-for": "10.1.2.3, 127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-host": g.Addr,
		"x-original-uri": "/rooms/news?x=1", "connection": "close"} {
		if last[k] != want {
			t.Errorf("auth service got %s: %q, want %q", k, last[k], want)
		}
	}
	for _, k := range []string{"upgrade", "sec-websocket-key", "content-length", "transfer-encoding"} {
		if v, ok := last[k]; ok {
			t.Errorf("auth service got %s: %q (not forwarded)", k, v)
		}
	}

	// No answer within -auth-timeout: 503, in about that time. A client that goes away while its
	// subrequest is pending leaves nothing behind: the server's session count comes back to 0.
	start := time.Now()
	if _, resp := authRequest(t, slow.Addr, "/slowrooms/news", "Cookie: sid=good"); resp.StatusCode != 503 {
		t.Errorf("/slow: %d, want 503", resp.StatusCode)
	}
	if took := time.Since(start); took < 600*time.Millisecond || took > 4*time.Second {
		t.Errorf("/slow answered after %v, want about -auth-timeout (700ms)", took)
	}
	gone := dialRaw(t, slow.Addr)
	if _, err := gone.Write([]byte(wstest.UpgradeRequest(slow.Addr, "/slowrooms/news", wstest.NewKey()))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	gone.Close()
	waitServer(t, slow, "authz/auth1", "no subrequest left", 5*time.Second, func(s serverStat) bool { return s.Active == 0 })

	// The service killed: 503 for every kind of client, counted; never a 101.
	ab.kill()
	if msg := peerRefused(t, startWSPeer(t, g.wsURL("/rooms/news"), 20*time.Second, "--cookie", "sid=good")); !strings.Contains(msg, "503") {
		t.Errorf("service down (ws): %q, want a 503", msg)
	}
	for range 3 {
		if _, resp := authRequest(t, g.Addr, "/rooms/news", "Cookie: sid=good"); resp.StatusCode != 503 {
			t.Errorf("service down (raw): %d, want 503", resp.StatusCode)
		}
	}
	mt := scrapeMetrics(t, g.Admin)
	// The /slow timeouts were counted on their own gateway: the figures of both add up.
	for k, v := range scrapeMetrics(t, slow.Admin) {
		mt[k] += v
	}
	mt.atLeast(t, "wsgate_auth_refusals_total", `reason="auth_backend_error"`, 5)
	mt.atLeast(t, "wsgate_auth_refusals_total", `reason="invalid"`, 2)
	mt.atLeast(t, "wsgate_auth_refusals_total", `reason="forbidden"`, 1)
	mt.atLeast(t, "wsgate_auth_subrequest_duration_seconds_count", `result="allow"`, 4)
	mt.atLeast(t, "wsgate_auth_subrequest_duration_seconds_count", `result="error"`, 2)
	// The subscriber admitted before the outage is still served.
	if code := publishAPI(t, g.Admin, "news", "", "still here"); code != http.StatusAccepted {
		t.Fatalf("publish API: %d", code)
	}
	if ev := nextMessage(t, good); ev.Ev != "message" || string(ev.payload()) != "still here" {
		t.Fatalf("subscriber after the outage: %+v", ev)
	}
}

// TestAuthRequestBackendRoute: on a backend route each request (keep-alive ones too) reaches the app
// only when the auth service said 2xx; a WebSocket upgrade is checked the same way.
func TestAuthRequestBackendRoute(t *testing.T) {
	requireNodeModules(t, "express", "ws")
	ab := startNodeServer(t, "auth-backend.js", "auth1", 0)
	var mu sync.Mutex
	var seen []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
		_, _ = w.Write([]byte("app"))
	}))
	defer app.Close()
	ews := startNodeServer(t, "expressws-server.js", "ews1", 0)
	g := startGateway(t, "-backend", "authz=auth1@"+ab.Addr(), "-backend", "app="+strings.TrimPrefix(app.URL, "http://"),
		"-backend", poolSpec("ws", []*nodeServer{ews}, ""),
		"-route", "/api=backend:app;auth=request:authz/auth", "-route", "/ws=backend:ws;auth=request:authz/auth")
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path, cookie string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+g.Addr+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Three requests on one keep-alive connection, each asked about.
	before := authStats(t, ab, "/stats").Count
	for i, path := range []string{"/api/a", "/api/b?token=t0k&c=1", "/api/d"} {
		if code, body := get(path, "sid=good"); code != 200 || body != "app" {
			t.Errorf("request %d %s: %d %q", i, path, code, body)
		}
	}
	if n := authStats(t, ab, "/stats").Count - before; n != 3 {
		t.Errorf("auth service asked %d times for 3 requests", n)
	}
	if code, _ := get("/api/secret", "sid=bad"); code != 401 {
		t.Errorf("bad cookie: %d, want 401", code)
	}
	if code, _ := get("/api/secret", ""); code != 401 {
		t.Errorf("no cookie: %d, want 401", code)
	}
	mu.Lock()
	if got := strings.Join(seen, " "); got != "/api/a /api/b?c=1 /api/d" {
		t.Errorf("the app saw %q (a refused request reached it, or the token did)", got)
	}
	mu.Unlock()
	// A WebSocket upgrade on a backend route: a Node `ws` client through to express-ws.
	p := startWSPeer(t, g.wsURL("/ws/echo"), 20*time.Second, "--cookie", "sid=good")
	p.waitOpen(t)
	if ev := nextMessage(t, p); ev.Ev != "message" || !strings.Contains(string(ev.payload()), `"hello":true`) {
		t.Fatalf("proxied upgrade: %+v", ev)
	}
	if msg := peerRefused(t, startWSPeer(t, g.wsURL("/ws/echo"), 20*time.Second)); !strings.Contains(msg, "401") {
		t.Errorf("proxied upgrade without a session: %q, want a 401", msg)
	}
	// The service gone: 503, and the app never sees the request.
	ab.kill()
	if code, _ := get("/api/after", "sid=good"); code != 503 {
		t.Errorf("service down: %d, want 503", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(strings.Join(seen, " "), "/api/after") {
		t.Error("a request reached the app while the auth service was down")
	}
}

// burst sends n upgrades at once and counts the answers by status.
func burst(t *testing.T, g *testGateway, n int, path string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := wstest.Dial(g.Addr, 5*time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			defer c.Close()
			req := strings.TrimSuffix(wstest.UpgradeRequest(g.Addr, path, wstest.NewKey()), "\r\n") + "Cookie: sid=good\r\n\r\n"
			if _, err := c.Write([]byte(req)); err != nil {
				failed.Add(1)
				return
			}
			resp, err := c.ReadResponse(15 * time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d upgrades got no answer", f, n)
	}
	return codes
}

// TestAuthRequestBurst: 200 upgrades at once never put more than the auth pool's maxconn (5)
// subrequests on its server; with queue= they wait for a slot and all get in, without a queue the
// surplus gets 503.
func TestAuthRequestBurst(t *testing.T) {
	requireNodeModules(t, "express", "ws")
	ab := startNodeServer(t, "auth-backend.js", "auth1", 0)
	g := startGateway(t, "-auth-timeout", "10s", "-backend", "authq=auth1@"+ab.Addr()+";maxconn=5;queue=500",
		"-route", "/q/=topic:*;auth=request:authq/auth-slow")
	// The pool without a queue on a gateway of its own: two auth services may not share topics.
	gn := startGateway(t, "-auth-timeout", "10s", "-backend", "authn=auth1@"+ab.Addr()+";maxconn=5",
		"-route", "/n/=topic:*;auth=request:authn/auth-slow")
	codes := burst(t, g, 200, "/q/room-1")
	st := authStats(t, ab, "/stats")
	t.Logf("queued pool: answers %v; auth service: %d requests, peak %d at once", codes, st.Count, st.Peak)
	if codes[101] != 200 {
		t.Errorf("queued pool: %v, want 200 upgrades accepted", codes)
	}
	if st.Peak > 5 || st.Peak < 1 || st.Count != 200 {
		t.Errorf("auth service: peak %d (max 5), %d requests (want 200)", st.Peak, st.Count)
	}
	authStats(t, ab, "/reset")
	codes = burst(t, gn, 200, "/n/room-1")
	st = authStats(t, ab, "/stats")
	t.Logf("pool without a queue: answers %v; auth service: %d requests, peak %d at once", codes, st.Count, st.Peak)
	if codes[101]+codes[503] != 200 || codes[101] == 0 || codes[503] == 0 {
		t.Errorf("pool without a queue: %v, want only 101s and 503s, some of each", codes)
	}
	if st.Peak > 5 || st.Count != codes[101] {
		t.Errorf("auth service: peak %d (max 5), %d requests (want %d, one per accepted upgrade)", st.Peak, st.Count, codes[101])
	}
}

// TestAuthRequestCache: with auth-cache= a second upgrade with the same cookie (and target) is
// decided without the auth service, a 401 too; another cookie is asked about.
func TestAuthRequestCache(t *testing.T) {
	requireNodeModules(t, "express", "ws")
	ab := startNodeServer(t, "auth-backend.js", "auth1", 0)
	g := startGateway(t, "-backend", "authz=auth1@"+ab.Addr(),
		"-route", "/rooms/=topic:*;auth=request:authz/auth;auth-cache=30s", "-route", "/nocache/=topic:*;auth=request:authz/auth")
	count := func() int { return authStats(t, ab, "/stats").Count }
	p := startWSPeer(t, g.wsURL("/rooms/news"), 20*time.Second, "--cookie", "sid=good")
	p.waitOpen(t)
	if n := count(); n != 1 {
		t.Fatalf("first upgrade: %d auth requests", n)
	}
	p2 := startWSPeer(t, g.wsURL("/rooms/news"), 20*time.Second, "--cookie", "sid=good")
	p2.waitOpen(t)
	if _, resp := authRequest(t, g.Addr, "/rooms/news", "Cookie: sid=good"); resp.StatusCode != 101 {
		t.Fatalf("third upgrade: %d", resp.StatusCode)
	}
	if n := count(); n != 1 {
		t.Errorf("same cookie again: %d auth requests, want still 1 (cached)", n)
	}
	// A cached 2xx still narrows (the target is part of the key: /rooms/secret is asked about once).
	for range 2 {
		if _, resp := authRequest(t, g.Addr, "/rooms/secret", "Cookie: sid=good"); resp.StatusCode != 403 {
			t.Errorf("topic outside Wsgate-Topics: %d, want 403", resp.StatusCode)
		}
	}
	if n := count(); n != 2 {
		t.Errorf("after /rooms/secret twice: %d auth requests, want 2", n)
	}
	for range 2 {
		if _, resp := authRequest(t, g.Addr, "/rooms/news", "Cookie: sid=bad"); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "Cookie realm=x" {
			t.Errorf("bad cookie: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := count(); n != 3 {
		t.Errorf("after a bad cookie twice: %d auth requests, want 3 (the 401 cached)", n)
	}
	// A route without auth-cache asks every time.
	for range 2 {
		if _, resp := authRequest(t, g.Addr, "/nocache/news", "Cookie: sid=good"); resp.StatusCode != 101 {
			t.Fatalf("uncached route: %d", resp.StatusCode)
		}
	}
	if n := count(); n != 5 {
		t.Errorf("uncached route twice: %d auth requests in all, want 5", n)
	}
	scrapeMetrics(t, g.Admin).atLeast(t, "wsgate_auth_cache_hits_total", "", 4)
}
