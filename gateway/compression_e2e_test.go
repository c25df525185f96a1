package gateway_test

import (
	"bytes"
	"compress/flate"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// TestE2ECompressionBroadcast: with -compression, a client that offers
// permessage-deflate gets it with no context takeover either way, receives
// broadcasts as compressed frames (RSV1) that inflate to the payload, while a
// client that did not offer it gets the same messages uncompressed.
func TestE2ECompressionBroadcast(t *testing.T) {
	requireE2E(t, false, false)
	g := startGateway(t, "-compression")

	deflating := dialRaw(t, g.Addr)
	key := wstest.NewKey()
	req := strings.Replace(wstest.UpgradeRequest(g.Addr, "/ws", key), "\r\n\r\n",
		"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n", 1)
	if _, err := deflating.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp := readResponse(t, deflating, 5*time.Second)
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.Contains(ext, "permessage-deflate") ||
		!strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover") {
		t.Fatalf("upgrade: %d, extensions %q", resp.StatusCode, ext)
	}
	plain := upgradeRaw(t, g.Addr, "/ws", 0)

	payload := bytes.Repeat([]byte("wsgate compresses a broadcast once for every subscriber. "), 200)
	writeFrames(t, plain, wstest.Frame{Fin: true, Op: 1, Payload: payload})

	f, err := deflating.ReadFrame(time.Now().Add(5 * time.Second))
	if err != nil {
		t.Fatalf("deflating client: %v", err)
	}
	if f.RSV != 4 || f.Op != 1 || len(f.Payload) >= len(payload) {
		t.Fatalf("deflating client got rsv=%d op=%d %d bytes for a %d-byte text: want RSV1, compressed", f.RSV, f.Op, len(f.Payload), len(payload))
	}
	// RFC 7692 7.2.2: append the sync-flush tail, then inflate.
	got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(f.Payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff}))))
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflate: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("inflated %d bytes, want the %d-byte payload", len(got), len(payload))
	}
	p, err := plain.ReadFrame(time.Now().Add(5 * time.Second))
	if err != nil || p.RSV != 0 || !bytes.Equal(p.Payload, payload) {
		t.Fatalf("plain client: rsv=%d err=%v, payload equal %v", p.RSV, err, bytes.Equal(p.Payload, payload))
	}
}
