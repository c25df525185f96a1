package proxy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/pool"
	"github.com/wsgate/wsgate/router/backend"
)

// The harness plays the gateway around one client connection: fake sides
// that record every byte written to them, a fake clock (one tick = 100 ms)
// and a fake dialer whose dials the test completes or fails by hand.

const tickLen = 100 * time.Millisecond

// fakeSide is a connection: in holds what its peer sent and we have not
// discarded, out every byte written to it.
type fakeSide struct {
	name      string
	in, out   []byte
	outbound  int  // simulated backlog: OutboundBuffered returns it
	paused    bool // Pause/Resume
	pauses    int
	closed    bool
	failWrite bool // the next write fails: the connection closes, and the close is reported
	onFail    func()
}

func (f *fakeSide) Peek() []byte { return f.in }
func (f *fakeSide) Discard(n int) {
	if n < 0 || n > len(f.in) {
		n = len(f.in)
	}
	f.in = f.in[n:]
}
func (f *fakeSide) Write(b []byte) {
	if f.closed {
		return
	}
	if f.failWrite {
		f.closed = true
		f.onFail()
		return
	}
	f.out = append(f.out, b...)
}
func (f *fakeSide) InboundBuffered() int  { return len(f.in) }
func (f *fakeSide) OutboundBuffered() int { return f.outbound }
func (f *fakeSide) Pause()                { f.paused = true; f.pauses++ }
func (f *fakeSide) Resume()               { f.paused = false }
func (f *fakeSide) Paused() bool          { return f.paused }
func (f *fakeSide) Close()                { f.closed = true }

// fakeClient is the client connection and what the gateway does with it.
type fakeClient struct {
	fakeSide
	h       *harness
	sess    *Session // the session it is engaged in or kept by (gateway's cs.sess)
	engaged bool     // its bytes go to the session (gateway's stateProxy)
	end     string   // how it ended: "", "linger", "refuse 503", "away: reason"
	due     uint32   // timer; 0 = none
	nexts   int      // NextRequest calls

	sessions []*Session // every session it engaged in, in order
}

func (c *fakeClient) Engage(s *Session) {
	c.sess, c.engaged = s, true
	if n := len(c.sessions); n == 0 || c.sessions[n-1] != s {
		c.sessions = append(c.sessions, s)
	}
}
func (c *fakeClient) Detach(s *Session) {
	if c.sess == s {
		c.sess = nil
	}
}
func (c *fakeClient) NextRequest() {
	c.engaged = false
	c.nexts++
	c.h.handshake()
}
func (c *fakeClient) Refuse(status int, reason string) {
	if c.end == "" {
		c.finish(fmt.Sprintf("refuse %d", status))
	}
}
func (c *fakeClient) Linger()                 { c.finish("linger") }
func (c *fakeClient) GoingAway(reason string) { c.finish("away: " + reason) }
func (c *fakeClient) Schedule(due uint32) {
	if int32(due-c.h.env.now) <= 0 {
		due = c.h.env.now + 1
	}
	c.due = due
}

// finish is the gateway's linger: the connection leaves its session.
func (c *fakeClient) finish(how string) {
	if c.end != "" {
		return
	}
	c.end, c.engaged = how, false
	if c.sess != nil {
		c.sess.End()
	}
}

// the gateway's OnClose of the client.
func (c *fakeClient) closeConn() {
	c.closed = true
	if c.end == "" {
		c.end = "closed"
	}
	c.engaged = false
	if c.sess != nil {
		c.sess.End()
	}
}

type dial struct {
	s       *Session
	addr    string
	attempt uint32
	done    bool
}

type fakeEnv struct {
	now                 uint32
	dials               []*dial
	posts               []func()
	tunnels, tunnelByte int
	timeouts, warns     []string
}

func (e *fakeEnv) Now() uint32 { return e.now }
func (e *fakeEnv) Dial(s *Session, addr string, _ time.Duration, attempt uint32) {
	e.dials = append(e.dials, &dial{s: s, addr: addr, attempt: attempt})
}
func (e *fakeEnv) Post(fn func()) error { e.posts = append(e.posts, fn); return nil }
func (e *fakeEnv) Tunnel()              { e.tunnels++ }
func (e *fakeEnv) TunnelBytes(n int)    { e.tunnelByte += n }
func (e *fakeEnv) Timeout(kind string)  { e.timeouts = append(e.timeouts, kind) }
func (e *fakeEnv) Warn(msg string, _ ...any) {
	e.warns = append(e.warns, msg)
}

type harness struct {
	t       *testing.T
	env     *fakeEnv
	lp      *Loop
	pool    *backend.Pool
	client  *fakeClient
	servers []*fakeServer // every server connection, in connect order
}

type fakeServer struct {
	fakeSide
	s    *Session
	addr string
}

func newHarness(t *testing.T, spec string) *harness {
	t.Helper()
	p, err := backend.Parse(spec, backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, env: &fakeEnv{now: 1000}, pool: p}
	h.lp = &Loop{Env: h.env, Tick: tickLen, ClientTimeout: 10 * time.Second, MaxHeaderBytes: 4096, Heads: &pool.Pool{}}
	h.client = &fakeClient{h: h, fakeSide: fakeSide{name: "client"}}
	h.client.onFail = h.client.closeConn
	return h
}

// send delivers client bytes as the gateway's OnTraffic does.
func (h *harness) send(b string) {
	c := h.client
	c.in = append(c.in, b...)
	switch {
	case c.end != "":
		c.Discard(-1)
	case c.engaged:
		c.sess.ClientData()
	default:
		h.handshake()
	}
}

