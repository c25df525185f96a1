package codec

import (
	"bufio"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// chromeHead is a typical browser upgrade request.
const chromeHead = "GET /ws?room=lobby HTTP/1.1\r\n" +
	"Host: localhost:8080\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: http://localhost:8080\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
	"\r\n"

func TestParseRequestHeadValid(t *testing.T) {
	tests := []struct {
		name string
		head string
		want Request
	}{
		{
			name: "browser upgrade",
			head: chromeHead,
			want: Request{
				Method:     "GET",
				Target:     "/ws?room=lobby",
				Path:       "/ws",
				RawQuery:   "room=lobby",
				ProtoMinor: 1,
				Host:       "localhost:8080",
			},
		},
		{
			name: "HTTP/1.0 without Host",
			head: "GET / HTTP/1.0\r\n\r\n",
			want: Request{
				Method: "GET",
				Target: "/",
				Path:   "/",
			},
		},
		{
			name: "leading empty lines, bare LF, OWS around values",
			head: "\r\n\nPOST /x HTTP/1.1\nHost:   a.example \t\nX-Empty:\n\n",
			want: Request{
				Method:     "POST",
				Target:     "/x",
				Path:       "/x",
				ProtoMinor: 1,
				Host:       "a.example",
			},
		},
		{
			name: "absolute-form target",
			head: "GET http://a.example/ws/room?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
			want: Request{
				Method:     "GET",
				Target:     "http://a.example/ws/room?x=1",
				Path:       "/ws/room",
				RawQuery:   "x=1",
				ProtoMinor: 1,
				Host:       "a.example",
			},
		},
		{
			name: "asterisk-form",
			head: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
			want: Request{
				Method:     "OPTIONS",
				Target:     "*",
				Path:       "*",
				ProtoMinor: 1,
				Host:       "h",
			},
		},
		{
			// issue 11 item 3: the authority replaces Host (RFC 9112 3.2.2)
			name: "absolute-form target with another Host",
			head: "GET HTTP://internal.example:8080?x=1 HTTP/1.1\r\nHost: public.example\r\n\r\n",
			want: Request{
				Method:     "GET",
				Target:     "HTTP://internal.example:8080?x=1",
				Path:       "/",
				RawQuery:   "x=1",
				ProtoMinor: 1,
				Host:       "internal.example:8080",
			},
		},
		{
			name: "IP-literal Host",
			head: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
			want: Request{Method: "GET", Target: "/", Path: "/", ProtoMinor: 1, Host: "[::1]:8080"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const trailer = "\x81\x85pipelined"
			buf := []byte(tc.head + trailer)
			req, n, err := ParseRequestHead(buf, 16384)
			if err != nil {
				t.Fatalf(
					"ParseRequestHead: %v",
					err)
			}
			if n != len(tc.head) {
				t.Fatalf(
					"n = %d, want %d",
					n, len(tc.head))
			}
			got := *req
			got.Headers = nil
			tc.want.URI = tc.want.Path
			if tc.want.RawQuery != "" {
				tc.want.URI += "?" + tc.want.RawQuery
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf(
					"request = %+v, want %+v",
					got, tc.want)
			}
			checkHeadersAgainstNetHTTP(t, tc.head, req)

			// Byte at a time: incomplete until the last byte, then the same.
			for k := 0; k < len(tc.head); k++ {
				r, n, err := ParseRequestHead(buf[:k], 16384)
				if r != nil || n != 0 || err != nil {
					t.Fatalf(
						"prefix of %d bytes: got (%v, %d, %v), want (nil, 0, nil)",
						k, r, n, err)
				}
			}
			again, n2, err := ParseRequestHead(buf[:len(tc.head)], 16384)
			if err != nil || n2 != n || !reflect.DeepEqual(again, req) {
				t.Fatalf(
					"exact head: got (%+v, %d, %v), want (%+v, %d, nil)",
					again, n2, err, req, n)
			}
		})
	}
}

// checkHeadersAgainstNetHTTP compares the header list with what net/http reads
// from the same head (when it can read it: it refuses bare-LF-only heads less
// often than we accept them, so only CRLF heads are compared).
func checkHeadersAgainstNetHTTP(t *testing.T, head string, req *Request) {
	t.Helper()
	if strings.Contains(strings.ReplaceAll(head, "\r\n", ""), "\n") {
		return
	}
	hr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.TrimLeft(head, "\r\n"))))
	if err != nil {
		t.Fatalf(
			"net/http cannot read the head: %v",
			err)
	}
	for name, values := range hr.Header {
		if got := req.Header(name); got != values[0] {
			t.Errorf(
				"Header(%q) = %q, net/http says %q",
				name, got, values[0])
		}
	}
	if hr.Method != req.Method || hr.RequestURI != req.Target {
		t.Errorf(
			"method/target = %q %q, net/http says %q %q",
			req.Method, req.Target, hr.Method, hr.RequestURI)
	}
}

