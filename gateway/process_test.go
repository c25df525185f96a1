package gateway_test

// Child processes of the test binary: the wsgate binary itself (built once per test binary, for the
// tests that need a process of their own: signals, the binary's flags, its RSS), kafkadev, Node servers
// and peers. Each is stopped by PID when its test ends, and its log tail is printed if the test failed.
// Most tests run the gateway in process instead (harness_test.go).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// binary builds cmd/wsgate once and returns its path (WSGATE_E2E_BIN: that binary instead).
func (e *e2eEnv) binary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("WSGATE_E2E_BIN"); bin != "" {
		return bin // a prebuilt gateway, e.g. a "before" binary in a benchmark run
	}
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
