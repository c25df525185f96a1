package gateway_test

// Node peers from testdata/: `ws` clients driven over pipes (ws-peer.js), one-shot scripts that print a
// JSON summary, and the backend servers users run behind HAProxy today (Socket.IO, express-ws, the
// `websocket` package, an echo server for the failure tests). Each server prints
// {"ready":true,"port":P,...} once it listens and names itself in what it answers.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// extra are more ws-peer.js arguments (e.g. "--cookie", "sid=x").
func startWSPeer(t *testing.T, url string, lifetime time.Duration, extra ...string) *wsPeer {
	t.Helper()
	args := append([]string{"ws-peer.js", "--url", url, "--lifetime", strconv.Itoa(int(lifetime.Milliseconds()))}, extra...)
	cmd := exec.Command("node", args...)
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

// flEcho is a running testdata/failure-echo-server.js.
type flEcho struct {
	Name, Addr string
	*childProc
}

// startFlEcho starts an echo backend on a free loopback port; it is SIGKILLed (by PID) at the end.
func startFlEcho(t *testing.T, name string) *flEcho {
	t.Helper()
	cmd := exec.Command("node", "failure-echo-server.js", "--port", "0", "--name", name)
	cmd.Dir = "testdata"
	p, err := startChild(t, childSpec{label: "failure-echo-server.js " + name, logMax: 16 << 10, readyLine: nodeReadyLine(0)}, cmd)
	if err != nil {
		t.Fatalf("start failure-echo-server.js: %v", err)
	}
	port, err := p.awaitReady(15 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &flEcho{Name: name, Addr: "127.0.0.1:" + port, childProc: p}
}