// handshake reads request heads and starts each on the pool.
func (h *harness) handshake() {
	c := h.client
	for !c.engaged && c.end == "" && len(c.in) > 0 {
		req, n, err := codec.ParseRequestHead(c.in, 4096)
		if err != nil {
			c.Refuse(codec.StatusOf(err), err.Error())
			return
		}
		if n == 0 {
			return
		}
		h.lp.Begin(c.sess, c, req, n, h.pool, "10.0.0.1")
	}
}

// pending returns the oldest dial not yet completed.
func (h *harness) pending() *dial {
	h.t.Helper()
	for _, d := range h.env.dials {
		if !d.done {
			d.done = true
			return d
		}
	}
	h.t.Fatal("no dial pending")
	return nil
}

// connect completes the oldest pending dial.
func (h *harness) connect() *fakeServer { h.t.Helper(); return h.connectWith(nil) }

// connectWith completes the oldest pending dial with a connection that setup
// prepares before the session sees it.
func (h *harness) connectWith(setup func(*fakeServer)) *fakeServer {
	h.t.Helper()
	d := h.pending()
	srv := &fakeServer{fakeSide: fakeSide{name: "server"}, s: d.s, addr: d.addr}
	srv.onFail = func() { d.s.ServerClosed(srv) }
	if setup != nil {
		setup(srv)
	}
	h.servers = append(h.servers, srv)
	if !d.s.Connected(srv, d.attempt) {
		srv.closed = true
	}
	return srv
}

func (h *harness) refuseDial(err error) {
	d := h.pending()
	d.s.ConnectFailed(d.attempt, err)
}

// reply delivers server bytes as the gateway's OnTraffic does.
func (h *harness) reply(srv *fakeServer, b string) {
	srv.in = append(srv.in, b...)
	if !srv.closed {
		srv.s.ServerData(srv)
	}
}

// hangUp is the server closing its connection.
func (h *harness) hangUp(srv *fakeServer) {
	srv.closed = true
	srv.s.ServerClosed(srv)
}

// advance moves the clock n ticks, firing the client's timer when due, as
// the timing wheel does (only while the client is in its session).
func (h *harness) advance(n int) {
	c := h.client
	for range n {
		h.env.now++
		if c.due != 0 && int32(c.due-h.env.now) <= 0 {
			c.due = 0
			if c.engaged && c.sess != nil {
				c.sess.Tick()
			}
		}
	}
}

// runPosts runs what was posted to the loop.
func (h *harness) runPosts() {
	for len(h.env.posts) > 0 {
		fn := h.env.posts[0]
		h.env.posts = h.env.posts[1:]
		fn()
	}
}

// want is what a case checks at its end.
type want struct {
	client  string   // every byte the client received
	servers []string // every byte each server connection received, in connect order
	closed  string   // server connections closed by the session: "o" open, "c" closed, in order
	end     string   // how the client ended ("" still open)
	phase   Phase
	ended   bool // the session the client was last in is over

	noSession bool // the request was refused before a session started
}

type tcase struct {
	name  string
	spec  string // pool; "" = app=a@h:1
	steps func(h *harness)
	want  want
	check func(t *testing.T, h *harness) // more checks, optional
}

func runCases(t *testing.T, cases []tcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			if spec == "" {
				spec = "app=a@h:1"
			}
			h := newHarness(t, spec)
			c.steps(h)
			w := c.want
			if got := string(h.client.out); got != w.client {
				t.Errorf("client got\n%q\nwant\n%q", got, w.client)
			}
			if len(h.servers) != len(w.servers) {
				t.Errorf("%d server connections, want %d", len(h.servers), len(w.servers))
			}
			var closed []string
			for i, srv := range h.servers {
				if i < len(w.servers) && string(srv.out) != w.servers[i] {
					t.Errorf("server %d got\n%q\nwant\n%q", i, srv.out, w.servers[i])
				}
				closed = append(closed, map[bool]string{false: "o", true: "c"}[srv.closed])
			}
			if got := strings.Join(closed, ""); got != w.closed {
				t.Errorf("server connections closed %q, want %q", got, w.closed)
			}
			if h.client.end != w.end {
				t.Errorf("client end %q, want %q", h.client.end, w.end)
			}
			if s := h.last(); s == nil {
				if !w.noSession {
					t.Error("no session was started")
				}
			} else {
				if s.Phase() != w.phase {
					t.Errorf("phase %v, want %v", s.Phase(), w.phase)
				}
				if s.Ended() != w.ended {
					t.Errorf("ended %v, want %v", s.Ended(), w.ended)
				}
			}
			if c.check != nil {
				c.check(t, h)
			}
		})
	}
}

// last is the last session the client engaged in.
func (h *harness) last() *Session {
	if n := len(h.client.sessions); n > 0 {
		return h.client.sessions[n-1]
	}
	return nil
}

var errRefused = errors.New("connect: connection refused")

// Request and response texts. The client is 10.0.0.1 and asks for host h.
const (
	xf = "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
	ka = "Connection: keep-alive\r\n"
)

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n" }

// fwd is the head the server gets for a bodyless request of method.
func fwd(method, path string) string {
	return method + " " + path + " HTTP/1.1\r\nHost: h\r\n" + xf + ka + "\r\n"
}

// ok is a server's 200 with a fixed body; okTo is what the client gets.
func ok(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

func okTo(body, connection string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s", len(body), connection, body)
}
