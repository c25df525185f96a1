package gateway_test

// The differential request-smuggling suite (issue 11 item 6). Every case of smuggleCases
// (smuggle_cases_test.go) is sent raw, as one write, through a proxy to a recording backend that parses
// with Node's own HTTP parser (testdata/llhttp-recorder.js, llhttp in its strict default mode), and
// the test compares what the backend parsed with what the client's framing meant under RFC 9112:
// either the proxy refused the request itself (4xx/5xx, nothing smuggled reached the backend), or the
// backend parsed exactly the requests the client sent (same number, methods, targets, bodies, no
// parse error, no request glued into another's body). The same table runs through HAProxy as a
// reference column (reported, never asserted). Cases that fail on today's wsgate are listed in
// knownHoles with the issue 11 item that fixes them; the map can only shrink.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// knownHoles are the cases today's wsgate fails, each with the issue 11 item whose fix closes it. A
// listed case that passes fails the test, so that the map only shrinks as the fixes land.
//
// Empty since issue 11 items 1-5 landed: a new case that fails is a FAIL, not a known hole, unless
// it is listed here with the issue that will fix it.
var knownHoles = map[string]int{}

// smRecorder is a running testdata/llhttp-recorder.js.
type smRecorder struct {
	addr    string // data port: the proxy's backend
	control string // GET /records, GET /reset
	client  *http.Client
}

func startSmuggleRecorder(t *testing.T) *smRecorder {
	t.Helper()
	cmd := exec.Command("node", "llhttp-recorder.js")
	cmd.Dir = "testdata"
	var control int
	p, err := startChild(t, childSpec{label: "llhttp-recorder.js", logMax: 32 << 10,
		readyLine: func(line []byte) (string, bool, error) {
			var r struct {
				Ready         bool
				Port, Control int
			}
			if err := json.Unmarshal(line, &r); err != nil || !r.Ready || r.Port == 0 || r.Control == 0 {
				return "", false, fmt.Errorf("first line %q, want a ready line with port and control", line)
			}
			control = r.Control // written before the value is sent on the ready channel
			return strconv.Itoa(r.Port), true, nil
		}}, cmd)
	if err != nil {
		t.Fatalf("start llhttp-recorder.js: %v", err)
	}
	port, err := p.awaitReady(10 * time.Second)
	if err != nil {
		t.Fatalf("llhttp-recorder.js: %v", err)
	}
	return &smRecorder{addr: "127.0.0.1:" + port, control: fmt.Sprintf("127.0.0.1:%d", control),
		client: &http.Client{Timeout: 3 * time.Second}}
}

// smRecord is one line of the recorder's log (see the script's header for the kinds).
type smRecord struct {
	Kind       string   `json:"kind"`
	I          int      `json:"i"`
	Conn       int      `json:"conn"`
	Method     string   `json:"method"`
	URL        string   `json:"url"`
	Version    string   `json:"version"`
	RawHeaders []string `json:"rawHeaders"`
	Body       string   `json:"body"`
	Complete   bool     `json:"complete"`
	Code       string   `json:"code"`
	Reason     string   `json:"reason"`
	Data       string   `json:"data"`
	Raw        string   `json:"raw"`
}

func smB64(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	return string(b)
}

// header returns every value of the named header the backend saw, in order.
func (r smRecord) header(name string) []string {
	var out []string
	for i := 0; i+1 < len(r.RawHeaders); i += 2 {
		if strings.EqualFold(r.RawHeaders[i], name) {
			out = append(out, r.RawHeaders[i+1])
		}
	}
	return out
}

