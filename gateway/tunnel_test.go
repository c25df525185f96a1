package gateway_test

// WebSocket sessions through the gateway, built on the raw client (wsclient_test.go): tunnels to backends
// that say hello first (helloMsg), bulk openers and echo loops for the failure tests, how a session
// ended, and plain HTTP requests through the proxy.

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

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

// echo sends a masked text message and expects it back within 3 s.
func (tn *tunnel) echo(msg string) error { return tn.echoWithin(msg, 3*time.Second) }

// echoWithin sends payload as a masked text message and expects it back within timeout; a close frame
// instead is reported with its code and reason.
func (tn *tunnel) echoWithin(payload string, timeout time.Duration) error {
	_ = tn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := tn.Write(wstest.Text(payload)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	f, err := tn.ReadFrame(time.Now().Add(timeout))
	if err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if f.Op == wstest.OpClose {
		return fmt.Errorf("closed with %d %q instead of echoing", f.CloseCode(), f.CloseReason())
	}
	if f.Op != wstest.OpText || string(f.Payload) != payload {
		return fmt.Errorf("echo: got op %d %.60q, want text %.60q", f.Op, f.Payload, payload)
	}
	return nil
}

// shut sends close 1000 and closes the socket.
func (tn *tunnel) shut() {
	_ = tn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = tn.Write(wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: wstest.CloseBody(1000, "bye")}))
	tn.Close()
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

// tunnelBuf is a tunnel's read buffer: small, as thousands of tunnels may live in the test process
// (larger frames are read past the buffer).
const tunnelBuf = 4096

// dialTunnel upgrades path with extra headers and reads the backend's hello. It does not touch t, so it
// may run on any goroutine; the caller closes the connection.
func dialTunnel(addr, path string, hdr map[string]string, timeout time.Duration) (*tunnel, error) {
	start := time.Now()
	host, lines := headerLines(hdr)
	c, resp, err := wstest.Upgrade(addr, path, wstest.Options{Host: host, Headers: lines, Timeout: timeout, BufSize: tunnelBuf})
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

// countServers counts tunnels by backend name.
func countServers(tns []*tunnel) map[string]int {
	m := map[string]int{}
	for _, tn := range tns {
		m[tn.hello.Server]++
	}
	return m
}

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

// flDialWS opens a WebSocket connection (raw client, small read buffer: thousands of these live in the
// test process) without touching t, so that goroutines may call it. Extra header lines are optional.
func flDialWS(addr, path string, headers ...string) (*rawConn, error) {
	c, _, err := wstest.Upgrade(addr, path, wstest.Options{Headers: headers, Timeout: 10 * time.Second, BufSize: 4096})
	return c, err
}

// flOpenTunnels opens n tunnels on path with a few workers; every one must open.
func flOpenTunnels(t *testing.T, g *testGateway, path string, n int) []*tunnel {
	t.Helper()
	out := make([]*tunnel, n)
	errs := make([]error, n)
	skipped := flParallel(n, 32, 10, func(i int) bool {
		out[i], errs[i] = dialTunnel(g.Addr, path, nil, 10*time.Second)
		return errs[i] == nil
	})
	t.Cleanup(func() {
		for _, c := range out {
			if c != nil {
				c.Close()
			}
		}
	})
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("#%d: %v", i, err))
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d tunnels on %s did not open (%d more not tried); first: %v", len(failed), n, path, skipped, failed[:min(5, len(failed))])
	}
	return out
}

// flEchoAll runs one echo on each tunnel (bounded workers) and returns the failures; after 20 of them
// the remaining tunnels are not tried and count as one more entry.
func flEchoAll(cs []*tunnel, tag string) []string {
	var mu sync.Mutex
	var failed []string
	skipped := flParallel(len(cs), 64, 20, func(i int) bool {
		err := cs[i].echoWithin(fmt.Sprintf("%s-%d", tag, i), 10*time.Second)
		if err != nil {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("tunnel %d (server %s): %v", i, cs[i].hello.Server, err))
			mu.Unlock()
		}
		return err == nil
	})
	if skipped > 0 {
		failed = append(failed, fmt.Sprintf("%d more tunnels not tried after these failures", skipped))
	}
	return failed
}

// flEnd is how a connection ended: kind "close" (a close frame, with its code), "tcp" (EOF or reset
// without a close frame) or "timeout" (still open at the deadline).
type flEnd struct {
	kind string
	code int
	at   time.Time
	err  error
}

func (e flEnd) String() string {
	if e.kind == "close" {
		return fmt.Sprintf("close %d", e.code)
	}
	return fmt.Sprintf("%s (%v)", e.kind, e.err)
}

// flWaitEnd reads (and drops) frames until the connection ends or deadline passes.
func flWaitEnd(c *rawConn, deadline time.Time) flEnd {
	for {
		f, err := c.ReadFrame(deadline)
		if err != nil {
			if isTimeout(err) {
				return flEnd{kind: "timeout", at: time.Now(), err: err}
			}
			return flEnd{kind: "tcp", at: time.Now(), err: err}
		}
		if f.Op == wstest.OpClose {
			e := flEnd{kind: "close", at: time.Now()}
			if len(f.Payload) >= 2 {
				e.code = int(binary.BigEndian.Uint16(f.Payload))
			}
			return e
		}
	}
}

// flParallel runs fn(0..n-1) on a bounded number of goroutines. Once more than maxFail calls have
// returned false it starts no more (so that a broken gateway fails a test in seconds, not after every
// case has waited out its deadline) and returns how many were skipped.
func flParallel(n, workers, maxFail int, fn func(i int) bool) (skipped int) {
	var next, failed, skip atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if failed.Load() > int64(maxFail) {
					skip.Add(1)
					continue
				}
				if !fn(i) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(skip.Load())
}

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

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
