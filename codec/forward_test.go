package codec

import (
	"errors"
	"net/http"
	"testing"
)

func TestAppendForwardedHead(t *testing.T) {
	cases := []struct {
		name, in, cookie, ip, want string
	}{
		{"plain GET", "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n", "", "10.0.0.1",
			"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
		{"HTTP/1.0 keeps its version", "GET / HTTP/1.0\r\n\r\n", "", "1.2.3.4",
			"GET / HTTP/1.0\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\nConnection: keep-alive\r\n\r\n"},
		{"hop-by-hop dropped, listed ones too", "POST / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nKeep-Alive: 5\r\nX-Secret: s\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\n\r\n", "", "ip",
			"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
		{"X-Forwarded-For appended, others replaced", "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: b, c\r\nX-Forwarded-Host: evil\r\n\r\n", "", "d",
			"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: a, b, c, d\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
		{"our cookie removed", "GET / HTTP/1.0\r\nCookie: a=1; SID=s1; b=2\r\nCookie: SID=s1\r\n\r\n", "SID", "ip",
			"GET / HTTP/1.0\r\nCookie: a=1; b=2\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nConnection: keep-alive\r\n\r\n"},
		{"upgrade keeps Connection and Upgrade", "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n", "", "ip",
			"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n"},
		// issue 11 item 1: Connection never removes framing, Host or ours
		{"Connection cannot drop Content-Length or Host", "POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length, Host, X-Forwarded-For, X-A\r\nContent-Length: 3\r\nX-A: 1\r\n\r\n", "", "ip",
			"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
		{"Connection cannot drop Transfer-Encoding", "POST / HTTP/1.1\r\nHost: h\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n", "", "ip",
			"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
		// issue 11 item 5: identical Content-Length once; Forwarded dropped
		{"identical Content-Length merged", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n", "", "ip",
			"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
		{"client Forwarded dropped", "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=10.6.6.6;host=admin\r\n\r\n", "", "ip",
			"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n"},
		// issue 11 item 3: absolute-form goes out in origin-form, Host = its authority
		{"absolute-form: authority replaces Host", "GET http://Inner.example:81/p?q=1 HTTP/1.1\r\nHost: public.example\r\nAccept: */*\r\n\r\n", "", "ip",
			"GET /p?q=1 HTTP/1.1\r\nHost: Inner.example:81\r\nAccept: */*\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: Inner.example:81\r\nConnection: keep-alive\r\n\r\n"},
		{"absolute-form on HTTP/1.0 adds Host", "GET http://inner.example HTTP/1.0\r\n\r\n", "", "ip",
			"GET / HTTP/1.0\r\nHost: inner.example\r\nX-Forwarded-For: ip\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: inner.example\r\nConnection: keep-alive\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, n, err := ParseRequestHead([]byte(c.in), 8192)
			if err != nil || n != len(c.in) {
				t.Fatalf("parse: n=%d err=%v", n, err)
			}
			if got := string(AppendForwardedHead(nil, req, c.cookie, c.ip)); got != c.want {
				t.Fatalf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestAppendClientResponseHead(t *testing.T) {
	cases := []struct {
		name, in            string
		tunnel, closeClient bool
		cookie, want        string
	}{
		{"keep-alive", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\n", false, false, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"},
		{"close, 1.0 server", "HTTP/1.0 404 Not Found\r\nX-A: 1\r\nConnection: X-A\r\n\r\n", false, true, "",
			"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n"},
		{"set cookie", "HTTP/1.1 204 No Content\r\n\r\n", false, false, "SID=s1; Path=/",
			"HTTP/1.1 204 No Content\r\nSet-Cookie: SID=s1; Path=/\r\nCache-Control: no-cache=\"set-cookie\"\r\nConnection: keep-alive\r\n\r\n"},
		{"tunnel keeps upgrade headers", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", true, false, "SID=s2; Path=/",
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\nSet-Cookie: SID=s2; Path=/\r\nCache-Control: no-cache=\"set-cookie\"\r\n\r\n"},
		// issue 11 items 1 and 4
		{"Connection cannot drop Content-Length", "HTTP/1.1 200 OK\r\nConnection: Content-Length, Transfer-Encoding\r\nContent-Length: 2\r\n\r\n", false, false, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"},
		{"Transfer-Encoding wins over Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\nTransfer-Encoding: chunked\r\n\r\n", false, true, "",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"},
		{"identical Content-Length merged", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", false, false, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, n, err := ParseResponseHead([]byte(c.in), 8192)
			if err != nil || n != len(c.in) {
				t.Fatalf("parse: n=%d err=%v", n, err)
			}
			if got := string(AppendClientResponseHead(nil, resp, c.tunnel, c.closeClient, c.cookie)); got != c.want {
				t.Fatalf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	if s := StatusOf(ErrHeadTooLarge); s != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("head too large: %d", s)
	}
	if s := StatusOf(errors.New("x")); s != http.StatusBadRequest {
		t.Fatalf("other: %d", s)
	}
}

// TestAppendInterimResponseHead is issue 11 item 4: a 1xx loses its
// hop-by-hop headers like any other response, and gets no Connection.
func TestAppendInterimResponseHead(t *testing.T) {
	in := "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nConnection: X-Secret, keep-alive\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nUpgrade: h2c\r\n\r\n"
	resp, _, err := ParseResponseHead([]byte(in), 8192)
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
	if got := string(AppendInterimResponseHead(nil, resp)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
