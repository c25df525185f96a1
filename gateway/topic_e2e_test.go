package gateway_test

// Topic routes end to end: Node `ws` clients and the raw RFC 6455 client broadcast on one topic; every
// client (sender included) gets every message exactly once, unchanged, with its opcode, in one order;
// fragmented and compressed messages too.
//
// Run: `make test` (installs chromium and `npm ci` in gateway/testdata first), or directly
// `go test ./gateway -run E2E -v` once those are in place. WSGATE_E2E_SKIP=1 skips them.

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// broadcastSummary mirrors the JSON line printed by testdata/broadcast-clients.js.
type broadcastSummary struct {
	Clients           int      `json:"clients"`
	Opened            int      `json:"opened"`
	AllOpenInTime     bool     `json:"allOpenInTime"`
	ExpectedPerClient int      `json:"expectedPerClient"`
	BigSha            string   `json:"bigSha"`
	Errors            []string `json:"errors"`
	OpenMs            int      `json:"openMs"`
	ElapsedMs         int      `json:"elapsedMs"`
	OrderSha          string   `json:"orderSha"`
	Totals            struct {
		Received              int `json:"received"`
		Missing               int `json:"missing"`
		Duplicates            int `json:"duplicates"`
		PayloadMismatch       int `json:"payloadMismatch"`
		OpcodeMismatch        int `json:"opcodeMismatch"`
		Unrecognised          int `json:"unrecognised"`
		FifoViolations        int `json:"fifoViolations"`
		ClientsWithOtherOrder int `json:"clientsWithOtherOrder"`
		ClosedEarly           int `json:"closedEarly"`
	} `json:"totals"`
	PerClient []struct {
		Index              int    `json:"index"`
		Opened             bool   `json:"opened"`
		Received           int    `json:"received"`
		Missing            int    `json:"missing"`
		Duplicates         int    `json:"duplicates"`
		PayloadMismatch    int    `json:"payloadMismatch"`
		OpcodeMismatch     int    `json:"opcodeMismatch"`
		Unrecognised       int    `json:"unrecognised"`
		FifoViolations     int    `json:"fifoViolations"`
		SameOrderAsClient0 bool   `json:"sameOrderAsClient0"`
		FirstOrderDiff     int    `json:"firstOrderDiff"`
		BigSha             string `json:"bigSha"`
		FirstProblem       string `json:"firstProblem"`
		Closed             *struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		} `json:"closed"`
	} `json:"perClient"`
}

