package gateway_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// v1Frame is any frame a wsgate.v1 client receives.
type v1Frame struct {
	ID    *int64 `json:"id"`
	Topic string `json:"topic"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Subscribe *struct {
		Recovered *bool  `json:"recovered"`
		Offset    *int64 `json:"offset"`
		Epoch     string `json:"epoch"`
	} `json:"subscribe"`
	Unsubscribe *struct{} `json:"unsubscribe"`
}

func (f v1Frame) code() int {
	if f.Error == nil {
		return 0
	}
	return f.Error.Code
}

// Bad input on one wsgate.v1 socket (Node ws): every probe gets its documented answer and the
// socket stays up, 10,000 subscribes included.
func TestV1BadInput(t *testing.T) {
	requireE2E(t, true, false)
	g := startGateway(t, "-route", "/ws=topic:chat", "-route", "/t/=topic:*", "-history-size", "100", "-max-topics-per-conn", "64")
	// The same on the Kafka bus, where positions are partition offsets (since beyond the
	// high-water mark, another epoch).
	broker := startKafkadev(t, "127.0.0.1:0", "")
	k := startCluster(t, broker.Addr, 1, "-route", "/ws=topic:chat", "-route", "/t/=topic:*", "-history-size", "100")[0]
	for _, c := range []struct {
		g          *testGateway
		path       string
		otherTopic int            // the answer to a subscribe to another topic
		bulk       map[string]int // the answers to 10,000 subscribes to new topics
	}{
		{g, "/ws", 403, map[string]int{"403": 10000}},            // a fixed route allows its topic only
		{g, "/t/chat", 0, map[string]int{"ok": 62, "429": 9938}}, // chat + not-chat held: 62 more up to 64
		{k, "/ws", 403, map[string]int{"403": 10000}},
		{k, "/t/chat", 0, map[string]int{"ok": 62, "429": 9938}},
	} {
		g := c.g
		var out map[string]json.RawMessage
		runNodeJSON(t, 90*time.Second, &out, "resume-client.js", "--mode", "bad", "--url", g.wsURL(c.path),
			"--admin", "http://"+g.Admin, "--topic", "chat", "--timeout", "80000")
		if e, ok := out["error"]; ok {
			t.Fatalf("%s: resume-client.js: %s", c.path, e)
		}
		frame := func(name string) v1Frame {
			var f v1Frame
			if err := json.Unmarshal(out[name], &f); err != nil {
				t.Fatalf("%s %s: %v (%s)", c.path, name, err, out[name])
			}
			return f
		}
		for name, want := range map[string]int{
			"notJSON": 400, "notObject": 400, "unknownCommand": 404, "twoCommands": 400, "noTopic": 400,
			"badTopicName": 400, "badSince": 400, "otherTopic": c.otherTopic, "publishBad": 400, "publishB64": 400,
			"binaryFrame": 400, "position": 0, "stillUp": 0, "future": 0, "wrongEpoch": 0, "current": 0,
		} {
			f := frame(name)
			if f.code() != want || f.ID == nil || f.Topic != "" {
				t.Errorf("%s %s: %s, want code %d with an id and no topic", c.path, name, out[name], want)
			}
		}
		for name, recovered := range map[string]bool{"future": false, "wrongEpoch": false, "current": true} {
			f := frame(name)
			if f.Subscribe == nil || f.Subscribe.Recovered == nil || *f.Subscribe.Recovered != recovered || f.Subscribe.Offset == nil || f.Subscribe.Epoch == "" {
				t.Errorf("%s %s: %s, want recovered:%v with offset and epoch", c.path, name, out[name], recovered)
			}
		}
		var bulk map[string]int
		_ = json.Unmarshal(out["bulk"], &bulk)
		if len(bulk) != len(c.bulk) {
			t.Errorf("%s: 10,000 subscribes answered %v, want %v", c.path, bulk, c.bulk)
		}
		for k, v := range c.bulk {
			if bulk[k] != v {
				t.Errorf("%s: 10,000 subscribes answered %v, want %v", c.path, bulk, c.bulk)
			}
		}
	}
	if g.exited() {
		t.Fatal("the gateway stopped")
	}
}

// A wsgate.v1 socket's commands obey the upgrade's rules: on a topic:* route with auth=jwt and
// publish=none, a subscribe needs the token's topics claim and a publish its publish claim.
func TestV1AccessControl(t *testing.T) {
	requireE2E(t, true, false)
	m := mintTokens(t) // topics news, room-*; publish room-1
	g := startGateway(t, append(m.keyFlags(), "-route", "/rooms/=topic:*;publish=none;auth=jwt")...)
	run := func(path string, cmds string) []v1Frame {
		var out struct {
			Error    string    `json:"error"`
			Protocol string    `json:"protocol"`
			Replies  []v1Frame `json:"replies"`
		}
		runNodeJSON(t, 30*time.Second, &out, "resume-client.js", "--mode", "script", "--url", g.wsURL(path), "--cmds", cmds)
		if out.Error != "" || out.Protocol != "wsgate.v1" {
			t.Fatalf("%s: %s (protocol %q)", path, out.Error, out.Protocol)
		}
		return out.Replies
	}
	got := run("/rooms/room-2?token="+m.Tokens["hs256"], `[
		{"id":1,"subscribe":{"topic":"news"}},
		{"id":2,"subscribe":{"topic":"room-9"}},
		{"id":3,"subscribe":{"topic":"secret"}},
		{"id":4,"publish":{"topic":"room-1","data":"hi"}},
		{"id":5,"publish":{"topic":"room-2","data":"hi"}},
		{"id":6,"publish":{"topic":"news","data":"hi"}},
		{"id":7,"publish":{"topic":"secret","data":"hi"}},
		{"id":8,"unsubscribe":{"topic":"news"}}]`)
	for i, want := range []int{0, 0, 403, 0, 403, 403, 403, 0} {
		if got[i].code() != want || got[i].ID == nil || *got[i].ID != int64(i+1) {
			t.Errorf("command %d: %+v (error %+v), want code %d", i+1, got[i], got[i].Error, want)
		}
	}
	// A read-only fixed route: commands are answered (a v1 frame is a command, not a broadcast).
	// Its own gateway: beside an auth=jwt topic:* route it would need auth=jwt too (one topic namespace).
	g = startGateway(t, "-route", "/chat=topic:chat;publish=none")
	got = run("/chat", `[{"id":1,"publish":{"topic":"chat","data":"x"}},{"id":2,"subscribe":{"topic":"chat"}}]`)
	if got[0].code() != 403 || got[1].code() != 0 || got[1].Subscribe == nil {
		t.Errorf("read-only route: %+v %+v", got[0], got[1])
	}
}

// wsgate.v1 is the client's choice alone: offered on a topic route it wins over -subprotocols;
// not offered, -subprotocols applies as before; on a backend route it is the backend's business.
func TestV1Negotiation(t *testing.T) {
	g := startGateway(t, "-route", "/ws=topic:chat", "-subprotocols", "chat,superchat")
	for _, c := range []struct{ offer, want string }{
		{"chat, wsgate.v1", "wsgate.v1"},
		{"wsgate.v1", "wsgate.v1"},
		{"superchat, chat", "superchat"},
		{"other", ""},
	} {
		conn, resp := authRequest(t, g.Addr, "/ws", "Sec-WebSocket-Protocol: "+c.offer)
		conn.Close()
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Protocol") != c.want {
			t.Errorf("offer %q: %d %q, want 101 %q", c.offer, resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"), c.want)
		}
	}
}

// ?since=OFFSET&epoch=EPOCH on the URL resumes the URL's topic at the upgrade: the reply (id 0) and
// the recovered messages come first, before anything live.
func TestV1ResumeInURL(t *testing.T) {
	requireE2E(t, true, false)
	g := startGateway(t, "-route", "/ws=topic:chat", "-history-size", "100")
	type frames struct {
		Error   string            `json:"error"`
		Replies []json.RawMessage `json:"replies"`
	}
	script := func(url string, first int, cmds string) []json.RawMessage {
		var out frames
		runNodeJSON(t, 30*time.Second, &out, "resume-client.js", "--mode", "script", "--url", url,
			"--first", strconv.Itoa(first), "--cmds", cmds)
		if out.Error != "" {
			t.Fatalf("resume-client.js: %s", out.Error)
		}
		return out.Replies
	}
	var pos v1Frame
	_ = json.Unmarshal(script(g.wsURL("/ws"), 0, `[{"id":1,"subscribe":{"topic":"chat"}}]`)[0], &pos)
	if pos.Subscribe == nil || pos.Subscribe.Offset == nil {
		t.Fatalf("position: %+v", pos)
	}
	for i := range 3 {
		if code := publish(t, g, "chat", "", "", []byte("u"+strconv.Itoa(i))); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	got := script(g.wsURL("/ws?since="+strconv.FormatInt(*pos.Subscribe.Offset, 10)+"&epoch="+pos.Subscribe.Epoch), 4, `[]`)
	var rep v1Frame
	if err := json.Unmarshal(got[0], &rep); err != nil || rep.ID == nil || *rep.ID != 0 || rep.Subscribe == nil ||
		rep.Subscribe.Recovered == nil || !*rep.Subscribe.Recovered {
		t.Fatalf("first frame: %s", got[0])
	}
	for i, raw := range got[1:] {
		var e struct {
			Topic string `json:"topic"`
			Data  string `json:"data"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Topic != "chat" || e.Data != "u"+strconv.Itoa(i) {
			t.Fatalf("recovered %d: %s", i, raw)
		}
	}
}
