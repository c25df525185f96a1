package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/pool"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/backend"
)

// phase is where a proxied exchange stands.
type phase uint8

const (
	phaseQueued        phase = iota // every server at maxconn: waiting in the pool's queue
	phaseConnecting                 // dialing the server; the request waits in our buffers
	phaseRequestBody                // head sent; forwarding the request body
	phaseAwaitResponse              // request sent; waiting for the response head
	phaseResponseBody               // relaying the response body
	phaseIdle                       // exchange done; the server connection is kept for the next request
	phaseTunnel                     // after 101: bytes both ways until one side closes
)

// session joins a client connection to one server connection. Both sides run
// on the same event loop (the server conn is enrolled on the client's loop), so
// a session never crosses threads.
type session struct {
	client, server *conn // server is nil while connecting
	pool           *backend.Pool
	target         *backend.Server
	phase          phase
	since          uint32       // tick the current phase started or last moved
	head           *pool.Buffer // rewritten request head, held until connected
	waiter         *backend.Waiter
	down           codec.FrameTracker // frame boundaries of server→client tunnel bytes
	reqBody        bodyState
	respBody       bodyState
	upgrade        bool // a WebSocket upgrade request
	headReq        bool // HEAD: the response has no body
	setCookie      bool
	closeAfter     bool   // the client said Connection: close (or HTTP/1.0)
	released       bool   // target.Release done
	attempt        uint32 // dial attempts: a late result of an earlier one is ignored
	retried        bool   // one redispatch after a failed connect
	relayed        bool   // some response bytes reached the client
	serverKeep     bool   // the server keeps its connection open after this response
	reused         bool   // this request went on a kept-alive server connection
	idempotent     bool   // safe to send twice (RFC 9110 9.2.2)
}

type bodyState struct {
	kind      codec.BodyKind
	remaining int64
	chunked   codec.ChunkedScanner
}

// sendCap is the outbound backlog over which the other side of a session stops being read.
const sendCap = 256 << 10

// proxy starts one request of a client connection on a backend route. The
// complete request head is buf[:n].
func (l *loop) proxy(cs *conn, req *codec.Request, n int, route router.Route, pools *backend.Registry) {
	g := l.g
	p := pools.Pool(route.Name)
	if p == nil {
		l.refuse(cs, http.StatusServiceUnavailable, "no backend pool "+route.Name)
		return
	}
	body, length, err := codec.RequestBodyOf(req)
	if err != nil {
		l.refuse(cs, httpStatus(err), err.Error())
		return
	}
	ip := remoteIP(cs.c)
	var cookie string
	if p.Opts.Cookie != "" {
		cookie = codec.CookieValue(req, p.Opts.Cookie)
	}
	breq := &backend.Request{
		SourceIP: ip, URI: req.Target, Path: req.Path, Cookie: cookie,
		Header: req.Header, Query: queryLookup(req.RawQuery),
	}
	target, setCookie, err := p.Pick(breq)
	queue := errors.Is(err, backend.ErrFull) && p.Opts.Queue > 0
	if err != nil && !queue {
		l.refuse(cs, http.StatusServiceUnavailable, "pool "+p.Name+": "+err.Error())
		return
	}
	s := cs.sess
	reuse := err == nil && s != nil && s.phase == phaseIdle && s.server != nil && s.target == target
	if !reuse {
		l.endSession(cs)
		if err == nil && !target.Acquire() {
			// A sticky request must reach its server: queueing would hand it
			// whichever server frees a slot first and break the session.
			if p.Opts.Queue == 0 || (p.Opts.Cookie != "" && !setCookie) {
				l.refuse(cs, http.StatusServiceUnavailable, "server "+p.Name+"/"+target.Name+" is full (maxconn)")
				return
			}
			queue = true
		}
		s = &session{client: cs, pool: p, target: target, released: queue}
		cs.sess = s
	}
	s.upgrade = req.IsUpgrade()
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		s.idempotent = true
	default:
		s.idempotent = req.Header("Idempotency-Key") != ""
	}
	s.headReq = req.Method == http.MethodHead
	s.setCookie = setCookie
	s.closeAfter = req.WantsClose()
	s.reqBody = bodyState{kind: body, remaining: length}
	s.respBody = bodyState{}
	s.relayed = false
	s.head = g.frames.Get()
	s.head.B = appendForwardedHead(s.head.B, req, p.Opts.Cookie, ip)
	_, _ = cs.c.Discard(n)
	cs.state = stateProxy
	s.reused = reuse
	if reuse {
		l.sendHead(s)
		return
	}
	s.since = l.wheel.now
	l.wheel.schedule(cs, s.since+ticks(p.Opts.ConnectTimeout)+1)
	if queue {
		l.enqueueSession(s, breq)
		return
	}
	s.phase = phaseConnecting
	l.dial(s)
}

