package gateway_test

// Helpers for the end-to-end tests in e2e_test.go: building and running the real wsgate binary, a raw
// RFC 6455 client written from scratch here (deliberately not gobwas/ws, which the gateway itself uses:
// an independent encoder is a better oracle), Node peers from testdata/, and a /metrics reader.

import (
	"bufio"
	"bytes"
	"context"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// e2eEnv is what TestMain prepares for the end-to-end tests. The binary is built lazily (once) by the
// first test that needs it, so `go test -run TestSomethingUnit` does not pay for a build.
type e2eEnv struct {
	dir     string // temporary directory holding the built binaries; removed by TestMain
	gateway goBinary
}

// env is test-binary state set up by TestMain; tests only read it through binary().
var env e2eEnv

// TestMain owns the temporary directory the gateway binary is built into, so that the build is shared
// by all e2e tests and removed at the end. NOTE for the gateway package: this is the test binary's only
// TestMain (internal _test.go files of package gateway must not declare another).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wsgate-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: temp dir: %v\n", err)
		os.Exit(2)
	}
	env.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds cmd/wsgate once and returns its path.
func (e *e2eEnv) binary(t *testing.T) string {
	t.Helper()
	var flags []string
	if os.Getenv("WSGATE_E2E_RACE") == "1" {
		// A race-detector build of the gateway; run with GORACE=halt_on_error=1
		// so a race kills the process and fails the test that saw it.
		flags = append(flags, "-race")
	}
	return e.gateway.build(t, "wsgate", "github.com/wsgate/wsgate/cmd/wsgate", flags...)
}

// goBinary is a command of this module built once per test binary, into env.dir.
type goBinary struct {
	once sync.Once
	bin  string
	err  error
}

// build runs `go build [flags] -o env.dir/name pkg` the first time and returns the binary's path; a
// failed build fails every test that needs it.
func (b *goBinary) build(t *testing.T, name, pkg string, flags ...string) string {
	t.Helper()
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = fmt.Errorf("go toolchain not in PATH: %w", err)
			return
		}
		b.bin = filepath.Join(env.dir, name)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		args := append(append([]string{"build", "-o", b.bin}, flags...), pkg)
		if out, err := exec.CommandContext(ctx, goBin, args...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("cannot build %s under test: %v", name, b.err)
	}
	return b.bin
}

// requireE2E skips when WSGATE_E2E_SKIP=1 and otherwise fails (never skips) when a real peer is missing:
// silently skipping would turn a broken machine setup into a green run.
func requireE2E(t *testing.T, needNode, needChromium bool) {
	t.Helper()
	if os.Getenv("WSGATE_E2E_SKIP") == "1" {
		t.Skip("WSGATE_E2E_SKIP=1")
	}
	if needNode {
		if _, err := exec.LookPath("node"); err != nil {
			t.Fatalf("node is not installed (%v): run `make test`, which installs the e2e peers", err)
		}
		checkNodeModules(t, "ws", "playwright-core")
	}
	if needChromium {
		if _, err := os.Stat(chromiumPath); err != nil {
			t.Fatalf("%s is missing (%v): run `make test`, which installs Debian's chromium", chromiumPath, err)
		}
	}
}

// checkNodeModules fails (never skips) when one of the testdata packages mods is not installed.
func checkNodeModules(t *testing.T, mods ...string) {
	t.Helper()
	for _, mod := range mods {
		if _, err := os.Stat(filepath.Join("testdata", "node_modules", mod, "package.json")); err != nil {
			t.Fatalf("gateway/testdata/node_modules/%s is missing (%v): run `make test` (it runs `npm ci` in gateway/testdata)", mod, err)
		}
	}
}

const chromiumPath = "/usr/bin/chromium"

// tailBuffer keeps the last max bytes written to it (a child process's log), safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// ---------------------------------------------------------------------------------------------------
// Child processes

