package gateway_test

// End-to-end tests: the real wsgate binary (built by the tests themselves) against real peers — Node
// `ws` clients, headless Debian Chromium via playwright-core, and a raw RFC 6455 client written in this
// package. Every test asserts on data (payloads, codes, statuses, counters), not on "no error".
//
// Run: `make test` (installs chromium and `npm ci` in gateway/testdata first), or directly
// `go test ./gateway -run E2E -v` once those are in place. WSGATE_E2E_SKIP=1 skips them.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
	raw.writeFrames(t, frameSpec{op: opText, payload: []byte("Hello, ")})
	raw.writeFrames(t, frameSpec{fin: true, op: opPing, payload: pingPayload})
	// The middle fragment byte by byte: a frame split at every boundary.
	for _, b := range encodeFrame(frameSpec{op: opCont, payload: []byte("fragmented ")}) {
		if _, err := raw.Write([]byte{b}); err != nil {
			t.Fatalf("write byte: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	raw.writeFrames(t, frameSpec{fin: true, op: opCont, payload: []byte("wörld ✓")})

	// "€" is E2 82 AC: split after two bytes, which is valid once the message is whole.
	text2 := "price: €!"
	raw.writeFrames(t,
		frameSpec{op: opText, payload: []byte("price: \xe2\x82")},
		frameSpec{fin: true, op: opCont, payload: []byte("\xac!")})
	// Binary in three fragments, one of them empty, with bytes that are not UTF-8.
	bin := []byte{0x00, 0xff, 0x80, 0x01}
	raw.writeFrames(t,
		frameSpec{op: opBinary, payload: bin[:3]},
		frameSpec{op: opCont},
		frameSpec{fin: true, op: opCont, payload: bin[3:]})

	type msg struct {
		op      byte
		payload string
	}
	want := []msg{{opText, text1}, {opText, text2}, {opBinary, string(bin)}}

	// The raw sender gets its pong and, as a topic subscriber, its own three messages.
	var gotRaw []msg
	pongs := 0
	deadline := time.Now().Add(5 * time.Second)
	for len(gotRaw) < len(want) || pongs == 0 {
		f, err := raw.readFrame(deadline)
		if err != nil {
			t.Fatalf("raw client: %v after %d messages and %d pongs", err, len(gotRaw), pongs)
		}
		if f.masked || f.rsv != 0 || !f.fin {
			t.Errorf("raw client: server frame op %d with masked=%v rsv=%d fin=%v; want unmasked, rsv 0, final", f.op, f.masked, f.rsv, f.fin)
		}
		switch f.op {
		case opPong:
			pongs++
			if !bytes.Equal(f.payload, pingPayload) {
				t.Errorf("pong payload %q, want %q", f.payload, pingPayload)
			}
		case opText, opBinary:
			gotRaw = append(gotRaw, msg{f.op, string(f.payload)})
		default:
			t.Fatalf("raw client: unexpected frame op %d payload %q", f.op, f.payload)
		}
	}
	// Anything more within half a second is a duplicate.
	if f, err := raw.readFrame(time.Now().Add(500 * time.Millisecond)); err == nil {
		t.Errorf("raw client: extra frame op %d payload %q", f.op, f.payload)
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
			op := opText
			if ev.Binary {
				op = opBinary
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

	raw.writeFrames(t, frameSpec{fin: true, op: opClose, payload: closeBody(1000, "done")})
	if r := raw.readUntilClose(5 * time.Second); !r.gotClose || r.code != 1000 || !r.tcpClosed {
		t.Errorf("clean close: got %v, want close 1000 echoed and TCP closed", r)
	}
}

func closeBody(code int, reason string) []byte {
	b := []byte{byte(code >> 8), byte(code)}
	return append(b, reason...)
}

// httpCase is one bad request head and the gateway's exact answer.
type httpCase struct {
	name    string
	request string
	status  []int             // acceptable statuses (first is the RFC/spec answer)
	headers map[string]string // headers the answer must carry
}

// frameCase is one bad (or closing) frame sequence after a successful upgrade.
type frameCase struct {
	name      string
	frames    []frameSpec
	code      []int // acceptable close codes (first is the spec answer)
	emptyEcho bool  // the close had no body: the echo must have none either
}

// Test 4: the bad-input matrix over raw TCP; then a fresh client still works and /metrics counts it all.
func TestE2EBadInputMatrix(t *testing.T) {
	requireE2E(t, true, false)
	const maxMessage = 65536
	g := startGateway(t, "-max-message-bytes", strconv.Itoa(maxMessage))
	host := g.Addr
	upgradeHead := func(path, version, key string) string {
		h := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		if key != "" {
			h += "Sec-WebSocket-Key: " + key + "\r\n"
		}
		return h + "Sec-WebSocket-Version: " + version + "\r\n\r\n"
	}
	v13 := map[string]string{"Sec-WebSocket-Version": "13"}
	httpCases := []httpCase{
		{name: "malformed request line", request: "NOT A REQUEST\r\n\r\n", status: []int{400}},
		{name: "request line without version", request: "GET /ws\r\nHost: x\r\n\r\n", status: []int{400}},
		{name: "header over 16384 bytes", request: "GET /ws HTTP/1.1\r\nHost: x\r\nX-Filler: " + strings.Repeat("a", 17000), status: []int{431}},
		{name: "version 8", request: upgradeHead("/ws", "8", newKey()), status: []int{426}, headers: v13},
		{name: "plain GET on topic route", request: "GET /ws HTTP/1.1\r\nHost: " + host + "\r\n\r\n", status: []int{426}, headers: v13},
		{name: "missing key", request: upgradeHead("/ws", "13", ""), status: []int{400}},
		{name: "key not 16 bytes", request: upgradeHead("/ws", "13", "c2hvcnQ="), status: []int{400}},
		{name: "unknown path", request: upgradeHead("/nope", "13", newKey()), status: []int{404}},
		{name: "prefix is per segment", request: upgradeHead("/wsx", "13", newKey()), status: []int{404}},
		{name: "POST upgrade", request: strings.Replace(upgradeHead("/ws", "13", newKey()), "GET", "POST", 1), status: []int{400, 405}},
	}

	big := bytes.Repeat([]byte{'b'}, 40000)
	frameCases := []frameCase{
		{name: "unmasked frame", frames: []frameSpec{{fin: true, op: opText, payload: []byte("hi"), unmasked: true}}, code: []int{1002}},
		{name: "RSV1 without extension", frames: []frameSpec{{fin: true, rsv: 4, op: opText, payload: []byte("hi")}}, code: []int{1002}},
		{name: "RSV3 set", frames: []frameSpec{{fin: true, rsv: 1, op: opBinary, payload: []byte("hi")}}, code: []int{1002}},
		{name: "ping with 126-byte payload", frames: []frameSpec{{fin: true, op: opPing, payload: bytes.Repeat([]byte{'p'}, 126)}}, code: []int{1002}},
		{name: "fragmented ping", frames: []frameSpec{{op: opPing, payload: []byte("p")}}, code: []int{1002}},
		{name: "continuation without start", frames: []frameSpec{{fin: true, op: opCont, payload: []byte("x")}}, code: []int{1002}},
		{name: "new data frame while fragmented", frames: []frameSpec{{op: opText, payload: []byte("a")}, {fin: true, op: opText, payload: []byte("b")}}, code: []int{1002}},
		{name: "opcode 3", frames: []frameSpec{{fin: true, op: 3, payload: []byte("x")}}, code: []int{1002}},
		{name: "opcode 11", frames: []frameSpec{{fin: true, op: 11}}, code: []int{1002}},
		{name: "invalid UTF-8 text", frames: []frameSpec{{fin: true, op: opText, payload: []byte("ok \xff\xfe")}}, code: []int{1007}},
		{name: "overlong UTF-8", frames: []frameSpec{{fin: true, op: opText, payload: []byte("\xc0\xaf")}}, code: []int{1007}},
		{name: "UTF-16 surrogate in UTF-8", frames: []frameSpec{{fin: true, op: opText, payload: []byte("\xed\xa0\x80")}}, code: []int{1007}},
		{name: "invalid UTF-8 across fragments", frames: []frameSpec{{op: opText, payload: []byte("ok \xe2\x82")}, {fin: true, op: opCont, payload: []byte("(")}}, code: []int{1007}},
		// Only the header (and a little payload) is sent: the limit is checked from the header.
		{name: "single frame over max", frames: []frameSpec{{fin: true, op: opBinary, payload: big[:1000], declaredLen: maxMessage + 1000}}, code: []int{1009}},
		{name: "fragments over max", frames: []frameSpec{{op: opBinary, payload: big}, {fin: true, op: opCont, payload: big[:100], declaredLen: 40000}}, code: []int{1009}},
		{name: "close 1005 on the wire", frames: []frameSpec{{fin: true, op: opClose, payload: closeBody(1005, "")}}, code: []int{1002}},
		{name: "close 1006 on the wire", frames: []frameSpec{{fin: true, op: opClose, payload: closeBody(1006, "")}}, code: []int{1002}},
		{name: "close 999", frames: []frameSpec{{fin: true, op: opClose, payload: closeBody(999, "")}}, code: []int{1002}},
		{name: "close with 1-byte body", frames: []frameSpec{{fin: true, op: opClose, payload: []byte{3}}}, code: []int{1002}},
		{name: "close reason invalid UTF-8", frames: []frameSpec{{fin: true, op: opClose, payload: closeBody(1000, "\xff")}}, code: []int{1002, 1007}},
		{name: "close 1000 bye", frames: []frameSpec{{fin: true, op: opClose, payload: closeBody(1000, "bye")}}, code: []int{1000}},
		{name: "close 4000 app code", frames: []frameSpec{{fin: true, op: opClose, payload: closeBody(4000, "app")}}, code: []int{4000}},
		{name: "close with empty body", frames: []frameSpec{{fin: true, op: opClose}}, emptyEcho: true},
	}

	t.Run("cases", func(t *testing.T) {
		for _, c := range httpCases {
			t.Run("http/"+c.name, func(t *testing.T) {
				t.Parallel()
				conn := dialRaw(t, g.Addr)
				_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(conn, c.request); err != nil {
					t.Fatalf("write request: %v", err)
				}
				resp := conn.readResponse(t, 5*time.Second)
				if !containsInt(c.status, resp.StatusCode) {
					t.Fatalf("status %q, want %v", resp.Status, c.status)
				}
				for k, v := range c.headers {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("header %s = %q, want %q", k, got, v)
					}
				}
				// net/http moves "Connection: close" from the header map into resp.Close.
				if !resp.Close {
					t.Errorf("the %d answer lacks Connection: close (headers %v)", resp.StatusCode, resp.Header)
				}
				if !conn.waitEOF(3 * time.Second) {
					t.Errorf("connection still open 3s after the %d answer", resp.StatusCode)
				}
			})
		}
		for _, c := range frameCases {
			t.Run("frame/"+c.name, func(t *testing.T) {
				t.Parallel()
				conn := upgradeRaw(t, g.Addr, "/ws", 0)
				conn.writeFrames(t, c.frames...)
				r := conn.readUntilClose(5 * time.Second)
				if !r.gotClose {
					t.Fatalf("got %v, want a close frame with %v", r, c.code)
				}
				if c.emptyEcho {
					if r.bodyLen != 0 {
						t.Errorf("got close %d %q (body %d bytes), want an empty close body echoed", r.code, r.reason, r.bodyLen)
					}
				} else if !containsInt(c.code, r.code) {
					t.Errorf("got %v, want close code %v", r, c.code)
				}
				for _, f := range r.others {
					if f.op != opPing && f.op != opPong {
						t.Errorf("unexpected frame op %d %q before the close", f.op, f.payload)
					}
				}
				if !r.tcpClosed {
					t.Errorf("TCP connection still open 3s after the close frame")
				}
			})
		}
	})

	if g.exited() {
		t.Fatal("gateway exited during the bad-input matrix")
	}

	// A fresh pair of clients still gets a broadcast through.
	peer := startWSPeer(t, g.wsURL("/ws"), 20*time.Second)
	peer.waitOpen(t)
	raw := upgradeRaw(t, g.Addr, "/ws", 0)
	raw.writeFrames(t, frameSpec{fin: true, op: opText, payload: []byte("still alive ✓")})
	ev := peer.next(t, 5*time.Second)
	if ev.Ev != "message" || ev.Binary || string(ev.payload()) != "still alive ✓" {
		t.Errorf("fresh ws client after the matrix got %+v, want text %q", ev, "still alive ✓")
	}
	if f, err := raw.readFrame(time.Now().Add(5 * time.Second)); err != nil || f.op != opText || string(f.payload) != "still alive ✓" {
		t.Errorf("fresh raw client after the matrix got op %d %q (%v), want its own text back", f.op, f.payload, err)
	}

	// /metrics counts what the matrix provoked.
	m := scrapeMetrics(t, g.Admin)
	statuses := map[int]int{}
	for _, c := range httpCases {
		if len(c.status) == 1 {
			statuses[c.status[0]]++
		}
	}
	for code, n := range statuses {
		m.atLeast(t, "wsgate_http_responses_total", fmt.Sprintf("code=%q", strconv.Itoa(code)), float64(n))
	}
	closes := map[string]int{} // by metric label: client-chosen codes are bucketed
	for _, c := range frameCases {
		if !c.emptyEcho && len(c.code) == 1 {
			closes[closeCodeLabel(c.code[0])]++
		}
	}
	for label, n := range closes {
		m.atLeast(t, "wsgate_closes_total", fmt.Sprintf("code=%q", label), float64(n))
	}
	m.atLeast(t, "wsgate_upgrades_total", "", float64(len(frameCases)+2))
	m.atLeast(t, "wsgate_connections_total", "", float64(len(httpCases)+len(frameCases)+2))
	if t.Failed() {
		t.Logf("metrics: %v", m)
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// browserSummary mirrors the JSON line printed by testdata/browser-chat.js.
type browserSummary struct {
	OK            bool     `json:"ok"`
	Error         string   `json:"error"`
	Steps         []string `json:"steps"`
	WSURLs        []string `json:"wsUrls"`
	ConsoleErrors []string `json:"consoleErrors"`
	Token1        string   `json:"token1"`
	Token2        string   `json:"token2"`
	Tabs          []struct {
		Items       []string `json:"items"`
		Token1Count int      `json:"token1Count"`
		Token2Count int      `json:"token2Count"`
	} `json:"tabs"`
}

// Test 5a: headless Chromium opens the demo page in two tabs; a message typed in one shows in both.
func TestE2EBrowserDemoChat(t *testing.T) {
	requireE2E(t, true, true)
	g := startGateway(t)

	// The page itself, as the gateway serves it.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + g.Addr + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, id := range []string{`id="msg"`, `id="send"`, `id="log"`} {
		if !bytes.Contains(body, []byte(id)) {
			t.Errorf("demo page lacks %s", id)
		}
	}

	var s browserSummary
	runNodeJSON(t, 100*time.Second, &s, "browser-chat.js", "--url", "http://"+g.Addr+"/", "--timeout", "20000",
		"--chromium", chromiumPath)
	t.Logf("browser steps: %v", s.Steps)
	if s.Error != "" {
		t.Fatalf("browser run failed: %s\nconsole errors: %v", s.Error, s.ConsoleErrors)
	}
	if len(s.Tabs) != 2 {
		t.Fatalf("got %d tabs in the summary, want 2", len(s.Tabs))
	}
	for i, tab := range s.Tabs {
		if tab.Token1Count != 1 || tab.Token2Count != 1 {
			t.Errorf("tab %d shows %q %d times and %q %d times, want once each; log: %q",
				i+1, s.Token1, tab.Token1Count, s.Token2, tab.Token2Count, tab.Items)
		}
	}
	wantURL := "ws://" + g.Addr + "/ws"
	if len(s.WSURLs) == 0 {
		t.Errorf("the page opened no WebSocket")
	}
	for _, u := range s.WSURLs {
		if !strings.HasPrefix(u, wantURL) {
			t.Errorf("page dialled %q, want %s", u, wantURL)
		}
	}
	if !s.OK {
		t.Errorf("browser summary not ok: %+v", s)
	}
}

// Test 5b: with -ping-interval 1s -idle-timeout 3s a raw client that never answers pings is pinged and
// then closed within ~5s, while a Node `ws` client (which answers pings) stays open and working.
func TestE2EPingAndIdleTimeout(t *testing.T) {
	requireE2E(t, true, false)
	t.Parallel()
	g := startGateway(t, "-ping-interval", "1s", "-idle-timeout", "3s")

	peer := startWSPeer(t, g.wsURL("/ws"), 30*time.Second)
	peer.waitOpen(t)
	raw := upgradeRaw(t, g.Addr, "/ws", 0)
	start := time.Now()

	var wg sync.WaitGroup
	var r closeResult
	var elapsed time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		r = raw.readUntilClose(8 * time.Second)
		elapsed = time.Since(start)
	}()
	evs := peer.collect(6 * time.Second)
	wg.Wait()

	pings := 0
	for _, f := range r.others {
		if f.op == opPing {
			pings++
		}
	}
	if pings == 0 {
		t.Errorf("silent raw client got no ping in %v (frames: %d)", elapsed, len(r.others))
	}
	switch {
	case r.gotClose && r.code != 1001:
		t.Errorf("silent raw client closed with %v, want close 1001", r)
	case !r.gotClose && (r.readErr == nil || isTimeout(r.readErr)):
		t.Errorf("silent raw client still open after %v (%v), want closed within ~5s", elapsed, r.readErr)
	}
	if elapsed < 2*time.Second || elapsed > 5500*time.Millisecond {
		t.Errorf("silent raw client closed after %v, want about 3s (idle timeout)", elapsed)
	}

	peerPings := 0
	for _, ev := range evs {
		switch ev.Ev {
		case "ping":
			peerPings++
		case "close", "error":
			t.Errorf("ws client that answers pings got %+v within 6s", ev)
		}
	}
	if peerPings < 2 {
		t.Errorf("ws client got %d pings in 6s with -ping-interval 1s, want >= 2", peerPings)
	}
	peer.send(t, map[string]any{"text": "after pings"})
	for {
		ev := peer.next(t, 5*time.Second)
		if ev.Ev == "ping" {
			continue
		}
		if ev.Ev != "message" || string(ev.payload()) != "after pings" {
			t.Errorf("ws client after 6s: %+v, want its message back", ev)
		}
		break
	}

	m := scrapeMetrics(t, g.Admin)
	m.atLeast(t, "wsgate_timeouts_total", `kind="idle"`, 1)
	if r.gotClose {
		m.atLeast(t, "wsgate_closes_total", `code="1001"`, 1)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(interface{ Timeout() bool })
	return ok && ne.Timeout()
}

// Test 6: -handshake-timeout 1s: half a request head (or nothing) gets 408 and the connection ends;
// a completed upgrade is not affected by the handshake timer.
func TestE2EHandshakeTimeout(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-handshake-timeout", "1s")

	upgraded := upgradeRaw(t, g.Addr, "/ws", 0)

	type result struct {
		name    string
		status  int // 0: the connection ended without an HTTP answer
		elapsed time.Duration
		eof     bool
		err     string
	}
	run := func(name, partial string) result {
		conn := dialRaw(t, g.Addr)
		start := time.Now()
		if partial != "" {
			if _, err := io.WriteString(conn, partial); err != nil {
				return result{name: name, err: err.Error()}
			}
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(conn.br, nil)
		if err != nil {
			if isTimeout(err) {
				return result{name: name, elapsed: time.Since(start), err: err.Error()}
			}
			// Closed without an answer.
			return result{name: name, elapsed: time.Since(start), eof: true}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return result{name: name, status: resp.StatusCode, elapsed: time.Since(start), eof: conn.waitEOF(3 * time.Second)}
	}
	var wg sync.WaitGroup
	results := make([]result, 2)
	cases := []struct {
		name, partial string
		silentCloseOK bool // nothing was sent: closing without a 408 is acceptable too
	}{
		{"half a head", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr", false},
		{"nothing sent", "", true},
	}
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(c.name, c.partial)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.err != "" {
			t.Errorf("%s: still open with no HTTP answer after %v: %s", r.name, r.elapsed, r.err)
			continue
		}
		if r.status != http.StatusRequestTimeout && !(r.status == 0 && cases[i].silentCloseOK) {
			t.Errorf("%s: status %d (0 = closed without an answer), want 408", r.name, r.status)
		}
		if r.elapsed < 800*time.Millisecond || r.elapsed > 3*time.Second {
			t.Errorf("%s: answered after %v, want about 1s", r.name, r.elapsed)
		}
		if !r.eof {
			t.Errorf("%s: connection still open 3s after the 408", r.name)
		}
		t.Logf("%s: status %d after %v", r.name, r.status, r.elapsed.Round(time.Millisecond))
	}

	// The upgraded connection outlived the handshake timeout and still answers a ping.
	upgraded.writeFrames(t, frameSpec{fin: true, op: opPing, payload: []byte("alive?")})
	f, err := upgraded.readFrame(time.Now().Add(3 * time.Second))
	if err != nil || f.op != opPong || string(f.payload) != "alive?" {
		t.Errorf("upgraded connection after the handshake timeout: op %d %q (%v), want pong %q", f.op, f.payload, err, "alive?")
	}

	m := scrapeMetrics(t, g.Admin)
	m.atLeast(t, "wsgate_timeouts_total", `kind="handshake"`, 2)
	m.atLeast(t, "wsgate_http_responses_total", `code="408"`, 1)
}