// enqueueSession waits for a free server slot (maxconn) in the pool's
// bounded queue, for at most connect-timeout.
func (l *loop) enqueueSession(s *session, r *backend.Request) {
	s.phase = phaseQueued
	w, ok := s.pool.Enqueue(r, func(srv *backend.Server) {
		// Runs wherever the slot was freed: hand over to this session's loop.
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			l.granted(s, srv)
			return nil
		}))
		if err != nil {
			srv.Release()
		}
	})
	if !ok {
		l.failSession(s, http.StatusServiceUnavailable, "every server of pool "+s.pool.Name+" is full and the queue too")
		return
	}
	s.waiter = w
}

// granted starts a queued session on the server the pool acquired for it.
func (l *loop) granted(s *session, srv *backend.Server) {
	if s.client.sess != s || s.phase != phaseQueued {
		srv.Release() // the client left or timed out meanwhile
		return
	}
	s.waiter = nil
	s.target, s.released = srv, false
	s.setCookie = s.pool.Opts.Cookie != ""
	s.phase, s.since = phaseConnecting, l.wheel.now
	l.wheel.schedule(s.client, s.since+ticks(s.pool.Opts.ConnectTimeout)+1)
	l.dial(s)
}

// dial connects to the session's server off the loop (a connect can block)
// and enrolls the socket on this loop, where OnOpen picks it up.
func (l *loop) dial(s *session) {
	addr, timeout, el := s.target.Addr, s.pool.Opts.ConnectTimeout, l.el
	s.attempt++
	attempt := s.attempt
	up := &conn{loop: l, sess: s, upstream: true, groupIdx: -1, attempt: attempt}
	go func() {
		nc, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			if _, err = el.Enroll(gnet.NewContext(context.Background(), up), nc); err == nil {
				return
			}
			_ = nc.Close()
		}
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			l.connectFailed(s, attempt, err)
			return nil
		}))
	}()
}

// upstreamOpen runs when the server connection is on the loop.
func (l *loop) upstreamOpen(up *conn) gnet.Action {
	s := up.sess
	if s.client.sess != s || s.phase != phaseConnecting || up.attempt != s.attempt {
		up.sess = nil
		return gnet.Close // the client left, timed out, or moved on to another server meanwhile
	}
	s.server = up
	up.state = stateProxy
	s.target.ConnectOK()
	l.sendHead(s)
	return gnet.None
}

func (l *loop) connectFailed(s *session, attempt uint32, err error) {
	if s.client.sess != s || s.phase != phaseConnecting || attempt != s.attempt {
		return // a late result of an attempt the session has left behind
	}
	g := l.g
	s.target.ConnectFailed(err)
	g.log.Warn("connect to server failed", "pool", s.pool.Name, "server", s.target.Name, "addr", s.target.Addr, "err", err)
	l.releaseTarget(s)
	// Redispatch once, like HAProxy's "option redispatch" with one retry, to
	// a server other than the one that failed. An empty request makes hashing
	// balancers fall back to round robin, so repeated picks walk the pool: a
	// full weighted round visits every usable server.
	if !s.retried {
		tries := len(s.pool.Servers)
		for _, srv := range s.pool.Servers {
			tries += srv.Weight
		}
		for range tries {
			t, _, perr := s.pool.Pick(&backend.Request{})
			if perr != nil {
				break
			}
			if t != s.target && t.Acquire() {
				s.target, s.retried, s.released, s.setCookie = t, true, false, s.pool.Opts.Cookie != ""
				s.since = l.wheel.now
				l.wheel.schedule(s.client, s.since+ticks(s.pool.Opts.ConnectTimeout)+1)
				l.dial(s)
				return
			}
		}
	}
	l.failSession(s, http.StatusServiceUnavailable, "could not connect to a server of pool "+s.pool.Name)
}

