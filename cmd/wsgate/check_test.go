package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCheckErrors is the table of broken configurations and the exact error
// each must give (like nats-server's config_check_test.go).
func TestCheckErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string // every line must appear in stderr
	}{
		{[]string{"-route", "ws=topic:chat"}, []string{`[ALERT] -route: route "ws=topic:chat": path prefix must start with /`}},
		{[]string{"-route", "/ws=queue:x"}, []string{`[ALERT] -route: route "/ws=queue:x": unknown target kind "queue" (want topic or backend)`}},
		{[]string{"-route", "/a=topic:x", "-route", "/a=topic:y"}, []string{`[ALERT] -route: duplicate route: "/a=topic:x" and "/a=topic:y"`}},
		{[]string{"-route", "/api=backend:app"}, []string{`[ALERT] -route "/api=backend:app": no -backend named "app"`}},
		{[]string{"-ping-interval", "2m"}, []string{`[ALERT] -ping-interval: 2m0s must be shorter than -idle-timeout 1m0s, or idle peers are closed before they are pinged`}},
		{[]string{"-max-outbound", "10", "-max-message-bytes", "1000"}, []string{`[ALERT] -max-outbound: 10 must be at least -max-message-bytes 1000, or one message closes every subscriber`}},
		{[]string{"-handshake-timeout", "1ms"}, []string{`[ALERT] -handshake-timeout: 1ms is below the timer granularity 100ms`}},
		{[]string{"-log-level", "loud"}, []string{`[ALERT] -log-level: "loud": want debug, info, warn or error`}},
		{[]string{"-backend", "app=127.0.0.1:1;balance=random"}, []string{`[ALERT] -backend: `, `balance`}},
		{[]string{"-drain", "app/s9", "-backend", "app=127.0.0.1:1"}, []string{`[ALERT] -drain: server "app/s9": backend "app" has no server "s9"`}},
		// Route and pool options share one grammar (;key=value or a bare ;key): unknown or malformed ones are named.
		{[]string{"-route", "/ws=topic:chat;publish=yes"}, []string{`[ALERT] -route: route "/ws=topic:chat;publish=yes": publish=yes: want clients or none`}},
		{[]string{"-route", "/api=backend:app;grip", "-backend", "app=127.0.0.1:1"}, []string{`[ALERT] -route: route "/api=backend:app;grip": unknown option "grip" (want origins, publish, auth or auth-cache)`}},
		{[]string{"-route", "/ws=topic:chat;Auth=x"}, []string{`[ALERT] -route: route "/ws=topic:chat;Auth=x": option "Auth=x": want key=value or a bare key`}},
		{[]string{"-backend", "app=127.0.0.1:1;retries=3"}, []string{`[ALERT] -backend: backend "app": unknown option "retries" (want balance, cookie, check, inter, rise, fall, maxconn, queue, connect-timeout, server-timeout, tunnel-timeout or grip)`}},
		{[]string{"-backend", "app=127.0.0.1:1;retries=3"}, []string{`[ALERT] -backend: backend "app": unknown option "retries" (want balance, cookie`}},
		{[]string{"-backend", "app=127.0.0.1:1;inter"}, []string{`[ALERT] -backend: backend "app": option "inter": want inter=VALUE`}},
		{[]string{"-backend", "app=127.0.0.1:1;127.0.0.1:2"}, []string{`[ALERT] -backend: backend "app": option "127.0.0.1:2": want key=value or a bare key (separate servers with ',')`}},
		// A route to a pool whose spec is broken: the pool's error, not a second one for the route.
		{[]string{"-route", "/api=backend:app", "-backend", "app=127.0.0.1:x"}, []string{`[ALERT] -backend: backend "app": server "127.0.0.1:x"`}},
		// Every problem is reported, not just the first.
		{[]string{"-route", "bad", "-max-header-bytes", "10"}, []string{`[ALERT] -route: route "bad"`, `[ALERT] -max-header-bytes: 10 is too small (minimum 512)`}},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(append([]string{"-check"}, c.args...), &out, &errOut)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1 (stderr %q)", c.args, code, errOut.String())
			continue
		}
		// One line per problem: as many [ALERT] lines as wanted lines starting with one.
		alerts := 0
		for _, w := range c.want {
			if strings.HasPrefix(w, "[ALERT]") {
				alerts++
			}
		}
		if n := strings.Count(errOut.String(), "[ALERT]"); n != alerts {
			t.Errorf("%q: %d [ALERT] lines, want %d:\n%s", c.args, n, alerts, errOut.String())
		}
		for _, w := range c.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, w, errOut.String())
			}
		}
	}
}

func TestCheckValid(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-check", "-backend", "app=s1@127.0.0.1:3001,127.0.0.1:3002*2;cookie=SERVERID;check=http:/health",
		"-route", "/api=backend:app", "-route", "/rooms/=topic:*"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, w := range []string{"route /rooms/=topic:*", "route /api=backend:app", "backend app=s1@127.0.0.1:3001*1,s2@127.0.0.1:3002*2", "Configuration is valid"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("stdout lacks %q:\n%s", w, out.String())
		}
	}
}
