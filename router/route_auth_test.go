package router

import "testing"

// TestRouteAccessOptions: publish= and auth= (issue 13) parse into the route.
func TestRouteAccessOptions(t *testing.T) {
	for _, tc := range []struct {
		spec      string
		publish   PublishMode
		auth      AuthMode
		pool, pth string
	}{
		{"/ws=topic:chat", PublishClients, AuthNone, "", ""},
		{"/rooms/=topic:*;publish=none;auth=jwt", PublishNone, AuthJWT, "", ""},
		{"/ws=topic:chat;publish=clients;auth=none", PublishClients, AuthNone, "", ""},
		{"/api=backend:app;auth=jwt", PublishClients, AuthJWT, "", ""},
		{"/ws=topic:chat;auth=request:authpool/check/session", PublishClients, AuthRequest, "authpool", "/check/session"},
		{"/ws=topic:chat;auth=request:authpool/", PublishClients, AuthRequest, "authpool", "/"},
	} {
		r, err := ParseRoute(tc.spec)
		if err != nil {
			t.Errorf("ParseRoute(%q): %v", tc.spec, err)
			continue
		}
		if r.Publish != tc.publish || r.Auth != tc.auth || r.AuthPool != tc.pool || r.AuthPath != tc.pth {
			t.Errorf("ParseRoute(%q) = publish %d auth %d %q %q", tc.spec, r.Publish, r.Auth, r.AuthPool, r.AuthPath)
		}
	}
}

func TestRouteAccessOptionErrors(t *testing.T) {
	for _, tc := range []struct{ spec, err string }{
		{"/api=backend:app;publish=none", `route "/api=backend:app;publish=none": publish=none: only a topic route has publishers (a backend route proxies both directions)`},
		{"/ws=topic:chat;auth=basic", `route "/ws=topic:chat;auth=basic": auth=basic: want none, jwt or request:POOL/PATH`},
		{"/ws=topic:chat;auth=request:pool", `route "/ws=topic:chat;auth=request:pool": auth=request:pool: want request:POOL/PATH`},
		{"/ws=topic:chat;auth=request:/x", `route "/ws=topic:chat;auth=request:/x": auth=request:/x: want request:POOL/PATH`},
		{"/ws=topic:chat;auth=jwt;auth=none", `route "/ws=topic:chat;auth=jwt;auth=none": option "auth" given twice`},
		{"/ws=topic:chat;publish", `route "/ws=topic:chat;publish": option "publish": want publish=VALUE`},
	} {
		_, err := ParseRoute(tc.spec)
		if err == nil || err.Error() != tc.err {
			t.Errorf("ParseRoute(%q):\n got  %v\n want %s", tc.spec, err, tc.err)
		}
	}
}

// TestRouteAuthCache: auth-cache= belongs with auth=request, in any order.
func TestRouteAuthCache(t *testing.T) {
	r, err := ParseRoute("/live/=topic:*;auth-cache=30s;auth=request:authz/check")
	if err != nil || r.AuthCache.String() != "30s" || r.AuthPool != "authz" || r.AuthPath != "/check" {
		t.Fatalf("got %+v %v", r, err)
	}
	for _, spec := range []string{"/ws=topic:chat;auth-cache=30s", "/ws=topic:chat;auth=jwt;auth-cache=1m",
		"/ws=topic:chat;auth=request:a/x;auth-cache=0s", "/ws=topic:chat;auth=request:a/x;auth-cache=soon",
		"/ws=topic:chat;auth=request:a/x y", "/ws=topic:chat;auth=request:a/x#y"} {
		if _, err := ParseRoute(spec); err == nil {
			t.Errorf("ParseRoute(%q): no error", spec)
		}
	}
}

// TestValidateAuthPool: an auth=request route must name an existing pool.
func TestValidateAuthPool(t *testing.T) {
	ok := Config{Routes: []string{"/ws=topic:chat;auth=request:authz/check"}, Backends: []string{"authz=127.0.0.1:1"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid: %v", err)
	}
	bad := Config{Routes: []string{"/ws=topic:chat;auth=request:nope/check"}, Backends: []string{"authz=127.0.0.1:1"}}
	if err := bad.Validate(); err == nil || err.Error() != `-route "/ws=topic:chat;auth=request:nope/check": auth=request: no -backend named "nope"` {
		t.Errorf("missing pool: %v", err)
	}
}
