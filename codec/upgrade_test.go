package codec

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// upgradeHead builds an upgrade request; edit removes ("-Name") or replaces
// ("Name: value") header lines, or replaces the request line ("GET ...").
func upgradeHead(edits ...string) []byte {
	reqLine := "GET /ws HTTP/1.1"
	headers := []string{
		"Host: example.com",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-WebSocket-Version: 13",
	}
	for _, e := range edits {
		switch {
		case strings.HasPrefix(e, "-"):
			name := e[1:]
			headers = slicesDeleteFunc(headers, func(h string) bool { return strings.HasPrefix(h, name+":") })
		case strings.Contains(e, " HTTP/"):
			reqLine = e
		case strings.HasPrefix(e, "+"):
			headers = append(headers, e[1:])
		default:
			name, _, _ := strings.Cut(e, ":")
			headers = slicesDeleteFunc(headers, func(h string) bool { return strings.HasPrefix(h, name+":") })
			headers = append(headers, e)
		}
	}
	return []byte(reqLine + "\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n")
}

func slicesDeleteFunc(s []string, del func(string) bool) []string {
	out := s[:0:0]
	for _, v := range s {
		if !del(v) {
			out = append(out, v)
		}
	}
	return out
}

type acceptCase struct {
	name        string
	head        []byte
	opts        UpgradeOptions
	status      int
	wantHeaders map[string]string // "" value: header must be absent
	wantHS      Handshake
}

