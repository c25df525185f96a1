package backend

import (
	"strings"
	"testing"
	"time"
)

// TestParseErrors is the table `wsgate -check` relies on (after nats-server's
// config_check_test.go): each broken -backend value and the exact error it
// must give, naming the pool and the bad part.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ spec, err string }{
		{"app", `backend "app": want POOL=SERVER[,SERVER...][;opt=val...]`},
		{"=127.0.0.1:1", `backend "=127.0.0.1:1": pool name is empty`},
		{"a b=127.0.0.1:1", `backend "a b=127.0.0.1:1": pool name "a b": use letters, digits, '-', '_' and '.'`},
		{"app/x=127.0.0.1:1", `backend "app/x=127.0.0.1:1": pool name "app/x": use letters, digits, '-', '_' and '.'`},
		{"app=", `backend "app": no servers`},
		{"app=;balance=leastconn", `backend "app": no servers`},
		{"app=127.0.0.1:1,,127.0.0.1:2", `backend "app": server "": empty entry (stray ',')`},
		{"app=127.0.0.1", `backend "app": server "127.0.0.1": address "127.0.0.1": want HOST:PORT`},
		{"app=:3000", `backend "app": server ":3000": address ":3000": missing host`},
		{"app=h:0", `backend "app": server "h:0": address "h:0": port "0": want 1-65535`},
		{"app=h:65536", `backend "app": server "h:65536": address "h:65536": port "65536": want 1-65535`},
		{"app=h:http", `backend "app": server "h:http": address "h:http": port "http": want 1-65535`},
		{"app=::1:3000", `backend "app": server "::1:3000": address "::1:3000": want HOST:PORT`},
		{"app=h/x:1", `backend "app": server "h/x:1": address "h/x:1": bad host "h/x"`},
		{"app=h:1*x", `backend "app": server "h:1*x": weight "x": want an integer 0-256`},
		{"app=h:1*257", `backend "app": server "h:1*257": weight "257": want an integer 0-256`},
		{"app=h:1*-1", `backend "app": server "h:1*-1": weight "-1": want an integer 0-256`},
		{"app=s1@", `backend "app": server "s1@": missing address`},
		{"app=@h:1", `backend "app": server "@h:1": name is empty`},
		{"app=a b@h:1", `backend "app": server "a b@h:1": name "a b": use letters, digits, '-', '_' and '.'`},
		{"app=h:1;h:2", `backend "app": option "h:2": want key=value or a bare key (separate servers with ',')`},
		{"app=a@h:1,a@h:2", `backend "app": server "a@h:2": duplicate name "a" (also "a@h:1")`},
		{"app=h:1,s1@h:2", `backend "app": server "s1@h:2": duplicate name "s1" (also "h:1")`},
		{"app=h:1;inter", `backend "app": option "inter": want inter=VALUE`},
		{"app=h:1;inter=", `backend "app": option "inter=": want inter=VALUE`},
		{"app=h:1;check", `backend "app": option "check": want check=VALUE`},
		{"app=h:1;Inter=2s", `backend "app": option "Inter=2s": want key=value or a bare key`},
		{"app=h:1;grip=yes", `backend "app": option "grip=yes": grip is a switch, write ;grip without a value`},
		{"app=h:1;retries=3", `backend "app": unknown option "retries" (want balance, cookie, check, inter, rise, fall, maxconn, queue, connect-timeout, server-timeout, tunnel-timeout or grip)`},
		{"app=h:1;rise=2;rise=3", `backend "app": option "rise" given twice`},
		{"app=h:1;balance=random", `backend "app": balance "random": unknown method (want roundrobin, leastconn, source, uri, hdr:NAME or query:NAME)`},
		{"app=h:1;balance=hdr:", `backend "app": balance "hdr:": want hdr:NAME`},
		{"app=h:1;balance=query", `backend "app": balance "query": want query:NAME`},
		{"app=h:1;balance=source:x", `backend "app": balance "source:x": source takes no argument`},
		{"app=h:1;cookie=SERVER ID", `backend "app": cookie=SERVER ID: not a valid cookie name`},
		{"app=h:1;cookie=a=b", `backend "app": cookie=a=b: not a valid cookie name`},
		{"app=h:1;check=udp", `backend "app": check=udp: want tcp, http:PATH or none`},
		{"app=h:1;check=http:health", `backend "app": check=http:health: path must start with /`},
		{"app=h:1;check=http:", `backend "app": check=http:: path must start with /`},
		{"app=h:1;check=http:/a b", `backend "app": check=http:/a b: path must not contain spaces or control characters`},
		{"app=h:1;inter=2", `backend "app": inter=2: want a duration such as 2s or 500ms`},
		{"app=h:1;inter=0s", `backend "app": inter=0s: must be positive`},
		{"app=h:1;connect-timeout=-1s", `backend "app": connect-timeout=-1s: must be positive`},
		{"app=h:1;server-timeout=soon", `backend "app": server-timeout=soon: want a duration such as 2s or 500ms`},
		{"app=h:1;tunnel-timeout=0", `backend "app": tunnel-timeout=0: must be positive`},
		{"app=h:1;rise=0", `backend "app": rise=0: want an integer >= 1`},
		{"app=h:1;fall=x", `backend "app": fall=x: want an integer >= 1`},
		{"app=h:1;maxconn=-1", `backend "app": maxconn=-1: want an integer >= 0`},
		{"app=h:1;queue=10", `backend "app": queue=10 needs maxconn (sessions only wait for a server at its maxconn)`},
	} {
		_, err := Parse(tc.spec, Options{})
		if err == nil {
			t.Errorf("Parse(%q): no error, want %s", tc.spec, tc.err)
			continue
		}
		if err.Error() != tc.err {
			t.Errorf("Parse(%q):\n got  %s\n want %s", tc.spec, err, tc.err)
		}
	}
}

