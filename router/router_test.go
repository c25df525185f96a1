package router

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/router/backend"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustRouter(t *testing.T, cfg Config) *Router {
	t.Helper()
	r, err := New(cfg, quiet())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// closedAddr is a loopback address nothing listens on: checks of it fail at once.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func upgrade(host, path string) *Request {
	return &Request{Host: host, Upgrade: true, Path: path}
}

func TestDecide(t *testing.T) {
	r := mustRouter(t, Config{
		Routes: []string{"/ws=topic:chat", "/rooms/=topic:*", "/api=backend:app", "/full=backend:one", "/queued=backend:q"},
		Backends: []string{
			"app=s1@127.0.0.1:3001,s2@127.0.0.1:3002;cookie=SRV",
			"one=127.0.0.1:3003;maxconn=1",
			"q=127.0.0.1:3004;maxconn=1;queue=4",
		},
	})
	cookies := func(v string) func(string) string {
		return func(name string) string {
			if name == "SRV" {
				return v
			}
			return ""
		}
	}
	type want struct {
		status    int
		reason    string
		topic     string
		pool      string
		server    string
		setCookie bool
		queue     bool
	}
	for _, tc := range []struct {
		name string
		req  *Request
		want want
	}{
		{"topic", upgrade("h", "/ws"), want{topic: "chat"}},
		{"wildcard topic", upgrade("h", "/rooms/lobby"), want{topic: "lobby"}},
		{"topic without upgrade", &Request{Path: "/ws"}, want{status: 426, reason: "this route only speaks WebSocket", topic: "chat"}},
		{"no route", upgrade("h", "/nope"), want{status: 404, reason: "no route for /nope"}},
		{"empty wildcard", upgrade("h", "/rooms/"), want{status: 404, reason: "no route for /rooms/"}},
		{"backend, no cookie: the balancer picks and the cookie is set",
			&Request{Path: "/api/x", Cookies: cookies("")},
			want{pool: "app", server: "s1", setCookie: true}},
		{"backend, cookie names s2: sticky, not set again",
			&Request{Path: "/api", Cookies: cookies("s2")},
			want{pool: "app", server: "s2"}},
		{"backend, unknown cookie: redispatched and set",
			&Request{Path: "/api", Cookies: cookies("s9")},
			want{pool: "app", server: "s2", setCookie: true}},
		{"backend upgrade", &Request{Upgrade: true, Path: "/api"}, want{pool: "app", server: "s1", setCookie: true}},
	} {
		d := r.Decide(tc.req)
		got := want{status: d.Status, reason: d.Reason, topic: d.Topic, setCookie: d.SetCookie, queue: d.Queue}
		if d.Pool != nil {
			got.pool = d.Pool.Name
		}
		if d.Server != nil {
			got.server = d.Server.Name
		}
		if got != tc.want {
			t.Errorf("%s: Decide = %+v, want %+v", tc.name, got, tc.want)
		}
	}

	// Every server at maxconn: 503 without a queue, Queue with one.
	for _, path := range []string{"/full", "/queued"} {
		d := r.Decide(&Request{Path: path})
		if d.Status != 0 || d.Server == nil || !d.Server.Acquire() {
			t.Fatalf("%s: first session not admitted: %+v", path, d)
		}
	}
	if d := r.Decide(&Request{Path: "/full"}); d.Status != http.StatusServiceUnavailable ||
		d.Reason != "pool one: all servers at maxconn" || d.Queue {
		t.Errorf("full pool without a queue: %d %q queue=%v", d.Status, d.Reason, d.Queue)
	}
	if d := r.Decide(&Request{Path: "/queued", SourceIP: "10.0.0.1"}); d.Status != 0 || !d.Queue ||
		d.Server != nil || d.Pick == nil || d.Pick.SourceIP != "10.0.0.1" {
		t.Errorf("full pool with a queue: %+v", d)
	}

	// The balancer sees the request: one header value, one server.
	h := mustRouter(t, Config{Routes: []string{"/=backend:h"}, Backends: []string{"h=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3;balance=hdr:X-User"}})
	for _, user := range []string{"ann", "bob", "cy"} {
		hdr := func(name string) string {
			if name == "x-user" {
				return user
			}
			return ""
		}
		first := h.Decide(&Request{Path: "/", Header: hdr}).Server
		for range 5 {
			if d := h.Decide(&Request{Path: "/", Header: hdr}); d.Server != first {
				t.Fatalf("user %s: %v then %v", user, first, d.Server)
			}
		}
	}

	// No server up: 503.
	for _, ref := range []string{"app/s1", "app/s2"} {
		if _, err := r.SetServerState(ref, "maint"); err != nil {
			t.Fatal(err)
		}
	}
	if d := r.Decide(&Request{Path: "/api"}); d.Status != http.StatusServiceUnavailable || d.Reason != "pool app: no server available" {
		t.Errorf("no server up: %d %q", d.Status, d.Reason)
	}
}

