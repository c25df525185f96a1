package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate/router/backend"
)

// recorder collects OnChange calls and log lines.
type recorder struct {
	mu      sync.Mutex
	changes []string
	log     bytes.Buffer
}

func (r *recorder) onChange(p *backend.Pool, s *backend.Server, from, to backend.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, fmt.Sprintf("%s/%s %v->%v", p.Name, s.Name, from, to))
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(b)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.changes)
}

func (r *recorder) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// waitLog waits for a log line: the state changes before its line is written.
func (r *recorder) waitLog(t *testing.T, want string) {
	t.Helper()
	for t0 := time.Now(); !strings.Contains(r.logText(), want); time.Sleep(5 * time.Millisecond) {
		if time.Since(t0) > 2*time.Second {
			t.Fatalf("log lacks %q:\n%s", want, r.logText())
		}
	}
}

// start runs a checker over pools and stops it at the end of the test.
func start(t *testing.T, pools ...*backend.Pool) *recorder {
	t.Helper()
	rec := &recorder{}
	c := New(pools)
	c.OnChange = rec.onChange
	c.Logger = slog.New(slog.NewTextHandler(rec, nil))
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return rec
}

// waitState waits (bounded) for s to reach want.
func waitState(t *testing.T, s *backend.Server, want backend.State, within time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for s.State() != want {
		if time.Since(t0) > within {
			t.Fatalf("%s: state %v after %v, want %v (last check %q)", s, s.State(), within, want, s.Stats().LastCheck)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0)
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func mustParse(t *testing.T, spec string) *backend.Pool {
	t.Helper()
	p, err := backend.Parse(spec, backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTCPCheckFallAndRise(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	p := mustParse(t, "app="+addr+";check=tcp;inter=50ms;rise=2;fall=3")
	s := p.Servers[0]
	rec := start(t, p)

	time.Sleep(120 * time.Millisecond) // a few passing checks
	if s.State() != backend.Up || s.Stats().LastCheck != "connected" {
		t.Fatalf("listening server: %v, last check %q", s.State(), s.Stats().LastCheck)
	}
	ln.Close()
	took := waitState(t, s, backend.Down, 2*time.Second)
	t.Logf("down %v after the listener closed (inter 50ms × fall 3)", took)
	if took > 400*time.Millisecond {
		t.Errorf("marked down after %v, want about inter×fall = 150ms", took)
	}
	if _, _, err := p.Pick(nil); !errors.Is(err, backend.ErrNoServer) {
		t.Fatalf("Pick with the only server down: %v", err)
	}
	rec.waitLog(t, "server app/s1 is DOWN (fall 3/3): connection refused")

	ln2 := listen(t, addr) // the same port again
	defer ln2.Close()
	waitState(t, s, backend.Up, 2*time.Second)
	if got := rec.String(); got != "[app/s1 UP->DOWN app/s1 DOWN->UP]" {
		t.Fatalf("changes %s", got)
	}
	rec.waitLog(t, "server app/s1 is UP (rise 2/2): connected")
}

func TestHTTPCheck(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var gotPath, gotHost atomic.Value
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.URL.Path)
		gotHost.Store(r.Host)
		w.WriteHeader(int(status.Load()))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()

	p := mustParse(t, "app=web@"+addr+";check=http:/health;inter=50ms;rise=2;fall=2")
	s := p.Servers[0]
	rec := start(t, p)
	time.Sleep(120 * time.Millisecond)
	if s.State() != backend.Up || s.Stats().LastCheck != "HTTP status 200" {
		t.Fatalf("200: %v, last check %q", s.State(), s.Stats().LastCheck)
	}
	if gotPath.Load() != "/health" || gotHost.Load() != addr {
		t.Fatalf("check sent path %v host %v", gotPath.Load(), gotHost.Load())
	}

	status.Store(500)
	waitState(t, s, backend.Down, 2*time.Second)
	rec.waitLog(t, "server app/web is DOWN (fall 2/2): HTTP status 500")
	status.Store(302) // a redirect is up, as in HAProxy
	waitState(t, s, backend.Up, 2*time.Second)
	if got := rec.String(); got != "[app/web UP->DOWN app/web DOWN->UP]" {
		t.Fatalf("changes %s", got)
	}
}

// A server that accepts and never answers fails its check at the timeout
// (inter), and Stop does not wait for a hung check.
func TestHTTPCheckHungServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	p := mustParse(t, "app="+ln.Addr().String()+";check=http:/;inter=50ms;fall=2")
	rec := start(t, p)
	waitState(t, p.Servers[0], backend.Down, 2*time.Second)
	rec.waitLog(t, "is DOWN (fall 2/2): timeout")
}

// A server without check= is not probed while up; passive connect failures
// take it down, and a TCP probe every inter brings it back.
func TestPassiveDownRecovers(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := mustParse(t, "app=a@"+addr+",b@127.0.0.1:1;inter=50ms;rise=2;fall=2")
	a := p.Server("a")
	rec := start(t, p)
	time.Sleep(150 * time.Millisecond)
	if a.State() != backend.Up || a.Stats().LastCheck != "" {
		t.Fatalf("unchecked server with nothing listening: %v, last check %q (must not be probed while up)", a.State(), a.Stats().LastCheck)
	}
	// What the gateway's dialer reports.
	_, err := net.Dial("tcp", addr)
	a.ConnectFailed(err)
	a.ConnectFailed(err)
	if a.State() != backend.Down {
		t.Fatalf("after fall passive failures: %v", a.State())
	}
	rec.waitLog(t, "server app/a is DOWN (fall 2/2): passive: connection refused")
	time.Sleep(120 * time.Millisecond) // probes fail: still down
	if a.State() != backend.Down || a.Stats().LastCheck != "connection refused" {
		t.Fatalf("probed while nothing listens: %v %q", a.State(), a.Stats().LastCheck)
	}
	ln2 := listen(t, addr)
	defer ln2.Close()
	waitState(t, a, backend.Up, 2*time.Second)
	if got := rec.String(); got != "[app/a UP->DOWN app/a DOWN->UP]" {
		t.Fatalf("changes %s", got)
	}
	// Admin changes are reported too.
	a.SetDrain(true)
	if got := rec.String(); got != "[app/a UP->DOWN app/a DOWN->UP app/a UP->DRAIN]" {
		t.Fatalf("changes %s", got)
	}
	rec.waitLog(t, "server app/a is DRAIN (admin)")
}

func TestRunTwiceAndStopIdle(t *testing.T) {
	c := New(nil)
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	for {
		c.mu.Lock()
		r := c.running
		c.mu.Unlock()
		if r {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
		err  bool
	}{
		{"HTTP/1.1 200 OK\r\n", 200, false},
		{"HTTP/1.0 503 Service Unavailable\r\n", 503, false},
		{"HTTP/1.1 101 Switching Protocols\r\n", 101, false},
		{"HTTP/1.1 204\r\n", 204, false},
		{"HTTP/2 200\r\n", 0, true},
		{"SSH-2.0-OpenSSH\r\n", 0, true},
		{"HTTP/1.1 20x OK\r\n", 0, true},
		{"HTTP/1.1 2000 OK\r\n", 0, true},
	} {
		code, err := parseStatus(tc.line)
		if code != tc.code || (err != nil) != tc.err {
			t.Errorf("parseStatus(%q) = %d, %v", tc.line, code, err)
		}
	}
}

// One scheduler goroutine, not one per server: 200 servers checked every
// 50ms leave the goroutine count near where it started between checks.
func TestSchedulerGoroutines(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	defer ln.Close()
	var servers []string
	for range 200 {
		servers = append(servers, ln.Addr().String())
	}
	p := mustParse(t, "app="+strings.Join(servers, ",")+";check=tcp;inter=200ms")
	// Servers with no check, all up: nothing to probe.
	q := mustParse(t, "idle="+strings.Join(servers, ",")+";inter=50ms")
	before := runtime.NumGoroutine()
	start(t, p, q)
	time.Sleep(500 * time.Millisecond)
	lowest := 1 << 30
	for range 20 {
		lowest = min(lowest, runtime.NumGoroutine()-before)
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("400 servers: at least %d goroutines above the baseline", lowest)
	if lowest > 50 {
		t.Fatalf("%d goroutines above the baseline for 400 servers", lowest)
	}
	for _, s := range p.Servers {
		if s.Stats().LastCheck == "" {
			t.Fatalf("%s never checked", s)
		}
	}
	for _, s := range q.Servers {
		if s.Stats().LastCheck != "" {
			t.Fatalf("%s has no check and is up, but was probed", s)
		}
	}
}
