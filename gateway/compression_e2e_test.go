package gateway_test

import (
	"bytes"
	"compress/flate"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestE2ECompressionBroadcast: with -compression, a client that offers
// permessage-deflate gets it with no context takeover either way, receives
// broadcasts as compressed frames (RSV1) that inflate to the payload, while a
// client that did not offer it gets the same messages uncompressed.
func TestE2ECompressionBroadcast(t *testing.T) {
	requireE2E(t, false, false)
	g := startGateway(t, "-compression")

	deflating := dialRaw(t, g.Addr)
	key := newKey()
	req := strings.Replace(upgradeRequest(g.Addr, "/ws", key), "\r\n\r\n",
		"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n", 1)
	if _, err := deflating.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp := deflating.readResponse(t, 5*time.Second)
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.Contains(ext, "permessage-deflate") ||
		!strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover") {
		t.Fatalf("upgrade: %d, extensions %q", resp.StatusCode, ext)
	}
	plain := upgradeRaw(t, g.Addr, "/ws", 0)

	payload := bytes.Repeat([]byte("wsgate compresses a broadcast once for every subscriber. "), 200)
	plain.writeFrames(t, frameSpec{fin: true, op: 1, payload: payload})

	f, err := deflating.readFrame(time.Now().Add(5 * time.Second))
	if err != nil {
		t.Fatalf("deflating client: %v", err)
	}
	if f.rsv != 4 || f.op != 1 || len(f.payload) >= len(payload) {
		t.Fatalf("deflating client got rsv=%d op=%d %d bytes for a %d-byte text: want RSV1, compressed", f.rsv, f.op, len(f.payload), len(payload))
	}
	// RFC 7692 7.2.2: append the sync-flush tail, then inflate.
	got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(f.payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff}))))
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflate: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("inflated %d bytes, want the %d-byte payload", len(got), len(payload))
	}
	p, err := plain.readFrame(time.Now().Add(5 * time.Second))
	if err != nil || p.rsv != 0 || !bytes.Equal(p.payload, payload) {
		t.Fatalf("plain client: rsv=%d err=%v, payload equal %v", p.rsv, err, bytes.Equal(p.payload, payload))
	}
}