func (rc *smRecorder) get(path string) ([]byte, error) {
	resp, err := rc.client.Get("http://" + rc.control + path)
	if err != nil {
		return nil, fmt.Errorf("recorder %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("recorder %s: %w", path, err)
	}
	return b, nil
}

// records waits until the recorder's log stops changing (two equal reads 40 ms apart, at most ~1 s)
// and returns it. It returns errors rather than failing t: HAProxy's column runs on another goroutine.
func (rc *smRecorder) records() ([]smRecord, error) {
	var last []byte
	for range 25 {
		b, err := rc.get("/records")
		if err != nil {
			return nil, err
		}
		if last != nil && bytes.Equal(b, last) {
			break
		}
		last = b
		time.Sleep(40 * time.Millisecond)
	}
	var recs []smRecord
	if err := json.Unmarshal(last, &recs); err != nil {
		return nil, fmt.Errorf("recorder /records: %w: %s", err, last)
	}
	return recs, nil
}

func (rc *smRecorder) reset() error {
	_, err := rc.get("/reset")
	return err
}

// startSmuggleHAProxy runs Debian's haproxy in the foreground with a generated config: one HTTP frontend on a
// free port, one backend server = the recorder, short timeouts, no connection reuse across clients
// (so each client connection's requests land on their own server connection, as with wsgate).
// It returns "" when haproxy is not installed; when installed it must start.
func startSmuggleHAProxy(t *testing.T, backend string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
			return ""
		}
		bin = "/usr/sbin/haproxy"
	}
	var lastErr error
	for range 3 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
		conf := "global\n  maxconn 1000\n\n" +
			"defaults\n  mode http\n  option forwardfor\n  http-reuse never\n" +
			"  timeout connect 2s\n  timeout client 3s\n  timeout server 3s\n  timeout http-request 2s\n\n" +
			"frontend fe\n  bind " + addr + "\n  default_backend be\n\n" +
			"backend be\n  server rec " + backend + "\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatalf("haproxy config: %v", err)
		}
		p, err := startChild(t, childSpec{label: "haproxy -f " + cfg, logMax: 16 << 10, grace: 2 * time.Second},
			exec.Command(bin, "-db", "-f", cfg))
		if err != nil {
			t.Fatalf("start haproxy: %v", err)
		}
		if lastErr = p.awaitListening(10*time.Second, addr); lastErr == nil {
			return addr
		}
	}
	t.Fatalf("haproxy is installed but did not start: %v", lastErr)
	return ""
}

// smResponse is one response the client read.
type smResponse struct {
	status     int
	smRecorder bool // carries X-Recorder: it came from the backend, not the proxy
	close      bool // Connection: close
	body       string
}

func (r smResponse) String() string {
	from := "proxy"
	if r.smRecorder {
		from = "backend"
	}
	return fmt.Sprintf("%d(%s)", r.status, from)
}

// smuggleExchange sends c.raw as one write on a fresh connection to addr and reads responses until the
// connection ends, or wantFinal final responses arrived (then 120 ms more for anything extra), or
// nothing arrives for 1.5 s (generous: the machine may be loaded; only broken cases wait that long). After a 101 it stops parsing HTTP.
func smuggleExchange(addr string, raw string, wantFinal int) (resps []smResponse, eof bool, err error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		return nil, false, fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(c)
	final := 0
	for {
		wait := 1500 * time.Millisecond
		if final >= wantFinal {
			wait = 120 * time.Millisecond
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return resps, false, nil
			}
			return resps, true, nil // EOF, reset, or garbage: the connection is over for the client
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := smResponse{status: resp.StatusCode, smRecorder: resp.Header.Get("X-Recorder") != "",
			close: resp.Close, body: string(body)}
		resps = append(resps, r)
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			final++
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			time.Sleep(150 * time.Millisecond) // let the tunnelled bytes reach the recorder
			return resps, false, nil
		}
	}
}

// smuggleResult is one case through one proxy.
type smuggleResult struct {
	pass    bool
	verdict string // short, for the table
	detail  string // why it failed, and what the backend saw
}

