package gateway_test

// The protocol's edges over raw TCP: the bad-input matrix (bad request heads get their exact status,
// bad frames their exact close code, and /metrics counts both), pings and the idle timeout, and the
// handshake timeout.

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

	"github.com/wsgate/wsgate/codec/wstest"
)

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
	frames    []wstest.Frame
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
		{name: "version 8", request: upgradeHead("/ws", "8", wstest.NewKey()), status: []int{426}, headers: v13},
		{name: "plain GET on topic route", request: "GET /ws HTTP/1.1\r\nHost: " + host + "\r\n\r\n", status: []int{426}, headers: v13},
		{name: "missing key", request: upgradeHead("/ws", "13", ""), status: []int{400}},
		{name: "key not 16 bytes", request: upgradeHead("/ws", "13", "c2hvcnQ="), status: []int{400}},
		{name: "unknown path", request: upgradeHead("/nope", "13", wstest.NewKey()), status: []int{404}},
		{name: "prefix is per segment", request: upgradeHead("/wsx", "13", wstest.NewKey()), status: []int{404}},
		{name: "POST upgrade", request: strings.Replace(upgradeHead("/ws", "13", wstest.NewKey()), "GET", "POST", 1), status: []int{400, 405}},
	}

	big := bytes.Repeat([]byte{'b'}, 40000)
	frameCases := []frameCase{
		{name: "unmasked frame", frames: []wstest.Frame{{Fin: true, Op: wstest.OpText, Payload: []byte("hi"), Unmasked: true}}, code: []int{1002}},
		{name: "RSV1 without extension", frames: []wstest.Frame{{Fin: true, RSV: 4, Op: wstest.OpText, Payload: []byte("hi")}}, code: []int{1002}},
		{name: "RSV3 set", frames: []wstest.Frame{{Fin: true, RSV: 1, Op: wstest.OpBinary, Payload: []byte("hi")}}, code: []int{1002}},
		{name: "ping with 126-byte payload", frames: []wstest.Frame{{Fin: true, Op: wstest.OpPing, Payload: bytes.Repeat([]byte{'p'}, 126)}}, code: []int{1002}},
		{name: "fragmented ping", frames: []wstest.Frame{{Op: wstest.OpPing, Payload: []byte("p")}}, code: []int{1002}},
		{name: "continuation without start", frames: []wstest.Frame{{Fin: true, Op: wstest.OpCont, Payload: []byte("x")}}, code: []int{1002}},
		{name: "new data frame while fragmented", frames: []wstest.Frame{{Op: wstest.OpText, Payload: []byte("a")}, {Fin: true, Op: wstest.OpText, Payload: []byte("b")}}, code: []int{1002}},
		{name: "opcode 3", frames: []wstest.Frame{{Fin: true, Op: 3, Payload: []byte("x")}}, code: []int{1002}},
		{name: "opcode 11", frames: []wstest.Frame{{Fin: true, Op: 11}}, code: []int{1002}},
		{name: "invalid UTF-8 text", frames: []wstest.Frame{{Fin: true, Op: wstest.OpText, Payload: []byte("ok \xff\xfe")}}, code: []int{1007}},
		{name: "overlong UTF-8", frames: []wstest.Frame{{Fin: true, Op: wstest.OpText, Payload: []byte("\xc0\xaf")}}, code: []int{1007}},
		{name: "UTF-16 surrogate in UTF-8", frames: []wstest.Frame{{Fin: true, Op: wstest.OpText, Payload: []byte("\xed\xa0\x80")}}, code: []int{1007}},
		{name: "invalid UTF-8 across fragments", frames: []wstest.Frame{{Op: wstest.OpText, Payload: []byte("ok \xe2\x82")}, {Fin: true, Op: wstest.OpCont, Payload: []byte("(")}}, code: []int{1007}},
		// Only the header (and a little payload) is sent: the limit is checked from the header.
		{name: "single frame over max", frames: []wstest.Frame{{Fin: true, Op: wstest.OpBinary, Payload: big[:1000], DeclaredLen: maxMessage + 1000}}, code: []int{1009}},
		{name: "fragments over max", frames: []wstest.Frame{{Op: wstest.OpBinary, Payload: big}, {Fin: true, Op: wstest.OpCont, Payload: big[:100], DeclaredLen: 40000}}, code: []int{1009}},
		{name: "close 1005 on the wire", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1005, "")}}, code: []int{1002}},
		{name: "close 1006 on the wire", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1006, "")}}, code: []int{1002}},
		{name: "close 999", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(999, "")}}, code: []int{1002}},
		{name: "close with 1-byte body", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose, Payload: []byte{3}}}, code: []int{1002}},
		{name: "close reason invalid UTF-8", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1000, "\xff")}}, code: []int{1002, 1007}},
		{name: "close 1000 bye", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1000, "bye")}}, code: []int{1000}},
		{name: "close 4000 app code", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(4000, "app")}}, code: []int{4000}},
		{name: "close with empty body", frames: []wstest.Frame{{Fin: true, Op: wstest.OpClose}}, emptyEcho: true},
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
				resp := readResponse(t, conn, 5*time.Second)
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
				if !conn.WaitEOF(3 * time.Second) {
					t.Errorf("connection still open 3s after the %d answer", resp.StatusCode)
				}
			})
		}
		for _, c := range frameCases {
			t.Run("frame/"+c.name, func(t *testing.T) {
				t.Parallel()
				conn := upgradeRaw(t, g.Addr, "/ws", 0)
				writeFrames(t, conn, c.frames...)
				r := conn.ReadUntilClose(5 * time.Second)
				if !r.GotClose {
					t.Fatalf("got %v, want a close frame with %v", r, c.code)
				}
				if c.emptyEcho {
					if r.BodyLen != 0 {
						t.Errorf("got close %d %q (body %d bytes), want an empty close body echoed", r.Code, r.Reason, r.BodyLen)
					}
				} else if !containsInt(c.code, r.Code) {
					t.Errorf("got %v, want close code %v", r, c.code)
				}
				for _, f := range r.Others {
					if f.Op != wstest.OpPing && f.Op != wstest.OpPong {
						t.Errorf("unexpected frame op %d %q before the close", f.Op, f.Payload)
					}
				}
				if !r.TCPClosed {
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
	writeFrames(t, raw, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("still alive ✓")})
	ev := peer.next(t, 5*time.Second)
	if ev.Ev != "message" || ev.Binary || string(ev.payload()) != "still alive ✓" {
		t.Errorf("fresh ws client after the matrix got %+v, want text %q", ev, "still alive ✓")
	}
	if f, err := raw.ReadFrame(time.Now().Add(5 * time.Second)); err != nil || f.Op != wstest.OpText || string(f.Payload) != "still alive ✓" {
		t.Errorf("fresh raw client after the matrix got op %d %q (%v), want its own text back", f.Op, f.Payload, err)
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
	var r wstest.CloseResult
	var elapsed time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		r = raw.ReadUntilClose(8 * time.Second)
		elapsed = time.Since(start)
	}()
	evs := peer.collect(6 * time.Second)
	wg.Wait()

	pings := 0
	for _, f := range r.Others {
		if f.Op == wstest.OpPing {
			pings++
		}
	}
	if pings == 0 {
		t.Errorf("silent raw client got no ping in %v (frames: %d)", elapsed, len(r.Others))
	}
	switch {
	case r.GotClose && r.Code != 1001:
		t.Errorf("silent raw client closed with %v, want close 1001", r)
	case !r.GotClose && (r.ReadErr == nil || isTimeout(r.ReadErr)):
		t.Errorf("silent raw client still open after %v (%v), want closed within ~5s", elapsed, r.ReadErr)
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
	if r.GotClose {
		m.atLeast(t, "wsgate_closes_total", `code="1001"`, 1)
	}
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
		resp, err := http.ReadResponse(conn.R, nil)
		if err != nil {
			if isTimeout(err) {
				return result{name: name, elapsed: time.Since(start), err: err.Error()}
			}
			// Closed without an answer.
			return result{name: name, elapsed: time.Since(start), eof: true}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return result{name: name, status: resp.StatusCode, elapsed: time.Since(start), eof: conn.WaitEOF(3 * time.Second)}
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
	writeFrames(t, upgraded, wstest.Frame{Fin: true, Op: wstest.OpPing, Payload: []byte("alive?")})
	f, err := upgraded.ReadFrame(time.Now().Add(3 * time.Second))
	if err != nil || f.Op != wstest.OpPong || string(f.Payload) != "alive?" {
		t.Errorf("upgraded connection after the handshake timeout: op %d %q (%v), want pong %q", f.Op, f.Payload, err, "alive?")
	}

	m := scrapeMetrics(t, g.Admin)
	m.atLeast(t, "wsgate_timeouts_total", `kind="handshake"`, 2)
	m.atLeast(t, "wsgate_http_responses_total", `code="408"`, 1)
}