// sendHead writes the held request head and starts the body.
func (l *loop) sendHead(s *session) {
	// The phase moves first: if the write fails, gnet closes the server
	// conn inside Write and serverClosed must see a request in flight (502).
	s.phase, s.since = phaseRequestBody, l.wheel.now
	head := s.head
	if !s.retryable() {
		s.head = nil
		defer l.g.frames.Put(head)
	}
	_, _ = s.server.c.Write(head.B)
	if s.client.sess != s || s.server == nil {
		return
	}
	l.pumpRequest(s)
}

// retryable: a bodyless request sent on a kept-alive server connection may
// meet the server closing that idle connection at the same moment (Node's
// keepAliveTimeout is 5 s). Its head is kept until the response head comes,
// so it can be sent again once on a fresh connection, as HAProxy retries.
func (s *session) retryable() bool {
	// Only idempotent requests: the server may have acted on it before the
	// connection died (a proxy must not replay a POST, RFC 9110 9.2.2).
	return s.reused && s.idempotent && s.reqBody.kind == codec.BodyNone && !s.relayed
}

// pumpRequest forwards what has arrived of the request body.
func (l *loop) pumpRequest(s *session) {
	if s.phase != phaseRequestBody {
		return
	}
	ok, err := l.pump(s, s.client, s.server, &s.reqBody)
	if err != nil {
		l.failSession(s, http.StatusBadRequest, "bad request body: "+err.Error())
		return
	}
	if ok && s.reqBody.kind == codec.BodyNone {
		s.phase, s.since = phaseAwaitResponse, l.wheel.now
		l.wheel.schedule(s.client, s.since+ticks(s.pool.Opts.ServerTimeout)+1)
	}
}

// pump relays what has arrived of a body from one side of the session to the
// other. ok is false when it stopped early: the session ended (a write failed)
// or the receiving side is backlogged and reading from this one paused.
func (l *loop) pump(s *session, from, to *conn, b *bodyState) (ok bool, err error) {
	for b.kind != codec.BodyNone {
		buf, _ := from.c.Peek(-1)
		if len(buf) == 0 {
			return true, nil
		}
		n, done, err := b.take(buf)
		if err != nil {
			return false, err
		}
		_, _ = to.c.Write(buf[:n])
		if s.client.sess != s || s.server == nil {
			return false, nil // the write failed and ended the session
		}
		_, _ = from.c.Discard(n)
		s.count(from, n)
		s.since = l.wheel.now
		if done {
			// The body is whole: the exchange moves on even if the other
			// side is backlogged (gnet flushes it; nothing more is read).
			b.kind = codec.BodyNone
			break
		}
		if to.c.OutboundBuffered() > sendCap {
			l.pause(s, from)
			return false, nil
		}
	}
	return true, nil
}

// count adds n bytes read from one side to the server's counters.
func (s *session) count(from *conn, n int) {
	if from.upstream {
		s.target.AddBytesOut(n)
	} else {
		s.target.AddBytesIn(n)
	}
}

// take reports how many bytes of buf belong to the body and whether it ends there.
func (b *bodyState) take(buf []byte) (n int, done bool, err error) {
	switch b.kind {
	case codec.BodyLength:
		n = len(buf)
		if int64(n) > b.remaining {
			n = int(b.remaining)
		}
		b.remaining -= int64(n)
		return n, b.remaining == 0, nil
	case codec.BodyChunked:
		return b.chunked.Scan(buf)
	case codec.BodyUntilClose:
		return len(buf), false, nil
	}
	return 0, true, nil
}

