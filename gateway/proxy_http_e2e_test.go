package gateway_test

// The proxy's HTTP side against Go listeners that misbehave on purpose (silent, garbage, early close,
// closing kept-alive connections): 502/503/504 with a reason, redispatch, drain of one server, retry of
// an idempotent request on a dead kept-alive connection and no replay of a POST.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBackend is a Go listener that misbehaves in one way; it is closed when the test ends.
func fakeBackend(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// readHead reads a request head (up to the blank line) or fails silently.
func readHead(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			return true
		}
	}
}

// refusal sends an upgrade (or a plain GET) on path and returns the refusal status, body and time.
func refusal(t *testing.T, addr, path string, upgrade bool) *statusError {
	t.Helper()
	if upgrade {
		tn, err := dialTunnel(addr, path, nil, 5*time.Second)
		if err == nil {
			tn.Close()
			t.Fatalf("upgrade on %s succeeded, want a refusal", path)
		}
		var se *statusError
		if !errors.As(err, &se) {
			t.Fatalf("upgrade on %s: %v, want an HTTP error status", path, err)
		}
		return se
	}
	start := time.Now()
	resp, body := httpGet(t, addr, path, nil, "")
	return &statusError{status: resp.StatusCode, body: body, elapsed: time.Since(start)}
}

