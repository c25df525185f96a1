package codec

import (
	"errors"
	"testing"
)

// Security review findings 1 and 3: upgrades forwarded as WebSocket only,
// hop-by-hop names from every Connection field, ASCII-only token folding.

const kelvin = "\u212A" // KELVIN SIGN: strings.EqualFold folds it to k

func TestForwardedUpgradeIsWebSocketOnly(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"h2c smuggled in the upgrade list and a second Connection field",
			"GET /public/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nConnection: HTTP2-Settings\r\nUpgrade: websocket, h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nSec-WebSocket-Key: k\r\n\r\n",
			"GET /public/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n"},
		{"HTTP2-Settings stripped even when not listed in Connection",
			"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nUpgrade: WebSocket\r\nHTTP2-Settings: AAMA\r\n\r\n",
			"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n"},
		{"every Connection field names hop-by-hop headers on plain HTTP",
			"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: X-Secret\r\nX-Secret: s\r\nHTTP2-Settings: AAMA\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _, err := ParseRequestHead([]byte(c.in), 4096)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(AppendForwardedHead(nil, req, "", "ip")); got != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestResponseConnectionFieldsAllCount(t *testing.T) {
	resp, _, err := ParseResponseHead([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nConnection: X-A\r\nX-A: 1\r\n\r\n"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
	if got := string(AppendClientResponseHead(nil, resp, false, false, "")); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestSwitchesToWebSocket(t *testing.T) {
	cases := []struct {
		upgrade string
		want    bool
	}{
		{"Upgrade: websocket\r\n", true},
		{"Upgrade: WebSocket\r\n", true},
		{"Upgrade: h2c\r\n", false},
		{"Upgrade: websocket, h2c\r\n", false},
		{"Upgrade: websocket\r\nUpgrade: h2c\r\n", false},
		{"Upgrade: websocket\r\nUpgrade: websocket\r\n", false},
		{"Upgrade: websoc" + kelvin + "et\r\n", false},
		{"", false},
	}
	for _, c := range cases {
		resp, _, err := ParseResponseHead([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"+c.upgrade+"\r\n"), 4096)
		if err != nil {
			t.Fatalf("%q: %v", c.upgrade, err)
		}
		if got := resp.SwitchesToWebSocket(); got != c.want {
			t.Errorf("%q: SwitchesToWebSocket %v, want %v", c.upgrade, got, c.want)
		}
	}
}

func TestASCIIOnlyFolding(t *testing.T) {
	if !ASCIIEqualFold("Transfer-ENCODING", "transfer-encoding") || ASCIIEqualFold("chun"+kelvin+"ed", "chunked") ||
		ASCIIEqualFold("a", "ab") || ASCIIEqualFold("\xc0", "\xe0") {
		t.Error("ASCIIEqualFold folds other than A-Z")
	}
	if HasToken("close, "+kelvin+"eep-alive", "keep-alive") || !HasToken("close, Keep-Alive", "keep-alive") {
		t.Error("HasToken folds non-ASCII")
	}
	req := &Request{ProtoMinor: 1, Headers: []HeaderField{{"Upgrade", "websoc" + kelvin + "et"}}}
	if req.IsUpgrade() {
		t.Error("IsUpgrade took a Kelvin sign for k")
	}
	// RFC 9112 6.1: a Transfer-Encoding whose final coding is not chunked is refused.
	for _, te := range []string{"chun" + kelvin + "ed", "gzip, chun" + kelvin + "ed"} {
		_, _, err := RequestBodyOf(&Request{ProtoMinor: 1, Headers: []HeaderField{{"Transfer-Encoding", te}}})
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != 400 {
			t.Errorf("request TE %q: err %v, want a 400", te, err)
		}
		kind, _, err := ResponseBody(false, &Response{Status: 200, ProtoMinor: 1, Headers: []HeaderField{{"Transfer-Encoding", te}}})
		if err != nil || kind != BodyUntilClose {
			t.Errorf("response TE %q: %v %v, want read until close", te, kind, err)
		}
	}
	if _, _, err := RequestBodyOf(&Request{ProtoMinor: 1, Headers: []HeaderField{{"Transfer-Encoding", "chunked, chun" + kelvin + "ed"}}}); err == nil {
		t.Error("chunked then a Kelvin chunked was taken as chunked once")
	}
	// A field name with a Kelvin sign is not Keep-Alive: it is not dropped as hop-by-hop.
	if isHopByHop(kelvin+"eep-Alive", nil) || !isHopByHop("KEEP-ALIVE", nil) {
		t.Error("isHopByHop folds non-ASCII")
	}
	if !FieldsHaveToken([]HeaderField{{"Connection", "keep-alive"}, {"connection", "close"}}, "Connection", "close") {
		t.Error("a close in the second Connection field was missed")
	}
}
