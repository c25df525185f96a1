package codec

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/pool"
)

// Seeds beside the committed corpus in testdata/fuzz/FuzzParseRequestHead.
func FuzzParseRequestHead(f *testing.F) {
	f.Add([]byte(chromeHead), 16384)
	f.Add(upgradeHead("Sec-WebSocket-Version: 8"), 64)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max %= 1 << 16
		req, n, err := ParseRequestHead(data, max)
		if n < 0 || n > len(data) || (max > 0 && n > max) {
			t.Fatalf("n = %d, len = %d, max = %d", n, len(data), max)
		}
		if err != nil {
			var he *HTTPError
			if !errors.As(err, &he) || (he.Status != 400 && he.Status != 431 && he.Status != 505) || n != 0 || req != nil {
				t.Fatalf("error %v with (%v, %d)", err, req, n)
			}
			return
		}
		if n == 0 {
			if req != nil || (max > 0 && len(data) >= max) {
				t.Fatalf("incomplete with req %v, len %d >= max %d", req, len(data), max)
			}
			return
		}
		if req == nil || req.Method == "" || req.Target == "" {
			t.Fatalf("complete head without a request: %+v", req)
		}
		// The head alone parses the same, and any shorter prefix is incomplete.
		again, n2, err := ParseRequestHead(data[:n], max)
		if err != nil || n2 != n || !reflect.DeepEqual(again, req) {
			t.Fatalf("head alone: (%+v, %d, %v), want (%+v, %d)", again, n2, err, req, n)
		}
		if r, n3, err := ParseRequestHead(data[:n-1], max); r != nil || n3 != 0 || err != nil {
			t.Fatalf("prefix: (%+v, %d, %v), want incomplete", r, n3, err)
		}
		opts := &UpgradeOptions{Subprotocols: []string{"chat"}, Compression: true, Origins: []string{"http://a"}}
		out, hs, err := Accept(nil, data[:n], opts)
		// What AcceptRequest accepts, gobwas's Upgrader on the bytes accepted
		// with the same answer. (It may refuse what gobwas let through: a
		// Connection list that is not a token list, say. And gobwas refuses
		// the empty lines before a request line that RFC 9112 2.2 says to skip.)
		if err == nil && data[0] != '\r' && data[0] != '\n' {
			want, wantHS, _ := gobwasAccept(nil, data[:n], opts)
			if !bytes.Equal(out, want) || hs != wantHS {
				t.Fatalf("head %q:\nAccept %q %+v\ngobwas %q %+v", data[:n], out, hs, want, wantHS)
			}
		}
		if !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
			t.Fatalf("Accept wrote %q", out)
		}
		if err != nil {
			var he *HTTPError
			if !errors.As(err, &he) || he.Status < 400 || hs != (Handshake{}) {
				t.Fatalf("Accept error %v, handshake %+v", err, hs)
			}
		} else if !bytes.HasPrefix(out, []byte("HTTP/1.1 101 ")) || !req.IsUpgrade() {
			t.Fatalf("Accept agreed to %q on a request that is no upgrade", data[:n])
		}
	})
}

// Seeds beside the committed corpus in testdata/fuzz/FuzzParserNext.
func FuzzParserNext(f *testing.F) {
	f.Add(cat(cf(false, 0, ws.OpText, []byte("\xe2")), ping("p"), cf(true, 0, ws.OpContinuation, []byte("\x82\xac"))), false, uint16(0))
	f.Add(cf(true, rsv1, ws.OpText, deflate(f, []byte("hello hello hello"))), true, uint16(8))
	f.Fuzz(func(t *testing.T, data []byte, deflate bool, max uint16) {
		p := &Parser{Pool: new(pool.Pool), MaxMessage: int(max)}
		events, err := fuzzDecode(t, p, deflate, bytes.Clone(data))
		if err != nil {
			switch closeCode(err) {
			case ws.StatusProtocolError, ws.StatusInvalidFramePayloadData, ws.StatusMessageTooBig:
			default:
				t.Fatalf("error %v is not a CloseError with 1002, 1007 or 1009", err)
			}
		}
		for _, e := range events {
			switch e.Kind {
			case KindMessage:
				if e.Op == ws.OpText && !utf8.ValidString(e.Payload) {
					t.Fatalf("text message not UTF-8: %q", e.Payload)
				}
				if max > 0 && len(e.Payload) > int(max) {
					t.Fatalf("message of %d bytes over max %d", len(e.Payload), max)
				}
			case KindPing, KindPong, KindClose:
				if len(e.Payload) > 125 {
					t.Fatalf("control payload of %d bytes", len(e.Payload))
				}
			}
		}
		if len(data) > 4096 {
			return
		}
		// Byte at a time gives the same events and the same verdict.
		events2, err2 := decodeByteAtATime(t, p, deflate, bytes.Clone(data))
		if closeCode(err) != closeCode(err2) || !reflect.DeepEqual(events, events2) {
			t.Fatalf("whole: %+v %v; byte at a time: %+v %v", events, err, events2, err2)
		}
	})
}

