package gateway

import (
	"errors"
	"net/http"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/router"
)

type connState uint8

const (
	stateHandshake connState = iota // reading an HTTP request head
	stateOpen                       // WebSocket frames
	stateProxy                      // in a session with a backend server (HTTP or tunnel)
	stateClosing                    // our last bytes are out; waiting for the peer to close
	stateClosed
)

// conn is the per-connection state, set as the gnet context. It holds no
// buffer: unread bytes stay in gnet's lazily allocated inbound buffer, and a
// fragmented message in progress is the only thing that takes a pooled one.
type conn struct {
	c        gnet.Conn
	loop     *loop
	group    *topicGroup // nil unless subscribed
	sess     *session    // nil unless proxied
	timer    timerLink
	peers    peerLink // the loop's client list (drain.go)
	dec      codec.Decoder
	lastSeen uint32 // wheel tick of the last bytes from the peer
	lingerTo uint32 // stateClosing: tick at which we stop waiting
	need     uint32 // stateOpen: bytes the incomplete frame at the head of the input needs
	groupIdx int32
	state    connState
	pinged   bool   // a ping is out since lastSeen
	deflate  bool   // permessage-deflate negotiated
	shutWr   bool   // stateClosing: FIN sent
	attempt  uint32 // server side: the session's dial attempt this conn answers
	upstream bool   // the server side of a session
	paused   bool   // reading stopped for backpressure
	inMsg    bool   // stateOpen: a message has begun (see wsguard.go)
	v1       bool   // wsgate.v1 negotiated: messages are commands, topics in loop.v1 (v1.go)
	msgSince uint32 // stateOpen: tick at which it began
	pong     *pendingPong
	held     bool   // stateHandshake: not read while its unsent answers drain (answer.go)
	noPub    bool   // access control: this client may not publish (publish=none, no grant)
	authExp  uint32 // access control: wheel tick at which the token expires; 0 none
	user     *userConns
	alog     *connLog     // access log (accesslog.go); nil when it is off
	authWait *authPending // stateHandshake: its auth=request subrequest (auth.go)
	grip     *gripConn    // a GRIP session's channels (grip.go); nil otherwise
}

// GroupIndex lets the topic table remove a subscriber in O(1).
func (cs *conn) GroupIndex() *int32 { return &cs.groupIdx }

func (l *loop) traffic(cs *conn) {
	switch cs.state {
	case stateHandshake:
		l.handshake(cs)
	case stateOpen:
		l.frames(cs)
	case stateProxy:
		if cs.upstream {
			l.serverTraffic(cs)
		} else {
			l.clientTraffic(cs)
		}
	default:
		// Closing: the peer may still send (it has not read our close yet);
		// what it sends now has no one to go to.
		_, _ = cs.c.Discard(-1)
	}
}