func TestParseGrip(t *testing.T) {
	p, err := Parse("app=127.0.0.1:3001;grip", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Opts.Grip || !strings.HasSuffix(p.String(), ";grip") {
		t.Fatalf("grip not set: %v %s", p.Opts.Grip, p)
	}
	if p, _ := Parse("app=127.0.0.1:3001", Options{}); p.Opts.Grip {
		t.Fatal("grip set without the switch")
	}
}

func TestParse(t *testing.T) {
	p, err := Parse("app=s1@127.0.0.1:3001,s2@127.0.0.1:3002;balance=roundrobin;cookie=SERVERID;check=http:/health;inter=2s;rise=2;fall=3", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "app=s1@127.0.0.1:3001*1,s2@127.0.0.1:3002*1;balance=roundrobin;cookie=SERVERID;check=http:/health;inter=2s;rise=2;fall=3;maxconn=0;connect-timeout=5s;server-timeout=30s;tunnel-timeout=1h0m0s"
	if got := p.String(); got != want {
		t.Errorf("String:\n got  %s\n want %s", got, want)
	}
	if p2, err := Parse(p.String(), Options{}); err != nil || p2.String() != want {
		t.Errorf("String does not parse back: %v", err)
	}

	def := Options{Balance: "leastconn", Inter: time.Second, MaxConn: 100, ConnectTimeout: time.Second, TunnelTimeout: time.Minute}
	p, err = Parse("echo=127.0.0.1:3101, web@[::1]:3102*2 ,localhost:3103*0;maxconn=7;queue=5;tunnel-timeout=10m;check=tcp;balance=hdr:X-User;", def)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "echo" || len(p.Servers) != 3 {
		t.Fatalf("pool %s with %d servers", p.Name, len(p.Servers))
	}
	for i, w := range []struct {
		name, addr      string
		weight, maxconn int
	}{{"s1", "127.0.0.1:3101", 1, 7}, {"web", "[::1]:3102", 2, 7}, {"s3", "localhost:3103", 0, 7}} {
		s := p.Servers[i]
		if s.Name != w.name || s.Addr != w.addr || s.Weight != w.weight || s.MaxConn != w.maxconn || s.State() != Up {
			t.Errorf("server %d = %s %s *%d maxconn %d %v, want %+v", i, s.Name, s.Addr, s.Weight, s.MaxConn, s.State(), w)
		}
		if p.Server(w.name) != s || s.Pool() != p || s.String() != "echo/"+w.name {
			t.Errorf("server %d lookup/pool/String wrong", i)
		}
	}
	o := p.Opts
	if p.Method.String() != "hdr:x-user" || o.Check.String() != "tcp" || o.Inter != time.Second ||
		o.Rise != 2 || o.Fall != 3 || o.MaxConn != 7 || o.Queue != 5 || o.ConnectTimeout != time.Second ||
		o.ServerTimeout != 30*time.Second || o.TunnelTimeout != 10*time.Minute || o.Cookie != "" {
		t.Errorf("options %+v (method %v)", o, p.Method)
	}
}

func TestRegistry(t *testing.T) {
	a := mustParse(t, "app=h:1,h:2")
	b := mustParse(t, "echo=h:3")
	r, err := NewRegistry([]*Pool{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pool("app") != a || r.Pool("echo") != b || r.Pool("x") != nil || len(r.Pools()) != 2 {
		t.Fatal("lookup by name")
	}
	if s, err := r.Lookup("app/s2"); err != nil || s != a.Servers[1] {
		t.Fatalf("Lookup(app/s2) = %v, %v", s, err)
	}
	for ref, want := range map[string]string{
		"app":    `server "app": want POOL/SERVER`,
		"x/s1":   `server "x/s1": no backend "x"`,
		"app/s9": `server "app/s9": backend "app" has no server "s9"`,
	} {
		if _, err := r.Lookup(ref); err == nil || err.Error() != want {
			t.Errorf("Lookup(%q) = %v, want %s", ref, err, want)
		}
	}
	if _, err := NewRegistry([]*Pool{a, mustParse(t, "app=h:9")}); err == nil || err.Error() != `backend "app": defined twice` {
		t.Fatalf("duplicate pool: %v", err)
	}
}

func mustParse(t testing.TB, spec string) *Pool {
	t.Helper()
	p, err := Parse(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
