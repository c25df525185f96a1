package gateway_test

// Load balancing: a backend killed and restarted under health checks, leastconn, and consistent hashing
// (hdr: and source) across independent gateways.

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Kill one of two express-ws servers (SIGKILL) with check=http:/health inter=200ms fall=2: it is DOWN
// within inter*fall plus slack, its tunnels end at once (close 1001), new clients and clients holding
// its cookie go to the other server with a new cookie; restarted on the same port it rises and gets new
// sessions again.
func TestE2EProxyLBKillBackend(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2")
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID;check=http:/health;inter=200ms;rise=2;fall=2"),
		"-route", "/=backend:app")
	waitState(t, g, "app/s1", "UP", 3*time.Second)
	waitState(t, g, "app/s2", "UP", 3*time.Second)

	var before []*tunnel
	for i := 0; i < 4; i++ {
		tn := openTunnel(t, g.Addr, "/ws/echo", nil)
		if c, _ := setCookie(tn.resp.Header, "SERVERID"); c != tn.hello.Server {
			t.Errorf("tunnel %d on %s: Set-Cookie SERVERID=%q", i, tn.hello.Server, c)
		}
		before = append(before, tn)
	}
	if n := countServers(before); n["s1"] != 2 || n["s2"] != 2 {
		t.Fatalf("4 tunnels spread %v, want 2/2", n)
	}

	killed := time.Now()
	srv[0].kill()
	var wg sync.WaitGroup
	ends := make([]endResult, len(before))
	for i, tn := range before {
		if tn.hello.Server != "s1" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ends[i] = watchEnd(tn, killed, 3*time.Second)
		}()
	}
	waitState(t, g, "app/s1", "DOWN", 3*time.Second)
	down := time.Since(killed)
	wg.Wait()
	t.Logf("s1 killed: DOWN after %v (inter 200ms × fall 2)", down.Round(time.Millisecond))
	if down > 2*time.Second {
		t.Errorf("s1 marked DOWN %v after the kill, want within ~inter*fall (2 s bound)", down)
	}
	for i, tn := range before {
		if tn.hello.Server != "s1" {
			if err := tn.echo(fmt.Sprintf("still here %d", i)); err != nil {
				t.Errorf("tunnel %d on s2 broke when s1 died: %v", i, err)
			}
			continue
		}
		e := ends[i]
		t.Logf("tunnel %d on s1 ended %v after the kill: %s", i, e.after.Round(time.Millisecond), e.how)
		if !e.ok || e.after > time.Second {
			t.Errorf("tunnel %d on the killed s1: %s after %v, want close 1001 or a TCP end within 1 s", i, e.how, e.after)
		}
	}

	// New clients and clients holding s1's cookie go to s2, with a new cookie.
	for i := 0; i < 3; i++ {
		tn := openTunnel(t, g.Addr, "/ws/echo", nil)
		if c, _ := setCookie(tn.resp.Header, "SERVERID"); tn.hello.Server != "s2" || c != "s2" {
			t.Errorf("new client %d with s1 down: server %s, Set-Cookie SERVERID=%q; want s2, s2", i, tn.hello.Server, c)
		}
		tn.shut()
	}
	tn := openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1; theme=dark"})
	if c, _ := setCookie(tn.resp.Header, "SERVERID"); tn.hello.Server != "s2" || c != "s2" {
		t.Errorf("client with SERVERID=s1 while s1 is down: server %s, Set-Cookie SERVERID=%q; want s2 and a new cookie s2", tn.hello.Server, c)
	}
	if tn.hello.Cookie != "theme=dark" {
		t.Errorf("the backend saw Cookie %q, want %q (SERVERID removed: indirect)", tn.hello.Cookie, "theme=dark")
	}
	tn.shut()
	w, resp := getWhoami(t, g.Addr, "/whoami", map[string]string{"Cookie": "SERVERID=s1"}, "")
	if c, _ := setCookie(resp.Header, "SERVERID"); w.Server != "s2" || c != "s2" {
		t.Errorf("HTTP request with SERVERID=s1 while s1 is down: server %s, Set-Cookie SERVERID=%q; want s2, s2", w.Server, c)
	}

	// Bring s1 back on the same port: it rises and gets new sessions again.
	restarted := time.Now()
	s1 := startNodeServer(t, "expressws-server.js", "s1", srv[0].Port)
	waitState(t, g, "app/s1", "UP", 3*time.Second)
	up := time.Since(restarted)
	t.Logf("s1 restarted on port %d: UP after %v (rise 2 × inter 200ms, node start included)", s1.Port, up.Round(time.Millisecond))
	if up > 2*time.Second {
		t.Errorf("restarted s1 UP %v after its start, want ~1 s (rise*inter plus the node start)", up)
	}
	var after []*tunnel
	for i := 0; i < 4; i++ {
		after = append(after, openTunnel(t, g.Addr, "/ws/echo", nil))
	}
	if n := countServers(after); n["s1"] == 0 {
		t.Errorf("after s1 came back, 4 new tunnels spread %v: s1 gets no new sessions", n)
	}
	tn = openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
	if c, _ := setCookie(tn.resp.Header, "SERVERID"); tn.hello.Server != "s1" || c != "" {
		t.Errorf("client with SERVERID=s1 after s1 came back: server %s, Set-Cookie %q; want s1 and no new cookie", tn.hello.Server, c)
	}
	if err := tn.echo("back again"); err != nil {
		t.Errorf("echo on the restarted s1: %v", err)
	}
}

