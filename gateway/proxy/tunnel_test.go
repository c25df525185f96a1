package proxy

import (
	"testing"
)

// WebSocket upgrades: the tunnel, its end, its timeout, and drain.

const (
	upgradeHead = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	upgradeReq = upgradeHead + "\r\n"
	upgradeFwd = upgradeHead + xf + "\r\n"
	accepted   = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	frameHi   = "\x81\x02hi"                 // server text frame "hi"
	frameHalf = "\x81\x05hel"                // the first 5 bytes of a server text frame "hello"
	clientHi  = "\x81\x82\x01\x02\x03\x04ik" // masked client text frame
)

// tunnel opens a tunnel and returns its server side.
func tunnel(h *harness) *fakeServer {
	h.send(upgradeReq)
	srv := h.connect()
	h.reply(srv, accepted)
	return srv
}

func TestTunnel(t *testing.T) {
	runCases(t, []tcase{
		{name: "upgrade accepted: bytes both ways", steps: func(h *harness) {
			srv := tunnel(h)
			h.reply(srv, frameHi)
			h.send(clientHi)
		}, want: want{client: accepted + frameHi, servers: []string{upgradeFwd + clientHi}, closed: "o", phase: PhaseTunnel},
			check: func(t *testing.T, h *harness) {
				if h.env.tunnels != 1 || h.env.tunnelByte != len(frameHi)+len(clientHi) {
					t.Errorf("tunnels %d, tunnel bytes %d", h.env.tunnels, h.env.tunnelByte)
				}
				if a := h.pool.Server("a"); a.BytesIn() != uint64(len(clientHi)) || a.BytesOut() != uint64(len(frameHi)) {
					t.Errorf("server a: bytes in %d, out %d", a.BytesIn(), a.BytesOut())
				}
			}},
		{name: "frames right behind the 101 and early client frames", steps: func(h *harness) {
			h.send(upgradeReq + clientHi)
			srv := h.connect()
			h.reply(srv, accepted+frameHi)
		}, want: want{client: accepted + frameHi, servers: []string{upgradeFwd + clientHi}, closed: "o", phase: PhaseTunnel}},
		{name: "sticky upgrade sets the cookie on the 101", spec: "app=a@h:1;cookie=SID", steps: func(h *harness) {
			tunnel(h)
		}, want: want{client: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSet-Cookie: SID=a; Path=/\r\nCache-Control: no-cache=\"set-cookie\"\r\n\r\n",
			servers: []string{upgradeFwd}, closed: "o", phase: PhaseTunnel}},
		{name: "upgrade refused by the server", steps: func(h *harness) {
			h.send(upgradeReq)
			h.reply(h.connect(), "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
		}, want: want{client: "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n" + ka + "\r\nno", servers: []string{upgradeFwd}, closed: "o", phase: PhaseIdle},
			check: func(t *testing.T, h *harness) {
				if h.env.tunnels != 0 {
					t.Error("a refused upgrade counted as a tunnel")
				}
			}},
		// issue 11 item 4: RFC 9110 7.8, a 101 nobody asked for is a 502
		{name: "101 to a request that did not ask to upgrade is a 502", steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		}, want: want{servers: []string{fwd("GET", "/a")}, closed: "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true}},
		// review finding 1: h2c smuggled through a WebSocket upgrade
		{name: "h2c smuggling: the server sees a WebSocket upgrade only, its 101 to h2c is a 502", steps: func(h *harness) {
			h.send("GET /public/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nConnection: HTTP2-Settings\r\n" +
				"Upgrade: websocket, h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
			h.reply(h.connect(), "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		}, want: want{servers: []string{"GET /public/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" + xf + "\r\n"},
			closed: "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true},
			check: func(t *testing.T, h *harness) {
				if h.env.tunnels != 0 {
					t.Error("a 101 to h2c opened a tunnel")
				}
			}},
		{name: "101 listing websocket and h2c is a 502", steps: func(h *harness) {
			h.send(upgradeReq)
			h.reply(h.connect(), "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\n\r\n")
		}, want: want{servers: []string{upgradeFwd}, closed: "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true}},
		{name: "101 without Upgrade is a 502", steps: func(h *harness) {
			h.send(upgradeReq)
			h.reply(h.connect(), "HTTP/1.1 101 Switching Protocols\r\n\r\n")
		}, want: want{servers: []string{upgradeFwd}, closed: "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true}},
		{name: "101 with Upgrade: WebSocket in another case opens the tunnel", steps: func(h *harness) {
			h.send(upgradeReq)
			h.reply(h.connect(), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n\r\n")
		}, want: want{client: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n\r\n",
			servers: []string{upgradeFwd}, closed: "o", phase: PhaseTunnel}},
		{name: "server closes between frames: close 1001", steps: func(h *harness) {
			srv := tunnel(h)
			h.reply(srv, frameHi)
			h.hangUp(srv)
		}, want: want{client: accepted + frameHi, servers: []string{upgradeFwd}, closed: "c", end: "away: backend server went away", phase: PhaseTunnel, ended: true}},
		{name: "server closes mid frame: no close frame", steps: func(h *harness) {
			srv := tunnel(h)
			h.reply(srv, frameHalf)
			h.hangUp(srv)
		}, want: want{client: accepted + frameHalf, servers: []string{upgradeFwd}, closed: "c", end: "linger", phase: PhaseTunnel, ended: true}},
		{name: "client closes the tunnel", steps: func(h *harness) {
			tunnel(h)
			h.client.closeConn()
		}, want: want{client: accepted, servers: []string{upgradeFwd}, closed: "c", end: "closed", phase: PhaseTunnel, ended: true}, check: wantActive(0)},
		{name: "failed write to the client ends the tunnel", steps: func(h *harness) {
			srv := tunnel(h)
			h.client.failWrite = true
			h.reply(srv, frameHi)
		}, want: want{client: accepted, servers: []string{upgradeFwd}, closed: "c", end: "closed", phase: PhaseTunnel, ended: true},
			check: func(t *testing.T, h *harness) {
				if h.env.tunnelByte != 0 {
					t.Errorf("%d tunnel bytes counted for a failed write", h.env.tunnelByte)
				}
			}},
		{name: "idle tunnel times out; traffic keeps it", spec: "app=a@h:1;tunnel-timeout=2s", steps: func(h *harness) {
			srv := tunnel(h)
			h.advance(15)
			h.send(clientHi)
			h.advance(15)
			h.reply(srv, frameHi)
			h.advance(15)
			if h.client.end != "" {
				h.t.Fatalf("tunnel with traffic timed out: %q", h.client.end)
			}
			h.advance(7)
		}, want: want{client: accepted + frameHi, servers: []string{upgradeFwd + clientHi}, closed: "c", end: "linger", phase: PhaseTunnel, ended: true},
			check: func(t *testing.T, h *harness) {
				if len(h.env.timeouts) != 1 || h.env.timeouts[0] != "tunnel" {
					t.Errorf("timeouts %v, want [tunnel]", h.env.timeouts)
				}
			}},
	})
}

func TestDrain(t *testing.T) {
	runCases(t, []tcase{
		{name: "tunnel between frames: close 1001", steps: func(h *harness) {
			h.reply(tunnel(h), frameHi)
			h.last().Drain()
		}, want: want{client: accepted + frameHi, servers: []string{upgradeFwd}, closed: "c", end: "away: server shutting down", phase: PhaseTunnel, ended: true}},
		{name: "tunnel mid frame: closed without a frame", steps: func(h *harness) {
			h.reply(tunnel(h), frameHalf)
			h.last().Drain()
		}, want: want{client: accepted + frameHalf, servers: []string{upgradeFwd}, closed: "c", end: "linger", phase: PhaseTunnel, ended: true}},
		{name: "idle keep-alive closes", steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), ok("1"))
			h.last().Drain()
		}, want: want{client: okTo("1", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "c", end: "linger", phase: PhaseIdle, ended: true}},
		{name: "request in flight finishes with Connection: close", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.last().Drain()
			h.reply(srv, ok("1"))
		}, want: want{client: okTo("1", "close"), servers: []string{fwd("GET", "/a")}, closed: "c", end: "linger", phase: PhaseResponseBody, ended: true}},
	})
}
