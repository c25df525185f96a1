package main

import (
	"bytes"
	"os"
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

func TestEnvOverride(t *testing.T) {
	env := map[string]string{"WSGATE_LISTEN": ":7000", "WSGATE_IDLE_TIMEOUT": "2m", "WSGATE_ROUTE": "/a=topic:a /b=topic:b"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := parseOptions([]string{"-listen", ":9000"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9000" {
		t.Errorf("flag must win over env: listen %q", cfg.Listen)
	}
	if cfg.IdleTimeout.String() != "2m0s" || len(cfg.Routes) != 2 {
		t.Errorf("env not applied: idle %v routes %d", cfg.IdleTimeout, len(cfg.Routes))
	}
	if _, err := parseOptions(nil, func(k string) (string, bool) {
		if k == "WSGATE_MAX_OUTBOUND" {
			return "lots", true
		}
		return "", false
	}); err == nil || !strings.Contains(err.Error(), "WSGATE_MAX_OUTBOUND") {
		t.Errorf("bad env value not reported with its variable: %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	path := t.TempDir() + "/wsgate.conf"
	content := "# routes\nroute /a=topic:a\n-route /b=topic:b\nidle-timeout 3m\ncompression\nlisten :1111\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "WSGATE_LISTEN" {
			return ":2222", true
		}
		return "", false
	}
	o, err := parseOptions([]string{"-config", path, "-idle-timeout", "5m"}, env)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 || !cfg.Compression || cfg.IdleTimeout.String() != "5m0s" || cfg.Listen != ":2222" {
		t.Fatalf("routes %d compression %v idle %v listen %q: want 2, true, 5m (flag wins), :2222 (env wins)",
			len(cfg.Routes), cfg.Compression, cfg.IdleTimeout, cfg.Listen)
	}
	if err := os.WriteFile(path, []byte("rout /a=topic:a\nmax-outbound lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = parseOptions([]string{"-config", path}, func(string) (string, bool) { return "", false })
	for _, w := range []string{path + `:1: unknown setting "rout"`, path + `:2: -max-outbound "lots": `} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}