// clientTraffic handles bytes from a client whose connection is in a session.
func (l *loop) clientTraffic(cs *conn) {
	s := cs.sess
	switch s.phase {
	case phaseRequestBody:
		l.pumpRequest(s)
	case phaseTunnel:
		l.relay(cs, s.server)
	default:
		// The next request (pipelined) or early bytes wait in gnet's buffer
		// until this exchange is done; stop reading if they pile up.
		if cs.c.InboundBuffered() > sendCap {
			l.pause(s, cs)
		}
	}
}

// serverTraffic handles bytes from a server connection.
func (l *loop) serverTraffic(up *conn) {
	s := up.sess
	if s == nil || s.server != up {
		_, _ = up.c.Discard(-1)
		return
	}
	for {
		switch s.phase {
		case phaseRequestBody, phaseAwaitResponse:
			if !l.responseHead(s) {
				return
			}
		case phaseResponseBody:
			l.pumpResponse(s)
			return
		case phaseTunnel:
			l.relay(up, s.client)
			return
		default:
			// A server speaking out of turn on an idle keep-alive connection.
			_, _ = up.c.Discard(-1)
			l.dropServer(s)
			return
		}
	}
}

// responseHead parses and relays the response head; false when it needs more bytes or failed.
func (l *loop) responseHead(s *session) bool {
	g, up, cs := l.g, s.server, s.client
	buf, _ := up.c.Peek(-1)
	if len(buf) == 0 {
		return false
	}
	resp, n, err := codec.ParseResponseHead(buf, g.cfg.MaxHeaderBytes)
	if err != nil {
		g.log.Warn("bad response from server", "pool", s.pool.Name, "server", s.target.Name, "err", err)
		l.failSession(s, http.StatusBadGateway, "invalid response from server")
		return false
	}
	if n == 0 {
		return false
	}
	s.since = l.wheel.now
	if resp.Status >= 100 && resp.Status < 200 && resp.Status != http.StatusSwitchingProtocols {
		_, _ = cs.c.Write(buf[:n]) // 100 Continue and friends pass through
		if cs.sess != s || s.server != up {
			return false // the write failed and ended the session
		}
		_, _ = up.c.Discard(n)
		return true
	}
	tunnel := s.upgrade && resp.Status == http.StatusSwitchingProtocols
	kind, length := codec.ResponseBodyOf(s.headReq, resp)
	if tunnel {
		kind = codec.BodyNone
	}
	// A response that comes before the whole request body was sent leaves
	// the rest of the body unforwarded: neither connection can be reused.
	early := s.phase == phaseRequestBody && s.reqBody.kind != codec.BodyNone
	closeClient := s.closeAfter || kind == codec.BodyUntilClose || early
	l.scratch = appendClientResponseHead(l.scratch[:0], resp, tunnel, closeClient, s)
	_, _ = cs.c.Write(l.scratch)
	if cs.sess != s || s.server != up {
		return false // the write failed and ended the session
	}
	_, _ = up.c.Discard(n)
	s.relayed = true
	if s.head != nil {
		l.g.frames.Put(s.head) // no retry once the server answered
		s.head = nil
	}
	s.closeAfter = closeClient
	s.reqBody.kind = codec.BodyNone // a response ends what is left of the request, as HAProxy does
	if tunnel {
		s.phase = phaseTunnel
		cs.lastSeen = l.wheel.now
		l.wheel.schedule(cs, l.wheel.now+ticks(s.pool.Opts.TunnelTimeout)+1)
		g.metrics.tunnels.Inc()
		l.relay(up, cs)
		l.relay(cs, up)
		return false
	}
	s.respBody = bodyState{kind: kind, remaining: length}
	s.phase = phaseResponseBody
	s.serverKeep = resp.ProtoMinor > 0 && !codec.HasToken(resp.Header("Connection"), "close") && !early
	return true
}