// Match leaves the pick to the caller, and refuses a route whose pool is
// missing (a configuration never has one: New refuses it; the check is a guard).
func TestSnapshotMatch(t *testing.T) {
	r := mustRouter(t, Config{Routes: []string{"/api=backend:app"}, Backends: []string{"app=127.0.0.1:1"}})
	d := r.Current().Match(&Request{Path: "/api"})
	if d.Status != 0 || d.Pool == nil || d.Pool.Name != "app" || d.Server != nil || d.Pick != nil {
		t.Errorf("Match = %+v, want pool app and no server", d)
	}
	table := mustTable(t, "/api=backend:gone")
	empty, _ := backend.NewRegistry(nil)
	s := &Snapshot{routes: table, pools: empty}
	if d := s.Decide(&Request{Path: "/api"}); d.Status != http.StatusServiceUnavailable || d.Reason != "no backend pool gone" {
		t.Errorf("route to a missing pool: %d %q", d.Status, d.Reason)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // the error's lines, in order
	}{
		{"route to no pool", Config{Routes: []string{"/api=backend:app"}},
			[]string{`-route "/api=backend:app": no -backend named "app"`}},
		{"route to a broken pool: the pool's error only", Config{Routes: []string{"/api=backend:app"}, Backends: []string{"app=h:x"}},
			[]string{`-backend: backend "app": server "h:x": address "h:x": port "x": want 1-65535`}},
		{"duplicate route", Config{Routes: []string{"/a=topic:x", "/a=topic:y"}},
			[]string{`-route: duplicate route: "/a=topic:x" and "/a=topic:y"`}},
		{"duplicate pool", Config{Backends: []string{"app=h:1", "app=h:2"}},
			[]string{`-backend: backend "app": defined twice`}},
		{"drain of an unknown server", Config{Backends: []string{"app=h:1"}, Drain: []string{"app/s9", "web/s1", "app"}},
			[]string{`-drain: server "app/s9": backend "app" has no server "s9"`, `-drain: server "web/s1": no backend "web"`, `-drain: server "app": want POOL/SERVER`}},
		{"unknown route option", Config{Routes: []string{"/ws=topic:chat;grip=1"}},
			[]string{`-route: route "/ws=topic:chat;grip=1": unknown option "grip" (want origins, publish, auth or auth-cache)`}},
		{"unknown pool option", Config{Backends: []string{"app=h:1;retries=3"}},
			[]string{`-backend: backend "app": unknown option "retries" (want balance, cookie, check, inter, rise, fall, maxconn, queue, connect-timeout, server-timeout, tunnel-timeout or grip)`}},
		{"every problem", Config{Routes: []string{"ws=topic:chat", "/api=backend:app"}, Backends: []string{"web=h:1;balance=random"}},
			[]string{`-route: route "ws=topic:chat": path prefix must start with /`,
				`-backend: backend "web": balance "random": unknown method (want roundrobin, leastconn, source, uri, hdr:NAME or query:NAME)`,
				`-route "/api=backend:app": no -backend named "app"`}},
	} {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("%s: valid, want %q", tc.name, tc.want)
			continue
		}
		if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got  %q\n want %q", tc.name, got, tc.want)
		}
		if _, err := New(tc.cfg, quiet()); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	if err := (&Config{Routes: []string{"/ws=topic:chat;"}}).Validate(); err != nil {
		t.Errorf("valid configuration: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	c := Config{
		Routes:       []string{"/ws=topic:chat", "/api=backend:app"},
		Backends:     []string{"app=127.0.0.1:1*2;cookie=S"},
		PoolDefaults: PoolOptions{Balance: "leastconn"},
	}
	pools, routes := c.Describe()
	if want := []string{"app=s1@127.0.0.1:1*2;balance=leastconn;cookie=S;check=none;inter=2s;rise=2;fall=3;maxconn=0;connect-timeout=5s;server-timeout=30s;tunnel-timeout=1h0m0s"}; !slices.Equal(pools, want) {
		t.Errorf("pools %q, want %q", pools, want)
	}
	if !slices.Equal(routes, c.Routes) {
		t.Errorf("routes %q, want them in flag order as given", routes)
	}
}

