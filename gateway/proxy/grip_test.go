package proxy

import (
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
)

// GRIP sessions: the offer, control messages, prefix stripping, the
// interleaving of publishes with the backend's fragmented messages, detach.

// fakeGrip is the gateway's side of GRIP: it records what sessions ask.
type fakeGrip struct {
	calls  []string // "attached", "sub C", "unsub C", "detached inMsg=B"
	events map[string]int
}

func (f *fakeGrip) Attached(Client)                 { f.calls = append(f.calls, "attached") }
func (f *fakeGrip) Subscribe(_ Client, ch string)   { f.calls = append(f.calls, "sub "+ch) }
func (f *fakeGrip) Unsubscribe(_ Client, ch string) { f.calls = append(f.calls, "unsub "+ch) }
func (f *fakeGrip) Event(kind string)               { f.events[kind]++ }
func (f *fakeGrip) Detached(_ Client, inMsg bool) {
	f.calls = append(f.calls, map[bool]string{false: "detached", true: "detached inMsg"}[inMsg])
}

const (
	gripSpec     = "app=a@h:1;grip"
	gripReq      = upgradeHead + "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
	gripFwd      = upgradeHead + "Sec-WebSocket-Extensions: grip\r\n" + xf + "\r\n"
	gripAccepted = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	toClient101 = gripAccepted + "\r\n" // no extension: the client never sees grip
)

// sf is a server frame.
func sf(fin bool, op ws.OpCode, payload string) string {
	return string(codec.AppendServerFrame(nil, fin, op, []byte(payload)))
}

func text(p string) string { return sf(true, ws.OpText, p) }

