package loadgen

import (
	"bytes"
	"errors"
	"testing"

	"github.com/wsgate/wsgate/codec/wstest"
)

func TestParseFrameServerFrames(t *testing.T) {
	for _, size := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'x'}, size)
		wire := AppendServerFrame(nil, OpBinary, payload)
		wire = append(wire, 0x81) // the start of the next frame must not be consumed
		f, n, err := ParseFrame(wire)
		if err != nil || n != len(wire)-1 {
			t.Fatalf("size %d: n=%d err=%v, want n=%d", size, n, err, len(wire)-1)
		}
		if !f.Fin || f.Op != OpBinary || f.Masked || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("size %d: got fin=%v op=%d masked=%v len=%d", size, f.Fin, f.Op, f.Masked, len(f.Payload))
		}
		// Every strict prefix is incomplete, never an error.
		for cut := 0; cut < len(wire)-1; cut += max(1, cut/3) {
			if _, n, err := ParseFrame(wire[:cut]); n != 0 || err != nil {
				t.Fatalf("size %d prefix %d: n=%d err=%v, want incomplete", size, cut, n, err)
			}
		}
	}
}

func TestParseFrameMaskedRoundTrip(t *testing.T) {
	payload := []byte("hello, gateway: 0123456789abcdef")
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	wire := AppendClientFrame(nil, OpText, payload, key)
	if wire[1]&0x80 == 0 {
		t.Fatal("client frame not masked")
	}
	if bytes.Contains(wire, payload) {
		t.Fatal("payload went out unmasked")
	}
	f, n, err := ParseFrame(wire)
	if err != nil || n != len(wire) || !f.Masked || f.Op != OpText || !bytes.Equal(f.Payload, payload) {
		t.Fatalf("n=%d err=%v f=%+v", n, err, f)
	}
	// A frame from the shared test client (codec/wstest, an encoder written independently) parses too.
	wire = wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: payload})
	f, n, err = ParseFrame(wire)
	if err != nil || n != len(wire) || !f.Masked || f.Op != OpText || !bytes.Equal(f.Payload, payload) {
		t.Fatalf("wstest frame: n=%d err=%v f=%+v", n, err, f)
	}
}

func TestParseFrameHeaderBits(t *testing.T) {
	// Non-final ping with RSV1: the parser reports, the loop decides.
	f, n, err := ParseFrame([]byte{0x49, 0x02, 'h', 'i'})
	if err != nil || n != 4 || f.Fin || f.Rsv != 4 || f.Op != OpPing || string(f.Payload) != "hi" {
		t.Fatalf("n=%d err=%v f=%+v", n, err, f)
	}
	if _, _, err := ParseFrame([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrBadLength) {
		t.Fatalf("64-bit length with the top bit: err=%v", err)
	}
	if _, _, err := ParseFrame([]byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}); !errors.Is(err, ErrFrameTooBig) {
		t.Fatalf("huge length: err=%v", err)
	}
}

func TestHandshake(t *testing.T) {
	// RFC 6455 §1.3's example key.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
	tg, err := ParseTarget("ws://127.0.0.1:8080/rooms/{i}?x=1")
	if err != nil {
		t.Fatal(err)
	}
	key := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	req := string(appendUpgradeRequest(nil, &tg, 42, &key))
	if !bytes.HasPrefix([]byte(req), []byte("GET /rooms/42?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")) {
		t.Fatalf("request %q", req)
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nsec-websocket-accept: " +
		wstest.AcceptKey("AQIDBAUGBwgJCgsMDQ4PEA==") + "\r\n\r\n\x81\x00" // the shared client's: an independent oracle
	if n, err := parseUpgradeResponse([]byte(resp), &key); err != nil || n != len(resp)-2 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if n, err := parseUpgradeResponse([]byte(resp[:20]), &key); n != 0 || err != nil {
		t.Fatalf("partial: n=%d err=%v", n, err)
	}
	bad := "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n"
	if _, err := parseUpgradeResponse([]byte(bad), &key); !errors.Is(err, ErrHandshake) {
		t.Fatalf("bad accept: err=%v", err)
	}
	if _, err := parseUpgradeResponse([]byte("HTTP/1.1 404 Not Found\r\n\r\n"), &key); !errors.Is(err, ErrHandshake) {
		t.Fatalf("404: err=%v", err)
	}
}

func TestParseSourcesAndStat(t *testing.T) {
	s, err := ParseSources("127.0.1.1-127.0.1.3, 127.0.2.9")
	if err != nil || len(s) != 4 || s[2].String() != "127.0.1.3" || s[3].String() != "127.0.2.9" {
		t.Fatalf("sources %v err %v", s, err)
	}
	if _, err := ParseSources("127.0.1.5-127.0.1.1"); err == nil {
		t.Fatal("backwards range accepted")
	}
	// comm with a space and a paren; utime 250 + stime 50 ticks = 3 s.
	stat := []byte("1234 (my (proc)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000000 200")
	if cpu, err := parseStatCPU(stat); err != nil || cpu != 3 {
		t.Fatalf("cpu %v err %v", cpu, err)
	}
}

func TestMonotonicMatchesClockGettime(t *testing.T) {
	a := Monotonic()
	b := monotonicSyscall(t)
	c := Monotonic()
	if b < a || b > c {
		t.Fatalf("runtime clock %d..%d does not bracket CLOCK_MONOTONIC %d", a, c, b)
	}
}
