package proxy

import (
	"fmt"
	"testing"

	"github.com/wsgate/wsgate/router/backend"
)

// Stickiness (HAProxy's cookie SID insert indirect nocache), maxconn and the
// pool's queue.

const sticky = "app=a@h:1,b@h:2;cookie=SID"

// okSet is the 200 the client gets when the response sets the cookie.
func okSet(body, server string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nSet-Cookie: SID=%s; Path=/\r\n"+
		"Cache-Control: no-cache=\"set-cookie\"\r\n%s\r\n%s", len(body), server, ka, body)
}

func withCookie(v string) string {
	return "GET / HTTP/1.1\r\nHost: h\r\nCookie: " + v + "\r\n\r\n"
}

func TestSticky(t *testing.T) {
	runCases(t, []tcase{
		{name: "first response sets the cookie", spec: sticky, steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okSet("hi", "a"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}, check: wantAddrs("h:1")},
		{name: "cookie picks its server and is stripped", spec: sticky, steps: func(h *harness) {
			h.send(withCookie("x=1; SID=b"))
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okTo("hi", "keep-alive"), servers: []string{"GET / HTTP/1.1\r\nHost: h\r\nCookie: x=1\r\n" + xf + ka + "\r\n"}, closed: "o", phase: PhaseIdle},
			check: wantAddrs("h:2")},
		{name: "cookie of a server in maintenance: redispatch, set anew", spec: sticky, steps: func(h *harness) {
			h.pool.Server("b").SetMaint(true)
			h.send(withCookie("SID=b"))
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okSet("hi", "a"), servers: []string{fwd("GET", "/")}, closed: "o", phase: PhaseIdle}, check: wantAddrs("h:1")},
		{name: "connect failure of the cookie's server: redispatch, set anew", spec: sticky, steps: func(h *harness) {
			h.send(withCookie("SID=a"))
			h.refuseDial(errRefused)
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okSet("hi", "b"), servers: []string{fwd("GET", "/")}, closed: "o", phase: PhaseIdle}, check: wantAddrs("h:1 h:2")},
		{name: "kept-alive request with the cookie sets nothing", spec: sticky, steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.reply(srv, ok("1"))
			h.send(withCookie("SID=a"))
			h.reply(srv, ok("2"))
		}, want: want{client: okSet("1", "a") + okTo("2", "keep-alive"), servers: []string{fwd("GET", "/a") + fwd("GET", "/")}, closed: "o", phase: PhaseIdle}},
	})
}

// fill takes server's every slot.
func fill(h *harness, server string) {
	s := h.pool.Server(server)
	for s.Acquire() {
	}
}

func wantActive(n int64) func(t *testing.T, h *harness) {
	return func(t *testing.T, h *harness) {
		if a := h.pool.Server("a").Active(); a != n {
			t.Errorf("server a: %d sessions, want %d", a, n)
		}
	}
}

func TestMaxConn(t *testing.T) {
	const queued = "app=a@h:1;maxconn=1;queue=1;connect-timeout=1s"
	runCases(t, []tcase{
		{name: "server at maxconn without a queue: 503", spec: "app=a@h:1;maxconn=1", steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
		}, want: want{end: "refuse 503", noSession: true}, check: wantActive(1)},
		{name: "queued until a slot frees", spec: queued, steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
			h.wantPhase(PhaseQueued)
			if len(h.env.dials) != 0 {
				h.t.Fatal("dialed while queued")
			}
			h.pool.Server("a").Release()
			h.runPosts()
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okTo("hi", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}, check: wantActive(1)},
		{name: "queued session of a sticky pool sets the cookie of the server it got", spec: "app=a@h:1;maxconn=1;queue=1;cookie=SID", steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
			h.pool.Server("a").Release()
			h.runPosts()
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okSet("hi", "a"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}},
		{name: "queue timeout: 503", spec: queued, steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
			h.advance(12)
		}, want: want{end: "refuse 503", phase: PhaseQueued, ended: true},
			check: func(t *testing.T, h *harness) {
				if h.pool.Queued() != 0 || len(h.env.timeouts) != 1 || h.env.timeouts[0] != "queue" {
					t.Errorf("queued %d, timeouts %v", h.pool.Queued(), h.env.timeouts)
				}
			}},
		{name: "queue full: 503", spec: queued, steps: func(h *harness) {
			fill(h, "a")
			if _, ok := h.pool.Enqueue(&backend.Request{}, func(s *backend.Server) {}); !ok {
				h.t.Fatal("Enqueue")
			}
			h.send(get("/a"))
		}, want: want{end: "refuse 503", phase: PhaseQueued, ended: true}},
		{name: "request bound by its cookie to a full server: 503, not queued", spec: "app=a@h:1,b@h:2;maxconn=1;queue=2;cookie=SID", steps: func(h *harness) {
			fill(h, "a")
			h.send(withCookie("SID=a"))
		}, want: want{end: "refuse 503", noSession: true},
			check: func(t *testing.T, h *harness) {
				if h.pool.Queued() != 0 || len(h.env.dials) != 0 {
					t.Errorf("queued %d, dials %d", h.pool.Queued(), len(h.env.dials))
				}
			}},
		{name: "slot granted after the client left is given back", spec: queued, steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
			h.pool.Server("a").Release()
			h.client.closeConn()
			h.runPosts()
		}, want: want{end: "closed", phase: PhaseQueued, ended: true}, check: wantActive(0)},
		{name: "client leaving the queue cancels its wait", spec: queued, steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
			h.client.closeConn()
			if h.pool.Queued() != 0 {
				h.t.Fatalf("still %d queued after the client left", h.pool.Queued())
			}
			h.pool.Server("a").Release()
			h.runPosts()
		}, want: want{end: "closed", phase: PhaseQueued, ended: true},
			check: func(t *testing.T, h *harness) {
				wantActive(0)(t, h)
				if h.pool.Queued() != 0 {
					t.Errorf("queued %d", h.pool.Queued())
				}
			}},
		{name: "no server up: 503", steps: func(h *harness) {
			h.pool.Server("a").SetMaint(true)
			h.send(get("/a"))
		}, want: want{end: "refuse 503", noSession: true}},
	})
}