// childProc is one child process of the test binary (wsgate, kafkadev, a Node server or peer): its
// output tail, a channel closed once it has been reaped, readiness waits, and stop/kill by PID with
// bounded waits. startChild registers its cleanup.
type childProc struct {
	label string        // names it in messages, e.g. "kafkadev" or "failure-echo-server.js a1"
	cmd   *exec.Cmd     // started; cmd.Process.Pid is the only handle used to signal it
	log   *tailBuffer   // stderr, and stdout unless the caller took it (a pipe) or it is read for readiness
	done  chan struct{} // closed when the process has exited and been reaped
	grace time.Duration // stop: how long to wait after SIGTERM, and again after SIGKILL; 0: stop is kill
	ready chan childReady
}

// childReady is what a readyLine function made of the ready line (or why that line was not one).
type childReady struct {
	value string
	err   error
}

// childSpec says how startChild runs a process.
type childSpec struct {
	label  string
	logMax int           // bytes of log tail kept
	grace  time.Duration // see childProc.grace
	// readyLine, when set, reads stdout line by line until it says ok (the value is what awaitReady
	// returns) or fails; every other line goes to the log.
	readyLine func(line []byte) (value string, ok bool, err error)
}

// childKillWait bounds the wait for a SIGKILLed process to be reaped.
const childKillWait = 5 * time.Second

// errExitedEarly is wrapped by the errors of the await methods when the process exited before it was
// ready (a retry on another port may help), as opposed to a timeout.
var errExitedEarly = errors.New("exited before it was ready")

// startChild starts cmd, reaps it in the background, and registers a cleanup that stops it (by PID)
// and prints its log tail if the test failed. Stderr (and stdout, unless cmd already has one or
// spec.readyLine reads it) goes to the log tail.
func startChild(t *testing.T, spec childSpec, cmd *exec.Cmd) (*childProc, error) {
	p := &childProc{label: spec.label, cmd: cmd, log: &tailBuffer{max: spec.logMax}, done: make(chan struct{}),
		grace: spec.grace, ready: make(chan childReady, 1)}
	if cmd.Stderr == nil {
		cmd.Stderr = p.log
	}
	switch {
	case spec.readyLine != nil:
		resolved := false
		cmd.Stdout = &lineWriter{fn: func(line []byte) {
			if !resolved {
				v, ok, err := spec.readyLine(line)
				if ok || err != nil {
					resolved = true
					p.ready <- childReady{v, err}
					return
				}
			}
			_, _ = p.log.Write(append(line, '\n'))
		}}
	case cmd.Stdout == nil:
		cmd.Stdout = p.log
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", p.label, p.log.String())
		}
	})
	return p, nil
}

// awaitReady waits up to timeout for the ready line and returns readyLine's value. On a bad ready line
// or a timeout it stops the process; every error carries the log tail.
func (p *childProc) awaitReady(timeout time.Duration) (string, error) {
	select {
	case r := <-p.ready:
		if r.err != nil {
			p.stop()
			return "", fmt.Errorf("%s: %w\n%s", p.label, r.err, p.log.String())
		}
		return r.value, nil
	case <-p.done:
		return "", p.exitedEarly()
	case <-time.After(timeout):
		p.stop()
		return "", fmt.Errorf("%s: not ready within %v:\n%s", p.label, timeout, p.log.String())
	}
}