// pumpResponse relays what has arrived of the response body.
func (l *loop) pumpResponse(s *session) {
	ok, err := l.pump(s, s.server, s.client, &s.respBody)
	if err != nil {
		l.g.log.Warn("bad response body from server", "pool", s.pool.Name, "server", s.target.Name, "err", err)
		l.dropServer(s)
		return
	}
	if ok && s.respBody.kind == codec.BodyNone {
		l.exchangeDone(s)
	}
}

// exchangeDone ends one request/response: keep both connections for the next
// request, or close.
func (l *loop) exchangeDone(s *session) {
	cs := s.client
	if !s.serverKeep {
		l.dropServer(s)
		if cs.state != stateProxy {
			return
		}
	}
	if s.closeAfter {
		l.endSession(cs)
		l.linger(cs)
		return
	}
	if s.server != nil {
		s.phase = phaseIdle
		l.setReading(s.server, true)
	}
	cs.state = stateHandshake
	cs.lastSeen = l.wheel.now
	l.setReading(cs, true)
	l.wheel.schedule(cs, cs.lastSeen+l.g.handshakeTicks)
	l.handshake(cs) // a pipelined request may be waiting
}

// relay moves bytes from one side of a tunnel to the other.
func (l *loop) relay(from, to *conn) {
	buf, _ := from.c.Peek(-1)
	if len(buf) == 0 {
		return
	}
	n := len(buf)
	if from.upstream {
		from.sess.down.Track(buf)
	}
	_, _ = to.c.Write(buf)
	if from.state == stateClosed || from.sess == nil {
		return // the write failed and closing one side ended the session
	}
	_, _ = from.c.Discard(n)
	from.sess.client.lastSeen = l.wheel.now
	l.g.metrics.tunnelBytes.Add(float64(n))
	from.sess.count(from, n)
	if to.c.OutboundBuffered() > sendCap {
		l.pause(from.sess, from)
	}
}

// pause stops reading one side of a session; the client's timer then ticks
// every tick to resume it once the other side has drained.
func (l *loop) pause(s *session, side *conn) {
	l.setReading(side, false)
	l.wheel.schedule(s.client, l.wheel.now+1)
}

// resume is called from the connection's timer: a side paused because its
// peer was backlogged reads again once the peer's outbound drained below half.
func (l *loop) resume(cs *conn) {
	s := cs.sess
	if !cs.paused || s == nil {
		return
	}
	other := s.server
	if cs == s.server {
		other = s.client
	}
	if !cs.upstream && s.phase != phaseRequestBody && s.phase != phaseTunnel {
		return // a client waits (for a server, or for the exchange to end): exchangeDone resumes it
	}
	if other == nil || other.c.OutboundBuffered() < sendCap/2 {
		l.setReading(cs, true)
	}
}

// failSession answers the client with an error status if nothing was relayed
// yet, and ends the session.
func (l *loop) failSession(s *session, status int, reason string) {
	cs := s.client
	relayed := s.relayed
	l.endSession(cs)
	if cs.state >= stateClosing {
		return
	}
	if relayed {
		l.linger(cs)
		return
	}
	l.refuse(cs, status, reason)
}

// endSession detaches the client from its session and closes the server side.
func (l *loop) endSession(cs *conn) {
	s := cs.sess
	if s == nil {
		return
	}
	cs.sess = nil
	if s.waiter != nil {
		s.pool.Cancel(s.waiter) // if already granted, granted() releases the slot
		s.waiter = nil
	}
	if s.head != nil {
		l.g.frames.Put(s.head)
		s.head = nil
	}
	if s.server != nil {
		up := s.server
		s.server = nil
		up.sess = nil
		_ = l.el.Close(up.c)
	}
	l.releaseTarget(s)
}

