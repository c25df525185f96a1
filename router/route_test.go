package router

import "testing"

func mustTable(t *testing.T, specs ...string) *Table {
	t.Helper()
	var rs []Route
	for _, s := range specs {
		r, err := ParseRoute(s)
		if err != nil {
			t.Fatalf("ParseRoute(%q): %v", s, err)
		}
		rs = append(rs, r)
	}
	tb, err := NewTable(rs)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestMatch(t *testing.T) {
	tb := mustTable(t,
		"/=backend:app",
		"/ws=topic:chat",
		"/rooms/=topic:*",
		"Chat.Example.com/ws=topic:vip",
		"/ws/admin=backend:admin",
	)
	cases := []struct {
		host, path  string
		spec, topic string
		wantNoMatch bool
	}{
		{"localhost:8080", "/ws", "/ws=topic:chat", "chat", false},
		{"localhost", "/ws/sub", "/ws=topic:chat", "chat", false},
		{"localhost", "/wsx", "/=backend:app", "", false},
		{"chat.example.com:443", "/ws", "Chat.Example.com/ws=topic:vip", "vip", false},
		{"CHAT.EXAMPLE.COM", "/ws/x", "Chat.Example.com/ws=topic:vip", "vip", false},
		{"other", "/ws/admin/x", "/ws/admin=backend:admin", "", false},
		{"other", "/rooms/lobby", "/rooms/=topic:*", "lobby", false},
		{"other", "/rooms/lobby/", "/rooms/=topic:*", "lobby", false},
		{"other", "/rooms/", "", "", true},
		{"[::1]:80", "/", "/=backend:app", "", false},
	}
	for _, c := range cases {
		r, topic, ok := tb.Match(c.host, c.path)
		if ok == c.wantNoMatch {
			t.Errorf("Match(%q, %q) ok=%v, want %v", c.host, c.path, ok, !c.wantNoMatch)
			continue
		}
		if r.Spec != c.spec || topic != c.topic {
			t.Errorf("Match(%q, %q) = %q topic %q, want %q topic %q", c.host, c.path, r.Spec, topic, c.spec, c.topic)
		}
	}
}

func TestNoCatchAll(t *testing.T) {
	tb := mustTable(t, "/ws=topic:chat")
	if _, _, ok := tb.Match("h", "/nope"); ok {
		t.Fatal("/nope matched without a catch-all route")
	}
}

// TestParseRouteErrors is the table `wsgate -check` relies on: each broken
// -route value and the exact error it gives.
func TestParseRouteErrors(t *testing.T) {
	for _, tc := range []struct{ spec, err string }{
		{"", `route "": want [HOST]PATH_PREFIX=topic:NAME or backend:POOL`},
		{"/ws", `route "/ws": want [HOST]PATH_PREFIX=topic:NAME or backend:POOL`},
		{"ws=topic:chat", `route "ws=topic:chat": path prefix must start with /`},
		{"/ws=queue:chat", `route "/ws=queue:chat": unknown target kind "queue" (want topic or backend)`},
		{"/ws=topic:", `route "/ws=topic:": target "topic:": want topic:NAME or backend:POOL`},
		{"/ws=topic:;x=1", `route "/ws=topic:;x=1": target "topic:": want topic:NAME or backend:POOL`},
		{"/ws=topic:a/b", `route "/ws=topic:a/b": name "a/b" must not contain '/' or spaces`},
		{"/w s=topic:a", `route "/w s=topic:a": path prefix "/w s" must not contain '?', '#' or spaces`},
		{"/ws?x=topic:a", `route "/ws?x=topic:a": path prefix "/ws?x" must not contain '?', '#' or spaces`},
		// Options: the grammar of router/spec (route_auth_test.go has publish= and auth=).
		{"/ws=topic:chat;publish=yes", `route "/ws=topic:chat;publish=yes": publish=yes: want clients or none`},
		{"/api=backend:app;grip", `route "/api=backend:app;grip": unknown option "grip" (want origins, publish, auth or auth-cache)`},
		{"/api=backend:app;origins", `route "/api=backend:app;origins": option "origins": want origins=VALUE`},
		{"/api=backend:app;origins=a||b", `route "/api=backend:app;origins=a||b": origins=a||b: want any, or Origin values separated by '|'`},
		{"/api=backend:app;origins=a,b", `route "/api=backend:app;origins=a,b": origins=a,b: want any, or Origin values separated by '|'`},
		{"/api=backend:app;=x", `route "/api=backend:app;=x": option "=x": missing key before '='`},
		{"/api=backend:app;auth=", `route "/api=backend:app;auth=": option "auth=": want auth=VALUE`},
		{"/api=backend:app;a b", `route "/api=backend:app;a b": option "a b": want key=value or a bare key`},
	} {
		_, err := ParseRoute(tc.spec)
		if err == nil || err.Error() != tc.err {
			t.Errorf("ParseRoute(%q):\n got  %v\n want %s", tc.spec, err, tc.err)
		}
	}
}

func TestParseRouteOptionsSyntax(t *testing.T) {
	// Empty option items are tolerated, like in -backend; the target ends at the first ';'.
	for _, s := range []string{"/ws=topic:chat;", "/ws=topic:chat;;"} {
		r, err := ParseRoute(s)
		if err != nil || r.Name != "chat" || r.Kind != TargetTopic || r.Spec != s {
			t.Errorf("ParseRoute(%q) = %+v, %v", s, r, err)
		}
	}
}

func TestDuplicateRoute(t *testing.T) {
	a, _ := ParseRoute("/ws=topic:a")
	b, _ := ParseRoute("/ws=topic:b")
	if _, err := NewTable([]Route{a, b}); err == nil {
		t.Fatal("duplicate routes accepted")
	}
}

// TestRouteOrigins is issue 11 item 11: origins= overrides -origins per
// route, for topic and backend routes alike.
func TestRouteOrigins(t *testing.T) {
	global := []string{"https://app.example"}
	for _, tc := range []struct {
		spec, origin string
		global       []string
		ok           bool
	}{
		{"/ws=backend:app", "https://app.example", global, true},
		{"/ws=backend:app", "HTTPS://APP.example", global, true},
		{"/ws=backend:app", "https://evil.example", global, false},
		{"/ws=backend:app", "", global, true},
		{"/ws=backend:app", "https://evil.example", nil, true},
		{"/ws=backend:app;origins=any", "https://evil.example", global, true},
		{"/ws=topic:chat;origins=https://a.example|https://b.example", "https://b.example", global, true},
		{"/ws=topic:chat;origins=https://a.example|https://b.example", "https://app.example", global, false},
		{"/ws=topic:chat;origins=https://a.example", "https://evil.example", nil, false},
	} {
		r, err := ParseRoute(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AllowsOrigin(tc.origin, tc.global); got != tc.ok {
			t.Errorf("%s, Origin %q, -origins %q: allowed %v, want %v", tc.spec, tc.origin, tc.global, got, tc.ok)
		}
	}
}
