package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/proxy"
	"github.com/wsgate/wsgate/router"
)

// The proxy itself is the socket-free state machine of gateway/proxy; this
// file adapts gnet connections to its Side and Client, the loop to its Env,
// and dials servers onto the loop.

// session is the proxy session a client connection is in.
type session = proxy.Session

// newProxyLoop is the proxy state an event loop shares between its sessions.
func newProxyLoop(l *loop) *proxy.Loop {
	return &proxy.Loop{
		Env:            (*proxyEnv)(l),
		Tick:           tick,
		ClientTimeout:  l.g.cfg.ClientTimeout,
		MaxHeaderBytes: l.g.cfg.MaxHeaderBytes,
		Heads:          &l.g.frames,
		Log:            proxyLog(l.g.alog),
		IDs:            l.g.ids,
		Grip:           newGripConfig(l),
	}
}

// proxyLog is the session machine's logger: nil when the log is off, so the
// sessions fill no record at all.
func proxyLog(l *accesslog.Logger) proxy.Logger {
	if l == nil {
		return nil
	}
	return l
}

// proxy starts one request of a client connection on pool p (the router's
// decision for a backend route, whose prefix is route). The complete request
// head is buf[:n].
func (l *loop) proxy(cs *conn, req *codec.Request, n int, p *router.Pool, route string) {
	var ip string
	if a := clientIP(cs.c.RemoteAddr()); a.IsValid() {
		ip = a.String()
	}
	req.TLS = tlsClient(cs.c) // X-Forwarded-Proto
	o := l.origin(cs, route)
	l.px.BeginFrom(&o, cs.sess, (*side)(cs), req, n, p, ip)
}

// endSession ends the client's session, if any, closing its server side.
func (l *loop) endSession(cs *conn) {
	if cs.sess != nil {
		cs.sess.End()
	}
}

// clientTraffic handles bytes from a client whose connection is in a session.
func (l *loop) clientTraffic(cs *conn) {
	if cs.sess == nil {
		_, _ = cs.c.Discard(-1)
		return
	}
	cs.sess.ClientData()
}

// serverTraffic handles bytes from a server connection.
func (l *loop) serverTraffic(up *conn) {
	if up.sess == nil {
		_, _ = up.c.Discard(-1)
		return
	}
	up.sess.ServerData((*side)(up))
}

// upstreamOpen runs when the server connection is on the loop.
func (l *loop) upstreamOpen(up *conn) gnet.Action {
	up.state = stateProxy // before the session writes: a failed write closes it
	if !up.sess.Connected((*side)(up), up.attempt) {
		up.sess = nil
		return gnet.Close
	}
	return gnet.None
}

// serverClosed runs when the server side of a session closes (OnClose).
func (l *loop) serverClosed(up *conn) {
	if s := up.sess; s != nil {
		up.sess = nil
		s.ServerClosed((*side)(up))
	}
	l.freeUpstream(up)
}

// proxyTimer runs when a proxied connection's timer fires.
func (l *loop) proxyTimer(cs *conn) {
	if cs.sess != nil {
		cs.sess.Tick()
	}
}

// side adapts a connection (client or server) to proxy.Client; a server
// side only uses its Side half. A conversion, so it costs no allocation.
type side conn

func (c *side) conn() *conn           { return (*conn)(c) }
func (c *side) Peek() []byte          { b, _ := c.c.Peek(-1); return b }
func (c *side) Discard(n int)         { _, _ = c.c.Discard(n) }
func (c *side) Write(b []byte)        { _, _ = c.c.Write(b) }
func (c *side) InboundBuffered() int  { return c.c.InboundBuffered() }
func (c *side) OutboundBuffered() int { return c.c.OutboundBuffered() }
func (c *side) Pause()                { c.loop.setReading(c.conn(), false) }
func (c *side) Resume()               { c.loop.setReading(c.conn(), true) }
func (c *side) Paused() bool          { return c.paused }

// Close closes a server side; the session that asked does not hear of it.
func (c *side) Close() {
	c.sess = nil
	_ = c.loop.el.Close(c.c)
}

func (c *side) Engage(s *proxy.Session) { c.sess, c.state = s, stateProxy }

func (c *side) Detach(s *proxy.Session) {
	if c.sess == s {
		c.sess = nil
	}
}

func (c *side) NextRequest() {
	l := c.loop
	// The connection holds no session any more (its upgrade was refused, or
	// a request ended): it no longer counts against a user, and the next
	// request's token is counted afresh (else another user's upgrade on a
	// kept-alive connection would ride on this count past its own limit).
	l.g.auth.Release(&c.user)
	c.state = stateHandshake
	c.lastSeen = l.wheel.now
	l.wheel.schedule(c.conn(), c.lastSeen+l.g.handshakeTicks)
	l.handshake(c.conn())
}

func (c *side) Refuse(status int, reason string) {
	if c.state < stateClosing {
		c.loop.refuse(c.conn(), status, reason)
	}
}

func (c *side) Linger() { c.loop.linger(c.conn()) }
func (c *side) GoingAway(reason string) {
	c.loop.closeWith(c.conn(), ws.StatusGoingAway, reason, accesslog.TermUnknown) // the session logged why
}
func (c *side) Schedule(due uint32) { c.loop.wheel.schedule(c.conn(), due) }

