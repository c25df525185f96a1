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
		// issue 11 item 5: chunk framing is relayed as is, so it must be
		// CRLF (llhttp refuses bare LF), and no trailer may frame.
		{name: "bare LF", body: "2\nhi\n0\n\n", bad: true},
		{name: "bare LF after data", body: "2\r\nhi\n0\r\n\r\n", bad: true},
		{name: "bare LF ends the body", body: "0\r\n\n", bad: true},
		{name: "bare LF after a trailer", body: "0\r\nX: 1\n\r\n", bad: true},
		{name: "trailer Content-Length", body: "2\r\nhi\r\n0\r\nContent-Length: 50\r\n\r\n", bad: true},
		{name: "trailer transfer-ENCODING", body: "0\r\nX: 1\r\ntransfer-ENCODING: chunked\r\n\r\n", bad: true},
		{name: "trailers near framing names", body: "0\r\nContent-Length2: 1\r\nContent-Lengt: 1\r\nTransfer-Encodings: 1\r\nContent-Type: x\r\n\r\n", tail: "z"},
		{name: "hex upper", body: "A\r\n0123456789\r\n0\r\n\r\n"},
		{name: "no size", body: "\r\nhello\r\n", bad: true},
		{name: "bad hex", body: "5x\r\nhello\r\n", bad: true},
		{name: "missing CRLF after data", body: "2\r\nhiX\r\n", bad: true},
		{name: "size too long", body: "1000000000000000\r\n", bad: true},
		{name: "BWS before extension", body: "5 \t;a=\"b c\"\r\nhello\r\n0\r\n\r\n", tail: "x"},
		{name: "trailer with empty value", body: "0\r\nX:\r\n\r\n", tail: "x"},
		{name: "whitespace after size without extension", body: "5 \r\nhello\r\n0\r\n\r\n", bad: true},
		{name: "bare CR in extension", body: "5;a\rb\r\nhello\r\n0\r\n\r\n", bad: true},
		{name: "control character in extension", body: "5;a\x00\r\nhello\r\n0\r\n\r\n", bad: true},
		{name: "CR not followed by LF after size", body: "5\rhello\r\n0\r\n\r\n", bad: true},
		{name: "trailer obs-fold", body: "0\r\nX: a\r\n b\r\n\r\n", bad: true},
		{name: "trailer without colon", body: "0\r\nX-Sum 1\r\n\r\n", bad: true},
		{name: "trailer name not a token", body: "0\r\nX Sum: 1\r\n\r\n", bad: true},
		{name: "NUL in trailer value", body: "0\r\nX: a\x00\r\n\r\n", bad: true},
		{name: "bare CR ends the body", body: "0\r\r\n", bad: true},
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
