package gateway

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
)

// The envelope is JSON any parser reads back to the message: text as a
// string (escapes, control bytes, non-UTF-8 replaced), binary as base64.
func TestEnvelopeEncoding(t *testing.T) {
	type env struct {
		Topic  string  `json:"topic"`
		Offset int64   `json:"offset"`
		Epoch  string  `json:"epoch"`
		Data   *string `json:"data"`
		B64    *string `json:"b64"`
	}
	for _, c := range []struct {
		op      ws.OpCode
		payload string
		want    string // data after decoding
	}{
		{ws.OpText, "hello", "hello"},
		{ws.OpText, `quote " backslash \ slash /`, `quote " backslash \ slash /`},
		{ws.OpText, "ctl \x00\x01\x1f\n\r\t end", "ctl \x00\x01\x1f\n\r\t end"},
		{ws.OpText, "été 日本 🎉 \u2028\u2029", "été 日本 🎉 \u2028\u2029"},
		{ws.OpText, "bad \xff\xfe utf8", "bad \ufffd\ufffd utf8"},
		{ws.OpText, "", ""},
		{ws.OpBinary, "\x00\x01\x02\xff", "\x00\x01\x02\xff"},
	} {
		raw := appendEnvelope(nil, "room/été", 42, "ep\"och", c.op, []byte(c.payload))
		if !json.Valid(raw) || !utf8.Valid(raw) {
			t.Fatalf("%q: not valid JSON: %s", c.payload, raw)
		}
		var e env
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if e.Topic != "room/été" || e.Offset != 42 || e.Epoch != "ep\"och" {
			t.Fatalf("%s: header fields", raw)
		}
		got := ""
		switch {
		case c.op == ws.OpText && e.Data != nil && e.B64 == nil:
			got = *e.Data
		case c.op == ws.OpBinary && e.B64 != nil && e.Data == nil:
			b, err := base64.StdEncoding.DecodeString(*e.B64)
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		default:
			t.Fatalf("%s: want exactly data (text) or b64 (binary)", raw)
		}
		if got != c.want {
			t.Fatalf("%s: data %q, want %q", raw, got, c.want)
		}
	}
}

// One envelope frame per message, shared by every loop and subscriber.
func TestEnvelopeFrameOnce(t *testing.T) {
	g := &Gateway{}
	m := &message{topic: "t", op: ws.OpText, pool: &g.frames, offset: 7, epoch: "E"}
	m.frame = g.frames.Get()
	m.frame.B = codec.AppendFrame(m.frame.B, ws.OpText, []byte("x"))
	m.hdrLen = len(m.frame.B) - 1
	var s1, s2 []byte
	a, b := m.envelope(&s1), m.envelope(&s2)
	if &a[0] != &b[0] {
		t.Fatal("the envelope was encoded twice")
	}
	if want := codec.AppendFrame(nil, ws.OpText, []byte(`{"topic":"t","offset":7,"epoch":"E","data":"x"}`)); string(a) != string(want) {
		t.Fatalf("frame %q, want %q", a, want)
	}
	m.refs.Store(1)
	m.release()
}

func TestSubscribeReply(t *testing.T) {
	f := appendSubscribeReply(nil, 3, false, true, 10, "E", "epoch changed", -1)
	want := `{"id":3,"subscribe":{"recovered":false,"offset":10,"epoch":"E","reason":"epoch changed"}}`
	if got := string(f[2:]); got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	f = appendSubscribeReply(nil, 1, false, false, 0, "E", "", -1)
	if got := string(f[2:]); got != `{"id":1,"subscribe":{"offset":0,"epoch":"E"}}` {
		t.Fatalf("plain subscribe reply %s", got)
	}
	f = appendSubscribeReply(nil, 2, true, true, 9, "E", "", 4)
	if got := string(f[2:]); got != `{"id":2,"subscribe":{"recovered":true,"offset":9,"epoch":"E","messages":4}}` {
		t.Fatalf("recovered reply %s", got)
	}
}
