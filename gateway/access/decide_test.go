package access

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/router/auth"
)

var jwtRoutes = []string{
	"/rooms/=topic:news;auth=jwt;publish=none",
	"/api/=backend:app;auth=jwt",
	"/ro/=topic:ro;publish=none",
	"/open/=topic:open",
}

// TestDecideJWT: where the token is read from, each refusal's status,
// challenge, reason and metric, and what an accepted token grants.
func TestDecideJWT(t *testing.T) {
	f := newFixture(t, jwtConfig(30*time.Second, 0), jwtRoutes, []string{"app=s1@127.0.0.1:1"})
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	news := token(t, claims("alice", "topics", []string{"news"}, "exp", exp.Unix()))
	pub := token(t, claims("bob", "topics", []string{"news"}, "publish", []string{"news"}))
	other := token(t, claims("carol", "topics", []string{"sport"}))
	expired := token(t, claims("dave", "topics", []string{"news"}, "exp", time.Now().Add(-time.Hour).Unix()))

	// The challenges spelled out (RFC 6750 3): clients and the e2e tests match them.
	const (
		missing    = `Bearer realm="wsgate"`
		invalid    = `Bearer realm="wsgate", error="invalid_token"`
		expiredTok = `Bearer realm="wsgate", error="invalid_token", error_description="token expired"`
		scope      = `Bearer realm="wsgate", error="insufficient_scope"`
	)
	refusals := []struct {
		name, head        string
		status            int
		challenge, reason string
		metric            string
	}{
		{"no token", upgrade("/rooms/news", ""), 401, missing, "missing token", "missing"},
		{"garbage", upgrade("/rooms/news?token=abc", ""), 401, invalid, "invalid token", "invalid"},
		{"expired", upgrade("/rooms/news?token="+expired, ""), 401, expiredTok, "expired token", "expired"},
		{"header and query differ", upgrade("/rooms/news?token="+pub, "Authorization: Bearer "+news+"\r\n"), 401, invalid, "invalid token", "invalid"},
		{"other topic", upgrade("/rooms/news?token="+other, ""), 403, scope, "does not grant topic news", "forbidden"},
		{"undecodable name", upgrade("/rooms/news?%zzoken="+news, ""), 400, "", "undecodable query parameter name", "invalid"},
	}
	for _, c := range refusals {
		before := f.count(t, "wsgate_auth_refusals_total", c.metric)
		refused(t, c.name, f.decide(t, c.head), c.status, c.challenge, c.reason)
		if got := f.count(t, "wsgate_auth_refusals_total", c.metric); got != before+1 {
			t.Errorf("%s: refusals{%s} %v -> %v, want one more", c.name, c.metric, before, got)
		}
	}

	for _, c := range []struct {
		name, head string
		noPub      bool
	}{
		{"query", upgrade("/rooms/news?token="+news, ""), true},
		{"encoded name", upgrade("/rooms/news?%74oken="+news, ""), true},
		{"header", upgrade("/rooms/news", "Authorization: Bearer "+news+"\r\n"), true},
		{"cookie", upgrade("/rooms/news", "Cookie: a=1; jwt="+news+"\r\n"), true},
		{"publish claim", upgrade("/rooms/news?token="+pub, ""), false},
	} {
		d := f.decide(t, c.head)
		if d.Verdict != Allow || d.NoPub != c.noPub || d.Claims == nil || d.Sub != nil {
			t.Errorf("%s: %+v, want Allow, NoPub %v, the claims", c.name, d, c.noPub)
		}
	}
	d := f.decide(t, upgrade("/rooms/news?token="+news, ""))
	if want := exp.Add(30 * time.Second); !d.Expires.Equal(want) {
		t.Errorf("Expires %v, want the token's exp plus the grace, %v", d.Expires, want)
	}
	if d.Claims.Subject != "alice" || !d.Claims.MaySubscribe("news") {
		t.Errorf("claims %+v", d.Claims)
	}
}