// proxyEnv adapts the loop to proxy.Env.
type proxyEnv loop

func (e *proxyEnv) Now() uint32                  { return e.wheel.now }
func (e *proxyEnv) Tunnel()                      { e.g.metrics.Tunnels.Inc() }
func (e *proxyEnv) TunnelBytes(n int)            { e.g.metrics.TunnelBytes.Add(float64(n)) }
func (e *proxyEnv) Timeout(kind string)          { e.g.metrics.Timeouts.WithLabelValues(kind).Inc() }
func (e *proxyEnv) Warn(msg string, args ...any) { e.g.log.Warn(msg, args...) }

func (e *proxyEnv) Post(fn func()) error {
	err := e.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		return nil
	}))
	if err != nil {
		return fmt.Errorf("posting to event loop: %w", err)
	}
	return nil
}

// enrollSlots bounds the gnet Enrolls a loop has in flight. gnet runs each on
// a goroutine of its worker pool, which waits there until the loop has taken
// the connection on; the pool keeps as many workers as were ever busy at once,
// with their stacks, for 10 s after. Unbounded, a wave of 9,000 GRIP sessions
// (64 connecting at a time) kept 65 of them: ≈ 1.7 MiB of stacks and twice the
// threads at the end of the wave. A dial waits for a slot only once connected,
// and a slot is held for one loop round trip, so connects still overlap.
const enrollSlots = 4

// upFreeMax bounds a loop's lists of server connection structs kept for reuse.
const upFreeMax = 256

// Dial connects to the server off the loop (a connect can block) and enrolls
// the socket on this loop, where OnOpen hands it to the session.
//
// Server connections get no TCP keep-alive (net.Dialer's default turns it on
// with four setsockopt calls per dial): HAProxy's default too (`option
// srvtcpka` off), and what the client side already had. An idle tunnel to a
// server that vanished ends at the pool's tunnel-timeout, as in HAProxy;
// ≈ 6 % less gateway CPU per proxied upgrade (bench/README.md, issue 16
// item 1). TCP_NODELAY stays: Go sets it, and gnet keeps the socket's
// options when it takes the fd.
func (e *proxyEnv) Dial(s *proxy.Session, addr string, timeout time.Duration, attempt uint32) {
	l := (*loop)(e)
	el := l.el
	up := l.newUpstream(s, attempt)
	go func() {
		d := net.Dialer{Timeout: timeout, KeepAlive: -1}
		nc, err := d.Dial("tcp", addr)
		local := false
		if err == nil {
			l.enrolling <- struct{}{}
			err = enroll(el, up, nc)
			<-l.enrolling
			if err == nil {
				return
			}
			local = true
		}
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			if local {
				s.LocalFailure(attempt, err)
			} else {
				l.freeUpstream(up) // never given to gnet
				s.ConnectFailed(attempt, err)
			}
			return nil
		}))
	}()
}

// newUpstream is the struct of a new server connection: a closed one's when
// the loop has one. The server side's objects are short-lived and as many as
// the clients' long-lived ones (a GRIP session's backend connection lives for
// its handshake and detach), and the same type: fresh ones would be allocated
// between the clients', and leave the heap's spans of their size partly used
// once collected.
func (l *loop) newUpstream(s *proxy.Session, attempt uint32) *conn {
	var up *conn
	if n := len(l.upFree); n > 0 {
		up = l.upFree[n-1]
		l.upFree[n-1] = nil
		l.upFree = l.upFree[:n-1]
	} else {
		up = new(conn)
	}
	*up = conn{loop: l, sess: s, upstream: true, groupIdx: -1, attempt: attempt}
	return up
}

// freeUpstream keeps a closed server connection's struct for a later dial,
// once nothing refers to it: gnet has closed it (OnClose has run, gnet calls
// nothing more with it) or never had it, and the session has let it go. It
// is reused from the next tick on, not at once: the callback that closed it
// may still be on the stack above, with the struct in hand.
func (l *loop) freeUpstream(up *conn) {
	if len(l.upClosed) < upFreeMax {
		l.upClosed = append(l.upClosed, up)
	}
}

// recycleUpstreams runs on every tick: the server connections closed since
// the last one are free for the next dials.
func (l *loop) recycleUpstreams() {
	for i, up := range l.upClosed {
		l.upClosed[i] = nil
		if len(l.upFree) < upFreeMax {
			*up = conn{}
			l.upFree = append(l.upFree, up)
		}
	}
	l.upClosed = l.upClosed[:0]
}

// enroll puts a connected socket on event loop el and waits for the result:
// once it is nil, OnOpen has run for the new connection.
func enroll(el gnet.EventLoop, up *conn, nc net.Conn) error {
	res, err := el.Enroll(gnet.NewContext(context.Background(), up), nc)
	if err != nil {
		_ = nc.Close()
		return fmt.Errorf("enrolling server connection: %w", err)
	}
	r, ok := <-res
	switch {
	case !ok:
		return errors.New("enrolling server connection: no result")
	case r.Err != nil:
		return fmt.Errorf("enrolling server connection: %w", r.Err)
	}
	return nil
}