// gripSession opens a GRIP session whose 101 carries ext (the
// Sec-WebSocket-Extensions value; "" none) and returns the server side.
func gripSession(h *harness, ext string) (*fakeServer, *fakeGrip) {
	g := &fakeGrip{events: map[string]int{}}
	h.lp.Grip = &GripConfig{Env: g, MaxMessage: 1 << 16, MaxPending: 64}
	h.send(gripReq)
	srv := h.connect()
	resp := gripAccepted
	if ext != "" {
		resp += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	h.reply(srv, resp+"\r\n")
	return srv, g
}

func wantCalls(t *testing.T, g *fakeGrip, want ...string) {
	t.Helper()
	if got := strings.Join(g.calls, ","); got != strings.Join(want, ",") {
		t.Errorf("gateway calls %q, want %q", got, strings.Join(want, ","))
	}
}

func TestGrip(t *testing.T) {
	var g *fakeGrip
	runCases(t, []tcase{
		{name: "offer replaces the client's; control and prefixed messages", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.reply(srv, text(`c:{"type":"subscribe","channel":"news"}`)+text("m:hi")+text("dropped")+
				sf(true, ws.OpBinary, "m:\x00\x01")+text(`c:{"type":"unsubscribe","channel":"news"}`)+text(`c:{"type":"set-meta"}`))
			h.send(clientHi)
		}, want: want{client: toClient101 + frameHi + sf(true, ws.OpBinary, "\x00\x01"), servers: []string{gripFwd + clientHi},
			closed: "o", phase: PhaseTunnel},
			check: func(t *testing.T, h *harness) {
				wantCalls(t, g, "attached", "sub news", "unsub news")
				if g.events["dropped"] != 1 || g.events["control:unknown"] != 1 || g.events["control:subscribe"] != 1 {
					t.Errorf("events %v", g.events)
				}
			}},
		{name: "message-prefix parameter, fragmented control message", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, `grip; message-prefix="_"`)
			h.reply(srv, sf(false, ws.OpText, `c:{"type":"sub`)+sf(true, ws.OpContinuation, `scribe","channel":"a"}`)+text("_hi")+text("m:no"))
		}, want: want{client: toClient101 + frameHi, servers: []string{gripFwd}, closed: "o", phase: PhaseTunnel},
			check: func(t *testing.T, h *harness) { wantCalls(t, g, "attached", "sub a") }},
		{name: "empty prefix: every non-control message goes through", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, `grip; message-prefix=""`)
			h.reply(srv, text("hi"))
		}, want: want{client: toClient101 + frameHi, servers: []string{gripFwd}, closed: "o", phase: PhaseTunnel}},
		{name: "backend without grip: a plain tunnel, no extension shown", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "")
			h.reply(srv, text(`c:{"type":"subscribe","channel":"x"}`))
		}, want: want{client: toClient101 + text(`c:{"type":"subscribe","channel":"x"}`), servers: []string{gripFwd}, closed: "o", phase: PhaseTunnel},
			check: func(t *testing.T, h *harness) { wantCalls(t, g) }},
		{name: "publish mid fragmented message waits for its end, in order", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.reply(srv, sf(false, ws.OpText, "m:ab"))
			h.last().GripPublish([]byte(text("p1")), false)
			h.reply(srv, sf(false, ws.OpContinuation, "cd")+sf(true, ws.OpPing, "")) // a ping may come between fragments
			h.last().GripPublish([]byte(text("p2")), false)
			if strings.Contains(string(h.client.out), "p1") {
				h.t.Error("a publish was written inside the backend's message")
			}
			h.reply(srv, sf(true, ws.OpContinuation, "ef"))
			h.last().GripPublish([]byte(text("p3")), false)
		}, want: want{client: toClient101 + sf(false, ws.OpText, "ab") + sf(false, ws.OpContinuation, "cd") + sf(true, ws.OpPing, "") +
			sf(true, ws.OpContinuation, "ef") + text("p1") + text("p2") + text("p3"),
			servers: []string{gripFwd}, closed: "o", phase: PhaseTunnel}},
		{name: "publishes over the backlog bound close the client", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.reply(srv, sf(false, ws.OpText, "m:ab"))
			h.last().GripPublish([]byte(text(strings.Repeat("x", 40))), false)
			h.last().GripPublish([]byte(text(strings.Repeat("y", 40))), false)
		}, want: want{client: toClient101 + sf(false, ws.OpText, "ab"), servers: []string{gripFwd}, closed: "c",
			end: "away: publish backlog full while the backend sends a long message", phase: PhaseTunnel, ended: true}},
		{name: "a close publish waits for the message, then ends the session", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.reply(srv, sf(false, ws.OpText, "m:ab"))
			h.last().GripPublish(codec.AppendCloseFrame(nil, 1000, ""), true)
			h.reply(srv, sf(true, ws.OpContinuation, "cd"))
		}, want: want{client: toClient101 + sf(false, ws.OpText, "ab") + sf(true, ws.OpContinuation, "cd") + string(codec.AppendCloseFrame(nil, 1000, "")),
			servers: []string{gripFwd}, closed: "c", end: "linger", phase: PhaseTunnel, ended: true}},
		{name: "detach at a client frame boundary", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.send(clientHi)
			h.reply(srv, text(`c:{"type":"detach"}`)+text("m:lost"))
		}, want: want{client: toClient101, servers: []string{gripFwd + clientHi}, closed: "c", phase: PhaseTunnel, ended: true},
			check: func(t *testing.T, h *harness) { wantCalls(t, g, "attached", "detached") }},
		{name: "detach mid client frame: its rest is discarded first", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.send(clientHi[:4])
			h.reply(srv, text(`c:{"type":"detach"}`))
			if len(g.calls) != 1 {
				h.t.Errorf("handed over mid frame: %v", g.calls)
			}
			h.send(clientHi[4:])
		}, want: want{client: toClient101, servers: []string{gripFwd + clientHi[:4]}, closed: "c", phase: PhaseTunnel, ended: true},
			check: func(t *testing.T, h *harness) {
				wantCalls(t, g, "attached", "detached")
				if len(h.client.in) != 0 {
					t.Errorf("client bytes left: %q", h.client.in)
				}
			}},
		{name: "detach inside a fragmented client message", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.send("\x01\x82\x01\x02\x03\x04ik") // text, no FIN
			h.reply(srv, text(`c:{"type":"detach"}`))
		}, want: want{client: toClient101, servers: []string{gripFwd + "\x01\x82\x01\x02\x03\x04ik"}, closed: "c", phase: PhaseTunnel, ended: true},
			check: func(t *testing.T, h *harness) { wantCalls(t, g, "attached", "detached inMsg") }},
		{name: "malformed control message: backend closed 1002, client 1001", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.reply(srv, text(`c:{"type":`))
		}, want: want{client: toClient101, servers: []string{gripFwd + string(codec.AppendMaskedCloseFrame(nil, 1002, "malformed control message"))},
			closed: "c", end: "away: backend server went away", phase: PhaseTunnel, ended: true},
			check: func(t *testing.T, h *harness) {
				if g.events["control:malformed"] != 1 {
					t.Errorf("events %v", g.events)
				}
			}},
		{name: "masked backend frame is a protocol error", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.reply(srv, clientHi)
		}, want: want{client: toClient101, servers: []string{gripFwd + string(codec.AppendMaskedCloseFrame(nil, 1002, codec.ErrMaskedServerFrame.Error()))},
			closed: "c", end: "away: backend server went away", phase: PhaseTunnel, ended: true}},
		{name: "keep-alive after the session is silent", spec: gripSpec, steps: func(h *harness) {
			var srv *fakeServer
			srv, g = gripSession(h, "grip")
			h.reply(srv, text(`c:{"type":"keep-alive","content":"ka","timeout":1}`))
			h.advance(5)
			h.reply(srv, text("m:hi")) // traffic to the client postpones it
			h.advance(9)
			if strings.Contains(string(h.client.out), "ka") {
				h.t.Error("keep-alive sent while the session was not silent")
			}
			h.advance(2)
		}, want: want{client: toClient101 + frameHi + text("ka"), servers: []string{gripFwd}, closed: "o", phase: PhaseTunnel}},
	})
}

func TestGripAccepted(t *testing.T) {
	for _, tc := range []struct {
		ext, prefix string
		ok          bool
	}{
		{"grip", "m:", true},
		{`grip; message-prefix=""`, "", true},
		{`grip;message-prefix="data:"`, "data:", true},
		{"permessage-deflate, grip", "m:", true},
		{"permessage-deflate", "", false},
		{"gripx", "", false},
	} {
		resp := &codec.Response{Headers: []codec.HeaderField{{Name: "Sec-WebSocket-Extensions", Value: tc.ext}}}
		prefix, ok := codec.GripAccepted(resp)
		if prefix != tc.prefix || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.ext, prefix, ok, tc.prefix, tc.ok)
		}
	}
}
