package proxy

import (
	"errors"
	"net/http"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/router/backend"
)

// enqueue waits for a free server slot (maxconn) in the pool's bounded
// queue, for at most connect-timeout.
func (s *Session) enqueue(r *backend.Request) {
	s.phase = PhaseQueued
	env := s.lp.Env
	w, ok := s.pool.Enqueue(r, func(srv *backend.Server) {
		// Runs wherever the slot was freed: hand over to this session's loop.
		if err := env.Post(func() { s.Granted(srv) }); err != nil {
			srv.Release()
		}
	})
	if !ok {
		s.note(accesslog.TermRefused, "queue full")
		s.fail(http.StatusServiceUnavailable, "every server of pool "+s.pool.Name+" is full and the queue too")
		return
	}
	s.waiter = w
}

// Granted starts a queued session on the server the pool acquired for it
// (the event of a queue grant, on the session's loop).
func (s *Session) Granted(srv *backend.Server) {
	if s.ended || s.phase != PhaseQueued {
		srv.Release() // the client left or timed out meanwhile
		return
	}
	s.waiter = nil
	s.granted(srv.Name)
	s.target, s.released = srv, false
	s.setCookie = s.pool.Opts.Cookie != ""
	s.restartConnect()
}

// restartConnect dials the session's target afresh with a new connect timeout.
func (s *Session) restartConnect() {
	s.phase, s.since = PhaseConnecting, s.lp.Env.Now()
	s.client.Schedule(s.since + s.lp.ticks(s.pool.Opts.ConnectTimeout) + 1)
	s.dial()
}

func (s *Session) dial() {
	s.attempt++
	s.lp.Env.Dial(s, s.target.Addr, s.pool.Opts.ConnectTimeout, s.attempt)
}

// Connected is the event of dial attempt's connection srv being up. False
// means the session no longer wants it (the client left, timed out, or moved
// on to another server meanwhile): the gateway closes it.
func (s *Session) Connected(srv Side, attempt uint32) bool {
	if s.ended || s.phase != PhaseConnecting || attempt != s.attempt {
		return false
	}
	s.server = srv
	if s.pending {
		s.rec.Connected(s.lp.clock())
	}
	s.target.ConnectOK()
	s.sendHead()
	return true
}

// ConnectFailed is the event of dial attempt failing on the server's side
// (refused, unreachable, timed out): the server gets a passive failure and the
// session goes to another server, once, or answers 503.
func (s *Session) ConnectFailed(attempt uint32, err error) {
	if s.ended || s.phase != PhaseConnecting || attempt != s.attempt {
		return // a late result of an attempt the session has left behind
	}
	s.target.ConnectFailed(err)
	s.lp.Env.Warn("connect to server failed", "pool", s.pool.Name, "server", s.target.Name, "addr", s.target.Addr, "err", err)
	s.releaseTarget()
	s.rec.Retries++
	// Redispatch once, like HAProxy's "option redispatch" with one retry, to
	// a server other than the one that failed.
	if !s.retried {
		if t := s.pool.Redispatch(s.target); t != nil {
			s.target, s.retried, s.released, s.setCookie = t, true, false, s.pool.Opts.Cookie != ""
			s.rec.Redispatches++
			s.rec.Server = t.Name
			s.restartConnect()
			return
		}
	}
	if errors.Is(err, errConnectTimeout) {
		s.note(accesslog.TermTimeoutConnect, "")
	} else {
		s.note(accesslog.TermServerError, err.Error())
	}
	s.fail(http.StatusServiceUnavailable, "could not connect to a server of pool "+s.pool.Name)
}

// LocalFailure is the event of dial attempt connecting but the gateway
// failing to take the connection on (the engine stopping, no descriptor
// left): the server is not to blame, so it is not marked, and the client gets
// 503 at once.
func (s *Session) LocalFailure(attempt uint32, err error) {
	if s.ended || s.phase != PhaseConnecting || attempt != s.attempt {
		return
	}
	s.lp.Env.Warn("could not take on a server connection", "pool", s.pool.Name, "server", s.target.Name, "err", err)
	s.note(accesslog.TermProxyError, err.Error())
	s.fail(http.StatusServiceUnavailable, "gateway could not open a connection to pool "+s.pool.Name)
}

