package gateway

// TLS termination on the event loops is package tlsside: a connection
// accepted on -tls-listen gets a *tlsside.Conn as its conn.c, and the state
// machine (conn.go, wsguard.go, fanout.go, the proxy adapters) keeps calling
// cs.c.Peek, Discard, Write... and sees plaintext. This file is the adapter:
// tlsHost is the loop as tlsside calls it back, and the hooks below are
// called from OnOpen/OnTraffic/OnClose (gateway.go), linger and the idle
// sweep.

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/gateway/tlsside"
)

// tlsStats is the TLS listener for the stats page (nil without one).
func (g *Gateway) tlsStats() *admin.TLSStats { return g.tls.Stats() }

// reloadTLS re-reads the certificate files on SIGHUP (Gateway.Reload).
func (g *Gateway) reloadTLS(cfg *Config) error { return g.tls.Reload(cfg.TLS.Certs) }

// listenAddrs are the gnet addresses of the client listeners (-listen "":
// TLS only).
func (g *Gateway) listenAddrs() []string {
	var addrs []string
	if g.cfg.Listen != "" {
		addrs = append(addrs, "tcp://"+g.cfg.Listen)
	}
	if g.tls != nil {
		addrs = append(addrs, "tcp://"+g.cfg.TLS.Listen)
	}
	return addrs
}

// sock is cs's gnet socket, for gnet calls that need gnet's own type
// (EventLoop.Close).
func (cs *conn) sock() gnet.Conn {
	if t, ok := cs.c.(*tlsside.Conn); ok {
		return t.Conn
	}
	return cs.c
}

// tlsClient reports whether c is a client connection of the TLS listener.
func tlsClient(c gnet.Conn) bool {
	_, ok := c.(*tlsside.Conn)
	return ok
}

// tlsHost is a loop as its TLS connections call it back (tlsside.Host).
type tlsHost loop

func (h *tlsHost) Plaintext(t *tlsside.Conn) (quiet bool) {
	cs := t.Context().(*conn)
	if cs.state == stateClosed {
		return false
	}
	wasPinged := cs.pinged
	(*loop)(h).traffic(cs)
	return wasPinged && !cs.pinged
}

func (h *tlsHost) Handshaken(t *tlsside.Conn) (open bool) {
	l := (*loop)(h)
	l.g.guard.wave.add(l.g.now()) // crypto/tls's handshake state is garbage now (wave.go)
	cs, ok := t.Context().(*conn)
	return ok && cs.c == t && cs.state != stateClosed
}

func (h *tlsHost) End(t *tlsside.Conn, linger bool) {
	l := (*loop)(h)
	if cs, ok := t.Context().(*conn); ok && linger && cs.state < stateClosing {
		l.linger(cs)
		return
	}
	_ = l.el.Close(t.Conn)
}

// tlsCloseNotify sends close_notify on a TLS connection the gateway closes
// gracefully (linger), after its last data.
func (l *loop) tlsCloseNotify(cs *conn) {
	if t, ok := cs.c.(*tlsside.Conn); ok {
		t.CloseNotify()
	}
}

// tlsIdle drops the cipher cache of a TLS connection its idle sweep found
// quiet (the ping tick).
func (l *loop) tlsIdle(cs *conn) {
	if t, ok := cs.c.(*tlsside.Conn); ok {
		t.Idle()
	}
}
