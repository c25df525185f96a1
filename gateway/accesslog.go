package gateway

// The gateway's hooks into the access log: package accesslog builds the
// lines of connections the gateway serves itself (accesslog.Conns: refusals
// at accept, requests it answers, topic WebSocket sessions); proxied
// requests and tunnels are logged by the session machine (gateway/proxy).
// A conn holds one pointer to its accesslog.Conn, nil while the log is off.

import (
	"net"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/proxy"
)

// connLog is what a client connection keeps for its access-log lines.
type connLog = accesslog.Conn

// newConnsLog is nil when the access log is off.
func newConnsLog(lg *accesslog.Logger, ids *accesslog.IDs) *accesslog.Conns {
	if lg == nil {
		return nil
	}
	return accesslog.NewConns(lg, ids)
}

// logPeer is a client connection as the access log sees it (a conversion:
// no allocation).
type logPeer conn

func (p *logPeer) RemoteAddr() net.Addr { return p.c.RemoteAddr() }
func (p *logPeer) TLS() bool            { return tlsClient(p.c) }

// ReopenAccessLog reopens the access log file (SIGUSR1, after logrotate
// renamed it). Lines queued before go to the old file, none is lost.
func (g *Gateway) ReopenAccessLog() error { return g.alog.Reopen() }

// logRefused logs a connection refused at accept: by a limit (detail names
// it; status 503 answered) or by a drain (no answer).
func (g *Gateway) logRefused(c gnet.Conn, status int, term accesslog.Termination, detail string) {
	if g.clog != nil {
		g.clog.Refused(c.RemoteAddr(), g.tls.Accepts(c), status, term, detail)
	}
}

// reqStart marks the first byte of a request on cs, if not marked yet.
func (l *loop) reqStart(cs *conn) { l.g.clog.RequestStart(cs.alog) }

// origin is what the session machine's record needs from the connection, for
// a request whose head was just parsed; the next request starts afresh.
func (l *loop) origin(cs *conn, route string) proxy.Origin {
	p := (*logPeer)(cs)
	return proxy.Origin{Client: accesslog.AddrPort(p.RemoteAddr()), Listener: accesslog.Listener(p), Route: route,
		Start: l.g.clog.TakeStart(cs.alog)}
}

// logAnswered logs a request the gateway answered itself with out bytes
// (req nil: its head could not be parsed), and starts the next request afresh.
func (l *loop) logAnswered(cs *conn, req *codec.Request, route string, status int, term accesslog.Termination, detail string, out int) {
	l.g.clog.Answered(cs.alog, (*logPeer)(cs), req, route, status, term, detail, out)
}

// refuseLogged answers a request with an error status and closes, logging
// it first: req's fields point into the inbound buffer that refuse discards.
func (l *loop) refuseLogged(cs *conn, req *codec.Request, route string, status int, term accesslog.Termination, detail, reason string) {
	if cs.alog != nil {
		l.logAnswered(cs, req, route, status, term, detail, len(codec.AppendError(l.scratch[:0], status, reason)))
	}
	l.refuse(cs, status, reason)
}

// openWS keeps what a topic session's line needs at its close: n is the
// size of its request head, out the size of the 101.
func (l *loop) openWS(cs *conn, req *codec.Request, route string, n, out int) {
	l.g.clog.OpenWS(cs.alog, (*logPeer)(cs), req, route, n, out)
}

// closeWS logs a topic session at its end: code is the close code sent or
// echoed (0: none), by who closed it.
func (l *loop) closeWS(cs *conn, term accesslog.Termination, by accesslog.Side, code ws.StatusCode, detail string) {
	if !cs.alog.WebSocket() {
		return
	}
	var topic string
	if cs.group != nil {
		topic = cs.group.Name()
	}
	l.g.clog.CloseWS(cs.alog, (*logPeer)(cs), topic, term, by, int(code), detail)
}

// refusalTerm is the termination of a request the gateway refused with status.
func refusalTerm(status int) accesslog.Termination { return accesslog.RefusalTerm(status) }
