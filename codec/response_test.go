package codec

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

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

func TestAppendResponseAndError(t *testing.T) {
	tests := []struct {
		name       string
		out        []byte
		status     int
		body       string
		header     string
		wantHeader string
	}{
		{
			name:       "200 with body",
			out:        AppendResponse([]byte("x"), 200, []HeaderField{{"Content-Type", "text/html"}}, []byte("<p>hi</p>")),
			status:     200,
			body:       "<p>hi</p>",
			header:     "Content-Type",
			wantHeader: "text/html",
		},
		{
			name:       "400",
			out:        AppendError([]byte("x"), 400, "bad thing"),
			status:     400,
			body:       "bad thing\n",
			header:     "Content-Type",
			wantHeader: "text/plain; charset=utf-8",
		},
		{
			name:       "426 carries the version",
			out:        AppendError([]byte("x"), 426, ""),
			status:     426,
			body:       "Upgrade Required\n",
			header:     "Sec-WebSocket-Version",
			wantHeader: "13",
		},
		{
			name:       "405 carries Allow",
			out:        AppendError([]byte("x"), 405, "no"),
			status:     405,
			body:       "no\n",
			header:     "Allow",
			wantHeader: "GET",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.out[0] != 'x' {
				t.Fatalf(
					"dst prefix lost: %q",
					tc.out)
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(tc.out[1:])), nil)
			if err != nil {
				t.Fatalf(
					"net/http cannot read %q: %v",
					tc.out, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(body) != tc.body || resp.Header.Get(tc.header) != tc.wantHeader {
				t.Fatalf(
					"got %d %q %s=%q, want %d %q %q",
					resp.StatusCode, body, tc.header, resp.Header.Get(tc.header), tc.status, tc.body, tc.wantHeader)
			}
			if tc.status >= 400 && !resp.Close { // net/http turns Connection: close into Close
				t.Fatalf(
					"error response without Connection: close: %q",
					tc.out)
			}
			if resp.ContentLength != int64(len(tc.body)) {
				t.Fatalf(
					"Content-Length = %d, want %d",
					resp.ContentLength, len(tc.body))
			}
		})
	}
}
