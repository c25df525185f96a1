package gateway

// The gateway's part of the access log (package accesslog): refused
// connections, requests the gateway answers itself (refusals, the demo page,
// 408), and topic WebSocket sessions, logged at their close. Proxied requests
// and tunnels are logged by the session machine (gateway/proxy).
//
// Memory: an idle WebSocket connection must stay small, so a conn holds no
// Record. It has one pointer (8 bytes; conn stays in the same 144-byte size
// class) to a connLog, allocated only while the access log is on; the Record
// is built at the close from it.

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/proxy"
)

// connLog is what a client connection keeps for its access-log lines.
type connLog struct {
	start time.Duration // since g.start: the accept, then the first byte of each later request; <0: none yet
	tq    time.Duration // topic session: time to its request head

	// A topic session's request, copied out of the head (one allocation) so
	// the head is not kept alive for the session's life.
	route, target, xff, requestID string

	msgsIn, msgsOut, bytesIn, bytesOut int64 // topic session
	ws                                 bool  // a topic session is open: log it at its close
}

// listenerOf names the listener a connection came on: "tls" or "plain".
func listenerOf(c gnet.Conn) string {
	if tlsClient(c) {
		return "tls"
	}
	return "plain"
}

// ReopenAccessLog reopens the access log file (SIGUSR1, after logrotate
// renamed it). Lines queued before go to the old file, none is lost.
func (g *Gateway) ReopenAccessLog() error { return g.alog.Reopen() }

// clock is the time of an access-log event, as an offset from g.start
// (monotonic, 8 bytes to keep).
func (g *Gateway) clock() time.Duration { return time.Since(g.start) }

// at turns a clock offset into a time.
func (g *Gateway) at(d time.Duration) time.Time { return g.start.Add(d) }

