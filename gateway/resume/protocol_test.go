package resume

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/client"
)

// wsgate.v1 is the client's choice alone: any Sec-WebSocket-Protocol header
// that lists it, in any case of the header's name.
func TestOffers(t *testing.T) {
	for _, tc := range []struct {
		headers []codec.HeaderField
		want    bool
	}{
		{[]codec.HeaderField{{Name: "Sec-WebSocket-Protocol", Value: "wsgate.v1"}}, true},
		{[]codec.HeaderField{{Name: "sec-websocket-protocol", Value: "chat, wsgate.v1"}}, true},
		{[]codec.HeaderField{{Name: "Sec-WebSocket-Protocol", Value: "chat"}, {Name: "Sec-WebSocket-Protocol", Value: " wsgate.v1 "}}, true},
		{[]codec.HeaderField{{Name: "Sec-WebSocket-Protocol", Value: "wsgate.v2, chat"}}, false},
		{[]codec.HeaderField{{Name: "X-Protocol", Value: "wsgate.v1"}}, false},
		{nil, false},
	} {
		if got := Offers(&codec.Request{Headers: tc.headers}); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.headers, got, tc.want)
		}
	}
	n := New(Config{Upgrade: codec.UpgradeOptions{Subprotocols: []string{"chat"}, Compression: true}}, prometheus.NewRegistry())
	if up := n.Upgrade(); len(up.Subprotocols) != 1 || up.Subprotocols[0] != Protocol || !up.Compression {
		t.Fatalf("upgrade options %+v: want wsgate.v1 only, the rest the gateway's", up)
	}
}

func TestEnvelopeFrames(t *testing.T) {
	var js []byte
	f := AppendEnvelopeFrame([]byte("x"), &js, "t", 9, "E", ws.OpBinary, []byte{0, 1, 0xff})
	want := `{"topic":"t","offset":9,"epoch":"E","b64":"AAH/"}`
	if string(f[:1]) != "x" || string(f[3:]) != want || f[1] != 0x81 || int(f[2]) != len(want) {
		t.Fatalf("frame %q, want x then a text frame of %s", f, want)
	}
	if got := string(appendReply(nil, &js, 4, "unsubscribe")[2:]); got != `{"id":4,"unsubscribe":{}}` {
		t.Fatalf("reply %s", got)
	}
	if got := string(appendError(nil, &js, 5, 403, `no "x"`)[2:]); got != `{"id":5,"error":{"code":403,"message":"no \"x\""}}` {
		t.Fatalf("error %s", got)
	}
}

// GET /wsgate.js: the prebuilt keep-alive answer, or one that says
// Connection: close; HEAD the same head without the body.
func TestScript(t *testing.T) {
	n := New(Config{}, prometheus.NewRegistry())
	var scratch []byte
	get := n.Script(&scratch, false, false)
	if !bytes.HasPrefix(get, []byte("HTTP/1.1 200 ")) || !bytes.HasSuffix(get, client.Script) ||
		!bytes.Contains(get, []byte("Content-Type: text/javascript; charset=utf-8\r\n")) || bytes.Contains(get, []byte("Connection: close")) {
		t.Fatalf("GET answer:\n%s", get[:len(get)-len(client.Script)])
	}
	closing := n.Script(&scratch, true, false)
	if !bytes.Contains(closing, []byte("Connection: close\r\n")) || !bytes.HasSuffix(closing, client.Script) || &closing[0] != &scratch[0] {
		t.Fatal("a closing answer says Connection: close, built in the scratch buffer")
	}
	head := n.Script(&scratch, false, true)
	if !bytes.Equal(head, get[:len(get)-len(client.Script)]) || !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		t.Fatalf("HEAD answer:\n%s", head)
	}
}
