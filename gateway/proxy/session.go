// Package proxy is wsgate's HTTP/WebSocket reverse proxy as a state machine
// without sockets. A Session joins one client connection to one server
// connection at a time: it is driven by events (client bytes, server bytes,
// connected, connect failed, server closed, timer tick, queue grant) and acts
// only through the Side of each connection and the Loop's Env, so the gateway
// adapts its gnet connections to Side and tests drive it with byte strings.
//
// A Session lives on one event loop and is never touched from another
// goroutine: the Env's Dial and Post report back on that loop.
package proxy

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/pool"
	"github.com/wsgate/wsgate/router/backend"
)

// Phase is where a proxied exchange stands.
type Phase uint8

// The phases of a session.
const (
	PhaseQueued        Phase = iota // every server at maxconn: waiting in the pool's queue
	PhaseConnecting                 // dialing the server; the request waits in our buffers
	PhaseRequestBody                // head sent; forwarding the request body
	PhaseAwaitResponse              // request sent; waiting for the response head
	PhaseResponseBody               // relaying the response body
	PhaseIdle                       // exchange done; the server connection is kept for the next request
	PhaseTunnel                     // after 101: bytes both ways until one side closes
)

var phaseNames = [...]string{"queued", "connecting", "request-body", "await-response", "response-body", "idle", "tunnel"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "phase?"
}

// SendCap is the outbound backlog over which the other side of a session
// stops being read; it is read again once the backlog is under half.
const SendCap = 256 << 10

// Side is one connection of a session, as the session sees it. Write may end
// the session before it returns: a failed write closes the connection, and
// the gateway reports that close (End for the client, ServerClosed for the
// server) at once.
type Side interface {
	Peek() []byte          // every byte received and not yet discarded
	Discard(n int)         // drop the first n received bytes (n < 0: all)
	Write(b []byte)        // queue b for sending (copied or sent before returning)
	InboundBuffered() int  // bytes received and not yet discarded
	OutboundBuffered() int // bytes queued and not yet sent
	Pause()                // stop reading (backpressure); issued even when already paused
	Resume()               // read again
	Paused() bool
	Close() // close at once; the session does not hear about this close
}

// Client is the client side, which also owns what happens to the connection
// outside the session: answering it, closing it gracefully, its timer.
type Client interface {
	Side
	Engage(s *Session)                // the connection's bytes now go to s (ClientData)
	Detach(s *Session)                // s is over: the connection no longer belongs to it
	NextRequest()                     // exchange done, s kept: read the next request head
	Refuse(status int, reason string) // answer with an error status, then close gracefully (no-op if closing)
	Linger()                          // close gracefully: send what is queued, then FIN
	GoingAway(reason string)          // WebSocket close 1001, then close gracefully
	Schedule(due uint32)              // call the session's Tick at tick due (replaces the earlier one)
}

// Env is what the sessions of one event loop need from around them.
type Env interface {
	Now() uint32 // the current tick
	// Dial connects to addr in the background. On success the gateway calls
	// s.Connected with the new server Side; on failure s.ConnectFailed (the
	// server's fault: refused, unreachable, timeout) or s.LocalFailure (ours:
	// the connection could not be put on the loop).
	Dial(s *Session, addr string, timeout time.Duration, attempt uint32)
	Post(fn func()) error // run fn on this loop soon (from any goroutine)
	Tunnel()              // a WebSocket tunnel opened (101 relayed)
	TunnelBytes(n int)    // n bytes relayed in a tunnel
	Timeout(kind string)  // a timeout fired: queue, client, server, tunnel
	Warn(msg string, args ...any)
}

// Loop is what the sessions of one event loop share: settings, the Env and
// buffers. It must only be used from that loop.
type Loop struct {
	Env            Env
	Tick           time.Duration // length of one tick of Env.Now
	ClientTimeout  time.Duration // a request body must keep coming within it
	MaxHeaderBytes int           // largest response head accepted
	Heads          *pool.Pool    // buffers for request heads held until sent
	Grip           *GripConfig   // GRIP sessions (grip.go); nil: off

	Log   Logger           // access log; nil: off (no record is filled)
	IDs   *accesslog.IDs   // request IDs; nil: none
	Clock func() time.Time // the records' clock; nil: time.Now

	scratch []byte           // response heads, written before the next use
	rec     accesslog.Record // a request refused before any session took it
	sink    accesslog.Record // Session.rec of every session while the log is off: written, never logged
}

