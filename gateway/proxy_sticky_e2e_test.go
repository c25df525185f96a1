package gateway_test

// Backend routes in front of the real Node servers users run behind HAProxy today: Socket.IO v4 sticky
// by cookie (and the control that fails without it), express-ws balanced per request and per session
// with X-Forwarded-* headers, and the `websocket` package's fragmented echoes. Every backend names itself
// in what it answers, so the assertions are on which server answered, with numbers.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sioSummary mirrors the JSON line printed by testdata/sio-client.js.
type sioSummary struct {
	Connected      bool              `json:"connected"`
	FirstTransport string            `json:"firstTransport"`
	Acks           []string          `json:"acks"`
	AckTransports  []string          `json:"ackTransports"`
	Transport      string            `json:"transport"`
	Upgraded       bool              `json:"upgraded"`
	Cookies        map[string]string `json:"cookies"`
	ConnectErrors  []string          `json:"connectErrors"`
	Disconnects    []string          `json:"disconnects"`
	UpgradeErrors  []string          `json:"upgradeErrors"`
	TimedOut       bool              `json:"timedOut"`
	ElapsedMs      int               `json:"elapsedMs"`
}

const sioEvents = 20

// sioProblems lists what keeps a sio-client.js run from being one healthy sticky session (nil: none).
func sioProblems(s *sioSummary) []string {
	var p []string
	if !s.Connected {
		p = append(p, "never connected")
	}
	if s.FirstTransport != "polling" {
		p = append(p, fmt.Sprintf("first transport %q, want polling (default transports)", s.FirstTransport))
	}
	if len(s.Acks) != sioEvents {
		p = append(p, fmt.Sprintf("%d of %d acks", len(s.Acks), sioEvents))
	}
	servers := map[string]int{}
	for _, a := range s.Acks {
		servers[a]++
	}
	if len(servers) > 1 {
		p = append(p, fmt.Sprintf("acks from several servers: %v", servers))
	}
	if !s.Upgraded || s.Transport != "websocket" {
		p = append(p, fmt.Sprintf("no upgrade to websocket (upgraded %v, transport %q, upgrade errors %v)", s.Upgraded, s.Transport, s.UpgradeErrors))
	}
	if n := len(s.AckTransports); n > 0 && s.AckTransports[n-1] != "websocket" {
		p = append(p, fmt.Sprintf("the last ack was sent by the server over %q", s.AckTransports[n-1]))
	}
	if len(s.ConnectErrors) > 0 || len(s.Disconnects) > 0 || s.TimedOut {
		p = append(p, fmt.Sprintf("errors %v, disconnects %v, timed out %v", s.ConnectErrors, s.Disconnects, s.TimedOut))
	}
	return p
}

func startSIOPair(t *testing.T) []*nodeServer {
	t.Helper()
	requireNodeModules(t, "socket.io", "socket.io-client")
	return startNodeServers(t, "sio-server.js", "s1", "s2")
}

// Two Socket.IO servers, roundrobin with cookie=SERVERID: a socket.io-client with default transports
// polls, gets the cookie, sends it on every poll and on the upgrade, and all its acks come from the
// server the cookie names. A second client lands on the other server (the pair is really balanced).
func TestE2EProxySocketIOSticky(t *testing.T) {
	srv := startSIOPair(t)
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID"), "-route", "/=backend:app")

	var landed []string
	for i := 0; i < 2; i++ {
		var s sioSummary
		runNodeJSON(t, 20*time.Second, &s, "sio-client.js", "--url", "http://"+g.Addr, "--count", strconv.Itoa(sioEvents))
		t.Logf("socket.io client %d: first transport %s, acks %v (server transports %v), final %s, cookies %v, %d ms",
			i, s.FirstTransport, s.Acks, s.AckTransports, s.Transport, s.Cookies, s.ElapsedMs)
		if p := sioProblems(&s); len(p) > 0 {
			t.Fatalf("socket.io client %d behind cookie=SERVERID: %s", i, strings.Join(p, "; "))
		}
		if got := s.Cookies["SERVERID"]; got != s.Acks[0] {
			t.Errorf("socket.io client %d: SERVERID cookie %q, but the acks come from %q", i, got, s.Acks[0])
		}
		landed = append(landed, s.Acks[0])
	}
	if landed[0] == landed[1] {
		t.Errorf("both socket.io clients landed on %s: roundrobin should give the second client the other server", landed[0])
	}
	for _, s := range srv {
		if strings.Contains(s.log.String(), "Session ID unknown") {
			t.Errorf("%s refused a poll (Session ID unknown): a request of a session reached the wrong server:\n%s", s.Name, s.log.String())
		}
	}
}