var acceptCases = []acceptCase{
	{
		name:   "RFC 6455 sample key",
		head:   upgradeHead(),
		status: 101,
		wantHeaders: map[string]string{
			"Sec-WebSocket-Accept":     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
			"Upgrade":                  "websocket",
			"Connection":               "Upgrade",
			"Sec-WebSocket-Protocol":   "",
			"Sec-WebSocket-Extensions": "",
		},
	},
	{
		name:   "browser head",
		head:   []byte(chromeHead),
		status: 101,
		wantHeaders: map[string]string{
			"Sec-WebSocket-Accept":     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
			"Sec-WebSocket-Extensions": "", // compression off
		},
	},
	{
		name:   "missing key",
		head:   upgradeHead("-Sec-WebSocket-Key"),
		status: 400,
	},
	{
		name:   "key too short",
		head:   upgradeHead("Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="),
		status: 400,
	},
	{
		name:   "key of 24 chars that is not base64",
		head:   upgradeHead("Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="),
		status: 400,
	},
	{
		name:   "key of 24 chars decoding to 18 bytes",
		head:   upgradeHead("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA"),
		status: 400,
	},
	{
		name:   "two keys",
		head:   upgradeHead("+Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="),
		status: 400,
	},
	{
		name:        "wrong version",
		head:        upgradeHead("Sec-WebSocket-Version: 8"),
		status:      426,
		wantHeaders: map[string]string{"Sec-WebSocket-Version": "13"},
	},
	{
		name:   "missing version",
		head:   upgradeHead("-Sec-WebSocket-Version"),
		status: 400,
	},
	{
		name:        "POST (gobwas answers 405)",
		head:        upgradeHead("POST /ws HTTP/1.1"),
		status:      405,
		wantHeaders: map[string]string{"Allow": "GET"},
	},
	{
		name:   "HTTP/1.0 (gobwas answers 505)",
		head:   upgradeHead("GET /ws HTTP/1.0"),
		status: 505,
	},
	{
		name:   "missing Connection",
		head:   upgradeHead("-Connection"),
		status: 400,
	},
	{
		name:   "Connection without upgrade",
		head:   upgradeHead("Connection: keep-alive"),
		status: 400,
	},
	{
		name:   "Connection list with upgrade",
		head:   upgradeHead("Connection: keep-alive, Upgrade"),
		status: 101,
	},
	{
		name:   "missing Upgrade",
		head:   upgradeHead("-Upgrade"),
		status: 400,
	},
	{
		name:   "Upgrade to another protocol",
		head:   upgradeHead("Upgrade: h2c"),
		status: 400,
	},
	{
		name:   "missing Host",
		head:   upgradeHead("-Host"),
		status: 400,
	},
	{
		name:   "incomplete head",
		head:   upgradeHead()[:40],
		status: 400,
	},
	{
		name:   "origin not allowed",
		head:   upgradeHead("Origin: https://evil.example"),
		opts:   UpgradeOptions{Origins: []string{"https://good.example"}},
		status: 403,
	},
	{
		name:   "origin allowed, case-insensitive",
		head:   upgradeHead("Origin: HTTPS://Good.Example"),
		opts:   UpgradeOptions{Origins: []string{"https://good.example"}},
		status: 101,
	},
	{
		name:   "no origin with an allow list",
		head:   upgradeHead(),
		opts:   UpgradeOptions{Origins: []string{"https://good.example"}},
		status: 101,
	},
	{
		name:   "any origin without an allow list",
		head:   upgradeHead("Origin: https://evil.example"),
		status: 101,
	},
	{
		name:        "subprotocol: client order wins",
		head:        upgradeHead("Sec-WebSocket-Protocol: v1.chat, v2.chat"),
		opts:        UpgradeOptions{Subprotocols: []string{"v2.chat", "v1.chat"}},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Protocol": "v1.chat"},
		wantHS:      Handshake{Subprotocol: "v1.chat"},
	},
	{
		name:        "subprotocol: first offered one we know",
		head:        upgradeHead("Sec-WebSocket-Protocol: mqtt, v2.chat"),
		opts:        UpgradeOptions{Subprotocols: []string{"v2.chat"}},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Protocol": "v2.chat"},
		wantHS:      Handshake{Subprotocol: "v2.chat"},
	},
	{
		name:        "subprotocol: none in common",
		head:        upgradeHead("Sec-WebSocket-Protocol: mqtt"),
		opts:        UpgradeOptions{Subprotocols: []string{"v2.chat"}},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Protocol": ""},
	},
	{
		name:        "subprotocol: case-sensitive",
		head:        upgradeHead("Sec-WebSocket-Protocol: V2.Chat"),
		opts:        UpgradeOptions{Subprotocols: []string{"v2.chat"}},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Protocol": ""},
	},
	{
		name:        "deflate negotiated",
		head:        upgradeHead("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
		opts:        UpgradeOptions{Compression: true},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate;server_no_context_takeover;client_no_context_takeover"},
		wantHS:      Handshake{Deflate: true},
	},
	{
		name:        "deflate offered, compression off",
		head:        upgradeHead("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Extensions": ""},
	},
	{
		name:        "deflate with server_max_window_bits declined",
		head:        upgradeHead("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"),
		opts:        UpgradeOptions{Compression: true},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Extensions": ""},
	},
	{
		name:        "deflate with unknown parameter declined, next offer taken",
		head:        upgradeHead("Sec-WebSocket-Extensions: permessage-deflate; foo=1, permessage-deflate"),
		opts:        UpgradeOptions{Compression: true},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate;server_no_context_takeover;client_no_context_takeover"},
		wantHS:      Handshake{Deflate: true},
	},
	{
		name:        "other extension only",
		head:        upgradeHead("Sec-WebSocket-Extensions: x-webkit-deflate-frame"),
		opts:        UpgradeOptions{Compression: true},
		status:      101,
		wantHeaders: map[string]string{"Sec-WebSocket-Extensions": ""},
	},
}

func TestAccept(t *testing.T) {
	for _, tc := range acceptCases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			out, hs, err := Accept([]byte("prefix"), tc.head, &opts)
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatalf("dst prefix lost: %q", out)
			}
			resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(out[len("prefix"):])), nil)
			if rerr != nil {
				t.Fatalf("net/http cannot read the response %q: %v", out, rerr)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; response:\n%s", resp.StatusCode, tc.status, out)
			}
			if tc.status == 101 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if hs != tc.wantHS {
					t.Fatalf("handshake %+v, want %+v", hs, tc.wantHS)
				}
			} else {
				var he *HTTPError
				if !errors.As(err, &he) || he.Status != tc.status {
					t.Fatalf("err = %v, want an *HTTPError with status %d", err, tc.status)
				}
				if !resp.Close { // net/http turns Connection: close into Close
					t.Fatalf("error response without Connection: close:\n%s", out)
				}
				body, _ := io.ReadAll(resp.Body)
				if string(body) != he.Reason+"\n" {
					t.Fatalf("body %q, want the reason %q", body, he.Reason+"\n")
				}
			}
			for name, want := range tc.wantHeaders {
				got := strings.ReplaceAll(resp.Header.Get(name), " ", "")
				if got != strings.ReplaceAll(want, " ", "") {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestAcceptNilOptions(t *testing.T) {
	out, _, err := Accept(nil, upgradeHead(), nil)
	if err != nil || !bytes.HasPrefix(out, []byte("HTTP/1.1 101 ")) {
		t.Fatalf("got %q, %v", out, err)
	}
}

// AcceptRequest remakes the checks of gobwas's Upgrader on the parsed
// request: it must write, byte for byte, what the Upgrader-based Accept of
// before wrote (gobwasAccept), refusals included.
func TestAcceptRequestMatchesGobwas(t *testing.T) {
	heads := [][]byte{
		[]byte(chromeHead),
		upgradeHead("Origin: http://a", "Sec-WebSocket-Protocol: x, chat", "Sec-WebSocket-Extensions: permessage-deflate"),
		upgradeHead("Sec-WebSocket-Protocol: a b"),
		upgradeHead("Sec-WebSocket-Protocol: x", "+Sec-WebSocket-Protocol: chat"),
		upgradeHead("Sec-WebSocket-Extensions: ;;"),
		upgradeHead("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover", "+Sec-WebSocket-Extensions: permessage-deflate"),
		upgradeHead("Upgrade: h2c, websocket"),
		upgradeHead("Connection: upgrade , keep-alive"),
		upgradeHead("-Connection", "-Upgrade", "+connection: UPGRADE", "+upgrade: WebSocket", "+sec-websocket-origin: x"),
		upgradeHead("Sec-WebSocket-Version: 13, 8"),
		upgradeHead("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=", "Origin: http://b"),
		upgradeHead("Origin: http://b", "Sec-WebSocket-Version: 8"),
		upgradeHead("Sec-WebSocket-Version: 8", "Origin: http://b"),
		upgradeHead("PUT /ws HTTP/1.0"),
		upgradeHead("GET /ws HTTP/1.0"),
		upgradeHead("-Upgrade", "-Connection"),
		upgradeHead("-Sec-WebSocket-Key", "-Connection"),
	}
	opts := []UpgradeOptions{
		{},
		{Subprotocols: []string{"chat"}, Compression: true, Origins: []string{"http://a"}},
	}
	for _, o := range opts {
		for _, h := range heads {
			want, wantHS, wantErr := gobwasAccept([]byte("p"), h, &o)
			req, _, err := ParseRequestHead(h, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, hs, err := AcceptRequest([]byte("p"), req, &o)
			if string(got) != string(want) || hs != wantHS || (err == nil) != (wantErr == nil) {
				t.Errorf("head %q, options %+v:\nAcceptRequest %q %+v %v\ngobwas        %q %+v %v", h, o, got, hs, err, want, wantHS, wantErr)
			}
		}
	}
	for _, tc := range acceptCases {
		o := tc.opts
		want, wantHS, _ := gobwasAccept([]byte("p"), tc.head, &o)
		got, hs, _ := Accept([]byte("p"), tc.head, &o)
		if _, n, err := ParseRequestHead(tc.head, 0); err != nil || n == 0 {
			// Refused by the head parser before any handshake check: the
			// same status, the parser's reason.
			got, want = got[:len("pHTTP/1.1 400")], want[:len("pHTTP/1.1 400")]
		}
		if string(got) != string(want) || hs != wantHS {
			t.Errorf("%s:\nAccept %q %+v\ngobwas %q %+v", tc.name, got, hs, want, wantHS)
		}
	}
}

// gobwasAccept is Accept as it was before AcceptRequest: gobwas's Upgrader
// reading the head bytes again. It stays here as the reference.
func gobwasAccept(dst []byte, head []byte, opts *UpgradeOptions) ([]byte, Handshake, error) {
	var ext *wsflate.Extension
	u := ws.Upgrader{ReadBufferSize: max(len(head), 256)}
	if len(opts.Subprotocols) > 0 {
		u.Protocol = func(p []byte) bool {
			for _, s := range opts.Subprotocols {
				if string(p) == s {
					return true
				}
			}
			return false
		}
	}
	if opts.Compression {
		ext = &wsflate.Extension{Parameters: deflateParams}
		u.Negotiate = func(offer httphead.Option) (httphead.Option, error) {
			accept, err := ext.Negotiate(offer)
			if err != nil {
				return httphead.Option{}, nil
			}
			return accept, nil
		}
	}
	if len(opts.Origins) > 0 {
		u.OnHeader = func(key, value []byte) error {
			if string(key) == "Origin" && !originAllowed(opts.Origins, string(value)) {
				return errOriginRejected
			}
			return nil
		}
	}
	if !gobwasSecKeyValid(head) {
		u.OnBeforeUpgrade = func() (ws.HandshakeHeader, error) { return nil, errBadSecKey }
	}
	w := appendWriter{b: dst}
	hs, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), &w})
	if err != nil {
		status, reason := http.StatusBadRequest, "malformed or incomplete request head"
		var rej *ws.ConnectionRejectedError
		if errors.As(err, &rej) {
			reason = rej.Error()
			if rej.StatusCode() != 0 {
				status = rej.StatusCode()
			}
		}
		return AppendError(dst, status, reason), Handshake{}, &HTTPError{Status: status, Reason: reason}
	}
	res := Handshake{Subprotocol: hs.Protocol}
	if ext != nil {
		_, res.Deflate = ext.Accepted()
	}
	return w.b, res, nil
}

func gobwasSecKeyValid(head []byte) bool {
	seen := 0
	ok := true
	for len(head) > 0 {
		var line []byte
		line, head, _ = bytes.Cut(head, []byte("\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Key")) {
			continue
		}
		seen++
		value = bytes.Trim(value, " \t\r")
		ok = ok && len(value) == 24 && secKeyValid(string(value))
	}
	return seen <= 1 && ok
}