func (lp *Loop) ticks(d time.Duration) uint32 { return uint32((d + lp.Tick - 1) / lp.Tick) }

// Session joins a client connection to one server connection. Both sides run
// on the same event loop (the server conn is enrolled on the client's loop),
// so a session never crosses threads.
type Session struct {
	lp       *Loop
	client   Client
	server   Side // nil while connecting
	pool     *backend.Pool
	target   *backend.Server
	phase    Phase
	since    uint32       // tick the current phase started or last moved
	lastSeen uint32       // tunnel: tick of the last bytes either way
	head     *pool.Buffer // rewritten request head, held until connected
	waiter   *backend.Waiter
	down     codec.FrameTracker // frame boundaries of server→client tunnel bytes
	grip     *gripState         // a GRIP-managed tunnel (grip.go); nil otherwise
	reqBody  bodyState
	respBody bodyState
	attempt  uint32 // dial attempts: a late result of an earlier one is ignored

	upgrade    bool // a WebSocket upgrade request
	headReq    bool // HEAD: the response has no body
	setCookie  bool
	closeAfter bool // the client said Connection: close (or HTTP/1.0)
	released   bool // target.Release done
	retried    bool // one redispatch after a failed connect
	relayed    bool // some response bytes reached the client
	serverKeep bool // the server keeps its connection open after this response
	reused     bool // this request went on a kept-alive server connection
	idempotent bool // safe to send twice (RFC 9110 9.2.2)
	ended      bool
	pending    bool // rec is the current request's and not logged yet

	// rec is the current request's access-log line (accesslog.go): a record
	// of the session's own while the log is on, else the loop's sink, so the
	// machine writes it unconditionally and an idle tunnel does not carry
	// 376 unused bytes.
	rec *accesslog.Record
}

// Phase is where the session stands.
func (s *Session) Phase() Phase { return s.phase }

// Ended reports whether the session is over (it then ignores every event).
func (s *Session) Ended() bool { return s.ended }

// Begin starts one request of client c on pool p: req is its complete head,
// the first n bytes of c's input; ip is the client's address ("" unknown).
// prev is the session c is in (nil if none): its server connection is reused
// if the request goes to the same server, else prev ends. Refusals are
// answered through c.Refuse.
func (lp *Loop) Begin(prev *Session, c Client, req *codec.Request, n int, p *backend.Pool, ip string) {
	var o Origin
	if a, err := netip.ParseAddr(ip); err == nil {
		o.Client = netip.AddrPortFrom(a, 0)
	}
	lp.BeginFrom(&o, prev, c, req, n, p, ip)
}

