package codec

import (
	"errors"
	"testing"
)

func TestChunkedScanner(t *testing.T) {
	cases := []struct {
		name, body string
		tail       string // bytes after the body (next message)
		bad        bool
	}{
		{name: "simple", body: "5\r\nhello\r\n0\r\n\r\n", tail: "GET / HTTP/1.1\r\n"},
		{name: "two chunks", body: "3\r\nabc\r\n1A\r\n" + string(make([]byte, 26)) + "\r\n0\r\n\r\n"},
		{name: "extension", body: "5;name=value\r\nhello\r\n0;x\r\n\r\n", tail: "x"},
		{name: "trailers", body: "2\r\nhi\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", tail: "z"},
		{name: "bare LF", body: "2\nhi\n0\n\n", tail: "q"},
		{name: "hex upper", body: "A\r\n0123456789\r\n0\r\n\r\n"},
		{name: "no size", body: "\r\nhello\r\n", bad: true},
		{name: "bad hex", body: "5x\r\nhello\r\n", bad: true},
		{name: "missing CRLF after data", body: "2\r\nhiX\r\n", bad: true},
		{name: "size too long", body: "1000000000000000\r\n", bad: true},
	}
	for _, c := range cases {
		for _, step := range []int{0, 1, 2, 3, 7} {
			var s ChunkedScanner
			in := []byte(c.body + c.tail)
			consumed, done, failed := 0, false, false
			for !done && consumed < len(in) {
				end := len(in)
				if step > 0 && consumed+step < end {
					end = consumed + step
				}
				n, d, err := s.Scan(in[consumed:end])
				if err != nil {
					if !errors.Is(err, ErrBadChunk) {
						t.Fatalf("%s: unexpected error %v", c.name, err)
					}
					failed = true
					break
				}
				consumed += n
				done = d
			}
			if c.bad {
				if !failed {
					t.Errorf("%s step %d: accepted a bad body", c.name, step)
				}
				continue
			}
			if failed || !done || consumed != len(c.body) {
				t.Errorf("%s step %d: done=%v failed=%v consumed %d, want %d", c.name, step, done, failed, consumed, len(c.body))
			}
		}
	}
}

func TestRequestBodyOf(t *testing.T) {
	cases := []struct {
		headers []HeaderField
		kind    BodyKind
		n       int64
		bad     bool
	}{
		{nil, BodyNone, 0, false},
		{[]HeaderField{{"Content-Length", "10"}}, BodyLength, 10, false},
		{[]HeaderField{{"Content-Length", "0"}}, BodyNone, 0, false},
		{[]HeaderField{{"Transfer-Encoding", "chunked"}}, BodyChunked, 0, false},
		{[]HeaderField{{"Transfer-Encoding", "gzip, chunked"}}, BodyChunked, 0, false},
		{[]HeaderField{{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}, 0, 0, true},
		{[]HeaderField{{"Transfer-Encoding", "gzip"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "3"}, {"Content-Length", "4"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "3"}, {"Content-Length", "3"}}, BodyLength, 3, false},
		{[]HeaderField{{"Content-Length", "-1"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "+1"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "1 2"}}, 0, 0, true},
	}
	for i, c := range cases {
		kind, n, err := RequestBodyOf(&Request{Headers: c.headers})
		if c.bad {
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != 400 {
				t.Errorf("case %d: err %v, want a 400", i, err)
			}
			continue
		}
		if err != nil || kind != c.kind || n != c.n {
			t.Errorf("case %d: %v %d %v, want %v %d", i, kind, n, err, c.kind, c.n)
		}
	}
}

func TestParseResponseHead(t *testing.T) {
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"
	in := head + "\x81\x02hi"
	for i := 1; i < len(head); i++ {
		if r, n, err := ParseResponseHead([]byte(in[:i]), 4096); r != nil || n != 0 || err != nil {
			t.Fatalf("prefix %d: %v %d %v", i, r, n, err)
		}
	}
	r, n, err := ParseResponseHead([]byte(in), 4096)
	if err != nil || n != len(head) || r.Status != 101 || r.Reason != "Switching Protocols" || r.Header("upgrade") != "websocket" {
		t.Fatalf("%+v %d %v", r, n, err)
	}
	for _, bad := range []string{"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1 200 OK\r\n bad\r\n\r\n"} {
		if _, _, err := ParseResponseHead([]byte(bad), 4096); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, _, err := ParseResponseHead([]byte("HTTP/1.1 200 OK\r\nX: "+string(make([]byte, 100))), 64); err == nil {
		t.Error("accepted a head over the limit")
	}
	r, _, _ = ParseResponseHead([]byte("HTTP/1.0 200 OK\r\n\r\n"), 64)
	if k, _ := ResponseBodyOf(false, r); k != BodyUntilClose {
		t.Errorf("HTTP/1.0 response without length: %v", k)
	}
	if k, _ := ResponseBodyOf(true, r); k != BodyNone {
		t.Errorf("response to HEAD: %v", k)
	}
}

func TestCookies(t *testing.T) {
	r := &Request{Headers: []HeaderField{{"Cookie", "a=1; SERVERID=s2; b=2"}}}
	if v := CookieValue(r, "SERVERID"); v != "s2" {
		t.Fatalf("CookieValue = %q", v)
	}
	if v := RemoveCookie("a=1; SERVERID=s2; b=2", "SERVERID"); v != "a=1; b=2" {
		t.Fatalf("RemoveCookie = %q", v)
	}
	if v := RemoveCookie("SERVERID=s2", "SERVERID"); v != "" {
		t.Fatalf("RemoveCookie = %q", v)
	}
}
