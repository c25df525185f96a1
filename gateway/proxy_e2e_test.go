package gateway_test

// Load balancing end to end (issue 4): the real wsgate binary in front of the real Node servers users run
// behind HAProxy today — Socket.IO v4 (long-polling first, then the upgrade), express + express-ws, the
// `websocket` package on a raw http.Server — started by the tests from testdata/, plus small Go listeners
// that misbehave on purpose (silent, garbage, early close). Clients are socket.io-client and `ws` in Node
// and the raw RFC 6455 client of e2e_helpers_test.go. Every backend names itself in what it answers, so
// the assertions are on which server answered, with numbers.
//
// Run: cd gateway && go test -count=1 -run 'Proxy|LB|SocketIO' -v .

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// ---------------------------------------------------------------------------------------------------
// Node backend servers

// nodeServer is one backend server process from testdata/ (sio-server.js, expressws-server.js,
// websocket-server.js). Each prints {"ready":true,"port":P,"name":N} once listening and names itself in
// its answers. Its log holds stderr and stdout after the ready line.
type nodeServer struct {
	Name   string
	Port   int
	script string
	*childProc
}

func (s *nodeServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// requireNodeModules fails (never skips) when a testdata package is not installed.
func requireNodeModules(t *testing.T, mods ...string) {
	t.Helper()
	requireE2E(t, true, false)
	checkNodeModules(t, mods...)
}

// startNodeServer runs testdata/script as server name on port (0: a free one) and waits until it
// listens. It is killed (by PID) when the test ends.
func startNodeServer(t *testing.T, script, name string, port int) *nodeServer {
	t.Helper()
	s, err := retryStartNodeServer(t, script, name, port)
	if err != nil {
		t.Fatalf("node %s (%s) did not start: %v", script, name, err)
	}
	return s
}

// retryStartNodeServer makes up to three attempts (each on a fresh free port when port is 0) and
// returns the last error; it does not fail t itself, so several goroutines may call it.
func retryStartNodeServer(t *testing.T, script, name string, port int) (*nodeServer, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p := port
		if p == 0 {
			p = freePort(t)
		}
		s, err := tryStartNodeServer(t, script, name, p)
		if err == nil {
			return s, nil
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, lastErr
}

func tryStartNodeServer(t *testing.T, script, name string, port int) (*nodeServer, error) {
	cmd := exec.Command("node", script, "--port", strconv.Itoa(port), "--name", name)
	cmd.Dir = "testdata"
	p, err := startChild(t, childSpec{label: fmt.Sprintf("%s %s (port %d)", script, name, port), logMax: 32 << 10,
		readyLine: nodeReadyLine(port)}, cmd)
	if err != nil {
		return nil, fmt.Errorf("start node %s: %w", script, err)
	}
	if _, err := p.awaitReady(10 * time.Second); err != nil {
		return nil, err
	}
	return &nodeServer{Name: name, Port: port, script: script, childProc: p}, nil
}

// startNodeServers starts one server per name, concurrently (each takes a few hundred ms to load).
func startNodeServers(t *testing.T, script string, names ...string) []*nodeServer {
	t.Helper()
	out := make([]*nodeServer, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = retryStartNodeServer(t, script, name, 0)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %s (%s) did not start: %v", script, names[i], err)
		}
	}
	return out
}

// poolSpec is a -backend value: POOL=name@addr,...;opts.
func poolSpec(pool string, servers []*nodeServer, opts string) string {
	var parts []string
	for _, s := range servers {
		parts = append(parts, s.Name+"@"+s.Addr())
	}
	spec := pool + "=" + strings.Join(parts, ",")
	if opts != "" {
		spec += ";" + opts
	}
	return spec
}

// ---------------------------------------------------------------------------------------------------
// Admin API: server states

// serverStat is one entry of GET /v1/servers (backend.Stats).
type serverStat struct {
	Pool      string          `json:"pool"`
	Name      string          `json:"name"`
	Addr      string          `json:"addr"`
	State     json.RawMessage `json:"state"` // "UP", "DOWN", "DRAIN", "MAINT" (a number is accepted too)
	Active    int64           `json:"sessions"`
	Total     uint64          `json:"sessions_total"`
	LastCheck string          `json:"last_check"`
}

// state returns the state's name (UP, DOWN, DRAIN, MAINT).
func (s serverStat) state() string {
	var n int
	if err := json.Unmarshal(s.State, &n); err == nil {
		if names := []string{"UP", "DOWN", "DRAIN", "MAINT"}; n >= 0 && n < len(names) {
			return names[n]
		}
		return "State(" + strconv.Itoa(n) + ")"
	}
	var str string
	_ = json.Unmarshal(s.State, &str)
	return strings.ToUpper(str)
}

var adminClient = &http.Client{Timeout: 3 * time.Second}

// serverStats reads GET /v1/servers, keyed "pool/server".
func serverStats(t *testing.T, g *testGateway) map[string]serverStat {
	t.Helper()
	resp, err := adminClient.Get("http://" + g.Admin + "/v1/servers")
	if err != nil {
		t.Fatalf("GET /v1/servers: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/servers: %d %s", resp.StatusCode, body)
	}
	var list []serverStat
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET /v1/servers: %v: %s", err, body)
	}
	out := map[string]serverStat{}
	for _, s := range list {
		if s.Pool == "" || s.Name == "" || len(s.State) == 0 {
			t.Fatalf("GET /v1/servers: entry without pool, name or state (format changed?): %s", body)
		}
		out[s.Pool+"/"+s.Name] = s
	}
	return out
}