// leastconn with two servers: 8 long-lived tunnels spread 4/4; after the 4 on s1 close, 4 new tunnels all
// go to s1, the less loaded server. (8, not 6: leastconn puts 3 and 3 of 6, so "close 4 on one server"
// needs 4 there; with 0 against 4 sessions every one of the next 4 picks has a strict winner.)
func TestE2EProxyLBLeastconn(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2")
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=leastconn"), "-route", "/=backend:app")

	var first []*tunnel
	for i := 0; i < 8; i++ {
		first = append(first, openTunnel(t, g.Addr, "/ws/echo", nil))
	}
	if n := countServers(first); n["s1"] != 4 || n["s2"] != 4 {
		t.Fatalf("leastconn: 8 tunnels spread %v, want 4/4", n)
	}
	for _, tn := range first {
		if tn.hello.Server == "s1" {
			tn.shut()
		}
	}
	// The gateway counts a session until it sees the close: wait for its count, bounded.
	waitServer(t, g, "app/s1", "at 0 active sessions", 2*time.Second, func(s serverStat) bool { return s.Active == 0 })
	if st := serverStats(t, g)["app/s2"]; st.Active != 4 {
		t.Errorf("s2 has %d active sessions, want 4", st.Active)
	}
	var more []*tunnel
	for i := 0; i < 4; i++ {
		more = append(more, openTunnel(t, g.Addr, "/ws/echo", nil))
	}
	if n := countServers(more); n["s1"] != 4 {
		t.Errorf("leastconn with s1 at 0 and s2 at 4 sessions: 4 new tunnels went %v, want all on s1", n)
	}
	if st := serverStats(t, g); st["app/s1"].Active != 4 || st["app/s2"].Active != 4 {
		t.Errorf("sessions after the second wave: s1 %d, s2 %d; want 4 and 4", st["app/s1"].Active, st["app/s2"].Active)
	}
	for _, tn := range append(first, more...) {
		if tn.hello.Server == "s2" || slices.Contains(more, tn) {
			if err := tn.echo("alive"); err != nil {
				t.Errorf("tunnel on %s: %v", tn.hello.Server, err)
			}
		}
	}
}

// Consistent hashing across gateway nodes: two independent gateways with the same -backend spec
// send each of 50 X-User values (balance=hdr:X-User) and each of 50 source addresses 127.0.0.10..59
// (balance=source) to the same server, every time; both servers get a fair share; adding a third server
// moves at most 1.5/N of the keys, and only to the new server.
func TestE2EProxyLBConsistentHash(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2", "s3")
	two := []string{
		"-backend", poolSpec("h", srv[:2], "balance=hdr:X-User"), "-backend", poolSpec("src", srv[:2], "balance=source"),
		"-route", "/h/=backend:h", "-route", "/src/=backend:src",
	}
	three := []string{
		"-backend", poolSpec("h", srv, "balance=hdr:X-User"), "-backend", poolSpec("src", srv, "balance=source"),
		"-route", "/h/=backend:h", "-route", "/src/=backend:src",
	}
	nodes := []*testGateway{startGateway(t, two...), startGateway(t, two...)}
	grown := startGateway(t, three...)

	const keys = 50
	type method struct {
		name, path string
		req        func(i int) (map[string]string, string) // headers, source IP
	}
	methods := []method{
		{"hdr:X-User", "/h/whoami", func(i int) (map[string]string, string) {
			return map[string]string{"X-User": fmt.Sprintf("user-%d@example.com", i)}, ""
		}},
		{"source", "/src/whoami", func(i int) (map[string]string, string) {
			return nil, fmt.Sprintf("127.0.0.%d", 10+i)
		}},
	}
	for _, m := range methods {
		placed := make([]string, keys)
		counts := map[string]int{}
		for i := 0; i < keys; i++ {
			hdr, ip := m.req(i)
			var got []string
			for round := 0; round < 2; round++ { // node 0, node 1, then both again
				for _, g := range nodes {
					w, _ := getWhoami(t, g.Addr, m.path, hdr, ip)
					if hdr != nil && w.User != hdr["X-User"] {
						t.Fatalf("%s: the backend saw X-User %q, want %q", m.name, w.User, hdr["X-User"])
					}
					if ip != "" && w.XFF != ip {
						t.Fatalf("%s: the backend saw X-Forwarded-For %q, want the source %s", m.name, w.XFF, ip)
					}
					got = append(got, w.Server)
				}
			}
			for _, s := range got[1:] {
				if s != got[0] {
					t.Errorf("%s key %d: answered by %v on [node0 node1 node0 node1]: not pinned to one server", m.name, i, got)
					break
				}
			}
			placed[i] = got[0]
			counts[got[0]]++
		}
		t.Logf("%s: %d keys on two nodes: %v", m.name, keys, counts)
		for _, s := range []string{"s1", "s2"} {
			if counts[s] < keys/5 {
				t.Errorf("%s: %s got %d of %d keys: the hash does not spread (%v)", m.name, s, counts[s], keys, counts)
			}
		}
		moved, wrong := 0, 0
		for i := 0; i < keys; i++ {
			hdr, ip := m.req(i)
			w, _ := getWhoami(t, grown.Addr, m.path, hdr, ip)
			if w.Server != placed[i] {
				moved++
				if w.Server != "s3" {
					wrong++
					t.Errorf("%s key %d moved %s → %s when s3 was added: keys may only move to the new server", m.name, i, placed[i], w.Server)
				}
			}
		}
		limit := int(1.5 / 3 * keys)
		t.Logf("%s: adding s3 moved %d of %d keys (limit 1.5/N = %d)", m.name, moved, keys, limit)
		if moved > limit {
			t.Errorf("%s: adding a third server moved %d of %d keys, want <= %d", m.name, moved, keys, limit)
		}
		if moved == 0 {
			t.Errorf("%s: adding a third server moved no key: s3 gets nothing", m.name)
		}
	}
}