// Backends that refuse, hang or answer garbage get 503, 504 (after server-timeout) and 502 with a body
// saying why, for upgrades and plain requests, while a client on another route keeps its tunnel and new
// clients still get through; a connect failure is redispatched to a live server; a draining server gets
// no new sessions but keeps its sticky ones.
func TestE2EProxyBadBackends(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2")
	deadAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there
	hangAddr := fakeBackend(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	garbageAddr := fakeBackend(t, func(c net.Conn) {
		if readHead(c) {
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1\r\nthis is not HTTP at all\r\n\r\n"))
			_, _ = io.Copy(io.Discard, c) // until the gateway (or the cleanup) closes
		}
	})
	eofAddr := fakeBackend(t, func(c net.Conn) {
		readHead(c)
		c.Close()
	})
	g := startGateway(t,
		"-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID"),
		"-backend", "dead=d1@"+deadAddr,
		"-backend", "hang=h1@"+hangAddr+";server-timeout=1s",
		"-backend", "garbage=g1@"+garbageAddr,
		"-backend", "eof=e1@"+eofAddr,
		"-backend", "mixed=gone@"+deadAddr+"*3,live@"+srv[0].Addr()+";balance=roundrobin;fall=100",
		"-route", "/ws=backend:app", "-route", "/dead=backend:dead", "-route", "/hang=backend:hang",
		"-route", "/garbage=backend:garbage", "-route", "/eof=backend:eof", "-route", "mixed.test/ws=backend:mixed", // same prefix as /ws: the host route wins
	)
	good := openTunnel(t, g.Addr, "/ws/echo", nil)
	goodStillWorks := func(after string) {
		t.Helper()
		if err := good.echo("after " + after); err != nil {
			t.Fatalf("the good client's tunnel broke after %s: %v", after, err)
		}
		tn, err := dialTunnel(g.Addr, "/ws/echo", nil, 3*time.Second)
		if err != nil {
			t.Fatalf("a new good client failed after %s: %v", after, err)
		}
		tn.shut()
	}

	cases := []struct {
		name, path string
		upgrade    bool
		status     int
		bodyHas    string
		minT, maxT time.Duration
	}{
		{"refused connect, upgrade", "/dead/ws", true, 503, "dead", 0, time.Second},
		{"refused connect, GET", "/dead/page", false, 503, "dead", 0, time.Second},
		{"silent server, upgrade", "/hang/ws", true, 504, "", 900 * time.Millisecond, 2500 * time.Millisecond},
		{"silent server, GET", "/hang/page", false, 504, "", 900 * time.Millisecond, 2500 * time.Millisecond},
		{"garbage answer, upgrade", "/garbage/ws", true, 502, "", 0, time.Second},
		{"garbage answer, GET", "/garbage/page", false, 502, "", 0, time.Second},
		{"closed without answer, upgrade", "/eof/ws", true, 502, "", 0, time.Second},
	}
	for _, c := range cases {
		r := refusal(t, g.Addr, c.path, c.upgrade)
		t.Logf("%s (%s): %d %q after %v", c.name, c.path, r.status, strings.TrimSpace(r.body), r.elapsed.Round(time.Millisecond))
		if r.status != c.status {
			t.Errorf("%s: status %d %q, want %d", c.name, r.status, r.body, c.status)
		}
		if strings.TrimSpace(r.body) == "" || (c.bodyHas != "" && !strings.Contains(r.body, c.bodyHas)) {
			t.Errorf("%s: body %q does not say why (want it to mention %q)", c.name, r.body, c.bodyHas)
		}
		if r.elapsed < c.minT || r.elapsed > c.maxT {
			t.Errorf("%s: answered after %v, want between %v and %v", c.name, r.elapsed, c.minT, c.maxT)
		}
		goodStillWorks(c.name)
	}
	if st := serverStats(t, g)["dead/d1"]; st.state() != "DOWN" {
		t.Logf("dead/d1 after refused connects: %s (%q)", st.state(), st.LastCheck)
	}

	// A pool whose only server went DOWN (passive: fall connect failures in a row) answers 503 at once,
	// saying so.
	for i := 0; i < 3; i++ {
		_ = refusal(t, g.Addr, "/dead/again", false)
	}
	waitState(t, g, "dead/d1", "DOWN", 2*time.Second)
	if r := refusal(t, g.Addr, "/dead/ws", true); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "dead") {
		t.Errorf("upgrade on a pool whose only server is DOWN: %d %q, want 503 naming the pool", r.status, r.body)
	} else {
		t.Logf("pool with its server DOWN: %d %q", r.status, strings.TrimSpace(r.body))
	}
	goodStillWorks("a DOWN pool")

	// Redispatch: pool mixed has a dead server (weight 3, not yet marked down: fall=100) and a live
	// one (weight 1). Every client balanced to the dead server must be redispatched to the live one
	// (HAProxy's option redispatch avoids the server that just failed), so every upgrade succeeds.
	t.Run("redispatch", func(t *testing.T) {
		const n = 8
		failed := 0
		for i := 0; i < n; i++ {
			tn, err := dialTunnel(g.Addr, "/ws/echo", map[string]string{"Host": "mixed.test"}, 5*time.Second)
			if err == nil {
				if tn.hello.Server != "s1" {
					err = fmt.Errorf("answered by %s, want the live server s1", tn.hello.Server)
				}
				tn.Close()
			}
			if err != nil {
				failed++
				t.Errorf("client %d of %d on pool mixed (dead server weight 3 + live s1 weight 1): %v", i, n, err)
			}
		}
		t.Logf("pool mixed: %d of %d clients refused although the live server was up", failed, n)
	})
	goodStillWorks("redispatch")

	// Drain s1 at runtime: new sessions avoid it, its sticky clients (cookie SERVERID=s1) still reach it,
	// its existing tunnels stay; ready brings it back.
	t.Run("drain", func(t *testing.T) {
		existing := openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
		if existing.hello.Server != "s1" {
			t.Fatalf("cookie SERVERID=s1 answered by %s", existing.hello.Server)
		}
		if st := setServerState(t, g, "app/s1", "drain"); st.state() != "DRAIN" {
			t.Fatalf("POST state=drain: server state %s, want DRAIN", st.state())
		}
		var fresh []*tunnel
		for i := 0; i < 6; i++ {
			fresh = append(fresh, openTunnel(t, g.Addr, "/ws/echo", nil))
		}
		if n := countServers(fresh); n["s2"] != 6 {
			t.Errorf("with s1 draining, 6 new sessions went %v, want all on s2", n)
		}
		sticky := openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
		if c, _ := setCookie(sticky.resp.Header, "SERVERID"); sticky.hello.Server != "s1" || c != "" {
			t.Errorf("sticky client of draining s1: server %s, Set-Cookie %q; want s1 and no new cookie", sticky.hello.Server, c)
		}
		if err := existing.echo("draining but kept"); err != nil {
			t.Errorf("an existing tunnel on draining s1 broke: %v", err)
		}
		setServerState(t, g, "app/s1", "ready")
		var back []*tunnel
		for i := 0; i < 4; i++ {
			back = append(back, openTunnel(t, g.Addr, "/ws/echo", nil))
		}
		if n := countServers(back); n["s1"] == 0 {
			t.Errorf("after state=ready, 4 new sessions went %v: s1 gets none", n)
		}
	})

	// The same from the command line: -drain app/s1.
	t.Run("drain flag", func(t *testing.T) {
		g2 := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID"), "-route", "/ws=backend:app", "-drain", "app/s1")
		if st := serverStats(t, g2)["app/s1"]; st.state() != "DRAIN" {
			t.Errorf("-drain app/s1: state %s, want DRAIN", st.state())
		}
		var fresh []*tunnel
		for i := 0; i < 4; i++ {
			fresh = append(fresh, openTunnel(t, g2.Addr, "/ws/echo", nil))
		}
		if n := countServers(fresh); n["s2"] != 4 {
			t.Errorf("-drain app/s1: 4 new sessions went %v, want all on s2", n)
		}
		sticky := openTunnel(t, g2.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
		if sticky.hello.Server != "s1" {
			t.Errorf("-drain app/s1: the sticky client went to %s, want s1", sticky.hello.Server)
		}
	})
	goodStillWorks("drain")
	if g.exited() {
		t.Fatal("the gateway exited")
	}
}