// waitServer polls /v1/servers every 20 ms until cond holds for ref, and returns how long it took; it
// fails the test after timeout.
func waitServer(t *testing.T, g *testGateway, ref, what string, timeout time.Duration, cond func(serverStat) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last serverStat
	for {
		st, ok := serverStats(t, g)[ref]
		if !ok {
			t.Fatalf("/v1/servers has no %s", ref)
		}
		if cond(st) {
			return time.Since(start)
		}
		last = st
		if time.Since(start) > timeout {
			t.Fatalf("%s: not %s within %v (last: state %s, active %d, last check %q)", ref, what, timeout, last.state(), last.Active, last.LastCheck)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitState(t *testing.T, g *testGateway, ref, state string, timeout time.Duration) time.Duration {
	t.Helper()
	return waitServer(t, g, ref, state, timeout, func(s serverStat) bool { return s.state() == state })
}

// setServerState is POST /v1/servers/POOL/SERVER?state=...
func setServerState(t *testing.T, g *testGateway, ref, state string) serverStat {
	t.Helper()
	resp, err := adminClient.Post("http://"+g.Admin+"/v1/servers/"+ref+"?state="+state, "", nil)
	if err != nil {
		t.Fatalf("POST /v1/servers/%s?state=%s: %v", ref, state, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/servers/%s?state=%s: %d %s", ref, state, resp.StatusCode, body)
	}
	var st serverStat
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("POST /v1/servers/%s: %v: %s", ref, err, body)
	}
	return st
}

// ---------------------------------------------------------------------------------------------------
// Tunnels through the gateway with the raw client

// helloMsg is the first message expressws-server.js and websocket-server.js send on a WebSocket.
type helloMsg struct {
	Hello  bool   `json:"hello"`
	Server string `json:"server"`
	XFF    string `json:"xff"`
	XFP    string `json:"xfp"`
	XFH    string `json:"xfh"`
	Cookie string `json:"cookie"`
}

// tunnel is an open WebSocket session through the gateway to a backend that said hello.
type tunnel struct {
	*rawConn
	resp  *http.Response
	hello helloMsg
}

// statusError is a refused upgrade: the gateway's (or server's) status and body.
type statusError struct {
	status  int
	body    string
	elapsed time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("status %d after %v: %q", e.status, e.elapsed.Round(time.Millisecond), e.body)
}

// dialTunnel upgrades path with extra headers and reads the backend's hello. It does not touch t, so it
// may run on any goroutine; the caller closes the connection.
func dialTunnel(addr, path string, hdr map[string]string, timeout time.Duration) (*tunnel, error) {
	start := time.Now()
	host, lines := headerLines(hdr)
	c, resp, err := wstest.Upgrade(addr, path, wstest.Options{Host: host, Headers: lines, Timeout: timeout})
	if se := (*wstest.StatusError)(nil); errors.As(err, &se) {
		return nil, &statusError{status: se.Resp.StatusCode, body: se.Body, elapsed: time.Since(start)}
	}
	if err != nil {
		return nil, fmt.Errorf("after %v: %w", time.Since(start).Round(time.Millisecond), err)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	f, err := c.ReadFrame(time.Now().Add(timeout))
	if err != nil || f.Op != wstest.OpText {
		c.Close()
		return nil, fmt.Errorf("no hello from the backend (op %d, err %v)", f.Op, err)
	}
	tn := &tunnel{rawConn: c, resp: resp}
	if err := json.Unmarshal(f.Payload, &tn.hello); err != nil || !tn.hello.Hello {
		c.Close()
		return nil, fmt.Errorf("bad hello %q: %v", f.Payload, err)
	}
	_ = c.SetDeadline(time.Time{})
	return tn, nil
}

// openTunnel is dialTunnel that fails the test on error and closes the connection at the end.
func openTunnel(t *testing.T, addr, path string, hdr map[string]string) *tunnel {
	t.Helper()
	tn, err := dialTunnel(addr, path, hdr, 5*time.Second)
	if err != nil {
		t.Fatalf("tunnel to %s%s (headers %v): %v", addr, path, hdr, err)
	}
	t.Cleanup(func() { tn.Close() })
	return tn
}

// setCookie returns the value the response sets for cookie name ("" if none) and the whole header.
func setCookie(h http.Header, name string) (string, string) {
	for _, v := range h.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			val, _, _ := strings.Cut(strings.TrimPrefix(v, name+"="), ";")
			return val, v
		}
	}
	return "", ""
}

// echo sends a masked text message and expects it back.
func (tn *tunnel) echo(msg string) error {
	_ = tn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if _, err := tn.Write(wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(msg)})); err != nil {
		return err
	}
	f, err := tn.ReadFrame(time.Now().Add(3 * time.Second))
	if err != nil {
		return err
	}
	if f.Op != wstest.OpText || string(f.Payload) != msg {
		return fmt.Errorf("echo: op %d %q, want text %q", f.Op, f.Payload, msg)
	}
	return nil
}