// The same pair without cookie= : each poll is balanced on its own, so the session's second request
// reaches the server that does not know it and the client never gets a working session. This is the
// control that shows TestE2EProxySocketIOSticky can fail.
func TestE2EProxySocketIOWithoutCookieFails(t *testing.T) {
	srv := startSIOPair(t)
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin"), "-route", "/=backend:app")

	var s sioSummary
	runNodeJSON(t, 20*time.Second, &s, "sio-client.js", "--url", "http://"+g.Addr, "--count", strconv.Itoa(sioEvents))
	t.Logf("socket.io client without stickiness: connected %v, acks %v, transport %s, errors %v, disconnects %v",
		s.Connected, s.Acks, s.Transport, s.ConnectErrors, s.Disconnects)
	p := sioProblems(&s)
	if len(p) == 0 {
		t.Fatalf("the socket.io session worked without a stickiness cookie (acks %v): the sticky test cannot tell stickiness from luck", s.Acks)
	}
	t.Logf("as expected, the session broke: %s", strings.Join(p, "; "))
	if _, ok := s.Cookies["SERVERID"]; ok {
		t.Errorf("got a SERVERID cookie from a pool without cookie=: %v", s.Cookies)
	}
	// The cause must be the one stickiness prevents: a request of the session on the other server.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if strings.Contains(srv[0].log.String()+srv[1].log.String(), "Session ID unknown") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server logged \"Session ID unknown\": the session failed for another reason (%s)", strings.Join(p, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lbSummary struct {
	Opened  int            `json:"opened"`
	Counts  map[string]int `json:"counts"`
	Clients []struct {
		I          int    `json:"i"`
		Server     string `json:"server"`
		XFF        string `json:"xff"`
		SentXFF    string `json:"sentXff"`
		TextEcho   bool   `json:"textEcho"`
		BinaryEcho bool   `json:"binaryEcho"`
		Error      string `json:"error"`
	} `json:"clients"`
	Errors    []string `json:"errors"`
	ElapsedMs int      `json:"elapsedMs"`
}

// Two express-ws servers, roundrobin: 10 `ws` clients are spread 5/5, each echo works both ways with its
// opcode, the backend sees the client's address appended to X-Forwarded-For; the page at GET /ws and a
// chunked body come through on one keep-alive connection, each request balanced on its own.
func TestE2EProxyExpressWS(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2")
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin"), "-route", "/ws=backend:app")

	const clients = 10
	var s lbSummary
	runNodeJSON(t, 20*time.Second, &s, "lb-clients.js", "--url", g.wsURL("/ws/echo"), "--n", strconv.Itoa(clients),
		"--hold", "300", "--xff", "203.0.113.7")
	t.Logf("ws clients: opened %d, counts %v, %d ms", s.Opened, s.Counts, s.ElapsedMs)
	if s.Opened != clients || len(s.Clients) != clients {
		t.Fatalf("%d of %d ws clients opened (errors %v)", s.Opened, clients, s.Errors)
	}
	if s.Counts["s1"] != clients/2 || s.Counts["s2"] != clients/2 {
		t.Errorf("roundrobin spread %v, want s1:%d s2:%d", s.Counts, clients/2, clients/2)
	}
	for _, c := range s.Clients {
		if c.Error != "" || !c.TextEcho || !c.BinaryEcho {
			t.Errorf("client %d on %s: text echo %v, binary echo %v, error %q", c.I, c.Server, c.TextEcho, c.BinaryEcho, c.Error)
		}
		want := "127.0.0.1"
		if c.SentXFF != "" {
			want = c.SentXFF + ", 127.0.0.1"
		}
		if c.XFF != want {
			t.Errorf("client %d: the backend saw X-Forwarded-For %q, want %q", c.I, c.XFF, want)
		}
	}

	// The other X-Forwarded-* headers, seen from a raw client.
	tn := openTunnel(t, g.Addr, "/ws/echo", nil)
	if tn.hello.XFP != "http" || tn.hello.XFH != g.Addr || tn.hello.XFF != "127.0.0.1" {
		t.Errorf("backend saw X-Forwarded-Proto %q, -Host %q, -For %q; want http, %s, 127.0.0.1", tn.hello.XFP, tn.hello.XFH, tn.hello.XFF, g.Addr)
	}
	tn.shut()

	// The page, a chunked body, and the page again, on one client connection.
	c := dialRaw(t, g.Addr)
	var pageServers []string
	for i, path := range []string{"/ws", "/ws/chunked", "/ws"} {
		what := fmt.Sprintf("request %d (GET %s) on one connection", i+1, path)
		_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: " + g.Addr + "\r\nUser-Agent: wsgate-e2e\r\n\r\n")); err != nil {
			t.Fatalf("%s: write: %v (the gateway closed the keep-alive connection?)", what, err)
		}
		resp, body := readHTTP(t, c, what)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d %q", what, resp.StatusCode, body)
		}
		if resp.Close {
			t.Fatalf("%s: the gateway closes the connection (Connection: %q): no keep-alive", what, resp.Header.Get("Connection"))
		}
		var server string
		switch path {
		case "/ws":
			if !strings.Contains(body, "express-ws echo page served by s") || !strings.HasSuffix(body, "</html>\n") {
				t.Fatalf("%s: not the page: %q", what, body)
			}
			if resp.ContentLength != int64(len(body)) {
				t.Errorf("%s: Content-Length %d, body %d bytes", what, resp.ContentLength, len(body))
			}
			i := strings.Index(body, "served by ")
			server = body[i+len("served by ") : i+len("served by ")+2]
		case "/ws/chunked":
			if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
				t.Errorf("%s: Transfer-Encoding %v, want chunked relayed as chunked", what, resp.TransferEncoding)
			}
			server = strings.TrimSpace(body[strings.LastIndex(body, " ")+1:])
			var want strings.Builder
			for p := 0; p < 5; p++ {
				fmt.Fprintf(&want, "piece %d from %s\n", p, server)
			}
			fmt.Fprintf(&want, "end from %s\n", server)
			if body != want.String() {
				t.Errorf("%s: body %q, want %q", what, body, want.String())
			}
		}
		pageServers = append(pageServers, server)
	}
	t.Logf("keep-alive requests answered by %v", pageServers)
	if pageServers[0] == pageServers[1] || pageServers[1] == pageServers[2] {
		t.Errorf("requests on one keep-alive connection answered by %v: each request should be balanced on its own (roundrobin alternates)", pageServers)
	}
}

