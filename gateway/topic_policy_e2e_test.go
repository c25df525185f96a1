package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
	"github.com/wsgate/wsgate/gateway/options"
)

// Every topic route shares one topic namespace: a topic's access rules come from the topic (every
// route that can yield it), not from the URL it was reached by. These are the security review's
// reproductions (README's access-control example, an encoded or doubled path around a fixed
// read-only route, wsgate.v1 commands naming another topic, dot segments around a prefix).

// v1Upgrade opens a wsgate.v1 socket on path (raw client), with extra header lines.
func v1Upgrade(t *testing.T, addr, path string, headers ...string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	o := wstest.Options{Host: addr, Timeout: 5 * time.Second, Headers: append([]string{"Sec-WebSocket-Protocol: wsgate.v1"}, headers...)}
	if _, err := c.Handshake(path, o); err != nil {
		t.Fatalf("wsgate.v1 upgrade %s: %v", path, err)
	}
	return c
}

// v1Do sends one command and returns the error code of its answer (0: done).
func v1Do(t *testing.T, c *rawConn, id int64, cmd string) int {
	t.Helper()
	writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(cmd)})
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := c.ReadFrame(deadline)
		if err != nil {
			t.Fatalf("command %s: no answer: %v", cmd, err)
		}
		if f.Op != wstest.OpText {
			continue
		}
		var r v1Frame
		if err := json.Unmarshal(f.Payload, &r); err != nil {
			t.Fatalf("command %s: answer %q: %v", cmd, f.Payload, err)
		}
		if r.ID != nil && *r.ID == id {
			return r.code()
		}
	}
}

// expectQuiet checks that c receives no data message for a while (what was refused did not arrive).
func expectQuiet(t *testing.T, c *rawConn, what string) {
	t.Helper()
	deadline := time.Now().Add(400 * time.Millisecond)
	for {
		f, err := c.ReadFrame(deadline)
		if isTimeout(err) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if f.Op == wstest.OpText || f.Op == wstest.OpBinary {
			t.Fatalf("%s: the subscriber got %q", what, f.Payload)
		}
	}
}

// expectMessage checks that the next data message c receives is want.
func expectMessage(t *testing.T, c *rawConn, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := c.ReadFrame(deadline)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if f.Op == wstest.OpText || f.Op == wstest.OpBinary {
			if string(f.Payload) != want {
				t.Fatalf("got %q, want %q (something refused was published)", f.Payload, want)
			}
			return
		}
	}
}

// (a) README's former example: an open topic:* route beside an auth=jwt one made every protected
// topic readable through the open prefix. Such a configuration is now refused; with the same auth=
// on both, the second prefix asks for the token too, and a wsgate.v1 subscribe needs its claim.
func TestTopicPolicySharedNamespace(t *testing.T) {
	requireE2E(t, true, false)
	m := mintTokens(t) // topics news, room-*; publish room-1
	o, err := options.Parse(append(m.keyFlags(), "-route", "/rooms/=topic:*;publish=none;auth=jwt", "-route", "/scores/=topic:*;publish=none"), options.EnvLookup)
	if err == nil {
		_, err = o.Config()
	}
	if err == nil || !strings.Contains(err.Error(), "share one topic namespace") {
		t.Fatalf("an open topic:* beside an auth=jwt one: %v, want the configuration refused", err)
	}

	g := startGateway(t, append(m.keyFlags(), "-route", "/rooms/=topic:*;publish=none;auth=jwt", "-route", "/scores/=topic:*;publish=none;auth=jwt")...)
	for _, path := range []string{"/rooms/secret-room", "/scores/secret-room"} {
		if _, resp := authRequest(t, g.Addr, path); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", path, resp.StatusCode)
		}
	}
	c := v1Upgrade(t, g.Addr, "/scores/room-2", "Authorization: Bearer "+m.Tokens["hs256"])
	if code := v1Do(t, c, 1, `{"id":1,"subscribe":{"topic":"secret-room"}}`); code != http.StatusForbidden {
		t.Errorf("v1 subscribe to secret-room from /scores/room-2: %d, want 403", code)
	}
	if code := v1Do(t, c, 2, `{"id":2,"publish":{"topic":"room-9","data":"x"}}`); code != http.StatusForbidden {
		t.Errorf("v1 publish to room-9 (publish=none, no claim): %d, want 403", code)
	}
	if code := v1Do(t, c, 3, `{"id":3,"publish":{"topic":"room-1","data":"x"}}`); code != 0 {
		t.Errorf("v1 publish to room-1 (the publish claim): %d, want done", code)
	}
}