// shut sends close 1000 and closes the socket.
func (tn *tunnel) shut() {
	_ = tn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = tn.Write(wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1000, "bye")}))
	tn.Close()
}

// countServers counts tunnels by backend name.
func countServers(tns []*tunnel) map[string]int {
	m := map[string]int{}
	for _, tn := range tns {
		m[tn.hello.Server]++
	}
	return m
}

// ---------------------------------------------------------------------------------------------------
// Plain HTTP through the gateway

// httpGet sends one GET on a fresh connection (from localIP if set) and returns the response and body.
func httpGet(t *testing.T, addr, path string, hdr map[string]string, localIP string) (*http.Response, string) {
	t.Helper()
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	if localIP != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true},
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: read body: %v", addr, path, err)
	}
	return resp, string(body)
}

// whoami is expressws-server.js's GET .../whoami answer.
type whoami struct {
	Server string `json:"server"`
	XFF    string `json:"xff"`
	Cookie string `json:"cookie"`
	User   string `json:"user"`
}

func getWhoami(t *testing.T, addr, path string, hdr map[string]string, localIP string) (whoami, *http.Response) {
	t.Helper()
	resp, body := httpGet(t, addr, path, hdr, localIP)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s (headers %v, from %q): %d %q", path, hdr, localIP, resp.StatusCode, body)
	}
	var w whoami
	if err := json.Unmarshal([]byte(body), &w); err != nil || w.Server == "" {
		t.Fatalf("GET %s: not a whoami answer (%v): %q", path, err, body)
	}
	return w, resp
}

// ---------------------------------------------------------------------------------------------------
// Test 1: Socket.IO behind the gateway, sticky by cookie

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

// ---------------------------------------------------------------------------------------------------
// Test 2: express-ws

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

// readHTTP reads one response (with its body) from c.
func readHTTP(t *testing.T, c *rawConn, what string) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	resp, err := http.ReadResponse(c.R, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("%s: read response: %v", what, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read body: %v", what, err)
	}
	return resp, string(body)
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

// ---------------------------------------------------------------------------------------------------
// Test 3: the `websocket` package

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

// ---------------------------------------------------------------------------------------------------
// Test 4: a backend dies and comes back

// endResult is how a tunnel ended after its server was killed.
type endResult struct {
	after time.Duration
	how   string
	ok    bool // close 1001 or a TCP end
}

// watchEnd reads tn until it ends (close frame, EOF or reset) or timeout, timing it from since.
func watchEnd(tn *tunnel, since time.Time, timeout time.Duration) endResult {
	deadline := time.Now().Add(timeout)
	for {
		f, err := tn.ReadFrame(deadline)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return endResult{time.Since(since), "still open", false}
			}
			return endResult{time.Since(since), "TCP end: " + err.Error(), true}
		}
		if f.Op == wstest.OpClose {
			code := 0
			if len(f.Payload) >= 2 {
				code = int(binary.BigEndian.Uint16(f.Payload))
			}
			return endResult{time.Since(since), fmt.Sprintf("close %d %q", code, f.Payload[min(2, len(f.Payload)):]), code == 1001}
		}
	}
}