func addrPort(a any) netip.AddrPort {
	if t, ok := a.(interface{ AddrPort() netip.AddrPort }); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// logRefused logs a connection refused at accept: by a limit (detail names
// it; status 503 answered) or by a drain (no answer).
func (g *Gateway) logRefused(c gnet.Conn, status int, term accesslog.Termination, detail string) {
	if g.alog == nil {
		return
	}
	var rec accesslog.Record
	rec.Reset(time.Now())
	rec.Kind, rec.Client, rec.Listener = accesslog.KindRefused, addrPort(c.RemoteAddr()), "plain"
	if g.tls.Accepts(c) {
		rec.Listener = "tls" // refused before the handshake
	}
	rec.Status, rec.Term, rec.Detail = status, term, detail
	rec.End(rec.Time)
	g.alog.Log(&rec)
}

// reqStart marks the first byte of a request on cs, if not marked yet.
func (l *loop) reqStart(cs *conn) {
	if cs.alog != nil && cs.alog.start < 0 {
		cs.alog.start = l.g.clock()
	}
}

// origin is what the session machine's record needs from the connection, for
// a request whose head was just parsed; the next request starts afresh.
func (l *loop) origin(cs *conn, route string) proxy.Origin {
	o := proxy.Origin{Client: addrPort(cs.c.RemoteAddr()), Listener: listenerOf(cs.c), Route: route}
	if cs.alog != nil {
		if cs.alog.start >= 0 {
			o.Start = l.g.at(cs.alog.start) // else zero: the session stamps now
		}
		cs.alog.start = -1
	}
	return o
}

// logAnswered logs a request the gateway answered itself (req nil: its head
// could not be parsed), and starts the next request afresh.
func (l *loop) logAnswered(cs *conn, req *codec.Request, route string, status int, term accesslog.Termination, detail string) {
	if cs.alog == nil {
		return
	}
	g := l.g
	var rec accesslog.Record
	l.startRecord(&rec, cs, req, route)
	rec.Status, rec.Term, rec.Detail = status, term, detail
	rec.End(time.Now())
	cs.alog.start = -1
	g.alog.Log(&rec)
}

// startRecord fills rec from the connection and the request head.
func (l *loop) startRecord(rec *accesslog.Record, cs *conn, req *codec.Request, route string) {
	g := l.g
	start := cs.alog.start
	if start < 0 {
		start = g.clock()
	}
	rec.Reset(g.at(start))
	rec.Kind, rec.Client, rec.Listener, rec.Route = accesslog.KindHTTP, addrPort(cs.c.RemoteAddr()), listenerOf(cs.c), route
	if req == nil {
		return
	}
	rec.HeadParsed(time.Now())
	if req.IsUpgrade() {
		rec.Kind = accesslog.KindWebSocket
	}
	rec.Method, rec.Target, rec.XFF = req.Method, req.Target, req.Header("X-Forwarded-For")
	rec.Proto = "HTTP/1.1"
	if req.ProtoMinor == 0 {
		rec.Proto = "HTTP/1.0"
	}
	rec.RequestID = g.ids.RequestID(rec.Client.Addr(), req.Header(g.ids.Header()))
}

// openWS keeps what a topic session's line needs at its close: n is the
// size of its request head, out the size of the 101.
func (l *loop) openWS(cs *conn, req *codec.Request, route string, n, out int) {
	a := cs.alog
	if a == nil {
		return
	}
	g := l.g
	start := a.start
	if start < 0 {
		start = g.clock()
	}
	a.start, a.tq = start, max(g.clock()-start, 0)
	xff := req.Header("X-Forwarded-For")
	id := g.ids.RequestID(addrPort(cs.c.RemoteAddr()).Addr(), req.Header(g.ids.Header()))
	var b strings.Builder
	b.Grow(len(req.Target) + len(xff) + len(id))
	b.WriteString(req.Target)
	b.WriteString(xff)
	b.WriteString(id)
	all := b.String()
	a.target, a.xff, a.requestID = all[:len(req.Target)], all[len(req.Target):len(req.Target)+len(xff)], all[len(req.Target)+len(xff):]
	a.route = route
	a.msgsIn, a.msgsOut, a.bytesIn, a.bytesOut = 0, 0, int64(n), int64(out)
	a.ws = true
}

// closeWS logs a topic session at its end: code is the close code sent or
// echoed (0: none), by who closed it.
func (l *loop) closeWS(cs *conn, term accesslog.Termination, by accesslog.Side, code ws.StatusCode, detail string) {
	a := cs.alog
	if a == nil || !a.ws {
		return
	}
	a.ws = false
	g := l.g
	var rec accesslog.Record
	rec.Reset(g.at(a.start))
	rec.Kind, rec.Client, rec.Listener = accesslog.KindWebSocket, addrPort(cs.c.RemoteAddr()), listenerOf(cs.c)
	rec.Route, rec.Method, rec.Target, rec.Proto, rec.XFF, rec.RequestID = a.route, http.MethodGet, a.target, "HTTP/1.1", a.xff, a.requestID
	if cs.group != nil {
		rec.Topic = cs.group.Name()
	}
	rec.Tq, rec.Status = a.tq, http.StatusSwitchingProtocols
	rec.BytesIn, rec.BytesOut, rec.MsgsIn, rec.MsgsOut = a.bytesIn, a.bytesOut, a.msgsIn, a.msgsOut
	rec.CloseCode, rec.ClosedBy, rec.Term, rec.Detail = int(code), by, term, detail
	rec.End(time.Now())
	a.target, a.xff, a.requestID = "", "", "" // the next request on this conn, if any, starts afresh
	a.start = -1
	g.alog.Log(&rec)
}

// refusalTerm is the termination of a request the gateway refused with status.
func refusalTerm(status int) accesslog.Termination {
	switch status {
	case http.StatusServiceUnavailable:
		return accesslog.TermNoServer
	case http.StatusBadRequest, http.StatusUpgradeRequired, http.StatusRequestHeaderFieldsTooLarge, http.StatusRequestEntityTooLarge:
		return accesslog.TermProtocolError
	}
	return accesslog.TermDenied // 401/403 access control, 403 Origin, 404 no route, 405, 429
}
