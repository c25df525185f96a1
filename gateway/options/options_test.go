package options

import (
	"os"
	"strings"
	"testing"
)

func TestEnvOverride(t *testing.T) {
	env := map[string]string{"WSGATE_LISTEN": ":7000", "WSGATE_IDLE_TIMEOUT": "2m", "WSGATE_ROUTE": "/a=topic:a /b=topic:b"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := Parse([]string{"-listen", ":9000"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9000" {
		t.Errorf("flag must win over env: listen %q", cfg.Listen)
	}
	if cfg.IdleTimeout.String() != "2m0s" || len(cfg.Routing.Routes) != 2 {
		t.Errorf("env not applied: idle %v routes %d", cfg.IdleTimeout, len(cfg.Routing.Routes))
	}
	if _, err := Parse(nil, func(k string) (string, bool) {
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
	o, err := Parse([]string{"-config", path, "-idle-timeout", "5m"}, env)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routing.Routes) != 2 || !cfg.Compression || cfg.IdleTimeout.String() != "5m0s" || cfg.Listen != ":2222" {
		t.Fatalf("routes %d compression %v idle %v listen %q: want 2, true, 5m (flag wins), :2222 (env wins)",
			len(cfg.Routing.Routes), cfg.Compression, cfg.IdleTimeout, cfg.Listen)
	}
	if err := os.WriteFile(path, []byte("rout /a=topic:a\nmax-outbound lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Parse([]string{"-config", path}, func(string) (string, bool) { return "", false })
	for _, w := range []string{path + `:1: unknown setting "rout"`, path + `:2: -max-outbound "lots": `} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}

// Config carries the routing as specs and pool defaults (plain data); the
// router parses and checks them.
func TestRoutingSpecs(t *testing.T) {
	o, err := Parse([]string{"-balance", "leastconn", "-connect-timeout", "2s", "-backend", "app=127.0.0.1:1", "-route", "/api=backend:app", "-drain", "app/s1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routing
	if strings.Join(r.Routes, " ") != "/api=backend:app" || strings.Join(r.Backends, " ") != "app=127.0.0.1:1" || strings.Join(r.Drain, " ") != "app/s1" {
		t.Errorf("specs %+v", r)
	}
	if r.PoolDefaults.Balance != "leastconn" || r.PoolDefaults.ConnectTimeout.String() != "2s" || r.PoolDefaults.Rise != 2 {
		t.Errorf("pool defaults %+v", r.PoolDefaults)
	}
	pools, _ := r.Describe()
	if len(pools) != 1 || !strings.Contains(pools[0], ";balance=leastconn;") || !strings.Contains(pools[0], ";connect-timeout=2s;") {
		t.Errorf("the pool does not take the defaults: %q", pools)
	}
	// No -route: the built-in chat topic.
	o, _ = Parse(nil, nil)
	if cfg, err := o.Config(); err != nil || strings.Join(cfg.Routing.Routes, " ") != defaultRoute {
		t.Errorf("default routes %q, %v", cfg.Routing.Routes, err)
	}
}
