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

func TestParseRouteErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"/ws",
		"ws=topic:chat",
		"/ws=queue:chat",
		"/ws=topic:",
		"/ws=topic:a/b",
		"/w s=topic:a",
		"/ws?x=topic:a",
	} {
		if _, err := ParseRoute(s); err == nil {
			t.Errorf("ParseRoute(%q) accepted", s)
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