// Kill one of two express-ws servers (SIGKILL) with check=http:/health inter=200ms fall=2: it is DOWN
// within inter*fall plus slack, its tunnels end at once (close 1001), new clients and clients holding
// its cookie go to the other server with a new cookie; restarted on the same port it rises and gets new
// sessions again.
func TestE2EProxyLBKillBackend(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2")
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID;check=http:/health;inter=200ms;rise=2;fall=2"),
		"-route", "/=backend:app")
	waitState(t, g, "app/s1", "UP", 3*time.Second)
	waitState(t, g, "app/s2", "UP", 3*time.Second)

	var before []*tunnel
	for i := 0; i < 4; i++ {
		tn := openTunnel(t, g.Addr, "/ws/echo", nil)
		if c, _ := setCookie(tn.resp.Header, "SERVERID"); c != tn.hello.Server {
			t.Errorf("tunnel %d on %s: Set-Cookie SERVERID=%q", i, tn.hello.Server, c)
		}
		before = append(before, tn)
	}
	if n := countServers(before); n["s1"] != 2 || n["s2"] != 2 {
		t.Fatalf("4 tunnels spread %v, want 2/2", n)
	}

	killed := time.Now()
	srv[0].kill()
	var wg sync.WaitGroup
	ends := make([]endResult, len(before))
	for i, tn := range before {
		if tn.hello.Server != "s1" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ends[i] = watchEnd(tn, killed, 3*time.Second)
		}()
	}
	waitState(t, g, "app/s1", "DOWN", 3*time.Second)
	down := time.Since(killed)
	wg.Wait()
	t.Logf("s1 killed: DOWN after %v (inter 200ms × fall 2)", down.Round(time.Millisecond))
	if down > 2*time.Second {
		t.Errorf("s1 marked DOWN %v after the kill, want within ~inter*fall (2 s bound)", down)
	}
	for i, tn := range before {
		if tn.hello.Server != "s1" {
			if err := tn.echo(fmt.Sprintf("still here %d", i)); err != nil {
				t.Errorf("tunnel %d on s2 broke when s1 died: %v", i, err)
			}
			continue
		}
		e := ends[i]
		t.Logf("tunnel %d on s1 ended %v after the kill: %s", i, e.after.Round(time.Millisecond), e.how)
		if !e.ok || e.after > time.Second {
			t.Errorf("tunnel %d on the killed s1: %s after %v, want close 1001 or a TCP end within 1 s", i, e.how, e.after)
		}
	}

	// New clients and clients holding s1's cookie go to s2, with a new cookie.
	for i := 0; i < 3; i++ {
		tn := openTunnel(t, g.Addr, "/ws/echo", nil)
		if c, _ := setCookie(tn.resp.Header, "SERVERID"); tn.hello.Server != "s2" || c != "s2" {
			t.Errorf("new client %d with s1 down: server %s, Set-Cookie SERVERID=%q; want s2, s2", i, tn.hello.Server, c)
		}
		tn.shut()
	}
	tn := openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1; theme=dark"})
	if c, _ := setCookie(tn.resp.Header, "SERVERID"); tn.hello.Server != "s2" || c != "s2" {
		t.Errorf("client with SERVERID=s1 while s1 is down: server %s, Set-Cookie SERVERID=%q; want s2 and a new cookie s2", tn.hello.Server, c)
	}
	if tn.hello.Cookie != "theme=dark" {
		t.Errorf("the backend saw Cookie %q, want %q (SERVERID removed: indirect)", tn.hello.Cookie, "theme=dark")
	}
	tn.shut()
	w, resp := getWhoami(t, g.Addr, "/whoami", map[string]string{"Cookie": "SERVERID=s1"}, "")
	if c, _ := setCookie(resp.Header, "SERVERID"); w.Server != "s2" || c != "s2" {
		t.Errorf("HTTP request with SERVERID=s1 while s1 is down: server %s, Set-Cookie SERVERID=%q; want s2, s2", w.Server, c)
	}

	// Bring s1 back on the same port: it rises and gets new sessions again.
	restarted := time.Now()
	s1 := startNodeServer(t, "expressws-server.js", "s1", srv[0].Port)
	waitState(t, g, "app/s1", "UP", 3*time.Second)
	up := time.Since(restarted)
	t.Logf("s1 restarted on port %d: UP after %v (rise 2 × inter 200ms, node start included)", s1.Port, up.Round(time.Millisecond))
	if up > 2*time.Second {
		t.Errorf("restarted s1 UP %v after its start, want ~1 s (rise*inter plus the node start)", up)
	}
	var after []*tunnel
	for i := 0; i < 4; i++ {
		after = append(after, openTunnel(t, g.Addr, "/ws/echo", nil))
	}
	if n := countServers(after); n["s1"] == 0 {
		t.Errorf("after s1 came back, 4 new tunnels spread %v: s1 gets no new sessions", n)
	}
	tn = openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
	if c, _ := setCookie(tn.resp.Header, "SERVERID"); tn.hello.Server != "s1" || c != "" {
		t.Errorf("client with SERVERID=s1 after s1 came back: server %s, Set-Cookie %q; want s1 and no new cookie", tn.hello.Server, c)
	}
	if err := tn.echo("back again"); err != nil {
		t.Errorf("echo on the restarted s1: %v", err)
	}
}

