package gateway_test

// The access log end to end (issue 17): what an operator reads for a Socket.IO session, a backend
// killed under a tunnel, each refusal and each way a topic session ends, request IDs as a backend sees
// them, that a token never reaches a log line, and that SIGUSR1 rotation loses nothing.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/wsgate/wsgate/codec"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// logLine is one JSON access-log line (the fields the tests look at).
type logLine struct {
	Kind        string `json:"kind"`
	Client      string `json:"client"`
	XFF         string `json:"xff"`
	Route       string `json:"route"`
	Topic       string `json:"topic"`
	Pool        string `json:"pool"`
	Server      string `json:"server"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	Status      int    `json:"status"`
	Tq          int    `json:"tq_ms"`
	Tw          int    `json:"tw_ms"`
	Tc          int    `json:"tc_ms"`
	Tr          int    `json:"tr_ms"`
	Tt          int    `json:"tt_ms"`
	BytesIn     int    `json:"bytes_in"`
	BytesOut    int    `json:"bytes_out"`
	MsgsIn      int    `json:"msgs_in"`
	MsgsOut     int    `json:"msgs_out"`
	CloseCode   int    `json:"close_code"`
	ClosedBy    string `json:"closed_by"`
	Termination string `json:"termination"`
	Term        string `json:"term"`
	RequestID   string `json:"request_id"`
	Detail      string `json:"detail"`
	raw         string
}

// readLog parses every line of the access-log files.
func readLog(t *testing.T, paths ...string) []logLine {
	t.Helper()
	var out []logLine
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			var ll logLine
			if err := json.Unmarshal([]byte(l), &ll); err != nil {
				t.Fatalf("access-log line is not JSON: %v\n%s", err, l)
			}
			ll.raw = l
			out = append(out, ll)
		}
	}
	return out
}

// awaitLine waits up to 5 s for a line that match accepts, and returns it.
func awaitLine(t *testing.T, path string, what string, match func(*logLine) bool) logLine {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := readLog(t, path)
		for i := range lines {
			if match(&lines[i]) {
				t.Logf("%s: %s", what, lines[i].raw)
				return lines[i]
			}
		}
		if time.Now().After(deadline) {
			var all []string
			for _, l := range lines {
				all = append(all, l.raw)
			}
			t.Fatalf("no access-log line for %s in 5s; the log:\n%s", what, strings.Join(all, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantFields(t *testing.T, l logLine, want map[string]any) {
	t.Helper()
	got := map[string]any{}
	_ = json.Unmarshal([]byte(l.raw), &got)
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v in\n%s", k, got[k], v, l.raw)
		}
	}
}

// A Socket.IO client (polling first, then the upgrade) behind a sticky pool: its polling requests and
// its one WebSocket session are logged, every one with the server its SERVERID cookie names.
func TestE2EAccessLogSocketIO(t *testing.T) {
	srv := startSIOPair(t)
	file := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, "-backend", poolSpec("app", srv, "balance=roundrobin;cookie=SERVERID"), "-route", "/=backend:app",
		"-access-log", file)
	var s sioSummary
	runNodeJSON(t, 20*time.Second, &s, "sio-client.js", "--url", "http://"+g.Addr, "--count", strconv.Itoa(sioEvents))
	if p := sioProblems(&s); len(p) > 0 {
		t.Fatalf("socket.io session: %s", strings.Join(p, "; "))
	}
	cookie := s.Cookies["SERVERID"]
	ws := awaitLine(t, file, "the WebSocket session", func(l *logLine) bool { return l.Kind == "ws" })
	wantFields(t, ws, map[string]any{"pool": "app", "server": cookie, "status": 101})
	// The client disconnects; engine.io's server then closes its side, which may reach the gateway first.
	if !(ws.Termination == "client_closed" && ws.ClosedBy == "client") && !(ws.Termination == "server_closed" && ws.ClosedBy == "server") {
		t.Errorf("WebSocket session end: %s by %q, want closed by the client or the server", ws.Termination, ws.ClosedBy)
	}
	if ws.MsgsIn != 0 || ws.BytesIn == 0 || ws.BytesOut == 0 || ws.Tt <= 0 || ws.Tq < 0 || ws.Tc < 0 || ws.Tr < 0 {
		t.Errorf("WebSocket session timers or bytes: %s", ws.raw)
	}
	var polls int
	ids := map[string]bool{ws.RequestID: true}
	for _, l := range readLog(t, file) {
		if l.Kind != "http" {
			continue
		}
		if polls++; polls == 1 {
			t.Logf("a polling request: %s", l.raw)
		}
		if l.Server != cookie || l.Pool != "app" || l.Status != 200 || l.Termination != "normal" || !strings.HasPrefix(l.Path, "/socket.io/") {
			t.Errorf("polling request not on the session's server %s, or not a normal 200: %s", cookie, l.raw)
		}
		if l.Tq < 0 || l.Tw != 0 || l.Tc < 0 || l.Tr < 0 || l.Tt < l.Tr || l.RequestID == "" || ids[l.RequestID] {
			t.Errorf("timers or request ID (unique, present): %s", l.raw)
		}
		ids[l.RequestID] = true
	}
	if polls < 2 {
		t.Errorf("%d polling requests logged, want the handshake poll and more", polls)
	}
	t.Logf("socket.io session on %s: %d polling requests and one WebSocket session logged", cookie, polls)
}

// Each way a request or session ends, with its state; and no token in any line.
func TestE2EAccessLogStates(t *testing.T) {
	requireE2E(t, true, false)
	dir := t.TempDir()
	var files []string
	logFile := func(name string) string {
		f := filepath.Join(dir, name+".log")
		files = append(files, f)
		return f
	}
	const secret = "SeCrEt-TokEn-42"

	t.Run("backend killed mid-tunnel", func(t *testing.T) {
		file := logFile("killed")
		a1 := startFlEcho(t, "a1")
		g := startGateway(t, "-route", "/a=backend:A", "-backend", "A=a1@"+a1.Addr, "-access-log", file)
		tn, err := dialTunnel(g.Addr, "/a?room=1&token="+secret, nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer tn.Close()
		if err := tn.echo("hi"); err != nil {
			t.Fatal(err)
		}
		a1.kill()
		if e := flWaitEnd(tn.rawConn, time.Now().Add(5*time.Second)); e.kind != "close" || e.code != 1001 {
			t.Fatalf("client saw %v, want close 1001", e)
		}
		l := awaitLine(t, file, "the tunnel", func(l *logLine) bool { return l.Kind == "ws" })
		wantFields(t, l, map[string]any{"termination": "server_closed", "term": "SD--", "close_code": 1001, "closed_by": "server",
			"server": "a1", "pool": "A", "path": "/a?room=1", "status": 101})
	})

	t.Run("503 at max-conns", func(t *testing.T) {
		file := logFile("maxconns")
		g := startGateway(t, "-max-conns", "2", "-access-log", file)
		upgradeRaw(t, g.Addr, "/ws", 0)
		upgradeRaw(t, g.Addr, "/ws", 0)
		c := dialRaw(t, g.Addr)
		if resp, err := c.ReadResponse(3 * time.Second); err != nil || resp.StatusCode != 503 {
			t.Fatalf("third connection: %v %v, want 503", resp, err)
		}
		l := awaitLine(t, file, "the refusal", func(l *logLine) bool { return l.Kind == "refused" })
		wantFields(t, l, map[string]any{"status": 503, "termination": "refused", "term": "RR--", "detail": "max-conns"})
	})

	t.Run("408 handshake timeout", func(t *testing.T) {
		file := logFile("timeout")
		g := startGateway(t, "-handshake-timeout", "500ms", "-access-log", file)
		c := dialRaw(t, g.Addr)
		if _, err := io.WriteString(c, "GET /ws?token="+secret+" HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		if resp, err := c.ReadResponse(3 * time.Second); err != nil || resp.StatusCode != 408 {
			t.Fatalf("partial head: %v %v, want 408", resp, err)
		}
		l := awaitLine(t, file, "the timeout", func(l *logLine) bool { return l.Status == 408 })
		wantFields(t, l, map[string]any{"kind": "http", "termination": "timeout_handshake", "term": "cR--", "tq_ms": -1})
		if l.Tt < 400 {
			t.Errorf("Tt %d ms, want about the 500 ms handshake timeout", l.Tt)
		}
		// The answer's bytes count, as for a proxied request (they were logged as 0 before).
		if want := len(codec.AppendError(nil, 408, "request head not received in time")); l.BytesOut != want {
			t.Errorf("bytes_out %d, want %d (the 408 answered)", l.BytesOut, want)
		}
	})

	t.Run("client gone in the middle of its request head", func(t *testing.T) {
		file := logFile("midhead")
		g := startGateway(t, "-access-log", file)
		c := dialRaw(t, g.Addr)
		if _, err := io.WriteString(c, "GET /ws?token="+secret+" HTTP/1.1\r\nHo"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		c.Close()
		l := awaitLine(t, file, "the abandoned request", func(l *logLine) bool { return l.Kind == "http" })
		wantFields(t, l, map[string]any{"status": -1, "termination": "client_closed", "term": "CR--", "tq_ms": -1})
	})

	t.Run("1008 slow consumer", func(t *testing.T) {
		file := logFile("slow")
		g := startGateway(t, "-max-outbound", "262144", "-max-message-bytes", "131072", "-access-log", file)
		slow := upgradeRaw(t, g.Addr, "/ws?token="+secret, 0) // never reads
		_ = slow
		body := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 2000; i++ {
			resp, err := http.Post("http://"+g.Admin+"/v1/publish/chat", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if i%50 == 49 && strings.Contains(readFile(t, file), "slow_consumer") {
				break
			}
		}
		l := awaitLine(t, file, "the slow consumer", func(l *logLine) bool { return l.Kind == "ws" })
		wantFields(t, l, map[string]any{"termination": "slow_consumer", "close_code": 1008, "closed_by": "gateway",
			"topic": "chat", "route": "/ws", "path": "/ws", "status": 101, "tw_ms": -1})
		if l.MsgsOut == 0 || l.BytesOut < l.MsgsOut*(64<<10) {
			t.Errorf("msgs_out %d, bytes_out %d: the broadcasts it was sent are not counted", l.MsgsOut, l.BytesOut)
		}
	})

	t.Run("messages and a client close", func(t *testing.T) {
		file := logFile("close")
		g := startGateway(t, "-access-log", file, "-access-log-format", "json")
		c := upgradeRaw(t, g.Addr, "/ws", 0)
		for i := 0; i < 3; i++ {
			writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("m" + strconv.Itoa(i))})
			if _, err := c.ReadFrame(time.Now().Add(3 * time.Second)); err != nil { // its own broadcast
				t.Fatal(err)
			}
		}
		writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1000, "bye")})
		c.ReadUntilClose(3 * time.Second)
		l := awaitLine(t, file, "the session", func(l *logLine) bool { return l.Kind == "ws" })
		wantFields(t, l, map[string]any{"termination": "client_closed", "close_code": 1000, "closed_by": "client",
			"msgs_in": 3, "msgs_out": 3, "term": "CD--"})
	})

	drainFile := logFile("drain")
	var open *rawConn // outlives the subtest, whose end stops (and drains) its gateway
	t.Run("drain", func(t *testing.T) {
		g := startGateway(t, "-access-log", drainFile)
		c, err := wstest.Dial(g.Addr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		open = c
		if _, err := c.Handshake("/ws?token="+secret, wstest.Options{Host: g.Addr, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
	})
	if open != nil {
		defer open.Close()
	}
	l := awaitLine(t, drainFile, "the drained session", func(l *logLine) bool { return l.Kind == "ws" })
	wantFields(t, l, map[string]any{"termination": "drain", "close_code": 1001, "closed_by": "gateway", "term": "KD--"})

	for _, f := range files {
		if b := readFile(t, f); strings.Contains(b, secret) || strings.Contains(b, "token=") {
			t.Errorf("%s holds the token:\n%s", f, b)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// The request ID a backend gets is the one in the log line: generated for an untrusted client (its own
// replaced, never doubled), kept for a trusted one.
func TestE2EAccessLogRequestID(t *testing.T) {
	requireE2E(t, false, false)
	var mu sync.Mutex
	var seen [][]string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Values("X-Request-Id"))
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	for _, tc := range []struct {
		name, trusted string
		keep          bool
	}{{"untrusted client: generated", "", false}, {"trusted client: kept", "127.0.0.0/8", true}} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "access.log")
			g := startGateway(t, "-route", "/api=backend:api", "-backend", "api=s1@"+addr, "-access-log", file,
				"-access-log-format", "json", "-request-id-trusted", tc.trusted)
			req, _ := http.NewRequest("GET", "http://"+g.Addr+"/api/x?token=abc", nil)
			req.Header.Set("X-Request-Id", "client-id-7")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			l := awaitLine(t, file, "the request", func(l *logLine) bool { return l.Kind == "http" })
			mu.Lock()
			got := seen[len(seen)-1]
			mu.Unlock()
			if len(got) != 1 || got[0] != l.RequestID {
				t.Errorf("backend got X-Request-Id %q, the log says %q", got, l.RequestID)
			}
			if (l.RequestID == "client-id-7") != tc.keep {
				t.Errorf("request ID %q: kept %v, want %v", l.RequestID, !tc.keep, tc.keep)
			}
			wantFields(t, l, map[string]any{"status": 200, "pool": "api", "server": "s1", "path": "/api/x", "termination": "normal"})
		})
	}
}

// Rotation: the file is renamed under the gateway and SIGUSR1 reopens it; at a load the writer keeps up
// with, every session is in one of the two files (or counted as dropped).
func TestE2EAccessLogRotation(t *testing.T) {
	requireE2E(t, false, false)
	dir := t.TempDir()
	file, rotated := filepath.Join(dir, "access.log"), filepath.Join(dir, "access.log.1")
	g := startGatewayProcess(t, "-access-log", file, "-access-log-format", "text")
	// Sessions run on 4 workers all along; the file is renamed and reopened while they run.
	const workers = 4
	var wg sync.WaitGroup
	var done, nfail atomic.Int64
	stop := make(chan struct{})
	session := func() {
		c, err := wstest.Dial(g.Addr, 3*time.Second)
		if err != nil {
			nfail.Add(1)
			return
		}
		defer c.Close()
		if _, err := c.Handshake("/ws", wstest.Options{Host: g.Addr, Timeout: 5 * time.Second}); err != nil {
			nfail.Add(1)
			return
		}
		done.Add(1)
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					session()
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: not within 10s", what)
			}
		}
	}
	waitFor("200 sessions", func() bool { return done.Load() >= 200 })
	if err := os.Rename(file, rotated); err != nil {
		t.Fatal(err)
	}
	g.signal(t, syscall.SIGUSR1)
	waitFor("the reopen", func() bool { return strings.Contains(g.log.String(), "access log reopened") })
	at := done.Load()
	waitFor("200 more sessions", func() bool { return done.Load() >= at+200 })
	close(stop)
	wg.Wait()
	if n := nfail.Load(); n > 0 {
		t.Logf("%d sessions failed to connect (not counted)", n)
	}
	sessions := int(done.Load())
	count := func() (old, cur int) {
		return countLines(t, rotated, " ws "), countLines(t, file, " ws ")
	}
	deadline := time.Now().Add(10 * time.Second)
	old, cur := count()
	for old+cur < sessions && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		old, cur = count()
	}
	dropped := metricValue(t, g.Admin, "wsgate_access_log_dropped_total")
	t.Logf("%d sessions: %d lines before the rotation, %d after; dropped %d", sessions, old, cur, dropped)
	if first, _, _ := strings.Cut(readFile(t, file), "\n"); first != "" {
		t.Logf("a text line: %s", first)
	}
	if old == 0 || cur == 0 {
		t.Errorf("lines before / after the rotation: %d / %d, want both > 0 (was the file reopened?)", old, cur)
	}
	if old+cur+dropped != sessions {
		t.Errorf("%d lines + %d dropped for %d sessions", old+cur, dropped, sessions)
	}
	if n := metricValue(t, g.Admin, "wsgate_access_log_lines_total"); n != old+cur {
		t.Errorf("wsgate_access_log_lines_total %d, but %d lines in the files", n, old+cur)
	}
}

func countLines(t *testing.T, path, substr string) int {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}

// metricValue reads one counter from the admin listener's /metrics.
func metricValue(t *testing.T, admin, name string) int {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}