// dropServer closes the server side only (keep-alive ended by the server).
func (l *loop) dropServer(s *session) {
	if s.server != nil {
		up := s.server
		s.server = nil
		up.sess = nil
		_ = l.el.Close(up.c)
	}
	l.releaseTarget(s)
	if s.client.sess == s && s.phase == phaseIdle {
		s.client.sess = nil
	}
}

func (l *loop) releaseTarget(s *session) {
	if !s.released {
		s.released = true
		s.target.Release()
	}
}

// serverClosed runs when the server side of a session closes.
func (l *loop) serverClosed(up *conn) {
	s := up.sess
	if s == nil || s.server != up {
		return
	}
	s.server = nil
	up.sess = nil
	cs := s.client
	if s.head != nil && s.retryable() && (s.phase == phaseRequestBody || s.phase == phaseAwaitResponse) {
		// The kept-alive connection died under a request it never answered:
		// send it again, once, on a fresh connection to the same server.
		s.reused = false
		s.phase, s.since = phaseConnecting, l.wheel.now
		l.wheel.schedule(cs, s.since+ticks(s.pool.Opts.ConnectTimeout)+1)
		l.dial(s)
		return
	}
	l.releaseTarget(s)
	switch s.phase {
	case phaseConnecting, phaseRequestBody, phaseAwaitResponse:
		l.g.log.Warn("server closed before responding", "pool", s.pool.Name, "server", s.target.Name)
		l.failSession(s, http.StatusBadGateway, "server closed the connection without a response")
	case phaseResponseBody:
		if s.respBody.kind == codec.BodyUntilClose {
			s.respBody.kind = codec.BodyNone
		}
		l.endSession(cs)
		l.linger(cs) // the response is complete (until-close) or truncated: the client must see the end
	case phaseTunnel:
		// Tell the client why, if that does not cut a frame of the server's in half.
		l.endSession(cs)
		if s.down.AtBoundary() {
			l.closeWith(cs, ws.StatusGoingAway, "backend server went away")
		} else {
			l.linger(cs)
		}
	case phaseIdle:
		cs.sess = nil
	}
}

// proxyTimer runs when a proxied connection's timer fires.
func (l *loop) proxyTimer(cs *conn) {
	s, now := cs.sess, l.wheel.now
	if s == nil {
		return
	}
	o := s.pool.Opts
	var limit time.Duration
	switch s.phase {
	case phaseQueued, phaseConnecting:
		limit = o.ConnectTimeout
	case phaseRequestBody:
		limit = l.g.cfg.ClientTimeout
	case phaseAwaitResponse, phaseResponseBody:
		limit = o.ServerTimeout
	case phaseTunnel:
		limit = o.TunnelTimeout
		if due := cs.lastSeen + ticks(limit); int32(now-due) < 0 {
			l.wheel.schedule(cs, due)
			return
		}
		l.g.metrics.timeouts.WithLabelValues("tunnel").Inc()
		l.endSession(cs)
		l.linger(cs)
		return
	default:
		return
	}
	if due := s.since + ticks(limit); int32(now-due) < 0 {
		l.wheel.schedule(cs, due)
		return
	}
	switch s.phase {
	case phaseQueued:
		l.g.metrics.timeouts.WithLabelValues("queue").Inc()
		l.failSession(s, http.StatusServiceUnavailable, "no server slot freed up in time (maxconn)")
	case phaseConnecting:
		l.connectFailed(s, s.attempt, errors.New("connect timeout"))
	case phaseRequestBody:
		l.g.metrics.timeouts.WithLabelValues("client").Inc()
		l.failSession(s, http.StatusRequestTimeout, "request body not received in time")
	default:
		l.g.metrics.timeouts.WithLabelValues("server").Inc()
		l.failSession(s, http.StatusGatewayTimeout, "server did not answer in time")
	}
}