// checkBroadcast asserts exactly-once, unchanged, same-opcode delivery in one order to every client.
func checkBroadcast(t *testing.T, s *broadcastSummary, clients int) {
	t.Helper()
	if s.Opened != clients || !s.AllOpenInTime {
		t.Fatalf("%d of %d clients opened in time (errors: %v)", s.Opened, clients, s.Errors)
	}
	if len(s.PerClient) != clients {
		t.Fatalf("summary has %d clients, want %d", len(s.PerClient), clients)
	}
	if len(s.Errors) > 0 {
		t.Errorf("client errors: %v", s.Errors)
	}
	bad := 0
	for _, c := range s.PerClient {
		var problems []string
		if c.Received != s.ExpectedPerClient {
			problems = append(problems, fmt.Sprintf("received %d of %d", c.Received, s.ExpectedPerClient))
		}
		for _, p := range []struct {
			n    int
			what string
		}{
			{c.Missing, "missing"}, {c.Duplicates, "duplicates"}, {c.PayloadMismatch, "changed payloads"},
			{c.OpcodeMismatch, "wrong opcodes"}, {c.Unrecognised, "unrecognised messages"},
			{c.FifoViolations, "per-sender order violations"},
		} {
			if p.n != 0 {
				problems = append(problems, fmt.Sprintf("%d %s", p.n, p.what))
			}
		}
		if !c.SameOrderAsClient0 {
			problems = append(problems, fmt.Sprintf("order differs from client 0 at position %d", c.FirstOrderDiff))
		}
		if c.Closed != nil {
			problems = append(problems, fmt.Sprintf("closed early with %d %q", c.Closed.Code, c.Closed.Reason))
		}
		if len(problems) > 0 {
			bad++
			if bad <= 5 { // enough to diagnose without flooding the log
				t.Errorf("client %d: %s (first problem: %s)", c.Index, strings.Join(problems, "; "), c.FirstProblem)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d clients got a wrong stream; totals %+v", bad, clients, s.Totals)
	}
}

// Test 1: 50 Node `ws` clients on the default route each publish text and binary messages; everyone
// (sender included) receives everything exactly once, unchanged, same opcode, in one identical order.
func TestE2EBroadcastFiftyWSClients(t *testing.T) {
	requireE2E(t, true, false)
	g := startGateway(t)
	const clients, texts, binaries = 50, 20, 3
	var s broadcastSummary
	runNodeJSON(t, 90*time.Second, &s, "broadcast-clients.js",
		"--url", g.wsURL("/ws"), "--clients", strconv.Itoa(clients),
		"--text", strconv.Itoa(texts), "--binary", strconv.Itoa(binaries),
		"--open-timeout", "10000", "--timeout", "30000", "--grace", "500")
	t.Logf("broadcast: %d clients, %d msgs each, open %d ms, total %d ms, order %s",
		s.Clients, s.ExpectedPerClient, s.OpenMs, s.ElapsedMs, s.OrderSha)
	if s.ExpectedPerClient != clients*(texts+binaries) {
		t.Fatalf("script expected %d messages per client, want %d", s.ExpectedPerClient, clients*(texts+binaries))
	}
	checkBroadcast(t, &s, clients)
	if g.exited() {
		t.Fatal("gateway exited during the broadcast")
	}

	m := scrapeMetrics(t, g.Admin)
	published := float64(clients * (texts + binaries))
	m.atLeast(t, "wsgate_upgrades_total", "", clients)
	m.atLeast(t, "wsgate_messages_in_total", "", published)
	m.atLeast(t, "wsgate_messages_out_total", "", published*clients)
	m.atLeast(t, "wsgate_bytes_in_total", "", published) // every payload is longer than one byte
}

// Test 2: a 1 MiB binary message from one client reaches every client (sender included) unchanged.
func TestE2EOneMiBBinaryMessage(t *testing.T) {
	requireE2E(t, true, false)
	g := startGateway(t)
	const clients = 8
	var s broadcastSummary
	runNodeJSON(t, 60*time.Second, &s, "broadcast-clients.js",
		"--url", g.wsURL("/ws"), "--clients", strconv.Itoa(clients), "--text", "0", "--binary", "0",
		"--big", strconv.Itoa(1<<20), "--timeout", "20000", "--grace", "300")
	if len(s.BigSha) != 64 {
		t.Fatalf("script did not report the sha256 of what it sent: %q", s.BigSha)
	}
	checkBroadcast(t, &s, clients)
	for _, c := range s.PerClient {
		if c.BigSha != s.BigSha {
			t.Errorf("client %d: received sha256 %q, sent %q", c.Index, c.BigSha, s.BigSha)
		}
	}
	m := scrapeMetrics(t, g.Admin)
	m.atLeast(t, "wsgate_bytes_in_total", "", 1<<20)
	m.atLeast(t, "wsgate_bytes_out_total", "", float64(clients)*(1<<20))
}

// Test 3: fragmented messages from a raw client, with a ping between fragments, a code point split
// across fragments and a head/frame written in small pieces; a Node `ws` client on the same topic gets
// each reassembled message exactly once.
func TestE2EFragmentedMessagesFromRawClient(t *testing.T) {
	requireE2E(t, true, false)
	g := startGateway(t)

	peer := startWSPeer(t, g.wsURL("/ws"), 30*time.Second)
	peer.waitOpen(t)
	// The handshake goes out 7 bytes at a time: the gateway must parse a head split anywhere.
	raw := upgradeRaw(t, g.Addr, "/ws", 7)

	text1 := "Hello, fragmented wörld ✓"
	pingPayload := []byte("ping-payload-✓")
	writeFrames(t, raw, wstest.Frame{Op: wstest.OpText, Payload: []byte("Hello, ")})
	writeFrames(t, raw, wstest.Frame{Fin: true, Op: wstest.OpPing, Payload: pingPayload})
	// The middle fragment byte by byte: a frame split at every boundary.
	for _, b := range wstest.Encode(wstest.Frame{Op: wstest.OpCont, Payload: []byte("fragmented ")}) {
		if _, err := raw.Write([]byte{b}); err != nil {
			t.Fatalf("write byte: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	writeFrames(t, raw, wstest.Frame{Fin: true, Op: wstest.OpCont, Payload: []byte("wörld ✓")})

	// "€" is E2 82 AC: split after two bytes, which is valid once the message is whole.
	text2 := "price: €!"
	writeFrames(t, raw,
		wstest.Frame{Op: wstest.OpText, Payload: []byte("price: \xe2\x82")},
		wstest.Frame{Fin: true, Op: wstest.OpCont, Payload: []byte("\xac!")})
	// Binary in three fragments, one of them empty, with bytes that are not UTF-8.
	bin := []byte{0x00, 0xff, 0x80, 0x01}
	writeFrames(t, raw,
		wstest.Frame{Op: wstest.OpBinary, Payload: bin[:3]},
		wstest.Frame{Op: wstest.OpCont},
		wstest.Frame{Fin: true, Op: wstest.OpCont, Payload: bin[3:]})

	type msg struct {
		op      byte
		payload string
	}
	want := []msg{{wstest.OpText, text1}, {wstest.OpText, text2}, {wstest.OpBinary, string(bin)}}

	// The raw sender gets its pong and, as a topic subscriber, its own three messages.
	var gotRaw []msg
	pongs := 0
	deadline := time.Now().Add(5 * time.Second)
	for len(gotRaw) < len(want) || pongs == 0 {
		f, err := raw.ReadFrame(deadline)
		if err != nil {
			t.Fatalf("raw client: %v after %d messages and %d pongs", err, len(gotRaw), pongs)
		}
		if f.Masked || f.RSV != 0 || !f.Fin {
			t.Errorf("raw client: server frame op %d with masked=%v rsv=%d fin=%v; want unmasked, rsv 0, final", f.Op, f.Masked, f.RSV, f.Fin)
		}
		switch f.Op {
		case wstest.OpPong:
			pongs++
			if !bytes.Equal(f.Payload, pingPayload) {
				t.Errorf("pong payload %q, want %q", f.Payload, pingPayload)
			}
		case wstest.OpText, wstest.OpBinary:
			gotRaw = append(gotRaw, msg{f.Op, string(f.Payload)})
		default:
			t.Fatalf("raw client: unexpected frame op %d payload %q", f.Op, f.Payload)
		}
	}
	// Anything more within half a second is a duplicate.
	if f, err := raw.ReadFrame(time.Now().Add(500 * time.Millisecond)); err == nil {
		t.Errorf("raw client: extra frame op %d payload %q", f.Op, f.Payload)
	}
	if pongs != 1 {
		t.Errorf("raw client: %d pongs, want 1", pongs)
	}
	if fmt.Sprint(gotRaw) != fmt.Sprint(want) {
		t.Errorf("raw client received %q, want %q", gotRaw, want)
	}

	var gotPeer []msg
	for _, ev := range peer.collect(2 * time.Second) {
		switch ev.Ev {
		case "message":
			op := wstest.OpText
			if ev.Binary {
				op = wstest.OpBinary
			}
			gotPeer = append(gotPeer, msg{op, string(ev.payload())})
		case "ping":
		default:
			t.Errorf("ws peer: unexpected event %+v", ev)
		}
	}
	if fmt.Sprint(gotPeer) != fmt.Sprint(want) {
		t.Errorf("ws peer received %q, want each reassembled message once: %q", gotPeer, want)
	}

	writeFrames(t, raw, wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1000, "done")})
	if r := raw.ReadUntilClose(5 * time.Second); !r.GotClose || r.Code != 1000 || !r.TCPClosed {
		t.Errorf("clean close: got %v, want close 1000 echoed and TCP closed", r)
	}
}

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