// ---------------------------------------------------------------------------------------------------
// Test 5: leastconn and consistent hashing

// leastconn with two servers: 8 long-lived tunnels spread 4/4; after the 4 on s1 close, 4 new tunnels all
// go to s1, the less loaded server. (8, not 6: leastconn puts 3 and 3 of 6, so "close 4 on one server"
// needs 4 there; with 0 against 4 sessions every one of the next 4 picks has a strict winner.)
func TestE2EProxyLBLeastconn(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2")
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=leastconn"), "-route", "/=backend:app")

	var first []*tunnel
	for i := 0; i < 8; i++ {
		first = append(first, openTunnel(t, g.Addr, "/ws/echo", nil))
	}
	if n := countServers(first); n["s1"] != 4 || n["s2"] != 4 {
		t.Fatalf("leastconn: 8 tunnels spread %v, want 4/4", n)
	}
	for _, tn := range first {
		if tn.hello.Server == "s1" {
			tn.shut()
		}
	}
	// The gateway counts a session until it sees the close: wait for its count, bounded.
	waitServer(t, g, "app/s1", "at 0 active sessions", 2*time.Second, func(s serverStat) bool { return s.Active == 0 })
	if st := serverStats(t, g)["app/s2"]; st.Active != 4 {
		t.Errorf("s2 has %d active sessions, want 4", st.Active)
	}
	var more []*tunnel
	for i := 0; i < 4; i++ {
		more = append(more, openTunnel(t, g.Addr, "/ws/echo", nil))
	}
	if n := countServers(more); n["s1"] != 4 {
		t.Errorf("leastconn with s1 at 0 and s2 at 4 sessions: 4 new tunnels went %v, want all on s1", n)
	}
	if st := serverStats(t, g); st["app/s1"].Active != 4 || st["app/s2"].Active != 4 {
		t.Errorf("sessions after the second wave: s1 %d, s2 %d; want 4 and 4", st["app/s1"].Active, st["app/s2"].Active)
	}
	for _, tn := range append(first, more...) {
		if tn.hello.Server == "s2" || slices.Contains(more, tn) {
			if err := tn.echo("alive"); err != nil {
				t.Errorf("tunnel on %s: %v", tn.hello.Server, err)
			}
		}
	}
}

