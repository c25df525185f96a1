package proxy

import (
	"errors"
	"strings"
	"testing"
)

// Connecting: connect failures and redispatch, registration (local)
// failures, late dial results, the retry of an idempotent request on a dead
// kept-alive connection, and timeouts.

func (h *harness) addrs() string {
	var a []string
	for _, d := range h.env.dials {
		a = append(a, d.addr)
	}
	return strings.Join(a, " ")
}

func wantAddrs(want string) func(t *testing.T, h *harness) {
	return func(t *testing.T, h *harness) {
		if got := h.addrs(); got != want {
			t.Errorf("dialed %q, want %q", got, want)
		}
	}
}

const two = "app=a@h:1,b@h:2"

func TestConnect(t *testing.T) {
	runCases(t, []tcase{
		{name: "refused connect redispatches to another server", spec: two, steps: func(h *harness) {
			h.send(get("/a"))
			h.refuseDial(errRefused)
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okTo("hi", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle},
			check: func(t *testing.T, h *harness) {
				wantAddrs("h:1 h:2")(t, h)
				a, b := h.pool.Server("a"), h.pool.Server("b")
				if !strings.HasPrefix(a.Stats().LastCheck, "passive") || a.Active() != 0 || b.Active() != 1 {
					t.Errorf("a: last check %q, active %d; b active %d", a.Stats().LastCheck, a.Active(), b.Active())
				}
			}},
		{name: "redispatch happens once: 503", spec: two, steps: func(h *harness) {
			h.send(get("/a"))
			h.refuseDial(errRefused)
			h.refuseDial(errRefused)
		}, want: want{end: "refuse 503", phase: PhaseConnecting, ended: true},
			check: func(t *testing.T, h *harness) {
				wantAddrs("h:1 h:2")(t, h)
				if h.pool.Server("a").Active()+h.pool.Server("b").Active() != 0 {
					t.Error("a server slot is still held")
				}
			}},
		{name: "no other server to redispatch to: 503", steps: func(h *harness) {
			h.send(get("/a"))
			h.refuseDial(errRefused)
		}, want: want{end: "refuse 503", phase: PhaseConnecting, ended: true}, check: wantAddrs("h:1")},
		{name: "local failure: 503 at once, server not marked", spec: two, steps: func(h *harness) {
			h.send(get("/a"))
			d := h.pending()
			d.s.LocalFailure(d.attempt, errors.New("engine in shutdown"))
		}, want: want{end: "refuse 503", phase: PhaseConnecting, ended: true},
			check: func(t *testing.T, h *harness) {
				wantAddrs("h:1")(t, h)
				if a := h.pool.Server("a"); a.Stats().LastCheck != "" || a.Active() != 0 {
					t.Errorf("a: last check %q (want none), active %d", a.Stats().LastCheck, a.Active())
				}
			}},
		{name: "connect timeout redispatches; the late connection is closed", spec: two + ";connect-timeout=1s", steps: func(h *harness) {
			h.send(get("/a"))
			h.advance(12)
			h.connect() // the first attempt, too late
			h.reply(h.connect(), ok("hi"))
		}, want: want{client: okTo("hi", "keep-alive"), servers: []string{"", fwd("GET", "/a")}, closed: "co", phase: PhaseIdle},
			check: func(t *testing.T, h *harness) {
				wantAddrs("h:1 h:2")(t, h)
				if lc := h.pool.Server("a").Stats().LastCheck; !strings.Contains(lc, "connect timeout") {
					t.Errorf("a: last check %q, want the connect timeout", lc)
				}
			}},
		{name: "connection arriving after the client left is closed", steps: func(h *harness) {
			h.send(get("/a"))
			h.client.closeConn()
			h.connect()
		}, want: want{servers: []string{""}, closed: "c", end: "closed", phase: PhaseConnecting, ended: true},
			check: func(t *testing.T, h *harness) {
				if h.pool.Server("a").Active() != 0 {
					t.Error("server slot still held")
				}
			}},
		{name: "failed write of the head: 502", steps: func(h *harness) {
			h.send(get("/a"))
			h.connectWith(func(s *fakeServer) { s.failWrite = true })
		}, want: want{servers: []string{""}, closed: "c", end: "refuse 502", phase: PhaseRequestBody, ended: true}},
		{name: "next request to another server ends the first", spec: two, steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), ok("1"))
			h.send(get("/b"))
			h.reply(h.connect(), ok("2"))
		}, want: want{client: okTo("1", "keep-alive") + okTo("2", "keep-alive"), servers: []string{fwd("GET", "/a"), fwd("GET", "/b")}, closed: "co", phase: PhaseIdle},
			check: wantAddrs("h:1 h:2")},
	})
}

// keptAlive runs GET /a to its response, then sends GET /b... (req) on the
// same server connection.
func keptAlive(h *harness, req string) *fakeServer {
	h.send(get("/a"))
	srv := h.connect()
	h.reply(srv, ok("1"))
	h.send(req)
	return srv
}