// TestDecideJWTBackendRoute: on a backend route the token is verified, then
// cut from the target the server gets (the encoded name too).
func TestDecideJWTBackendRoute(t *testing.T) {
	f := newFixture(t, jwtConfig(0, 0), jwtRoutes, []string{"app=s1@127.0.0.1:1"})
	tok := token(t, claims("alice"))
	q := f.request(t, "GET /api/x?a=1&token="+tok+"&%74oken=x&b=2 HTTP/1.1\r\nHost: h\r\n\r\n")
	q.Head.Headers = append(q.Head.Headers, q.Head.Headers[0]) // untouched: only the target changes
	d := q.decide(f.a)
	if d.Verdict != Allow || d.Claims != nil || d.Expires.IsZero() || d.User != nil {
		t.Fatalf("%+v, want Allow, no claims kept (no topic), an expiry, no user count (not an upgrade)", d)
	}
	if q.Head.URI != "/api/x?a=1&b=2" || q.Head.Target != q.Head.URI || q.Head.RawQuery != "a=1&b=2" {
		t.Errorf("forwarded target %q (Target %q, RawQuery %q), want the token cut", q.Head.URI, q.Head.Target, q.Head.RawQuery)
	}
	// Refused, the target is left as it came (nothing is forwarded).
	q = f.request(t, "GET /api/x?token=bad HTTP/1.1\r\nHost: h\r\n\r\n")
	if d := q.decide(f.a); d.Verdict != Refuse || q.Head.URI != "/api/x?token=bad" {
		t.Errorf("refused request: %+v, URI %q", d, q.Head.URI)
	}
}

// TestDecideOpenRoutes: routes without auth= only say whether the client
// may publish; auth=jwt without keys (refused by -check) fails closed.
func TestDecideOpenRoutes(t *testing.T) {
	f := newFixture(t, auth.Config{}, jwtRoutes, []string{"app=s1@127.0.0.1:1"})
	if d := f.decide(t, upgrade("/ro/", "")); d.Verdict != Allow || !d.NoPub || !d.Expires.IsZero() || d.Claims != nil {
		t.Errorf("publish=none route: %+v", d)
	}
	if d := f.decide(t, upgrade("/open/", "")); d.Verdict != Allow || d.NoPub {
		t.Errorf("open route: %+v", d)
	}
	refused(t, "auth=jwt without keys", f.decide(t, upgrade("/rooms/news?token=x", "")), 503, "", "access control is not available")
	if got := f.count(t, "wsgate_auth_refusals_total", "auth_backend_error"); got != 1 {
		t.Errorf("auth_backend_error %v, want 1", got)
	}
}

