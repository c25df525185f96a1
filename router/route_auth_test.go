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