// Consistent hashing across gateway nodes: two independent wsgate processes with the same -backend spec
// send each of 50 X-User values (balance=hdr:X-User) and each of 50 source addresses 127.0.0.10..59
// (balance=source) to the same server, every time; both servers get a fair share; adding a third server
// moves at most 1.5/N of the keys, and only to the new server.
func TestE2EProxyLBConsistentHash(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2", "s3")
	two := []string{
		"-backend", poolSpec("h", srv[:2], "balance=hdr:X-User"), "-backend", poolSpec("src", srv[:2], "balance=source"),
		"-route", "/h/=backend:h", "-route", "/src/=backend:src",
	}
	three := []string{
		"-backend", poolSpec("h", srv, "balance=hdr:X-User"), "-backend", poolSpec("src", srv, "balance=source"),
		"-route", "/h/=backend:h", "-route", "/src/=backend:src",
	}
	nodes := []*testGateway{startGateway(t, two...), startGateway(t, two...)}
	grown := startGateway(t, three...)

	const keys = 50
	type method struct {
		name, path string
		req        func(i int) (map[string]string, string) // headers, source IP
	}
	methods := []method{
		{"hdr:X-User", "/h/whoami", func(i int) (map[string]string, string) {
			return map[string]string{"X-User": fmt.Sprintf("user-%d@example.com", i)}, ""
		}},
		{"source", "/src/whoami", func(i int) (map[string]string, string) {
			return nil, fmt.Sprintf("127.0.0.%d", 10+i)
		}},
	}
	for _, m := range methods {
		placed := make([]string, keys)
		counts := map[string]int{}
		for i := 0; i < keys; i++ {
			hdr, ip := m.req(i)
			var got []string
			for round := 0; round < 2; round++ { // node 0, node 1, then both again
				for _, g := range nodes {
					w, _ := getWhoami(t, g.Addr, m.path, hdr, ip)
					if hdr != nil && w.User != hdr["X-User"] {
						t.Fatalf("%s: the backend saw X-User %q, want %q", m.name, w.User, hdr["X-User"])
					}
					if ip != "" && w.XFF != ip {
						t.Fatalf("%s: the backend saw X-Forwarded-For %q, want the source %s", m.name, w.XFF, ip)
					}
					got = append(got, w.Server)
				}
			}
			for _, s := range got[1:] {
				if s != got[0] {
					t.Errorf("%s key %d: answered by %v on [node0 node1 node0 node1]: not pinned to one server", m.name, i, got)
					break
				}
			}
			placed[i] = got[0]
			counts[got[0]]++
		}
		t.Logf("%s: %d keys on two nodes: %v", m.name, keys, counts)
		for _, s := range []string{"s1", "s2"} {
			if counts[s] < keys/5 {
				t.Errorf("%s: %s got %d of %d keys: the hash does not spread (%v)", m.name, s, counts[s], keys, counts)
			}
		}
		moved, wrong := 0, 0
		for i := 0; i < keys; i++ {
			hdr, ip := m.req(i)
			w, _ := getWhoami(t, grown.Addr, m.path, hdr, ip)
			if w.Server != placed[i] {
				moved++
				if w.Server != "s3" {
					wrong++
					t.Errorf("%s key %d moved %s → %s when s3 was added: keys may only move to the new server", m.name, i, placed[i], w.Server)
				}
			}
		}
		limit := int(1.5 / 3 * keys)
		t.Logf("%s: adding s3 moved %d of %d keys (limit 1.5/N = %d)", m.name, moved, keys, limit)
		if moved > limit {
			t.Errorf("%s: adding a third server moved %d of %d keys, want <= %d", m.name, moved, keys, limit)
		}
		if moved == 0 {
			t.Errorf("%s: adding a third server moved no key: s3 gets nothing", m.name)
		}
	}
}

// ---------------------------------------------------------------------------------------------------
// Test 6: bad backends, redispatch and drain

// fakeBackend is a Go listener that misbehaves in one way; it is closed when the test ends.
func fakeBackend(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// readHead reads a request head (up to the blank line) or fails silently.
func readHead(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			return true
		}
	}
}

// refusal sends an upgrade (or a plain GET) on path and returns the refusal status, body and time.
func refusal(t *testing.T, addr, path string, upgrade bool) *statusError {
	t.Helper()
	if upgrade {
		tn, err := dialTunnel(addr, path, nil, 5*time.Second)
		if err == nil {
			tn.Close()
			t.Fatalf("upgrade on %s succeeded, want a refusal", path)
		}
		var se *statusError
		if !errors.As(err, &se) {
			t.Fatalf("upgrade on %s: %v, want an HTTP error status", path, err)
		}
		return se
	}
	start := time.Now()
	resp, body := httpGet(t, addr, path, nil, "")
	return &statusError{status: resp.StatusCode, body: body, elapsed: time.Since(start)}
}