// The `websocket` npm package's server on a raw http.Server behind wsgate: text, binary and a 256 KiB
// binary message (which the server echoes fragmented in 16 KiB frames) come back unchanged, with their
// opcodes; the close handshake passes through.
func TestE2EProxyWebsocketPackage(t *testing.T) {
	requireNodeModules(t, "websocket")
	srv := startNodeServers(t, "websocket-server.js", "w1")
	g := startGateway(t, "-backend", poolSpec("wsn", srv, ""), "-route", "/=backend:wsn")

	p := startWSPeer(t, g.wsURL("/chat"), 20*time.Second)
	p.waitOpen(t)
	hello := p.next(t, 5*time.Second)
	var h helloMsg
	if hello.Ev != "message" || hello.Binary || json.Unmarshal(hello.payload(), &h) != nil || h.Server != "w1" {
		t.Fatalf("first event %+v (%q), want the server's text hello", hello, hello.payload())
	}
	if h.XFF != "127.0.0.1" {
		t.Errorf("the websocket server saw X-Forwarded-For %q, want 127.0.0.1", h.XFF)
	}

	text := "héllo through wsgate ✓"
	small := make([]byte, 1000)
	big := make([]byte, 256<<10)
	_, _ = rand.Read(small)
	_, _ = rand.Read(big)
	p.send(t, map[string]any{"text": text})
	p.send(t, map[string]any{"b64": b64(small), "binary": true})
	p.send(t, map[string]any{"b64": b64(big), "binary": true})
	want := []struct {
		binary  bool
		payload []byte
		what    string
	}{{false, []byte(text), "text"}, {true, small, "1000-byte binary"}, {true, big, "256 KiB binary"}}
	for _, w := range want {
		ev := p.next(t, 10*time.Second)
		if ev.Ev != "message" {
			t.Fatalf("%s echo: event %+v", w.what, ev)
		}
		if ev.Binary != w.binary || !bytes.Equal(ev.payload(), w.payload) {
			t.Fatalf("%s echo: binary %v, %d bytes (equal %v); want binary %v, %d bytes",
				w.what, ev.Binary, ev.Len, bytes.Equal(ev.payload(), w.payload), w.binary, len(w.payload))
		}
	}
	p.send(t, map[string]any{"close": 1000, "reason": "done"})
	ev := p.next(t, 5*time.Second)
	if ev.Ev != "close" || ev.Code != 1000 {
		t.Fatalf("after close 1000: %+v, want the server's close 1000", ev)
	}
}