// runSmuggleCase runs c through the proxy at addr and judges it.
func runSmuggleCase(rc *smRecorder, addr string, c smuggleCase) smuggleResult {
	if err := rc.reset(); err != nil {
		return smuggleResult{verdict: "harness error", detail: err.Error()}
	}
	wantFinal := 1
	for _, want := range c.wants() {
		n := 0
		for _, w := range want {
			if n++; w.upgrade {
				break // a 101 is the last HTTP response on the connection
			}
		}
		wantFinal = max(wantFinal, n)
	}
	resps, eof, err := smuggleExchange(addr, c.raw, wantFinal)
	if err != nil {
		return smuggleResult{verdict: "client error", detail: err.Error()}
	}
	recs, err := rc.records()
	if err != nil {
		return smuggleResult{verdict: "harness error", detail: err.Error()}
	}
	return judgeSmuggle(c, resps, eof, recs)
}

// judgeSmuggle decides a case from what the client got and what the backend recorded.
func judgeSmuggle(c smuggleCase, resps []smResponse, eof bool, recs []smRecord) smuggleResult {
	var reqs, aborted, errs, tunnels []smRecord
	var conns []smRecord
	for _, r := range recs {
		switch {
		case r.Kind == "request" && !r.Complete:
			aborted = append(aborted, r)
		case r.Kind == "request" || r.Kind == "upgrade":
			reqs = append(reqs, r)
		case r.Kind == "error" && (!strings.HasPrefix(r.Code, "HPE_") || r.Code == "HPE_INVALID_EOF_STATE"):
			// ECONNRESET and friends, or the connection ending inside a message: the proxy closed
			// the connection (HAProxy resets server connections; a proxy refusing a bad body after
			// the head went out closes mid-message), which says nothing about framing. A request cut
			// short this way is listed as INCOMPLETE.
		case r.Kind == "error":
			errs = append(errs, r)
		case r.Kind == "tunnel":
			tunnels = append(tunnels, r)
		case r.Kind == "conn":
			conns = append(conns, r)
		}
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].I < reqs[j].I })
	saw := smDescribeBackend(reqs, aborted, errs, tunnels)
	refusal := 0
	for _, r := range resps {
		if !r.smRecorder && r.status >= 400 {
			refusal = r.status
			break
		}
	}
	verdict := fmt.Sprintf("forwarded %d", len(reqs))
	if refusal != 0 {
		verdict = fmt.Sprintf("refused %d", refusal)
		if len(reqs) > 0 {
			verdict += fmt.Sprintf(" after %d forwarded", len(reqs))
		}
	}
	if len(tunnels) > 0 {
		verdict += ", tunnel"
	}
	if len(aborted) > 0 {
		verdict += fmt.Sprintf(", %d incomplete", len(aborted))
	}
	for _, e := range errs {
		verdict += ", backend: " + e.Code
	}
	fail := func(why string) smuggleResult {
		return smuggleResult{verdict: verdict, detail: why + "; client got " + fmt.Sprint(resps) +
			fmt.Sprintf(" (eof %v); backend saw: %s; raw at backend: %s", eof, saw, smDescribeConns(conns))}
	}
	if len(errs) > 0 {
		return fail("the backend's parser refused what the proxy sent (a framing disagreement)")
	}
	if refusal != 0 {
		if c.smPolicy == mustForward {
			return fail("a valid request was refused")
		}
		if len(tunnels) > 0 {
			return fail("bytes were tunnelled to the backend")
		}
		for _, want := range c.wants() {
			if len(reqs) <= len(want) && smMatch(reqs, want[:len(reqs)]) == "" {
				return smuggleResult{pass: true, verdict: verdict}
			}
		}
		return fail("refused, but the backend saw requests the client did not send that way")
	}
	if c.smPolicy == mustRefuse {
		return fail("accepted, but RFC 9112 requires a refusal")
	}
	if len(aborted) > 0 {
		return fail("the backend waits for body bytes the proxy considered sent (desync)")
	}
	var why string
	for _, want := range c.wants() {
		why = smMatch(reqs, want)
		if why == "" {
			break
		}
		// A proxy may close after a response it marked Connection: close (RFC 9112 9.6): the requests
		// after it never reach the backend, which is no smuggling.
		if len(reqs) < len(want) && smMatch(reqs, want[:len(reqs)]) == "" && eof && smClosedAfter(resps, len(reqs)) {
			why = ""
			verdict += " then closed"
			break
		}
	}
	if why != "" {
		return fail(why)
	}
	if got, want := smTunnelData(tunnels), c.tunnel; got != want {
		return fail(fmt.Sprintf("tunnel bytes %q, want %q", got, want))
	}
	return smuggleResult{pass: true, verdict: verdict}
}