// ServerClosed is the event of the server side srv closing (by the server,
// or a failed write).
func (s *Session) ServerClosed(srv Side) {
	if srv == nil || s.server != srv {
		return
	}
	s.server = nil
	if s.head != nil && s.retryable() && (s.phase == PhaseRequestBody || s.phase == PhaseAwaitResponse) {
		// The kept-alive connection died under a request it never answered:
		// send it again, once, on a fresh connection to the same server.
		s.reused = false
		s.rec.Retries++
		s.restartConnect()
		return
	}
	s.releaseTarget()
	switch s.phase {
	case PhaseConnecting, PhaseRequestBody, PhaseAwaitResponse:
		s.lp.Env.Warn("server closed before responding", "pool", s.pool.Name, "server", s.target.Name)
		s.note(accesslog.TermServerClosed, "server closed before responding")
		s.fail(http.StatusBadGateway, "server closed the connection without a response")
	case PhaseResponseBody:
		if s.respBody.kind == codec.BodyUntilClose {
			s.respBody.kind = codec.BodyNone
			s.logEnd(accesslog.TermNormal)
		}
		s.logEnd(accesslog.TermServerClosed) // truncated
		s.End()
		s.client.Linger() // the response is complete (until-close) or truncated: the client must see the end
	case PhaseTunnel:
		// Tell the client why, if that does not cut a frame of the server's in half.
		s.rec.ClosedBy = accesslog.SideServer
		if s.down.AtBoundary() {
			s.rec.CloseCode = 1001
		}
		s.logEnd(accesslog.TermServerClosed)
		s.End()
		if s.down.AtBoundary() {
			s.client.GoingAway("backend server went away")
		} else {
			s.client.Linger()
		}
	case PhaseIdle:
		s.End()
	}
}

// Tick is the event of the session's timer (Client.Schedule) coming due:
// timeouts, and resuming a side paused for backpressure.
func (s *Session) Tick() {
	if s.ended {
		return
	}
	s.timeouts()
	if s.ended {
		return
	}
	// gnet only re-arms reading on the side that flushed, so the timer ticks
	// every tick while either side is paused.
	s.resume(s.client, true)
	if s.server != nil {
		s.resume(s.server, false)
	}
	if s.client.Paused() || (s.server != nil && s.server.Paused()) {
		s.client.Schedule(s.lp.Env.Now() + 1)
	}
}

func (s *Session) timeouts() {
	now := s.lp.Env.Now()
	o := s.pool.Opts
	var limit time.Duration
	switch s.phase {
	case PhaseQueued, PhaseConnecting:
		limit = o.ConnectTimeout
	case PhaseRequestBody:
		limit = s.lp.ClientTimeout
	case PhaseAwaitResponse, PhaseResponseBody:
		limit = o.ServerTimeout
	case PhaseTunnel:
		if due := s.lastSeen + s.lp.ticks(o.TunnelTimeout); int32(now-due) < 0 {
			s.client.Schedule(s.gripDue(now, due)) // GRIP: the keep-alive may come first
			return
		}
		s.lp.Env.Timeout("tunnel")
		s.rec.ClosedBy = accesslog.SideGateway
		s.logEnd(accesslog.TermTimeoutTunnel)
		s.End()
		s.client.Linger()
		return
	default:
		return
	}
	if due := s.since + s.lp.ticks(limit); int32(now-due) < 0 {
		s.client.Schedule(due)
		return
	}
	switch s.phase {
	case PhaseQueued:
		s.lp.Env.Timeout("queue")
		s.note(accesslog.TermTimeoutQueue, "")
		s.fail(http.StatusServiceUnavailable, "no server slot freed up in time (maxconn)")
	case PhaseConnecting:
		s.ConnectFailed(s.attempt, errConnectTimeout)
	case PhaseRequestBody:
		s.lp.Env.Timeout("client")
		s.fail(http.StatusRequestTimeout, "request body not received in time")
	default:
		s.lp.Env.Timeout("server")
		s.fail(http.StatusGatewayTimeout, "server did not answer in time")
	}
}