// awaitListening waits up to timeout until every addr accepts a TCP connection (polling every 50 ms).
// On a timeout it stops the process; every error carries the log tail.
func (p *childProc) awaitListening(timeout time.Duration, addrs ...string) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range addrs {
		for {
			if p.exited() {
				return p.exitedEarly()
			}
			c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				p.stop()
				return fmt.Errorf("%s did not accept on %s within %v: %v\n%s", p.label, addr, timeout, err, p.log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func (p *childProc) exitedEarly() error {
	return fmt.Errorf("%s %w (%v):\n%s", p.label, errExitedEarly, p.cmd.ProcessState, p.log.String())
}

// exited reports whether the process is gone (for wsgate, a crash is a test failure of its own).
func (p *childProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits at most d for the process to be reaped and reports whether it was.
func (p *childProc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop sends SIGTERM (by PID), waits up to grace, then SIGKILLs and waits up to grace again. With no
// grace it is kill.
func (p *childProc) stop() {
	if p.grace <= 0 {
		p.kill()
		return
	}
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.wait(p.grace) {
		_ = p.cmd.Process.Kill()
		p.wait(p.grace)
	}
}

// kill sends SIGKILL (by PID) and waits, bounded, for the process to be reaped.
func (p *childProc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	p.wait(childKillWait)
}

// rss returns the process's resident set size in bytes (VmRSS from /proc/PID/status).
func (p *childProc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS line")
}

// lineWriter calls fn for every complete line written to it (exec copies the child's stdout into it).
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(line []byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(append([]byte(nil), w.buf[:i]...))
		w.buf = w.buf[i+1:]
	}
}

// nodeReadyLine accepts the line the testdata Node servers print first once they listen,
// {"ready":true,"port":P,...}, and returns P; any other first line is an error. wantPort > 0 must match.
func nodeReadyLine(wantPort int) func([]byte) (string, bool, error) {
	return func(line []byte) (string, bool, error) {
		var r struct {
			Ready bool `json:"ready"`
			Port  int  `json:"port"`
		}
		if err := json.Unmarshal(line, &r); err != nil || !r.Ready || (wantPort > 0 && r.Port != wantPort) {
			return "", false, fmt.Errorf("first line %q, want a ready line for port %d", line, wantPort)
		}
		return strconv.Itoa(r.Port), true, nil
	}
}

// ---------------------------------------------------------------------------------------------------
// The gateway under test

// startGatewayProcess runs the built binary with the given extra flags on fresh loopback ports, waits
// until both listeners accept, and stops it (SIGTERM, then SIGKILL after 3 s, by PID) when the test
// ends. Its log is printed on failure. Use it only where the test needs a process of its own (signals,
// the binary's flags, its RSS); startGateway runs the gateway in the test process.
func startGatewayProcess(t *testing.T, extra ...string) *testGateway {
	t.Helper()
	bin := env.binary(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		g, err := tryStartGatewayProcess(t, bin, extra)
		if err == nil {
			return g
		}
		lastErr = err
	}
	t.Fatalf("gateway did not start: %v", lastErr)
	return nil
}

func tryStartGatewayProcess(t *testing.T, bin string, extra []string) (*testGateway, error) {
	g := &testGateway{
		Addr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	args := append([]string{"-listen", g.Addr, "-admin-listen", g.Admin}, extra...)
	p, err := startChild(t, childSpec{label: "wsgate " + strings.Join(args, " "), logMax: 64 << 10, grace: 3 * time.Second},
		exec.Command(bin, args...))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	g.proc, g.log, g.done = p, p.log, p.done
	if err := p.awaitListening(10*time.Second, g.Addr, g.Admin); err != nil {
		return nil, err
	}
	return g, nil
}

// ---------------------------------------------------------------------------------------------------
// Node peers

// runNodeJSON runs a testdata script with a hard deadline and decodes the single JSON line it prints.
func runNodeJSON(t *testing.T, timeout time.Duration, out any, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = "testdata"
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("node %s: no result within %v\nstderr: %s\nstdout: %s", script, timeout, stderr.String(), stdout.String())
	}
	if err != nil {
		t.Fatalf("node %s: %v\nstderr: %s\nstdout: %s", script, err, stderr.String(), stdout.String())
	}
	line := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal(line, out); err != nil {
		t.Fatalf("node %s: summary is not JSON (%v): %q\nstderr: %s", script, err, line, stderr.String())
	}
}

// peerEvent is one line printed by testdata/ws-peer.js.
type peerEvent struct {
	Ev      string `json:"ev"`
	Binary  bool   `json:"binary"`
	B64     string `json:"b64"`
	Len     int    `json:"len"`
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (e peerEvent) payload() []byte {
	b, _ := base64.StdEncoding.DecodeString(e.B64)
	return b
}

// wsPeer is a Node `ws` client (testdata/ws-peer.js) driven over pipes.
type wsPeer struct {
	*childProc // its log is the script's stderr
	stdin      io.WriteCloser
	events     chan peerEvent
}

func startWSPeer(t *testing.T, url string, lifetime time.Duration) *wsPeer {
	t.Helper()
	cmd := exec.Command("node", "ws-peer.js", "--url", url, "--lifetime", strconv.Itoa(int(lifetime.Milliseconds())))
	cmd.Dir = "testdata"
	p := &wsPeer{events: make(chan peerEvent, 1024)}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatalf("ws-peer stdin: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("ws-peer stdout: %v", err)
	}
	if p.childProc, err = startChild(t, childSpec{label: "ws-peer.js", logMax: 16 << 10}, cmd); err != nil {
		t.Fatalf("start ws-peer.js: %v", err)
	}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		for sc.Scan() {
			var ev peerEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = peerEvent{Ev: "error", Message: "bad line: " + sc.Text()}
			}
			p.events <- ev
		}
	}()
	// Runs before startChild's cleanup (which kills what is left): closing stdin asks the peer to close.
	t.Cleanup(func() {
		_ = p.stdin.Close()
		p.wait(2 * time.Second)
	})
	return p
}

// next returns the next event, or fails the test after timeout.
func (p *wsPeer) next(t *testing.T, timeout time.Duration) peerEvent {
	t.Helper()
	select {
	case ev, ok := <-p.events:
		if !ok {
			t.Fatalf("ws-peer.js exited (stderr: %s)", p.log.String())
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("ws-peer.js: no event within %v", timeout)
	}
	return peerEvent{}
}

// waitOpen waits for the "open" event.
func (p *wsPeer) waitOpen(t *testing.T) {
	t.Helper()
	ev := p.next(t, 5*time.Second)
	if ev.Ev != "open" {
		t.Fatalf("ws-peer.js: first event %+v, want open", ev)
	}
}

// collect gathers events for d (or until the peer exits).
func (p *wsPeer) collect(d time.Duration) []peerEvent {
	var evs []peerEvent
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timer.C:
			return evs
		}
	}
}

func (p *wsPeer) send(t *testing.T, cmd map[string]any) {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatalf("marshal peer command: %v", err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("write to ws-peer.js: %v", err)
	}
}

// ---------------------------------------------------------------------------------------------------
// Metrics

// metrics is a parsed Prometheus text exposition: "name{labels}" (labels as printed) → value.
type metrics map[string]float64

func scrapeMetrics(t *testing.T, admin string) metrics {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", resp.StatusCode, body)
	}
	m := metrics{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// seriesLabels returns the labels of key ("name{a="1",b="2"}" → `a="1"`, `b="2"`) when its name is name.
func seriesLabels(key, name string) ([]string, bool) {
	base, labels, _ := strings.Cut(key, "{")
	if base != name {
		return nil, false
	}
	parts := strings.Split(strings.TrimSuffix(labels, "}"), ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, true
}

// get returns the value of name with (at least) the given label (e.g. `code="400"`), summed over the
// series that match, and whether any did.
func (m metrics) get(name, label string) (float64, bool) {
	var sum float64
	found := false
	for k, v := range m {
		labels, ok := seriesLabels(k, name)
		if !ok || (label != "" && !slices.Contains(labels, label)) {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// byLabel returns name's series summed by the value of one label (key "code": "400" → value).
func (m metrics) byLabel(name, key string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		labels, _ := seriesLabels(k, name)
		for _, l := range labels {
			if c, ok := strings.CutPrefix(l, key+"="); ok {
				out[strings.Trim(c, `"`)] += v
			}
		}
	}
	return out
}

// atLeast fails unless metric name{label} exists and is >= want.
func (m metrics) atLeast(t *testing.T, name, label string, want float64) {
	t.Helper()
	got, ok := m.get(name, label)
	switch {
	case !ok:
		t.Errorf("metric %s{%s} is missing from /metrics", name, label)
	case got < want:
		t.Errorf("metric %s{%s} = %v, want >= %v", name, label, got, want)
	}
}