// fuzzDecode is decodeAll with the invariants a fuzzer should check on the way.
func fuzzDecode(t *testing.T, p *Parser, deflate bool, stream []byte) ([]ev, error) {
	var d Decoder
	d.SetDeflate(deflate)
	defer p.Release(&d)
	var evs []ev
	for len(stream) > 0 {
		n, e, err := p.Next(&d, stream)
		if n < 0 || n > len(stream) {
			t.Fatalf("n = %d outside [0, %d]", n, len(stream))
		}
		if err != nil {
			if n != 0 || e.Kind != KindNone {
				t.Fatalf("error %v with n = %d, event %+v", err, n, e)
			}
			return evs, err
		}
		if n == 0 {
			return evs, nil
		}
		if e.Kind != KindMessage && e.Kind != KindNone && len(e.Payload) > 0 && &e.Payload[0] != &stream[n-len(e.Payload)] {
			t.Fatalf("control payload does not alias the frame")
		}
		evs = append(evs, copyEvent(e))
		stream = stream[n:]
	}
	return evs, nil
}

// Seeds beside the committed corpus in testdata/fuzz/FuzzParseResponseHead.
func FuzzParseResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"), 4096)
	f.Add([]byte("HTTP/1.0 200 OK\nContent-Length: 2\n\nhi"), 64)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max %= 1 << 16
		resp, n, err := ParseResponseHead(data, max)
		if n < 0 || n > len(data) || (max > 0 && n > max) {
			t.Fatalf("n = %d, len = %d, max = %d", n, len(data), max)
		}
		if err != nil {
			if !errors.Is(err, ErrBadResponse) || n != 0 || resp != nil {
				t.Fatalf("error %v with (%v, %d)", err, resp, n)
			}
			return
		}
		if n == 0 {
			if resp != nil || (max > 0 && len(data) >= max) {
				t.Fatalf("incomplete with resp %v, len %d >= max %d", resp, len(data), max)
			}
			return
		}
		if resp == nil || resp.Status < 100 || resp.Status > 599 {
			t.Fatalf("complete head with response %+v", resp)
		}
		// The head alone parses the same, and any shorter prefix is incomplete.
		again, n2, err := ParseResponseHead(data[:n], max)
		if err != nil || n2 != n || !reflect.DeepEqual(again, resp) {
			t.Fatalf("head alone: (%+v, %d, %v), want (%+v, %d)", again, n2, err, resp, n)
		}
		if r, n3, err := ParseResponseHead(data[:n-1], max); r != nil || n3 != 0 || err != nil {
			t.Fatalf("prefix: (%+v, %d, %v), want incomplete", r, n3, err)
		}
		// What the proxy writes from it (AppendHeader) reads back the same.
		out := fmt.Appendf(nil, "HTTP/1.%d %03d", resp.ProtoMinor, resp.Status)
		if resp.Reason != "" {
			out = append(append(out, ' '), resp.Reason...)
		}
		out = append(out, "\r\n"...)
		for _, h := range resp.Headers {
			out = AppendHeader(out, h.Name, h.Value)
		}
		out = append(out, "\r\n"...)
		back, n4, err := ParseResponseHead(out, 0)
		if err != nil || n4 != len(out) || !reflect.DeepEqual(back, resp) {
			t.Fatalf("rewritten %q: (%+v, %v), want %+v", out, back, err, resp)
		}
	})
}

// Seeds beside the committed corpus in testdata/fuzz/FuzzChunkedScanner.
func FuzzChunkedScanner(f *testing.F) {
	f.Add([]byte("5;a=b\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\nGET"), uint8(3))
	f.Add([]byte("a\nxxxxxxxxxx\n0\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		n, done, err := scanChunked(data, len(data))
		if n < 0 || n > len(data) || (err != nil && !errors.Is(err, ErrBadChunk)) || (err != nil && done) {
			t.Fatalf("(%d, %v, %v) for %d bytes", n, done, err, len(data))
		}
		// Any split of the input gives the same verdict.
		n2, done2, err2 := scanChunked(data, int(step)+1)
		if (err != nil) != (err2 != nil) || done != done2 || (err == nil && n != n2) {
			t.Fatalf("whole: (%d, %v, %v); in steps of %d: (%d, %v, %v)", n, done, err, int(step)+1, n2, done2, err2)
		}
		if !done {
			return
		}
		// The end does not depend on what follows, and no prefix is an end.
		if m, d, err := scanChunked(append(data[:n:n], "\x00garbage"...), len(data)); !d || m != n || err != nil {
			t.Fatalf("body then garbage: (%d, %v, %v), want (%d, true, nil)", m, d, err, n)
		}
		if _, d, _ := scanChunked(data[:n-1], len(data)); d {
			t.Fatalf("prefix of %d bytes ends the body", n-1)
		}
	})
}

// scanChunked feeds data to a new ChunkedScanner step bytes at a time until
// the body ends, fails, or the data runs out.
func scanChunked(data []byte, step int) (n int, done bool, err error) {
	var s ChunkedScanner
	for n < len(data) && !done {
		end := min(n+step, len(data))
		var k int
		k, done, err = s.Scan(data[n:end])
		n += k
		if err != nil {
			return n, false, err
		}
	}
	return n, done, nil
}