// TestE2EProxyRetryOnDeadKeepAlive: a server that closes a kept-alive
// connection just as the next request arrives on it (Node closes idle ones
// after 5 s) must not cost the client a 502: a bodyless request that got no
// answer is sent again once on a fresh connection.
func TestE2EProxyRetryOnDeadKeepAlive(t *testing.T) {
	requireE2E(t, false, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns, answered atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n == 1 && i == 1 {
						return // the first connection dies under its second request, unanswered
					}
					answered.Add(1)
					body := fmt.Sprintf("conn %d request %d", n, i)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				}
			}()
		}
	}()
	g := startGateway(t, "-backend", "ka="+ln.Addr().String(), "-route", "/=backend:ka")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	for i := 0; i < 3; i++ {
		resp, err := client.Get("http://" + g.Addr + "/x")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %q, want 200 (retried on a fresh server connection)", i, resp.StatusCode, body)
		}
		t.Logf("request %d: %s", i, body)
	}
	if conns.Load() != 2 || answered.Load() != 3 {
		t.Fatalf("server saw %d connections and answered %d requests, want 2 and 3", conns.Load(), answered.Load())
	}
}

// TestE2EProxyNoReplayOfPOST: the retry is for idempotent requests only. A
// bodyless POST whose kept-alive connection dies unanswered gets 502: the
// server may already have acted on it (RFC 9110 9.2.2), so it is not sent twice.
func TestE2EProxyNoReplayOfPOST(t *testing.T) {
	requireE2E(t, false, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var posts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if req.Method == http.MethodPost {
						posts.Add(1)
						return // acted on, then the connection died before the answer
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	g := startGateway(t, "-backend", "ka="+ln.Addr().String(), "-route", "/=backend:ka")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	resp, err := client.Get("http://" + g.Addr + "/warm") // opens the kept-alive server connection
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr+"/order", nil)
	req.Header.Set("Content-Length", "0")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || posts.Load() != 1 {
		t.Fatalf("POST: status %d, server saw it %d times; want 502 and exactly once", resp.StatusCode, posts.Load())
	}
}