// handshake reads request heads: the demo page (keep-alive), or an upgrade to a route.
func (l *loop) handshake(cs *conn) {
	g := l.g
	for cs.state == stateHandshake {
		if l.authWaiting(cs) {
			return // the head stays unread until its auth subrequest answers (auth.go)
		}
		buf, _ := cs.c.Peek(-1)
		if len(buf) == 0 || l.holdPipeline(cs) {
			return
		}
		l.reqStart(cs)
		req, n, err := codec.ParseRequestHead(buf, g.cfg.MaxHeaderBytes)
		if err != nil {
			l.refuseLogged(cs, nil, "", codec.StatusOf(err), accesslog.TermProtocolError, err.Error(), err.Error())
			return
		}
		if n == 0 {
			return // incomplete head: gnet keeps the bytes for the next read
		}
		cs.lastSeen = l.wheel.now
		if len(req.Headers) > g.cfg.MaxHeaderCount {
			l.refuseLogged(cs, req, "", http.StatusRequestHeaderFieldsTooLarge, accesslog.TermProtocolError, "too many header fields", "too many header fields")
			return
		}
		if !req.IsUpgrade() && req.Path == "/wsgate.js" { // the browser client (resume.go)
			if !l.serveScript(cs, req, n) {
				return
			}
			continue
		}
		if !req.IsUpgrade() && g.cfg.DemoPath != "" && req.Path == g.cfg.DemoPath {
			if req.Method != http.MethodGet {
				l.refuseLogged(cs, req, "", http.StatusMethodNotAllowed, accesslog.TermDenied, "demo page: not GET", "only GET is served here")
				return
			}
			if !l.servePage(cs, req, n, buf) {
				return
			}
			continue
		}
		rt := g.router.Current()
		d := rt.Match(&router.Request{Host: req.Host, Path: req.Path, Upgrade: req.IsUpgrade()})
		if d.Status != 0 {
			l.refuseLogged(cs, req, d.Route.Prefix, d.Status, refusalTerm(d.Status), d.Reason, d.Reason)
			return
		}
		if req.IsUpgrade() && !g.originAllowed(req, d.Route) {
			l.refuseLogged(cs, req, d.Route.Prefix, http.StatusForbidden, accesslog.TermDenied, "origin not allowed", "origin not allowed")
			return
		}
		if d.Route.Wildcard() {
			// One rule for topic names, shared with the publish API.
			var err error
			if d.Topic, err = router.TopicName(d.Topic); err != nil {
				l.refuseLogged(cs, req, d.Route.Prefix, http.StatusBadRequest, accesslog.TermProtocolError, err.Error(), err.Error())
				return
			}
		}
		if d.Route.Kind == router.TargetTopic {
			// One topic namespace: the topic's rules, not the URL route's (router/policy.go).
			d.Route = rt.TopicPolicy(d.Topic).Apply(d.Route)
		}
		if (d.Route.Auth != router.AuthNone || d.Route.Publish != router.PublishClients) && !l.authorize(cs, req, &d) {
			if !l.authWaiting(cs) { // not refused: its auth subrequest is out
				l.logAnswered(cs, req, d.Route.Prefix, l.refused, refusalTerm(l.refused), "access control", l.refusedBytes)
			}
			return // refused (auth.go), or waiting for auth=request
		}
		if d.Route.Kind == router.TargetBackend {
			l.proxy(cs, req, n, d.Pool, d.Route.Prefix)
			continue
		}
		resp, hs, err := codec.AcceptRequest(l.scratch[:0], req, g.upgradeOptions(req, &d)) // the head parsed above, not its bytes again
		l.scratch = resp
		if err != nil {
			_, _ = cs.c.Write(resp)
			g.metrics.HTTPResponse(codec.StatusOf(err))
			l.logAnswered(cs, req, d.Route.Prefix, codec.StatusOf(err), refusalTerm(codec.StatusOf(err)), err.Error(), len(resp))
			g.log.Debug("upgrade refused", "remote", cs.c.RemoteAddr(), "path", req.Path, "err", err)
			l.linger(cs)
			return
		}
		_, _ = cs.c.Write(resp)
		if cs.state != stateHandshake {
			return // the write failed and gnet closed the connection (OnClose has run)
		}
		_, _ = cs.c.Discard(n)
		g.metrics.Upgrades.Inc()
		cs.state = stateOpen
		cs.deflate = hs.Deflate
		cs.dec.SetDeflate(hs.Deflate)
		if d.Route.Kind == router.TargetTopic && hs.Subprotocol == v1Protocol {
			l.v1Open(cs, req, &d)
			l.openWS(cs, req, d.Route.Prefix, n, len(resp))
		} else if d.Route.Kind == router.TargetTopic {
			l.join(cs, d.Topic)
			l.openWS(cs, req, d.Route.Prefix, n, len(resp))
		}
		l.wheel.schedule(cs, cs.lastSeen+g.pingTicks)
		l.authTimer(cs)
	}
	if cs.state == stateOpen {
		l.frames(cs)
	}
}

// frames handles every complete frame that has arrived.
func (l *loop) frames(cs *conn) {
	g := l.g
	budget := l.turnStart(cs)
	for cs.state == stateOpen {
		// A large frame arrives over many reads: wait for all of it before
		// looking again, as each Peek of leftover input copies it.
		if cs.need > 0 && cs.c.InboundBuffered() < int(cs.need) {
			l.messageBusy(cs, true)
			return
		}
		buf, _ := cs.c.Peek(-1)
		if len(buf) == 0 {
			l.messageBusy(cs, cs.dec.InMessage())
			return
		}
		n, ev, err := l.parser.Next(&cs.dec, buf)
		if err != nil {
			code, reason := ws.StatusProtocolError, err.Error()
			var ce *codec.CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			g.log.Debug("protocol error", "remote", cs.c.RemoteAddr(), "code", int(code), "err", err)
			l.closeWith(cs, code, reason, accesslog.TermProtocolError)
			return
		}
		if n == 0 {
			if need, ok := codec.FrameLen(buf); ok && need <= int64(g.cfg.MaxMessageBytes)+14 {
				cs.need = uint32(need)
			}
			l.messageBusy(cs, true)
			return // incomplete frame
		}
		cs.need = 0
		l.progress(cs, ev)
		switch ev.Kind {
		case codec.KindMessage:
			cs.alog.Received(1, 0)
			g.metrics.MsgsIn.Inc()
			g.metrics.BytesIn.Add(float64(len(ev.Payload)))
			if cs.v1 { // commands, not broadcasts (v1.go)
				l.v1Command(cs, ev.OpCode, ev.Payload)
				l.parser.Release(&cs.dec)
				break
			}
			if cs.noPub {
				l.publishDenied(cs) // read-only route, no publish grant: close 1008
				return
			}
			if cs.grip != nil {
				g.grip.Discarded() // a detached GRIP client: no backend to go to
			}
			if cs.group != nil {
				if err := g.bus.Publish(cs.group.Name(), router.OpCode(ev.OpCode), ev.Payload); err != nil {
					g.metrics.PublishErrors.Inc()
					l.publishFailed(cs.group.Name(), err)
				}
			}
			l.parser.Release(&cs.dec)
		case codec.KindPing:
			l.answerPing(cs, ev.Payload)
		case codec.KindClose:
			// Echo the peer's code (an empty close is echoed empty), then close.
			l.closeWith(cs, ev.Code, "", accesslog.TermClientClosed)
		}
		_, _ = cs.c.Discard(n)
		cs.alog.Received(0, n)
		if l.overBudget(cs, budget) {
			return
		}
	}
}

