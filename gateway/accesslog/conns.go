package accesslog

// The lines of connections the gateway serves itself, as opposed to the
// proxied requests and tunnels the session machine logs (gateway/proxy):
// connections refused at accept, requests the gateway answers (refusals,
// the demo page, wsgate.js, 408), and topic WebSocket sessions, logged at
// their close. The gateway calls Conns at those events and gives it the
// connection as a Peer; what the lines hold and how each field is filled is
// decided here.
//
// Memory: an idle WebSocket connection must stay small, so a connection
// holds no Record. It holds one pointer to a Conn (128 bytes: a Go size
// class), allocated only while the access log is on; the Record is built on
// the stack when the line is due.

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wsgate/wsgate/codec"
)

// Sink receives finished records: a *Logger, or a test's collector. It
// must copy the record.
type Sink interface {
	Log(rec *Record)
}

// Peer is the client connection a line is about.
type Peer interface {
	RemoteAddr() net.Addr
	TLS() bool // it came on the TLS listener
}

// Conns builds the lines of the gateway's own connections. It is shared by
// every event loop: it holds nothing that changes.
type Conns struct {
	sink  Sink
	ids   *IDs      // request IDs; nil when disabled
	start time.Time // the origin of Conn's times
}

// NewConns logs to sink, with request IDs from ids (nil: none).
func NewConns(sink Sink, ids *IDs) *Conns {
	return &Conns{sink: sink, ids: ids, start: time.Now()}
}

// Conn is what a client connection keeps for its lines.
type Conn struct {
	// start is the accept, then the first byte of each later request, as an
	// offset from Conns.start (monotonic, 8 bytes where a time.Time is 24);
	// <0: none yet.
	start time.Duration
	tq    time.Duration // topic session: time to its request head

	// A topic session's request, copied out of the head (one allocation) so
	// the head is not kept alive for the session's life.
	route, target, xff, requestID string

	msgsIn, msgsOut, bytesIn, bytesOut int64 // topic session
	ws                                 bool  // a topic session is open: log it at its close
}

// Received counts msgs messages and n bytes from a topic session's client.
// A nil Conn (the log is off) counts nothing.
func (a *Conn) Received(msgs, n int) {
	if a != nil {
		a.msgsIn += int64(msgs)
		a.bytesIn += int64(n)
	}
}

// Sent counts msgs messages and n bytes written to the client.
func (a *Conn) Sent(msgs, n int) {
	if a != nil {
		a.msgsOut += int64(msgs)
		a.bytesOut += int64(n)
	}
}

// WebSocket reports whether a topic session is open, whose line CloseWS
// writes.
func (a *Conn) WebSocket() bool { return a != nil && a.ws }

// clock is the time of an event, as an offset from cl.start.
func (cl *Conns) clock() time.Duration { return time.Since(cl.start) }

// at turns a clock offset into a time.
func (cl *Conns) at(d time.Duration) time.Time { return cl.start.Add(d) }

// Open starts a connection's state at its accept.
func (cl *Conns) Open() *Conn { return &Conn{start: cl.clock()} }

// Refused logs a connection refused at accept, from addr: by a limit (detail
// names it; status 503 answered) or by a drain (status 0: no answer). tls:
// it came on the TLS listener (refused before its handshake).
func (cl *Conns) Refused(addr net.Addr, tls bool, status int, term Termination, detail string) {
	var rec Record
	rec.Reset(time.Now())
	rec.Kind, rec.Client, rec.Listener = KindRefused, AddrPort(addr), listener(tls)
	rec.Status, rec.Term, rec.Detail = status, term, detail
	rec.End(rec.Time)
	cl.sink.Log(&rec)
}

// RequestStart marks the first byte of a request, if not marked yet.
func (cl *Conns) RequestStart(a *Conn) {
	if a != nil && a.start < 0 {
		a.start = cl.clock()
	}
}

// TakeStart hands the request's start over to the session machine, which
// logs the request (zero: not marked, the session stamps now); the next
// request starts afresh.
func (cl *Conns) TakeStart(a *Conn) time.Time {
	if a == nil {
		return time.Time{}
	}
	var t time.Time
	if a.start >= 0 {
		t = cl.at(a.start)
	}
	a.start = -1
	return t
}

