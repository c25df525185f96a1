package router

import "testing"

// Broadcasts decides whether cmd/wsgate keeps a spare scheduler P: a topic
// route or a route to a GRIP pool can deliver broadcasts, plain backend
// routes cannot.
func TestConfigBroadcasts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		routes   []string
		backends []string
		want     bool
	}{
		{"topic route", []string{"/ws=topic:chat"}, nil, true},
		{"wildcard topic", []string{"/t/=topic:*"}, nil, true},
		{"backend only", []string{"/=backend:echo"}, []string{"echo=127.0.0.1:9001"}, false},
		{"grip pool", []string{"/=backend:g"}, []string{"g=127.0.0.1:9001;grip"}, true},
		{"backend and topic", []string{"/ws=topic:chat", "/=backend:echo"}, []string{"echo=127.0.0.1:9001"}, true},
		{"no routes", nil, nil, false},
	} {
		c := Config{Routes: tc.routes, Backends: tc.backends}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.Broadcasts(); got != tc.want {
			t.Errorf("%s: Broadcasts() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
