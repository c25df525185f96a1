package resume

import (
	"errors"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/router"
)

// Every command gets its documented answer, byte for byte: 400 malformed,
// 403 not allowed, 404 unknown, 409 a resume still running, 429 over
// -max-topics-per-conn, 503 the bus refused; successes a reply with the id.
func TestCommands(t *testing.T) {
	h := newHarness(t, Config{MaxTopics: 3}, "/rooms/=topic:*", "/chat=topic:chat", "/ro=topic:ro;publish=none")
	c := h.open("/rooms/lobby", true, "", "")
	fixed := h.open("/chat", true, "", "")
	for _, tc := range []struct {
		c    *fakeClient
		op   ws.OpCode
		cmd  string
		want string
	}{
		{c, ws.OpBinary, `{"id":1,"subscribe":{"topic":"a"}}`, `{"id":0,"error":{"code":400,"message":"commands are JSON text messages"}}`},
		{c, ws.OpText, `[1]`, `{"id":0,"error":{"code":400,"message":"malformed command: not a JSON object"}}`},
		{c, ws.OpText, `{"id":"x","subscribe":{"topic":"a"}}`, `{"id":0,"error":{"code":400,"message":"malformed command: id must be an integer"}}`},
		{c, ws.OpText, `{"id":1.5,"subscribe":{"topic":"a"}}`, `{"id":0,"error":{"code":400,"message":"malformed command: id must be an integer"}}`},
		{c, ws.OpText, `{"id":2}`, `{"id":2,"error":{"code":400,"message":"malformed command: want exactly one of subscribe, unsubscribe, publish"}}`},
		{c, ws.OpText, `{"id":3,"subscribe":{"topic":"a"},"unsubscribe":{"topic":"a"}}`, `{"id":3,"error":{"code":400,"message":"malformed command: want exactly one of subscribe, unsubscribe, publish"}}`},
		{c, ws.OpText, `{"id":4,"hello":{}}`, `{"id":4,"error":{"code":404,"message":"unknown command \"hello\""}}`},
		{c, ws.OpText, `{"id":5,"subscribe":{}}`, `{"id":5,"error":{"code":400,"message":"malformed subscribe: want an object with a topic"}}`},
		{c, ws.OpText, `{"id":6,"unsubscribe":"a"}`, `{"id":6,"error":{"code":400,"message":"malformed unsubscribe: want an object with a topic"}}`},
		{c, ws.OpText, `{"id":7,"subscribe":{"topic":""}}`, `{"id":7,"error":{"code":400,"message":"malformed subscribe: empty topic name"}}`},
		{c, ws.OpText, `{"id":8,"subscribe":{"topic":"a/b"}}`, `{"id":8,"error":{"code":400,"message":"malformed subscribe: topic name \"a/b\": must be one path segment (no '/')"}}`},
		{c, ws.OpText, `{"id":9,"subscribe":{"topic":"a","since":{"offset":1}}}`, `{"id":9,"error":{"code":400,"message":"malformed subscribe: since needs offset and epoch"}}`},
		{c, ws.OpText, `{"id":10,"subscribe":{"topic":"a"}}`, `{"id":10,"subscribe":{"offset":0,"epoch":"E"}}`},
		{c, ws.OpText, `{"id":11,"subscribe":{"topic":"b"}}`, `{"id":11,"subscribe":{"offset":0,"epoch":"E"}}`},
		{c, ws.OpText, `{"id":12,"subscribe":{"topic":"c"}}`, `{"id":12,"error":{"code":429,"message":"over -max-topics-per-conn (3)"}}`},
		{c, ws.OpText, `{"id":13,"subscribe":{"topic":"a"}}`, `{"id":13,"subscribe":{"offset":0,"epoch":"E"}}`}, // held already: no new topic
		{c, ws.OpText, `{"id":14,"unsubscribe":{"topic":"b"}}`, `{"id":14,"unsubscribe":{}}`},
		{c, ws.OpText, `{"id":15,"unsubscribe":{"topic":"never"}}`, `{"id":15,"unsubscribe":{}}`},
		{c, ws.OpText, `{"id":16,"publish":{"data":"hi"}}`, `{"id":16,"publish":{}}`}, // the URL's topic
		{c, ws.OpText, `{"id":17,"publish":{"topic":"b","b64":"AAH/"}}`, `{"id":17,"publish":{}}`},
		{c, ws.OpText, `{"id":18,"publish":{"topic":"b","b64":"!!"}}`, `{"id":18,"error":{"code":400,"message":"malformed publish: b64 is not base64"}}`},
		{c, ws.OpText, `{"id":19,"publish":{"topic":"b","data":"x","b64":"AA=="}}`, `{"id":19,"error":{"code":400,"message":"malformed publish: want one of data, b64"}}`},
		{c, ws.OpText, `{"id":20,"publish":{"topic":"ro","data":"x"}}`, `{"id":20,"error":{"code":403,"message":"not allowed to publish to ro"}}`},
		{c, ws.OpText, `{"id":21,"publish":{"topic":"ro","b64":"!!"}}`, `{"id":21,"error":{"code":403,"message":"not allowed to publish to ro"}}`}, // access first
		{c, ws.OpText, `{"id":22,"subscribe":{"topic":"ro"}}`, `{"id":22,"subscribe":{"offset":0,"epoch":"E"}}`},                                   // read-only, not hidden
		{fixed, ws.OpText, `{"id":1,"subscribe":{"topic":"lobby"}}`, `{"id":1,"error":{"code":403,"message":"not allowed to subscribe to lobby"}}`},
		{fixed, ws.OpText, `{"id":2,"publish":{"topic":"lobby","data":"x"}}`, `{"id":2,"error":{"code":403,"message":"not allowed to publish to lobby"}}`},
		{fixed, ws.OpText, `{"publish":{"data":"x"}}`, `{"id":0,"publish":{}}`},
	} {
		h.l.Command(tc.c, tc.op, []byte(tc.cmd))
		got := tc.c.frames(t)
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	want := []published{{"lobby", router.OpText, "hi"}, {"b", router.OpBinary, "\x00\x01\xff"}, {"chat", router.OpText, "x"}}
	if len(h.env.published) != len(want) {
		t.Fatalf("published %q, want %q", h.env.published, want)
	}
	for i := range want {
		if h.env.published[i] != want[i] {
			t.Errorf("published %q, want %q", h.env.published[i], want[i])
		}
	}
	if h.env.denied != 3 {
		t.Errorf("%d publishes counted as denied, want 3", h.env.denied)
	}
	if h.env.subs != 4 { // lobby, a, ro; chat
		t.Errorf("%d subscriptions, want 4", h.env.subs)
	}
	h.env.pubErr = errors.New("bus closed")
	h.command(c, `{"id":23,"publish":{"data":"x"}}`)
	if got := c.frames(t); len(got) != 1 || got[0] != `{"id":23,"error":{"code":503,"message":"publish failed: bus closed"}}` {
		t.Errorf("publish on a failing bus: %q", got)
	}
	h.l.Close(c)
	h.l.Close(fixed)
	if h.env.subs != 0 || len(h.l.conns) != 0 {
		t.Errorf("after close: %d subscriptions, %d sockets", h.env.subs, len(h.l.conns))
	}
	h.command(c, `{"id":24,"subscribe":{"topic":"a"}}`) // a socket the loop no longer knows
	if got := c.frames(t); len(got) != 0 {
		t.Errorf("a closed socket was answered %q", got)
	}
}

// grants is a token's claims: topics it may read and publish to.
type grants struct{ read, write map[string]bool }

func (g grants) MaySubscribe(topic string) bool { return g.read[topic] }
func (g grants) MayPublish(topic string) bool   { return g.write[topic] }

// On a topic:* route with auth=jwt, commands obey the token the upgrade
// verified; on auth=request, only the URL's topic (the answer was about it).
func TestCommandsObeyToken(t *testing.T) {
	h := newHarness(t, Config{}, "/j/=topic:*;auth=jwt;publish=none")
	h.l.KeepClaims(grants{read: map[string]bool{"a": true, "b": true}, write: map[string]bool{"b": true}})
	c := h.open("/j/a", false, "", "")
	anon := h.open("/j/x", false, "", "") // KeepClaims is for one upgrade only
	hr := newHarness(t, Config{}, "/r/=topic:*;auth=request:authz/check", "backend authz=127.0.0.1:1")
	req := hr.open("/r/a", true, "", "")
	for _, tc := range []struct {
		c         *fakeClient
		cmd, want string
	}{
		{c, `{"id":1,"subscribe":{"topic":"b"}}`, `{"id":1,"subscribe":{"offset":0,"epoch":"E"}}`},
		{c, `{"id":2,"subscribe":{"topic":"z"}}`, `{"id":2,"error":{"code":403,"message":"not allowed to subscribe to z"}}`},
		{c, `{"id":3,"publish":{"topic":"b","data":"x"}}`, `{"id":3,"publish":{}}`},
		{c, `{"id":4,"publish":{"data":"x"}}`, `{"id":4,"error":{"code":403,"message":"not allowed to publish to a"}}`}, // the upgrade said no
		{anon, `{"id":5,"subscribe":{"topic":"b"}}`, `{"id":5,"error":{"code":403,"message":"not allowed to subscribe to b"}}`},
		{req, `{"id":6,"subscribe":{"topic":"b"}}`, `{"id":6,"error":{"code":403,"message":"not allowed to subscribe to b"}}`},
		{req, `{"id":7,"publish":{"data":"x"}}`, `{"id":7,"publish":{}}`},
	} {
		tc.c.l.Command(tc.c, ws.OpText, []byte(tc.cmd))
		if got := tc.c.frames(t); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
}

// A reply the client does not read closes it as a slow consumer, and the
// socket leaves every topic at once.
func TestReplyToSlowClient(t *testing.T) {
	h := newHarness(t, Config{MaxOutbound: 100}, "/rooms/=topic:*")
	c := h.open("/rooms/lobby", true, "", "")
	c.outbound = 101
	h.command(c, `{"id":1,"subscribe":{"topic":"a"}}`)
	if c.slow != 1 || c.open || h.env.subs != 0 {
		t.Fatalf("slow closes %d, open %v, subscriptions %d: want closed, none left", c.slow, c.open, h.env.subs)
	}
	h.command(c, `{"id":2,"subscribe":{"topic":"a"}}`)
	if c.slow != 1 {
		t.Fatal("a closed socket was written to")
	}
}