// Answered logs a request the gateway answered itself with status (req nil:
// its head could not be parsed; route: the route prefix that matched, if
// any; out: the bytes of its answer), and starts the next request afresh.
func (cl *Conns) Answered(a *Conn, p Peer, req *codec.Request, route string, status int, term Termination, detail string, out int) {
	if a == nil {
		return
	}
	var rec Record
	cl.startRecord(&rec, a, p, req, route)
	rec.Status, rec.Term, rec.Detail = status, term, detail
	rec.BytesOut = int64(out)
	rec.End(time.Now())
	a.start = -1
	cl.sink.Log(&rec)
}

// startRecord fills rec from the connection and the request head.
func (cl *Conns) startRecord(rec *Record, a *Conn, p Peer, req *codec.Request, route string) {
	start := a.start
	if start < 0 {
		start = cl.clock()
	}
	rec.Reset(cl.at(start))
	rec.Kind, rec.Client, rec.Listener, rec.Route = KindHTTP, AddrPort(p.RemoteAddr()), Listener(p), route
	if req == nil {
		return
	}
	rec.HeadParsed(time.Now())
	if req.IsUpgrade() {
		rec.Kind = KindWebSocket
	}
	rec.Method, rec.Target, rec.XFF = req.Method, req.Target, req.Header("X-Forwarded-For")
	rec.Proto = "HTTP/1.1"
	if req.ProtoMinor == 0 {
		rec.Proto = "HTTP/1.0"
	}
	rec.RequestID = cl.ids.RequestID(rec.Client.Addr(), req.Header(cl.ids.Header()))
}

// OpenWS keeps what a topic session's line needs at its close: n is the
// size of its request head, out the size of the 101.
func (cl *Conns) OpenWS(a *Conn, p Peer, req *codec.Request, route string, n, out int) {
	if a == nil {
		return
	}
	start := a.start
	if start < 0 {
		start = cl.clock()
	}
	a.start, a.tq = start, max(cl.clock()-start, 0)
	xff := req.Header("X-Forwarded-For")
	id := cl.ids.RequestID(AddrPort(p.RemoteAddr()).Addr(), req.Header(cl.ids.Header()))
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

// CloseWS logs a topic session at its end, if one is open: topic is its
// topic ("" for a wsgate.v1 session), code the close code sent or echoed
// (0: none), by who closed it.
func (cl *Conns) CloseWS(a *Conn, p Peer, topic string, term Termination, by Side, code int, detail string) {
	if !a.WebSocket() {
		return
	}
	a.ws = false
	var rec Record
	rec.Reset(cl.at(a.start))
	rec.Kind, rec.Client, rec.Listener = KindWebSocket, AddrPort(p.RemoteAddr()), Listener(p)
	rec.Route, rec.Method, rec.Target, rec.Proto, rec.XFF, rec.RequestID = a.route, http.MethodGet, a.target, "HTTP/1.1", a.xff, a.requestID
	rec.Topic = topic
	rec.Tq, rec.Status = a.tq, http.StatusSwitchingProtocols
	rec.BytesIn, rec.BytesOut, rec.MsgsIn, rec.MsgsOut = a.bytesIn, a.bytesOut, a.msgsIn, a.msgsOut
	rec.CloseCode, rec.ClosedBy, rec.Term, rec.Detail = code, by, term, detail
	rec.End(time.Now())
	a.target, a.xff, a.requestID = "", "", "" // the next request on this conn, if any, starts afresh
	a.start = -1
	cl.sink.Log(&rec)
}

// RefusalTerm is the termination of a request the gateway refused with status.
func RefusalTerm(status int) Termination {
	switch status {
	case http.StatusServiceUnavailable:
		return TermNoServer
	case http.StatusBadRequest, http.StatusUpgradeRequired, http.StatusRequestHeaderFieldsTooLarge, http.StatusRequestEntityTooLarge:
		return TermProtocolError
	}
	return TermDenied // 401/403 access control, 403 Origin, 404 no route, 405, 429
}

// Listener names the listener p came on: "tls" or "plain".
func Listener(p Peer) string { return listener(p.TLS()) }

func listener(tls bool) string {
	if tls {
		return "tls"
	}
	return "plain"
}

// AddrPort is a connection address as a line shows it: an IPv4-mapped IPv6
// address as IPv4; the zero AddrPort for an address without one.
func AddrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(interface{ AddrPort() netip.AddrPort }); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