// closedAfter: the client got n final responses, the last of them with Connection: close.
func smClosedAfter(resps []smResponse, n int) bool {
	var finals []smResponse
	for _, r := range resps {
		if r.status >= 200 || r.status == http.StatusSwitchingProtocols {
			finals = append(finals, r)
		}
	}
	return n > 0 && len(finals) == n && finals[n-1].close
}

func smTunnelData(ts []smRecord) string {
	var s string
	for _, t := range ts {
		s += smB64(t.Data)
	}
	return s
}

// smMatch compares what the backend parsed with what it should have, request by request.
func smMatch(got []smRecord, want []wantReq) string {
	if len(got) != len(want) {
		return fmt.Sprintf("the backend parsed %d requests, the client sent %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		targets := append([]string{w.target}, w.altTargets...)
		switch {
		case g.Method != w.method || !smContains(targets, g.URL):
			return fmt.Sprintf("request %d: backend saw %s %s, want %s %s", i, g.Method, g.URL, w.method, strings.Join(targets, " or "))
		case smB64(g.Body) != w.body:
			return fmt.Sprintf("request %d (%s %s): backend body %q, want %q", i, g.Method, g.URL, smB64(g.Body), w.body)
		case (g.Kind == "upgrade") != w.upgrade:
			return fmt.Sprintf("request %d (%s %s): upgrade %v, want %v", i, g.Method, g.URL, g.Kind == "upgrade", w.upgrade)
		}
		if w.check != nil {
			if why := w.check(g); why != "" {
				return fmt.Sprintf("request %d (%s %s): %s", i, g.Method, g.URL, why)
			}
		}
	}
	return ""
}

func smContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func smDescribeBackend(reqs, aborted, errs, tunnels []smRecord) string {
	var parts []string
	for _, r := range reqs {
		s := fmt.Sprintf("#%d c%d %s %s", r.I, r.Conn, r.Method, r.URL)
		if r.Body != "" {
			s += fmt.Sprintf(" body %q", smB64(r.Body))
		}
		parts = append(parts, s)
	}
	for _, r := range aborted {
		parts = append(parts, fmt.Sprintf("#%d c%d %s %s INCOMPLETE body %q", r.I, r.Conn, r.Method, r.URL, smB64(r.Body)))
	}
	for _, r := range errs {
		parts = append(parts, fmt.Sprintf("c%d PARSE ERROR %s (%s)", r.Conn, r.Code, r.Reason))
	}
	for _, r := range tunnels {
		parts = append(parts, fmt.Sprintf("c%d tunnel %q", r.Conn, smB64(r.Data)))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " | ")
}

func smDescribeConns(conns []smRecord) string {
	var parts []string
	for _, c := range conns {
		parts = append(parts, fmt.Sprintf("c%d %q", c.Conn, smB64(c.Raw)))
	}
	if len(parts) == 0 {
		return "no connection"
	}
	return strings.Join(parts, " ")
}

// TestSmuggling runs the table through wsgate and, where installed, HAProxy, and prints
// case | wsgate verdict | HAProxy verdict | pass/fail.
func TestSmuggling(t *testing.T) {
	requireE2E(t, true, false)
	cases := smuggleCases()
	if len(cases) < 60 {
		t.Fatalf("the table has %d cases, issue 11 asks for at least 60", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case name %q", c.name)
		}
		seen[c.name] = true
	}
	for name := range knownHoles {
		if !seen[name] {
			t.Errorf("knownHoles lists %q, which is not a case", name)
		}
	}

	wsRec, haRec := startSmuggleRecorder(t), startSmuggleRecorder(t)
	g := startGateway(t, "-backend", "app=rec@"+wsRec.addr, "-route", "/app/=backend:app",
		"-route", "/topic=topic:chat", "-demo-path", "/page")
	haAddr := startSmuggleHAProxy(t, haRec.addr)

	ws := make([]smuggleResult, len(cases))
	ha := make([]smuggleResult, len(cases))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// HAProxy's column runs alongside (its own recorder); it never fails the test.
		defer wg.Done()
		if haAddr == "" {
			return
		}
		for i, c := range cases {
			ha[i] = runSmuggleCase(haRec, haAddr, c)
		}
	}()
	for i, c := range cases {
		ws[i] = runSmuggleCase(wsRec, g.Addr, c)
	}
	wg.Wait()
	if g.exited() {
		t.Fatalf("wsgate exited during the suite")
	}

	var table strings.Builder
	table.WriteString("| # | case | class | expected (RFC 9112) | wsgate | HAProxy 2.6 (reference) | result |\n")
	table.WriteString("|---|---|---|---|---|---|---|\n")
	passed, holes := 0, 0
	for i, c := range cases {
		r := ws[i]
		result := "pass"
		item, known := knownHoles[c.name]
		switch {
		case r.pass && known:
			result = "FAIL: passes now, remove it from knownHoles"
			t.Errorf("%s: passes now (%s): remove it from knownHoles (issue 11 item %d)", c.name, r.verdict, item)
		case r.pass:
			passed++
		case known:
			holes++
			result = fmt.Sprintf("KNOWN HOLE (issue 11 item %d)", item)
			t.Logf("%s: KNOWN HOLE (issue 11 item %d): %s", c.name, item, r.detail)
		default:
			result = "FAIL"
			t.Errorf("%s (%s): %s", c.name, c.expect, r.detail)
		}
		haCell := "not installed"
		if haAddr != "" {
			haCell = ha[i].verdict
			if !ha[i].pass {
				haCell += " ✗"
			}
		}
		fmt.Fprintf(&table, "| %d | %s | %s | %s | %s | %s | %s |\n", i+1, c.name, c.class, c.expect,
			smMDCell(ws[i].verdict), smMDCell(haCell), result)
	}
	fmt.Fprintf(&table, "\n%d cases: %d pass, %d known holes, %d fail. ✗ in the HAProxy column: HAProxy's outcome would not pass the same check (reference only).\n",
		len(cases), passed, holes, len(cases)-passed-holes)
	t.Logf("request smuggling table:\n%s", table.String())
	if out := os.Getenv("WSGATE_SMUGGLE_TABLE"); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Errorf("write %s: %v", out, err)
		}
	}
	if testing.Verbose() && haAddr != "" {
		for i, c := range cases {
			if !ha[i].pass {
				t.Logf("HAProxy reference, %s: %s", c.name, ha[i].detail)
			}
		}
	}
}

func smMDCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// TestSmuggleJudge checks the checker on made-up outcomes, without processes: each smuggling symptom
// must fail a case, and the safe outcomes must pass.
func TestSmuggleJudge(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	req := func(i int, method, url, body string) smRecord {
		return smRecord{Kind: "request", I: i, Method: method, URL: url, Body: enc(body), Complete: true}
	}
	ok200 := smResponse{status: 200, smRecorder: true}
	base := smuggleCase{name: "x", smPolicy: mayRefuse, want: []wantReq{smPost("hello"), wInnocent}}
	strict := base
	strict.smPolicy = mustRefuse
	valid := base
	valid.smPolicy = mustForward
	tun := smuggleCase{name: "t", smPolicy: mustForward, want: []wantReq{{method: "GET", target: "/app/ws-ok", upgrade: true}}, tunnel: "abc"}
	for _, tc := range []struct {
		name  string
		c     smuggleCase
		resps []smResponse
		eof   bool
		recs  []smRecord
		pass  bool
	}{
		{"exact", base, []smResponse{ok200, ok200}, false, []smRecord{req(0, "POST", "/app/a", "hello"), req(1, "GET", "/app/innocent", "")}, true},
		{"extra request", base, []smResponse{ok200, ok200, ok200},
			false, []smRecord{req(0, "POST", "/app/a", ""), req(1, "GET", "/app/SMUGGLED", ""), req(2, "GET", "/app/innocent", "")}, false},
		{"glued into a body", base, []smResponse{ok200}, false, []smRecord{req(0, "POST", "/app/a", "helloGET /app/innocent")}, false},
		{"framing header dropped", base, []smResponse{ok200, ok200}, false, []smRecord{req(0, "POST", "/app/a", ""), req(1, "GET", "/app/innocent", "")}, false},
		{"backend parse error", base, []smResponse{ok200}, false,
			[]smRecord{req(0, "POST", "/app/a", "hello"), {Kind: "error", Code: "HPE_INVALID_METHOD"}}, false},
		{"connection reset is no parse error", base, []smResponse{ok200, ok200}, false,
			[]smRecord{req(0, "POST", "/app/a", "hello"), req(1, "GET", "/app/innocent", ""), {Kind: "error", Code: "ECONNRESET"}}, true},
		{"backend left waiting for body", base, []smResponse{}, false,
			[]smRecord{{Kind: "request", Method: "POST", URL: "/app/a", Body: enc("hel")}}, false},
		{"refused, nothing forwarded", base, []smResponse{{status: 400}}, true, nil, true},
		{"refused after an aborted head", strict, []smResponse{{status: 400}}, true,
			[]smRecord{{Kind: "request", Method: "POST", URL: "/app/a"}, {Kind: "error", Code: "HPE_INVALID_EOF_STATE"}}, true},
		{"refused, but smuggled", base, []smResponse{{status: 400}}, true, []smRecord{req(0, "GET", "/app/SMUGGLED", "")}, false},
		{"backend 400 is no proxy refusal", strict, []smResponse{{status: 400, smRecorder: true}}, false, nil, false},
		{"must refuse, accepted", strict, []smResponse{ok200, ok200}, false,
			[]smRecord{req(0, "POST", "/app/a", "hello"), req(1, "GET", "/app/innocent", "")}, false},
		{"must forward, refused", valid, []smResponse{{status: 400}}, true, nil, false},
		{"closed after Connection: close", base, []smResponse{{status: 200, smRecorder: true, close: true}}, true,
			[]smRecord{req(0, "POST", "/app/a", "hello")}, true},
		{"stopped without close", base, []smResponse{ok200}, false, []smRecord{req(0, "POST", "/app/a", "hello")}, false},
		{"tunnel as sent", tun, []smResponse{{status: 101, smRecorder: true}}, false,
			[]smRecord{{Kind: "upgrade", Method: "GET", URL: "/app/ws-ok", Complete: true}, {Kind: "tunnel", Data: enc("abc")}}, true},
		{"tunnel bytes parsed as a request", tun, []smResponse{{status: 101, smRecorder: true}}, false,
			[]smRecord{{Kind: "upgrade", Method: "GET", URL: "/app/ws-ok", Complete: true}, req(1, "GET", "abc", "")}, false},
	} {
		if got := judgeSmuggle(tc.c, tc.resps, tc.eof, tc.recs); got.pass != tc.pass {
			t.Errorf("%s: pass = %v, want %v (%s: %s)", tc.name, got.pass, tc.pass, got.verdict, got.detail)
		}
	}
}
