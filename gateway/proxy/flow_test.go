package proxy

import (
	"strings"
	"testing"
)

// Backpressure: a side is not read while the other side's outbound is over
// SendCap, and is read again from the timer once that is under half.

func (h *harness) wantPaused(f *fakeSide, paused bool) {
	h.t.Helper()
	if f.paused != paused {
		h.t.Fatalf("%s paused %v, want %v", f.name, f.paused, paused)
	}
}

func TestBackpressure(t *testing.T) {
	big := strings.Repeat("x", 300<<10) // more than SendCap
	runCases(t, []tcase{
		{name: "tunnel: server paused while the client is backlogged", steps: func(h *harness) {
			srv := tunnel(h)
			h.client.outbound = SendCap + 1
			h.reply(srv, frameHi)
			h.wantPaused(&srv.fakeSide, true)
			h.reply(srv, frameHi) // bytes that came before the pause took effect
			h.client.outbound = SendCap / 2
			h.advance(3)
			h.wantPaused(&srv.fakeSide, true) // not under half yet
			h.client.outbound = SendCap/2 - 1
			h.advance(1)
			h.wantPaused(&srv.fakeSide, false)
		}, want: want{client: accepted + frameHi + frameHi, servers: []string{upgradeFwd}, closed: "o", phase: PhaseTunnel}},
		{name: "tunnel: client paused while the server is backlogged", steps: func(h *harness) {
			srv := tunnel(h)
			srv.outbound = SendCap + 1
			h.send(clientHi)
			h.wantPaused(&h.client.fakeSide, true)
			srv.outbound = 0
			h.advance(1)
			h.wantPaused(&h.client.fakeSide, false)
			h.send(clientHi)
		}, want: want{client: accepted, servers: []string{upgradeFwd + clientHi + clientHi}, closed: "o", phase: PhaseTunnel}},
		{name: "request body: client paused, resumed, body completes", steps: func(h *harness) {
			h.send(postHead + "Content-Length: 6\r\n\r\n")
			srv := h.connect()
			srv.outbound = SendCap + 1
			h.send("abc")
			h.wantPaused(&h.client.fakeSide, true)
			srv.outbound = 0
			h.advance(1)
			h.wantPaused(&h.client.fakeSide, false)
			h.send("def")
		}, want: want{servers: []string{postHead + "Content-Length: 6\r\n" + xf + ka + "\r\nabcdef"}, closed: "o", phase: PhaseAwaitResponse}},
		{name: "response body: server paused, resumed, exchange completes", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.client.outbound = SendCap + 1
			h.reply(srv, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
			h.wantPaused(&srv.fakeSide, true)
			h.wantPhase(PhaseResponseBody)
			h.client.outbound = 0
			h.advance(1)
			h.wantPaused(&srv.fakeSide, false)
			h.reply(srv, "cd")
		}, want: want{client: okTo("abcd", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}},
		{name: "body that ends while the client is backlogged completes without a pause", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.client.outbound = SendCap + 1
			h.reply(srv, ok("hi"))
			if srv.pauses != 0 {
				h.t.Fatalf("server paused %d times", srv.pauses)
			}
		}, want: want{client: okTo("hi", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}},
		{name: "pipelined bytes piling up pause the client until the exchange ends", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.send("POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 307200\r\n\r\n" + big)
			h.wantPaused(&h.client.fakeSide, true)
			h.advance(3)
			h.wantPaused(&h.client.fakeSide, true) // a client waiting for its response is not resumed by the timer
			h.reply(srv, ok("1"))
			h.wantPaused(&h.client.fakeSide, false)
		}, want: want{client: okTo("1", "keep-alive"),
			servers: []string{fwd("GET", "/a") + "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 307200\r\n" + xf + ka + "\r\n" + big},
			closed:  "o", phase: PhaseAwaitResponse}},
		{name: "bytes held while connecting pause the client; connect releases them", steps: func(h *harness) {
			h.send(postHead + "Content-Length: 307203\r\n\r\n")
			h.send(big)
			h.wantPaused(&h.client.fakeSide, true)
			h.connect()
			h.wantPaused(&h.client.fakeSide, true) // still paused: the timer resumes it
			h.advance(1)
			h.wantPaused(&h.client.fakeSide, false)
			h.send("end")
		}, want: want{servers: []string{postHead + "Content-Length: 307203\r\n" + xf + ka + "\r\n" + big + "end"}, closed: "o", phase: PhaseAwaitResponse}},
		{name: "a client waiting for its response stays paused until the exchange ends", steps: func(h *harness) {
			h.send(postHead + "Content-Length: 307200\r\n\r\n")
			h.send(big)
			h.wantPaused(&h.client.fakeSide, true)
			srv := h.connect()
			h.advance(2)
			h.wantPaused(&h.client.fakeSide, true)
			h.reply(srv, ok("k"))
			h.wantPaused(&h.client.fakeSide, false)
		}, want: want{client: okTo("k", "keep-alive"), servers: []string{postHead + "Content-Length: 307200\r\n" + xf + ka + "\r\n" + big}, closed: "o", phase: PhaseIdle}},
	})
}