func TestParseRequestHeadErrors(t *testing.T) {
	tests := []struct {
		name   string
		head   string
		max    int
		status int // 0: incomplete
	}{
		{
			name:   "HTTP/0.9 request line without version",
			head:   "GET /\r\n\r\n",
			status: 400,
		},
		// issue 11 items 3 and 5
		{name: "HTTP/1.2", head: "GET / HTTP/1.2\r\nHost: h\r\n\r\n", status: 505},
		{name: "fragment in target", head: "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "invalid Host", head: "GET / HTTP/1.1\r\nHost: a b/c@d\r\n\r\n", status: 400},
		{name: "Host with userinfo", head: "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", status: 400},
		{name: "Host with bad port", head: "GET / HTTP/1.1\r\nHost: h:8x\r\n\r\n", status: 400},
		{name: "absolute-form with userinfo", head: "GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "absolute-form with empty host", head: "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{
			name:   "HTTP/2.0",
			head:   "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "HTTP/0.9 version",
			head:   "GET / HTTP/0.9\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "lower-case protocol name",
			head:   "GET / http/1.1\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "two spaces after method",
			head:   "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "method not a token",
			head:   "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "control character in target",
			head:   "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "non-ASCII byte in target",
			head:   "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "target in none of the four forms",
			head:   "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "trailing garbage after version",
			head:   "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "header line without colon",
			head:   "GET / HTTP/1.1\r\nHost h\r\n\r\n",
			status: 400,
		},
		{
			name:   "space before colon",
			head:   "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
			status: 400,
		},
		{
			name:   "empty header name",
			head:   "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n",
			status: 400,
		},
		{
			name:   "obs-fold",
			head:   "GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n b\r\n\r\n",
			status: 400,
		},
		{
			name:   "whitespace before first header",
			head:   "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
			status: 400,
		},
		{
			name:   "NUL in header value",
			head:   "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
			status: 400,
		},
		{
			name:   "bare CR",
			head:   "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
			status: 400,
		},
		{
			name:   "two Host headers",
			head:   "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
			status: 400,
		},
		{
			name:   "HTTP/1.1 without Host",
			head:   "GET / HTTP/1.1\r\nX: y\r\n\r\n",
			status: 400,
		},
		{
			name:   "bad request line refused before the head completes",
			head:   "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
			status: 400,
		},
		{
			name:   "over max",
			head:   "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 100) + "\r\n\r\n",
			max:    64,
			status: 431,
		},
		{
			name:   "over max without any line end",
			head:   strings.Repeat("A", 64),
			max:    64,
			status: 431,
		},
		{
			name:   "head one byte over max",
			head:   "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
			max:    len("GET / HTTP/1.1\r\nHost: h\r\n\r\n") - 1,
			status: 431,
		},
		{
			name:   "incomplete",
			head:   "GET / HTTP/1.1\r\nHost: h\r\n",
			status: 0,
		},
		{
			name:   "incomplete request line",
			head:   "GET / HTTP/1.",
			status: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 16384
			}
			req, n, err := ParseRequestHead([]byte(tc.head), max)
			if req != nil || n != 0 {
				t.Fatalf(
					"got (%+v, %d), want (nil, 0)",
					req, n)
			}
			if tc.status == 0 {
				if err != nil {
					t.Fatalf(
						"err = %v, want nil (incomplete)",
						err)
				}
				return
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Fatalf(
					"err = %v, want an *HTTPError with status %d",
					err, tc.status)
			}
			if tc.status == 431 && err != ErrHeadTooLarge {
				t.Fatalf(
					"err = %v, want ErrHeadTooLarge",
					err)
			}
		})
	}
}

func TestParseRequestHeadExactlyMax(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
	_, n, err := ParseRequestHead([]byte(head+"more"), len(head))
	if err != nil || n != len(head) {
		t.Fatalf(
			"got (%d, %v), want (%d, nil)",
			n, err, len(head))
	}
}

func TestRequestHeaderAndIsUpgrade(t *testing.T) {
	tests := []struct {
		name    string
		upgrade string
		want    bool
	}{
		{
			name:    "websocket",
			upgrade: "Upgrade: websocket\r\n",
			want:    true,
		},
		{
			name:    "case and list",
			upgrade: "upgrade: h2c, WebSocket\r\n",
			want:    true,
		},
		{
			name:    "other protocol",
			upgrade: "Upgrade: h2c\r\n",
			want:    false,
		},
		{
			name:    "no Upgrade header",
			upgrade: "",
			want:    false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n" + tc.upgrade + "\r\n"
			req, _, err := ParseRequestHead([]byte(head), 1024)
			if err != nil {
				t.Fatal(err)
			}
			if got := req.IsUpgrade(); got != tc.want {
				t.Fatalf(
					"IsUpgrade() = %v, want %v",
					got, tc.want)
			}
			if got := req.Header("X-a"); got != "1" {
				t.Fatalf(
					"Header(X-a) = %q, want the first value %q",
					got, "1")
			}
			if got := req.Header("Missing"); got != "" {
				t.Fatalf(
					"Header(Missing) = %q, want empty",
					got)
			}
		})
	}
}