// (b) A read-only fixed topic under an open topic:* prefix: neither an encoded name, nor a doubled
// '/', nor a wsgate.v1 publish from another topic of the wildcard reaches it.
func TestTopicPolicyFixedUnderWildcard(t *testing.T) {
	g := startGateway(t, "-route", "/rooms/=topic:*", "-route", "/rooms/announce=topic:announce;publish=none")
	sub := upgradeRaw(t, g.Addr, "/rooms/announce", 0)

	// Encoded: it matches the fixed route now, and either way the topic is read-only.
	c := upgradeRaw(t, g.Addr, "/rooms/%61nnounce", 0)
	writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("encoded")})
	if r := c.ReadUntilClose(5 * time.Second); r.Code != 1008 {
		t.Errorf("publish from /rooms/%%61nnounce: %v, want close 1008", r)
	}
	// An empty segment is refused before routing.
	if _, resp := authRequest(t, g.Addr, "/rooms//announce"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/rooms//announce: %d, want 400", resp.StatusCode)
	}
	// wsgate.v1 from another topic of the wildcard: announce's policy applies.
	v := v1Upgrade(t, g.Addr, "/rooms/lobby")
	if code := v1Do(t, v, 1, `{"id":1,"publish":{"topic":"announce","data":"v1"}}`); code != http.StatusForbidden {
		t.Errorf("v1 publish to announce from /rooms/lobby: %d, want 403", code)
	}
	if code := v1Do(t, v, 2, `{"id":2,"publish":{"topic":"lobby","data":"ok"}}`); code != 0 {
		t.Errorf("v1 publish to its own open topic: %d, want done", code)
	}
	expectQuiet(t, sub, "after refused publishes to announce")
	if code := publishAPI(t, g.Admin, "announce", "", "official"); code != http.StatusAccepted {
		t.Fatalf("publish API: %d", code)
	}
	expectMessage(t, sub, "official")
}

// Dot segments and encoded separators never pick a route: `/public/../internal/secret` would match
// /public/ (no access control) and reach a backend that normalises it to /internal/secret, past
// /internal/'s auth=. They are refused with 400, as upgrades and as proxied requests.
func TestTopicPolicyDotSegments(t *testing.T) {
	g := startGateway(t, "-route", "/public/=backend:app", "-backend", "app=127.0.0.1:1",
		"-route", "/internal/=backend:app;auth=request:app/check", "-route", "/rooms/=topic:*")
	get := func(path string) int {
		c := dialRaw(t, g.Addr)
		if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: " + g.Addr + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		return readResponse(t, c, 5*time.Second).StatusCode
	}
	for _, path := range []string{"/public/../internal/secret", "/public/%2e%2e/internal/secret", "/public/%2E./internal/secret",
		"/public/..%2finternal/secret", "/public/.%2e%2Finternal", "/public/./x", "/public//x", "/public/x/.."} {
		if code := get(path); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", path, code)
		}
	}
	for _, path := range []string{"/rooms/../internal/x", "/rooms/%2e%2e", "/rooms/.", "/rooms//x"} {
		if _, resp := authRequest(t, g.Addr, path); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("upgrade %s: %d, want 400", path, resp.StatusCode)
		}
	}
	// A clean path still routes: the pool's answer (nothing listens there), the topic.
	if code := get("/public/x"); code == http.StatusBadRequest || code < 500 {
		t.Errorf("GET /public/x: %d, want the backend's 5xx", code)
	}
	upgradeRaw(t, g.Addr, "/rooms/lobby", 0)
}