// BeginFrom is Begin with what the gateway knows of the request before it
// (its start, the client's address, the route), for the access log.
func (lp *Loop) BeginFrom(o *Origin, prev *Session, c Client, req *codec.Request, n int, p *backend.Pool, ip string) {
	rec := &lp.rec
	lp.startRecord(rec, o, req, n, p)
	body, length, err := codec.RequestBodyOf(req)
	if err != nil {
		lp.refused(rec, codec.StatusOf(err), accesslog.TermProtocolError, err.Error())
		c.Refuse(codec.StatusOf(err), err.Error())
		return
	}
	var cookie string
	if p.Opts.Cookie != "" {
		cookie = codec.CookieValue(req, p.Opts.Cookie)
	}
	breq := &backend.Request{
		SourceIP: ip, URI: req.URI, Path: req.Path, Cookie: cookie,
		Header: req.Header, Query: queryLookup(req.RawQuery),
	}
	target, setCookie, err := p.Pick(breq)
	queue := errors.Is(err, backend.ErrFull) && p.Opts.Queue > 0
	if err != nil && !queue {
		term := accesslog.TermNoServer
		if errors.Is(err, backend.ErrFull) {
			term = accesslog.TermRefused
		}
		lp.refused(rec, http.StatusServiceUnavailable, term, err.Error())
		c.Refuse(http.StatusServiceUnavailable, "pool "+p.Name+": "+err.Error())
		return
	}
	s := prev
	reuse := err == nil && s != nil && !s.ended && s.phase == PhaseIdle && s.server != nil && s.target == target
	if !reuse {
		if prev != nil {
			prev.End()
		}
		if err == nil {
			acquired, q := p.Admit(target, setCookie)
			if !acquired && !q {
				lp.refused(rec, http.StatusServiceUnavailable, accesslog.TermRefused, "server maxconn")
				c.Refuse(http.StatusServiceUnavailable, "server "+p.Name+"/"+target.Name+" is full (maxconn)")
				return
			}
			queue = q
		}
		s = &Session{lp: lp, client: c, pool: p, target: target, released: queue, rec: &lp.sink}
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
	s.head = lp.Heads.Get()
	if lp.gripOffer(s) {
		s.head.B = codec.AppendGripForwardedHead(s.head.B, req, p.Opts.Cookie, ip)
	} else {
		s.head.B = codec.AppendForwardedHead(s.head.B, req, p.Opts.Cookie, ip)
	}
	c.Discard(n)
	c.Engage(s)
	s.reused = reuse
	if s.pending = lp.Log != nil; s.pending {
		if s.rec == &lp.sink {
			s.rec = new(accesslog.Record)
		}
		*s.rec = *rec
	}
	if reuse {
		s.granted(target.Name)
		if s.pending {
			s.rec.Connected(lp.clock())
		}
		s.sendHead()
		return
	}
	s.since = lp.Env.Now()
	c.Schedule(s.since + lp.ticks(p.Opts.ConnectTimeout) + 1)
	if queue {
		s.enqueue(breq)
		return
	}
	s.phase = PhaseConnecting
	s.granted(target.Name)
	s.dial()
}

// End detaches the client from the session and closes the server side. The
// gateway calls it when the client closes or moves on; it is idempotent.
func (s *Session) End() {
	if s.ended {
		return
	}
	if s.pending && s.phase == PhaseTunnel {
		s.rec.ClosedBy = accesslog.SideClient
	}
	s.logEnd(accesslog.TermClientClosed) // unless the session logged why it ended
	s.ended = true
	s.client.Detach(s)
	if s.waiter != nil {
		s.pool.Cancel(s.waiter) // if already granted, Granted releases the slot
		s.waiter = nil
	}
	if s.head != nil {
		s.lp.Heads.Put(s.head)
		s.head = nil
	}
	s.dropServer()
}

// Drain is the graceful stop of the session (SIGTERM): a tunnel gets close
// 1001 if that does not cut a server frame in half, an idle keep-alive or a
// tunnel closes, and a request in flight finishes with Connection: close.
func (s *Session) Drain() {
	if s.ended {
		return
	}
	if s.phase == PhaseTunnel && s.down.AtBoundary() {
		s.rec.CloseCode, s.rec.ClosedBy = 1001, accesslog.SideGateway
		s.logEnd(accesslog.TermDrain)
		s.End()
		s.client.GoingAway("server shutting down")
		return
	}
	if s.phase == PhaseTunnel || s.phase == PhaseIdle {
		if s.phase == PhaseTunnel {
			s.rec.ClosedBy = accesslog.SideGateway
		}
		s.logEnd(accesslog.TermDrain)
		s.End()
		s.client.Linger()
	}
	s.closeAfter = true // a request in flight finishes, and its line says how
}

// fail answers the client with an error status if nothing was relayed yet,
// and ends the session.
func (s *Session) fail(status int, reason string) {
	relayed := s.relayed
	if !relayed {
		s.rec.Status = status
	}
	s.note(termOf(status), reason)
	s.logEnd(accesslog.TermUnknown)
	s.End()
	if relayed {
		s.client.Linger()
		return
	}
	s.client.Refuse(status, reason)
}

// dropServer closes the server side only (keep-alive ended by the server);
// an idle session is then over.
func (s *Session) dropServer() {
	if s.server != nil {
		srv := s.server
		s.server = nil
		srv.Close()
	}
	s.releaseTarget()
	if s.phase == PhaseIdle {
		s.End()
	}
}

func (s *Session) releaseTarget() {
	if !s.released {
		s.released = true
		s.target.Release()
	}
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