// TestMaxConnsPerUser: -max-conns-per-user counts upgrades by sub; a
// connection holding a count is not counted twice; Release gives it back;
// the stats list the busiest users first.
func TestMaxConnsPerUser(t *testing.T) {
	f := newFixture(t, jwtConfig(0, 2), jwtRoutes, []string{"app=s1@127.0.0.1:1"})
	alice := upgrade("/rooms/news?token="+token(t, claims("alice", "topics", []string{"*"})), "")
	bob := upgrade("/rooms/news?token="+token(t, claims("bob", "topics", []string{"*"})), "")
	var held []*User
	for range 2 {
		d := f.decide(t, alice)
		if d.Verdict != Allow || d.User == nil {
			t.Fatalf("alice: %+v, want Allow with a user count", d)
		}
		held = append(held, d.User)
	}
	refused(t, "alice's third", f.decide(t, alice), 429, "", "too many connections for this user")
	if got := f.count(t, "wsgate_auth_refusals_total", "user_limit"); got != 1 {
		t.Errorf("user_limit refusals %v, want 1", got)
	}
	// A token naming no one cannot be held to the limit: refused, counted.
	nobody := claims("", "topics", []string{"*"})
	delete(nobody, "sub")
	refused(t, "a token without sub", f.decide(t, upgrade("/rooms/news?token="+token(t, nobody), "")), 401, challengeNoSubject, "no sub claim")
	if got := f.count(t, "wsgate_auth_refusals_total", "no_subject"); got != 1 {
		t.Errorf("no_subject refusals %v, want 1", got)
	}
	q := f.request(t, alice)
	q.User = held[0] // a connection that already counts: not counted again
	if d := q.decide(f.a); d.Verdict != Allow || d.User != nil {
		t.Errorf("a connection holding a count: %+v", d)
	}
	b := f.decide(t, bob)
	if got := f.a.Users(0); len(got) != 2 || got[0].Sub != "alice" || got[0].Connections != 2 || got[1].Sub != "bob" || got[1].Connections != 1 {
		t.Errorf("Users(0) = %+v", got)
	}
	if got := f.a.Users(1); len(got) != 1 || got[0].Sub != "alice" {
		t.Errorf("Users(1) = %+v", got)
	}
	f.a.Release(&held[0])
	if held[0] != nil {
		t.Error("Release left the pointer set")
	}
	f.a.Release(&held[0]) // a second close: nothing to give back
	if d := f.decide(t, alice); d.Verdict != Allow || d.User != held[1] {
		t.Errorf("after a release: %+v, want Allow with alice's count", d)
	}
	f.a.Release(&b.User)
	if got := f.a.Users(0); len(got) != 1 || got[0].Sub != "alice" {
		t.Errorf("bob released: Users = %+v", got)
	}
}

// TestNoSubjectWithoutUserLimit: without -max-conns-per-user a token needs
// no sub (nothing is counted per user).
func TestNoSubjectWithoutUserLimit(t *testing.T) {
	f := newFixture(t, jwtConfig(0, 0), jwtRoutes, []string{"app=s1@127.0.0.1:1"})
	nobody := claims("", "topics", []string{"*"})
	delete(nobody, "sub")
	if d := f.decide(t, upgrade("/rooms/news?token="+token(t, nobody), "")); d.Verdict != Allow || d.User != nil {
		t.Errorf("sub-less token without a user limit: %+v, want Allow with no user count", d)
	}
}

// TestAppendChallenge: a refusal with a challenge as the client reads it.
func TestAppendChallenge(t *testing.T) {
	d := refuse(401, challengeExpired, "expired token")
	got := string(d.AppendChallenge([]byte("x")))
	for _, want := range []string{"xHTTP/1.1 401 ", "\r\nConnection: close\r\n", "\r\nContent-Type: text/plain; charset=utf-8\r\n",
		"\r\nWWW-Authenticate: " + challengeExpired + "\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("answer %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\r\n\r\nexpired token\n") {
		t.Errorf("answer %q: want the reason as the body", got)
	}
}

// TestMayPublish: the publish API takes a bearer JWT whose publish claim
// names the topic.
func TestMayPublish(t *testing.T) {
	f := newFixture(t, jwtConfig(0, 0), jwtRoutes, []string{"app=s1@127.0.0.1:1"})
	tok := token(t, claims("svc", "publish", []string{"news", "chat.*"}))
	req := func(authz string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/publish/news", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		return r
	}
	for _, c := range []struct {
		authz, topic string
		may          bool
	}{
		{"Bearer " + tok, "news", true},
		{"Bearer " + tok, "chat.room1", true},
		{"Bearer " + tok, "sport", false},
		{"Bearer nope", "news", false},
		{"", "news", false},
	} {
		if got := f.a.MayPublish(req(c.authz), c.topic); got != c.may {
			t.Errorf("MayPublish(%.20q, %s) = %v", c.authz, c.topic, got)
		}
	}
	if got := f.count(t, "wsgate_auth_refusals_total", "publish_denied"); got != 1 {
		t.Errorf("publish_denied %v, want 1 (the token that does not name the topic)", got)
	}
	if off := newFixture(t, auth.Config{}, nil, nil); off.a.MayPublish(req("Bearer "+tok), "news") {
		t.Error("without keys a token is not checked, so not accepted")
	}
}