func TestRetry(t *testing.T) {
	const post0 = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
	runCases(t, []tcase{
		{name: "GET on a dead kept-alive connection is sent again once", steps: func(h *harness) {
			h.hangUp(keptAlive(h, get("/b")))
			h.wantPhase(PhaseConnecting)
			h.reply(h.connect(), ok("2"))
		}, want: want{client: okTo("1", "keep-alive") + okTo("2", "keep-alive"),
			servers: []string{fwd("GET", "/a") + fwd("GET", "/b"), fwd("GET", "/b")}, closed: "co", phase: PhaseIdle},
			check: func(t *testing.T, h *harness) {
				wantAddrs("h:1 h:1")(t, h)
				if len(h.env.warns) != 0 || h.pool.Server("a").Active() != 1 {
					t.Errorf("warnings %v, active %d", h.env.warns, h.pool.Server("a").Active())
				}
			}},
		{name: "failed write on a kept-alive connection is retried", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.reply(srv, ok("1"))
			srv.failWrite = true
			h.send(get("/b"))
			h.reply(h.connect(), ok("2"))
		}, want: want{client: okTo("1", "keep-alive") + okTo("2", "keep-alive"),
			servers: []string{fwd("GET", "/a"), fwd("GET", "/b")}, closed: "co", phase: PhaseIdle}},
		{name: "POST is not replayed: 502", steps: func(h *harness) {
			h.hangUp(keptAlive(h, post0+"\r\n"))
		}, want: want{client: okTo("1", "keep-alive"), servers: []string{fwd("GET", "/a") + post0 + xf + ka + "\r\n"}, closed: "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true},
			check: wantAddrs("h:1")},
		{name: "POST with an Idempotency-Key is retried", steps: func(h *harness) {
			h.hangUp(keptAlive(h, post0+"Idempotency-Key: k1\r\n\r\n"))
			h.reply(h.connect(), ok("2"))
		}, want: want{client: okTo("1", "keep-alive") + okTo("2", "keep-alive"),
			servers: []string{fwd("GET", "/a") + post0 + "Idempotency-Key: k1\r\n" + xf + ka + "\r\n", post0 + "Idempotency-Key: k1\r\n" + xf + ka + "\r\n"},
			closed:  "co", phase: PhaseIdle}},
		{name: "request with a body is not replayed", steps: func(h *harness) {
			h.hangUp(keptAlive(h, "PUT /b HTTP/1.1\r\nHost: h\r\nIdempotency-Key: k\r\nContent-Length: 1\r\n\r\nx"))
		}, want: want{client: okTo("1", "keep-alive"),
			servers: []string{fwd("GET", "/a") + "PUT /b HTTP/1.1\r\nHost: h\r\nIdempotency-Key: k\r\nContent-Length: 1\r\n" + xf + ka + "\r\nx"},
			closed:  "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true}},
		{name: "the retry itself is not retried", steps: func(h *harness) {
			h.hangUp(keptAlive(h, get("/b")))
			h.hangUp(h.connect())
		}, want: want{client: okTo("1", "keep-alive"), servers: []string{fwd("GET", "/a") + fwd("GET", "/b"), fwd("GET", "/b")}, closed: "cc", end: "refuse 502", phase: PhaseAwaitResponse, ended: true}},
		{name: "no retry once the response began", steps: func(h *harness) {
			srv := keptAlive(h, get("/b"))
			h.reply(srv, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
			h.hangUp(srv)
		}, want: want{client: okTo("1", "keep-alive") + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + ka + "\r\nab",
			servers: []string{fwd("GET", "/a") + fwd("GET", "/b")}, closed: "c", end: "linger", phase: PhaseResponseBody, ended: true},
			check: wantAddrs("h:1")},
	})
}

func TestTimeouts(t *testing.T) {
	runCases(t, []tcase{
		{name: "request body too slow: 408", steps: func(h *harness) {
			h.send(postHead + "Content-Length: 5\r\n\r\nab")
			h.connect()
			h.advance(99)
			h.wantPhase(PhaseRequestBody)
			h.advance(3)
		}, want: want{servers: []string{postHead + "Content-Length: 5\r\n" + xf + ka + "\r\nab"}, closed: "c", end: "refuse 408", phase: PhaseRequestBody, ended: true},
			check: func(t *testing.T, h *harness) {
				if len(h.env.timeouts) != 1 || h.env.timeouts[0] != "client" {
					t.Errorf("timeouts %v, want [client]", h.env.timeouts)
				}
			}},
		{name: "server too slow: 504", steps: func(h *harness) {
			h.send(get("/a"))
			h.connect()
			h.advance(299)
			h.wantPhase(PhaseAwaitResponse)
			h.advance(3)
		}, want: want{servers: []string{fwd("GET", "/a")}, closed: "c", end: "refuse 504", phase: PhaseAwaitResponse, ended: true},
			check: func(t *testing.T, h *harness) {
				if len(h.env.timeouts) != 1 || h.env.timeouts[0] != "server" {
					t.Errorf("timeouts %v, want [server]", h.env.timeouts)
				}
			}},
		{name: "body bytes push the server timeout back; then it closes the client", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.reply(srv, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\na")
			h.advance(200)
			h.reply(srv, "b")
			h.advance(200)
			h.wantPhase(PhaseResponseBody)
			if h.client.end != "" {
				h.t.Fatalf("timed out although bytes came: %q", h.client.end)
			}
			h.advance(102)
		}, want: want{client: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + ka + "\r\nab", servers: []string{fwd("GET", "/a")}, closed: "c", end: "linger", phase: PhaseResponseBody, ended: true}},
	})
}