// publishFailed logs a refused publish, at most once a second per loop: in
// a bus outage every message fails, and the metric carries the count.
func (l *loop) publishFailed(topic string, err error) {
	l.publishFails++
	if l.wheel.now-l.lastPublishLog < 10 && l.lastPublishLog != 0 {
		return
	}
	l.g.log.Warn("publish failed", "topic", topic, "err", err, "failed_since_last_log", l.publishFails)
	l.publishFails, l.lastPublishLog = 0, l.wheel.now
}

// refuse answers an HTTP request with an error status and closes.
func (l *loop) refuse(cs *conn, status int, reason string) {
	l.scratch = codec.AppendError(l.scratch[:0], status, reason)
	l.refused, l.refusedBytes = status, len(l.scratch)
	_, _ = cs.c.Write(l.scratch)
	l.g.metrics.HTTPResponse(status)
	l.g.log.Debug("request refused", "remote", cs.c.RemoteAddr(), "status", status, "reason", reason)
	l.linger(cs)
}

// closeWith sends a close frame (code 0: empty body) and closes. term is
// why, for the access log: TermClientClosed echoes the client's close.
func (l *loop) closeWith(cs *conn, code ws.StatusCode, reason string, term accesslog.Termination) {
	if cs.state >= stateClosing {
		return
	}
	l.scratch = codec.AppendCloseFrame(l.scratch[:0], code, reason)
	_, _ = cs.c.Write(l.scratch)
	if cs.alog.WebSocket() {
		cs.alog.Sent(0, len(l.scratch))
		by := accesslog.SideGateway
		if term == accesslog.TermClientClosed {
			by = accesslog.SideClient
		}
		l.closeWS(cs, term, by, code, reason)
	}
	l.g.metrics.CloseSent(int(code))
	l.linger(cs)
}

// linger stops reading and sends FIN once our last bytes are out, then waits
// for the peer to close (or lingerTicks). Closing at once with unread input
// would make the kernel send RST, which can destroy the answer we just wrote
// before the peer reads it.
func (l *loop) linger(cs *conn) {
	if cs.state >= stateClosing {
		return
	}
	cs.state = stateClosing
	l.leave(cs)
	l.endSession(cs)
	l.setReading(cs, true)
	l.parser.Release(&cs.dec)
	_, _ = cs.c.Discard(-1)
	cs.lingerTo = l.wheel.now + lingerTicks
	l.tlsCloseNotify(cs)
	l.shutdownWrite(cs)
	l.wheel.schedule(cs, l.wheel.now+1)
}

// fire runs when a connection's timer comes due.
func (l *loop) fire(cs *conn) {
	g, now := l.g, l.wheel.now
	switch cs.state {
	case stateHandshake:
		if cs.held {
			l.heldTick(cs)
			return
		}
		if now-cs.lastSeen < g.handshakeTicks {
			l.wheel.schedule(cs, cs.lastSeen+g.handshakeTicks)
			return
		}
		g.metrics.Timeouts.WithLabelValues("handshake").Inc()
		if cs.c.InboundBuffered() > 0 {
			l.refuseLogged(cs, nil, "", http.StatusRequestTimeout, accesslog.TermTimeoutHandshake, "request head not received in time", "request head not received in time")
			return
		}
		_ = l.el.Close(cs.sock()) // nothing was asked: nothing to answer
	case stateOpen:
		if l.authExpired(cs) {
			return
		}
		defer l.authTimer(cs)
		l.fireOpen(cs)
	case stateProxy:
		l.proxyTimer(cs) // timeouts, and resuming a side paused for backpressure
	case stateClosing:
		l.shutdownWrite(cs)
		if int32(now-cs.lingerTo) >= 0 {
			_ = l.el.Close(cs.sock())
			return
		}
		l.wheel.schedule(cs, now+1)
	}
}