// appendForwardedHead writes the request head the server gets: the client's,
// with X-Forwarded-* added, our stickiness cookie removed ("indirect"), and,
// for plain HTTP, hop-by-hop headers replaced by a keep-alive to the server.
func appendForwardedHead(dst []byte, req *codec.Request, cookieName, ip string) []byte {
	upgrade := req.IsUpgrade()
	dst = append(dst, req.Method...)
	dst = append(dst, ' ')
	dst = append(dst, req.Target...)
	// The client's version: a 1.0 client must not get a chunked answer.
	dst = append(dst, " HTTP/1."...)
	dst = append(dst, byte('0'+req.ProtoMinor))
	dst = append(dst, "\r\n"...)
	hop := hopByHop(req.Header("Connection"))
	xff := ""
	for _, h := range req.Headers {
		switch {
		case strings.EqualFold(h.Name, "X-Forwarded-For"):
			xff = joinList(xff, h.Value)
			continue
		case strings.EqualFold(h.Name, "X-Forwarded-Proto"), strings.EqualFold(h.Name, "X-Forwarded-Host"):
			continue
		case cookieName != "" && strings.EqualFold(h.Name, "Cookie"):
			v := codec.RemoveCookie(h.Value, cookieName)
			if v == "" {
				continue
			}
			h.Value = v
		case upgrade && (strings.EqualFold(h.Name, "Connection") || strings.EqualFold(h.Name, "Upgrade")):
			// kept: the server must see the upgrade
		case isHopByHop(h.Name, hop):
			continue
		}
		dst = codec.AppendHeader(dst, h.Name, h.Value)
	}
	dst = codec.AppendHeader(dst, "X-Forwarded-For", joinList(xff, ip))
	dst = codec.AppendHeader(dst, "X-Forwarded-Proto", "http")
	if req.Host != "" {
		dst = codec.AppendHeader(dst, "X-Forwarded-Host", req.Host)
	}
	if !upgrade {
		dst = codec.AppendHeader(dst, "Connection", "keep-alive")
	}
	return append(dst, "\r\n"...)
}

// appendClientResponseHead writes the response head the client gets.
func appendClientResponseHead(dst []byte, resp *codec.Response, tunnel, closeClient bool, s *session) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(resp.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, resp.Reason...)
	dst = append(dst, "\r\n"...)
	hop := hopByHop(resp.Header("Connection"))
	for _, h := range resp.Headers {
		if tunnel && (strings.EqualFold(h.Name, "Connection") || strings.EqualFold(h.Name, "Upgrade")) {
			dst = codec.AppendHeader(dst, h.Name, h.Value)
			continue
		}
		if isHopByHop(h.Name, hop) {
			continue
		}
		dst = codec.AppendHeader(dst, h.Name, h.Value)
	}
	if s.setCookie {
		dst = codec.AppendHeader(dst, "Set-Cookie", s.pool.Opts.Cookie+"="+s.target.Name+"; Path=/")
		dst = codec.AppendHeader(dst, "Cache-Control", `no-cache="set-cookie"`)
	}
	if !tunnel {
		if closeClient {
			dst = codec.AppendHeader(dst, "Connection", "close")
		} else {
			dst = codec.AppendHeader(dst, "Connection", "keep-alive")
		}
	}
	return append(dst, "\r\n"...)
}

// hopByHop lists the headers a Connection header names (RFC 7230 6.1).
func hopByHop(connection string) []string {
	if connection == "" {
		return nil
	}
	var out []string
	for part := range strings.SplitSeq(connection, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isHopByHop: the RFC 7230 hop-by-hop headers plus those named in Connection.
// Transfer-Encoding is kept: bodies are relayed as they came.
func isHopByHop(name string, listed []string) bool {
	switch strings.ToLower(name) {
	case "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate":
		return true
	}
	for _, l := range listed {
		if strings.EqualFold(l, name) {
			return true
		}
	}
	return false
}

func joinList(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}

func remoteIP(c gnet.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// queryLookup returns a lookup of one query parameter, parsed only if asked.
func queryLookup(raw string) func(string) string {
	return func(name string) string {
		for part := range strings.SplitSeq(raw, "&") {
			k, v, _ := strings.Cut(part, "=")
			if k == name {
				return v
			}
		}
		return ""
	}
}