// Backends that refuse, hang or answer garbage get 503, 504 (after server-timeout) and 502 with a body
// saying why, for upgrades and plain requests, while a client on another route keeps its tunnel and new
// clients still get through; a connect failure is redispatched to a live server; a draining server gets
// no new sessions but keeps its sticky ones.
func TestE2EProxyBadBackends(t *testing.T) {
	requireNodeModules(t, "express", "express-ws")
	srv := startNodeServers(t, "expressws-server.js", "s1", "s2")
	deadAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there
	hangAddr := fakeBackend(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	garbageAddr := fakeBackend(t, func(c net.Conn) {
		if readHead(c) {
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1\r\nthis is not HTTP at all\r\n\r\n"))
			_, _ = io.Copy(io.Discard, c) // until the gateway (or the cleanup) closes
		}
	})
	eofAddr := fakeBackend(t, func(c net.Conn) {
		readHead(c)
		c.Close()
	})
	g := startGateway(t,
		"-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID"),
		"-backend", "dead=d1@"+deadAddr,
		"-backend", "hang=h1@"+hangAddr+";server-timeout=1s",
		"-backend", "garbage=g1@"+garbageAddr,
		"-backend", "eof=e1@"+eofAddr,
		"-backend", "mixed=gone@"+deadAddr+"*3,live@"+srv[0].Addr()+";balance=roundrobin;fall=100",
		"-route", "/ws=backend:app", "-route", "/dead=backend:dead", "-route", "/hang=backend:hang",
		"-route", "/garbage=backend:garbage", "-route", "/eof=backend:eof", "-route", "mixed.test/ws=backend:mixed", // same prefix as /ws: the host route wins
	)
	good := openTunnel(t, g.Addr, "/ws/echo", nil)
	goodStillWorks := func(after string) {
		t.Helper()
		if err := good.echo("after " + after); err != nil {
			t.Fatalf("the good client's tunnel broke after %s: %v", after, err)
		}
		tn, err := dialTunnel(g.Addr, "/ws/echo", nil, 3*time.Second)
		if err != nil {
			t.Fatalf("a new good client failed after %s: %v", after, err)
		}
		tn.shut()
	}

	cases := []struct {
		name, path string
		upgrade    bool
		status     int
		bodyHas    string
		minT, maxT time.Duration
	}{
		{"refused connect, upgrade", "/dead/ws", true, 503, "dead", 0, time.Second},
		{"refused connect, GET", "/dead/page", false, 503, "dead", 0, time.Second},
		{"silent server, upgrade", "/hang/ws", true, 504, "", 900 * time.Millisecond, 2500 * time.Millisecond},
		{"silent server, GET", "/hang/page", false, 504, "", 900 * time.Millisecond, 2500 * time.Millisecond},
		{"garbage answer, upgrade", "/garbage/ws", true, 502, "", 0, time.Second},
		{"garbage answer, GET", "/garbage/page", false, 502, "", 0, time.Second},
		{"closed without answer, upgrade", "/eof/ws", true, 502, "", 0, time.Second},
	}
	for _, c := range cases {
		r := refusal(t, g.Addr, c.path, c.upgrade)
		t.Logf("%s (%s): %d %q after %v", c.name, c.path, r.status, strings.TrimSpace(r.body), r.elapsed.Round(time.Millisecond))
		if r.status != c.status {
			t.Errorf("%s: status %d %q, want %d", c.name, r.status, r.body, c.status)
		}
		if strings.TrimSpace(r.body) == "" || (c.bodyHas != "" && !strings.Contains(r.body, c.bodyHas)) {
			t.Errorf("%s: body %q does not say why (want it to mention %q)", c.name, r.body, c.bodyHas)
		}
		if r.elapsed < c.minT || r.elapsed > c.maxT {
			t.Errorf("%s: answered after %v, want between %v and %v", c.name, r.elapsed, c.minT, c.maxT)
		}
		goodStillWorks(c.name)
	}
	if st := serverStats(t, g)["dead/d1"]; st.state() != "DOWN" {
		t.Logf("dead/d1 after refused connects: %s (%q)", st.state(), st.LastCheck)
	}

	// A pool whose only server went DOWN (passive: fall connect failures in a row) answers 503 at once,
	// saying so.
	for i := 0; i < 3; i++ {
		_ = refusal(t, g.Addr, "/dead/again", false)
	}
	waitState(t, g, "dead/d1", "DOWN", 2*time.Second)
	if r := refusal(t, g.Addr, "/dead/ws", true); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "dead") {
		t.Errorf("upgrade on a pool whose only server is DOWN: %d %q, want 503 naming the pool", r.status, r.body)
	} else {
		t.Logf("pool with its server DOWN: %d %q", r.status, strings.TrimSpace(r.body))
	}
	goodStillWorks("a DOWN pool")

	// Redispatch: pool mixed has a dead server (weight 3, not yet marked down: fall=100) and a live
	// one (weight 1). Every client balanced to the dead server must be redispatched to the live one
	// (HAProxy's option redispatch avoids the server that just failed), so every upgrade succeeds.
	t.Run("redispatch", func(t *testing.T) {
		const n = 8
		failed := 0
		for i := 0; i < n; i++ {
			tn, err := dialTunnel(g.Addr, "/ws/echo", map[string]string{"Host": "mixed.test"}, 5*time.Second)
			if err == nil {
				if tn.hello.Server != "s1" {
					err = fmt.Errorf("answered by %s, want the live server s1", tn.hello.Server)
				}
				tn.Close()
			}
			if err != nil {
				failed++
				t.Errorf("client %d of %d on pool mixed (dead server weight 3 + live s1 weight 1): %v", i, n, err)
			}
		}
		t.Logf("pool mixed: %d of %d clients refused although the live server was up", failed, n)
	})
	goodStillWorks("redispatch")

	// Drain s1 at runtime: new sessions avoid it, its sticky clients (cookie SERVERID=s1) still reach it,
	// its existing tunnels stay; ready brings it back.
	t.Run("drain", func(t *testing.T) {
		existing := openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
		if existing.hello.Server != "s1" {
			t.Fatalf("cookie SERVERID=s1 answered by %s", existing.hello.Server)
		}
		if st := setServerState(t, g, "app/s1", "drain"); st.state() != "DRAIN" {
			t.Fatalf("POST state=drain: server state %s, want DRAIN", st.state())
		}
		var fresh []*tunnel
		for i := 0; i < 6; i++ {
			fresh = append(fresh, openTunnel(t, g.Addr, "/ws/echo", nil))
		}
		if n := countServers(fresh); n["s2"] != 6 {
			t.Errorf("with s1 draining, 6 new sessions went %v, want all on s2", n)
		}
		sticky := openTunnel(t, g.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
		if c, _ := setCookie(sticky.resp.Header, "SERVERID"); sticky.hello.Server != "s1" || c != "" {
			t.Errorf("sticky client of draining s1: server %s, Set-Cookie %q; want s1 and no new cookie", sticky.hello.Server, c)
		}
		if err := existing.echo("draining but kept"); err != nil {
			t.Errorf("an existing tunnel on draining s1 broke: %v", err)
		}
		setServerState(t, g, "app/s1", "ready")
		var back []*tunnel
		for i := 0; i < 4; i++ {
			back = append(back, openTunnel(t, g.Addr, "/ws/echo", nil))
		}
		if n := countServers(back); n["s1"] == 0 {
			t.Errorf("after state=ready, 4 new sessions went %v: s1 gets none", n)
		}
	})

	// The same from the command line: -drain app/s1.
	t.Run("drain flag", func(t *testing.T) {
		g2 := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID"), "-route", "/ws=backend:app", "-drain", "app/s1")
		if st := serverStats(t, g2)["app/s1"]; st.state() != "DRAIN" {
			t.Errorf("-drain app/s1: state %s, want DRAIN", st.state())
		}
		var fresh []*tunnel
		for i := 0; i < 4; i++ {
			fresh = append(fresh, openTunnel(t, g2.Addr, "/ws/echo", nil))
		}
		if n := countServers(fresh); n["s2"] != 4 {
			t.Errorf("-drain app/s1: 4 new sessions went %v, want all on s2", n)
		}
		sticky := openTunnel(t, g2.Addr, "/ws/echo", map[string]string{"Cookie": "SERVERID=s1"})
		if sticky.hello.Server != "s1" {
			t.Errorf("-drain app/s1: the sticky client went to %s, want s1", sticky.hello.Server)
		}
	})
	goodStillWorks("drain")
	if g.exited() {
		t.Fatal("the gateway exited")
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