func TestReloadRoutes(t *testing.T) {
	r := mustRouter(t, Config{Routes: []string{"/a=topic:x"}})
	before := r.Current()
	res, err := r.Reload(Config{Routes: []string{"/b=topic:y", "/c/=topic:*"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Routes != 2 || res.Pools != 0 {
		t.Errorf("Reloaded %+v", res)
	}
	if d := r.Decide(upgrade("h", "/a")); d.Status != http.StatusNotFound {
		t.Errorf("/a after the reload: %+v", d)
	}
	if d := r.Decide(upgrade("h", "/b")); d.Status != 0 || d.Topic != "y" {
		t.Errorf("/b after the reload: %+v", d)
	}
	// A request that loaded the routing before the swap finishes with it.
	if d := before.Decide(upgrade("h", "/a")); d.Status != 0 || d.Topic != "x" {
		t.Errorf("the previous snapshot changed: %+v", d)
	}
	if got := r.Config().Routes; !slices.Equal(got, []string{"/b=topic:y", "/c/=topic:*"}) {
		t.Errorf("Config().Routes = %q", got)
	}

	// A bad configuration is refused and the running one stays.
	if _, err := r.Reload(Config{Routes: []string{"/b=topic:y", "/api=backend:nope"}}); err == nil ||
		err.Error() != `-route "/api=backend:nope": no -backend named "nope"` {
		t.Errorf("bad reload: %v", err)
	}
	if d := r.Decide(upgrade("h", "/b")); d.Status != 0 || len(r.Current().Routes()) != 2 {
		t.Errorf("the refused reload changed the routing: %+v", d)
	}
}

func TestReloadPools(t *testing.T) {
	r := mustRouter(t, Config{
		Routes:   []string{"/a=backend:app", "/w=backend:web", "/o=backend:old"},
		Backends: []string{"app=s1@127.0.0.1:1,s2@127.0.0.1:2", "web=127.0.0.1:3", "old=127.0.0.1:4"},
		Drain:    []string{"web/s1"},
	})
	cur := r.Current().Pools()
	app, web, old := cur.Pool("app"), cur.Pool("web"), cur.Pool("old")
	if web.Servers[0].State() != backend.Drain {
		t.Fatalf("-drain web/s1 at start: %v", web.Servers[0].State())
	}
	if _, err := r.SetServerState("app/s1", "maint"); err != nil {
		t.Fatal(err)
	}
	oldS1, oldS2 := app.Server("s1"), app.Server("s2")
	oldS1.AddBytesIn(10)

	res, err := r.Reload(Config{
		Routes: []string{"/a=backend:app", "/w=backend:web", "/n=backend:new"},
		// app: s2 moves to another address, s3 is new; web is unchanged but
		// written differently; old is gone; new is new.
		Backends: []string{"app=s1@127.0.0.1:1,s2@127.0.0.1:20,s3@127.0.0.1:30", "web=s1@127.0.0.1:3;", "new=127.0.0.1:5"},
		Drain:    []string{"web/s1", "new/s1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Added, []string{"new"}) || !slices.Equal(res.Changed, []string{"app"}) ||
		!slices.Equal(res.Removed, []string{"old"}) || !slices.Equal(res.Kept, []string{"web"}) || res.Pools != 3 {
		t.Errorf("Reloaded %+v", res)
	}
	cur = r.Current().Pools()
	if cur.Pool("web") != web {
		t.Error("the unchanged pool web was rebuilt")
	}
	if cur.Pool("old") != nil || cur.Pool("new") == nil || cur.Pool("app") == app {
		t.Error("pools after the reload: old still there, new missing, or app not rebuilt")
	}
	napp := cur.Pool("app")
	if s1 := napp.Server("s1"); s1 == oldS1 || s1.State() != backend.Maint || s1.BytesIn() != 10 {
		t.Errorf("app/s1 (same address) should carry its state over: %v, %d bytes in", s1.State(), s1.BytesIn())
	}
	if s := napp.Server("s2"); s.State() != backend.Up {
		t.Errorf("app/s2 at its new address: %v, want a fresh UP server", s.State())
	}
	if oldS2.State() != backend.Drain {
		t.Errorf("app/s2 at its old address: %v, want DRAIN (its sessions go on, no new ones)", oldS2.State())
	}
	if old.Servers[0].State() != backend.Drain {
		t.Errorf("the removed pool's server: %v, want DRAIN", old.Servers[0].State())
	}
	if web.Servers[0].State() != backend.Drain || cur.Pool("new").Servers[0].State() != backend.Drain {
		t.Error("-drain on reload not applied")
	}
	if d := r.Decide(&Request{Path: "/o"}); d.Status != http.StatusNotFound {
		t.Errorf("route to the removed pool: %+v", d)
	}
}

// Health checks run per pool: a reload starts them for new and changed
// pools, stops them for removed and changed ones, and leaves an unchanged
// pool's checks running (its servers' rise/fall counters go on).
func TestReloadHealthChecks(t *testing.T) {
	dead := closedAddr(t)
	r := mustRouter(t, Config{
		Backends: []string{"a=" + dead + ";check=tcp;inter=50ms;fall=1", "b=127.0.0.1:1", "c=127.0.0.1:2"},
	})
	pools := r.Current().Pools()
	a, b, c := pools.Pool("a"), pools.Pool("b"), pools.Pool("c")
	checkOf := func(p *backend.Pool) *check {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.checks[p]
	}
	ca, cb, cc := checkOf(a), checkOf(b), checkOf(c)
	if ca == nil || cb == nil || cc == nil || ca.stop != nil {
		t.Fatal("checks should exist for every pool and wait for Start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	if ca.stop == nil || cb.stop == nil {
		t.Fatal("Start did not start the checks")
	}
	waitState(t, a.Servers[0], backend.Down)

	res, err := r.Reload(Config{
		Backends: []string{"a=" + dead + ";check=tcp;inter=50ms;fall=1", "b=127.0.0.1:1*2", "d=127.0.0.1:3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Kept, []string{"a"}) || !slices.Equal(res.Changed, []string{"b"}) ||
		!slices.Equal(res.Added, []string{"d"}) || !slices.Equal(res.Removed, []string{"c"}) {
		t.Fatalf("Reloaded %+v", res)
	}
	pools = r.Current().Pools()
	if pools.Pool("a") != a || checkOf(a) != ca {
		t.Error("the unchanged pool a lost its pool or its checks")
	}
	if a.Servers[0].State() != backend.Down {
		t.Error("the unchanged pool's server came back up without a check")
	}
	for _, gone := range []*check{cb, cc} {
		select {
		case <-gone.done:
		case <-time.After(2 * time.Second):
			t.Error("the checks of a replaced or removed pool still run")
		}
	}
	select {
	case <-ca.done:
		t.Error("the checks of the unchanged pool stopped")
	default:
	}
	for _, name := range []string{"b", "d"} {
		if c := checkOf(pools.Pool(name)); c == nil || c.stop == nil {
			t.Errorf("pool %s: checks not started after the reload", name)
		}
	}
	if checkOf(b) != nil || checkOf(c) != nil {
		t.Error("checks of replaced pools are still tracked")
	}

	// Ending Start's context stops every check.
	cancel()
	for _, name := range []string{"a", "b", "d"} {
		select {
		case <-checkOf(pools.Pool(name)).done:
		case <-time.After(2 * time.Second):
			t.Errorf("pool %s: checks still run after the context ended", name)
		}
	}
}

func waitState(t *testing.T, s *backend.Server, want backend.State) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("server %s: %v, want %v", s, s.State(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSetServerState(t *testing.T) {
	r := mustRouter(t, Config{Backends: []string{"app=127.0.0.1:1"}})
	for _, tc := range []struct {
		ref, state string
		want       ServerState
		err        string
	}{
		{"app/s1", "drain", ServerDrain, ""},
		{"app/s1", "maint", ServerMaint, ""},
		{"app/s1", "ready", ServerUp, ""},
		{"app/s1", "off", 0, "state must be drain, maint or ready"},
		{"app/s9", "drain", 0, `server "app/s9": backend "app" has no server "s9"`},
		{"app", "drain", 0, `server "app": want POOL/SERVER`},
	} {
		st, err := r.SetServerState(tc.ref, tc.state)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s %s: %v, want %s", tc.ref, tc.state, err, tc.err)
			}
			continue
		}
		if err != nil || st.State != tc.want || st.Pool != "app" || st.Name != "s1" {
			t.Errorf("%s %s: %+v %v", tc.ref, tc.state, st, err)
		}
	}
	if ps := r.Current().PoolStats(); len(ps) != 1 || ps[0].Name != "app" || ps[0].Up != 1 || len(ps[0].Servers) != 1 {
		t.Errorf("PoolStats %+v", ps)
	}
}
