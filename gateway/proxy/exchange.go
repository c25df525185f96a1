package proxy

import (
	"net/http"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
)

type bodyState struct {
	kind      codec.BodyKind
	remaining int64
	chunked   codec.ChunkedScanner
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

// sendHead writes the held request head and starts the body.
func (s *Session) sendHead() {
	// The phase moves first: if the write fails, the server side closes
	// inside Write and ServerClosed must see a request in flight (502).
	s.phase, s.since = PhaseRequestBody, s.lp.Env.Now()
	head := s.head
	if !s.retryable() {
		s.head = nil
		defer s.lp.Heads.Put(head)
	}
	srv := s.server
	srv.Write(head.B)
	if s.ended || s.server != srv {
		return
	}
	s.pumpRequest()
}

// retryable: a bodyless request sent on a kept-alive server connection may
// meet the server closing that idle connection at the same moment (Node's
// keepAliveTimeout is 5 s). Its head is kept until the response head comes,
// so it can be sent again once on a fresh connection, as HAProxy retries.
func (s *Session) retryable() bool {
	// Only idempotent requests: the server may have acted on it before the
	// connection died (a proxy must not replay a POST, RFC 9110 9.2.2).
	return s.reused && s.idempotent && s.reqBody.kind == codec.BodyNone && !s.relayed
}

// pumpRequest forwards what has arrived of the request body.
func (s *Session) pumpRequest() {
	if s.phase != PhaseRequestBody {
		return
	}
	ok, err := s.pump(s.client, s.server, &s.reqBody, false)
	if err != nil {
		s.fail(http.StatusBadRequest, "bad request body: "+err.Error())
		return
	}
	if ok && s.reqBody.kind == codec.BodyNone {
		s.phase, s.since = PhaseAwaitResponse, s.lp.Env.Now()
		s.client.Schedule(s.since + s.lp.ticks(s.pool.Opts.ServerTimeout) + 1)
	}
}

// pump relays what has arrived of a body from one side of the session to the
// other. ok is false when it stopped early: the session ended (a write failed)
// or the receiving side is backlogged and reading from this one paused.
func (s *Session) pump(from, to Side, b *bodyState, fromServer bool) (ok bool, err error) {
	for b.kind != codec.BodyNone {
		buf := from.Peek()
		if len(buf) == 0 {
			return true, nil
		}
		n, done, err := b.take(buf)
		if err != nil {
			return false, err
		}
		to.Write(buf[:n])
		if s.ended || s.server == nil {
			return false, nil // the write failed and ended the session
		}
		from.Discard(n)
		s.count(fromServer, n)
		s.since = s.lp.Env.Now()
		if done {
			// The body is whole: the exchange moves on even if the other
			// side is backlogged (it flushes; nothing more is read).
			b.kind = codec.BodyNone
			break
		}
		if to.OutboundBuffered() > SendCap {
			s.pause(from)
			return false, nil
		}
	}
	return true, nil
}

// count adds n bytes read from one side to the server's counters.
func (s *Session) count(fromServer bool, n int) {
	if fromServer {
		s.target.AddBytesOut(n)
		s.rec.BytesOut += int64(n)
	} else {
		s.target.AddBytesIn(n)
		s.rec.BytesIn += int64(n)
	}
}

// ClientData is the event of bytes from the client while it is engaged.
func (s *Session) ClientData() {
	if s.ended {
		return
	}
	switch s.phase {
	case PhaseRequestBody:
		s.pumpRequest()
	case PhaseTunnel:
		s.relay(s.client, s.server, false)
	default:
		// The next request (pipelined) or early bytes wait in the client's
		// buffer until this exchange is done; stop reading if they pile up.
		if s.client.InboundBuffered() > SendCap {
			s.pause(s.client)
		}
	}
}

// ServerData is the event of bytes from server side srv.
func (s *Session) ServerData(srv Side) {
	if s.ended || s.server != srv {
		srv.Discard(-1)
		return
	}
	for {
		switch s.phase {
		case PhaseRequestBody, PhaseAwaitResponse:
			if !s.responseHead() {
				return
			}
		case PhaseResponseBody:
			s.pumpResponse()
			return
		case PhaseTunnel:
			s.relay(srv, s.client, true)
			return
		default:
			// A server speaking out of turn on an idle keep-alive connection.
			srv.Discard(-1)
			s.dropServer()
			return
		}
	}
}

// responseHead parses and relays the response head; false when it needs more bytes or failed.
func (s *Session) responseHead() bool {
	lp, srv, c := s.lp, s.server, s.client
	buf := srv.Peek()
	if len(buf) == 0 {
		return false
	}
	resp, n, err := codec.ParseResponseHead(buf, lp.MaxHeaderBytes)
	if err != nil {
		lp.Env.Warn("bad response from server", "pool", s.pool.Name, "server", s.target.Name, "err", err)
		s.fail(http.StatusBadGateway, "invalid response from server")
		return false
	}
	if n == 0 {
		return false
	}
	s.since = lp.Env.Now()
	if resp.Status == http.StatusSwitchingProtocols && !s.upgrade {
		// RFC 9110 7.8: a server must not switch to a protocol the client
		// did not ask for; what follows would be read as HTTP by one side
		// and as something else by the other.
		lp.Env.Warn("server switched protocols unasked", "pool", s.pool.Name, "server", s.target.Name)
		s.fail(http.StatusBadGateway, "invalid response from server: 101 without an upgrade")
		return false
	}
	if resp.Status == http.StatusSwitchingProtocols && !resp.SwitchesToWebSocket() {
		// The client asked for a WebSocket; a switch to anything else (h2c
		// above all) would carry requests to any path through a tunnel the
		// routing and auth checks never see.
		lp.Env.Warn("server switched to a protocol other than websocket", "pool", s.pool.Name, "server", s.target.Name,
			"upgrade", resp.Header("Upgrade"))
		s.fail(http.StatusBadGateway, "invalid response from server: 101 not to websocket")
		return false
	}
	if resp.Status >= 100 && resp.Status < 200 && resp.Status != http.StatusSwitchingProtocols {
		// 100 Continue and friends pass through, hop-by-hop headers dropped
		// like on any response.
		lp.scratch = codec.AppendInterimResponseHead(lp.scratch[:0], resp)
		c.Write(lp.scratch)
		if s.ended || s.server != srv {
			return false // the write failed and ended the session
		}
		s.rec.BytesOut += int64(n)
		srv.Discard(n)
		return true
	}
	tunnel := s.upgrade && resp.Status == http.StatusSwitchingProtocols
	kind, length, err := codec.ResponseBody(s.headReq, resp)
	if err != nil {
		// Conflicting or malformed Content-Length, chunked twice: RFC 9112
		// 6.3(5) wants a 502 and the server connection closed.
		lp.Env.Warn("bad response framing from server", "pool", s.pool.Name, "server", s.target.Name, "err", err)
		s.fail(http.StatusBadGateway, "invalid response from server")
		return false
	}
	if tunnel {
		kind = codec.BodyNone
	}
	// A response that comes before the whole request body was sent leaves
	// the rest of the body unforwarded: neither connection can be reused.
	early := s.phase == PhaseRequestBody && s.reqBody.kind != codec.BodyNone
	closeClient := s.closeAfter || kind == codec.BodyUntilClose || early
	var cookie string
	if s.setCookie {
		cookie = s.pool.Stick(s.target)
	}
	resp = s.gripResponse(resp, tunnel)
	lp.scratch = codec.AppendClientResponseHead(lp.scratch[:0], resp, tunnel, closeClient, cookie)
	if s.pending {
		s.rec.ResponseHead(lp.clock())
		s.rec.Status = resp.Status
		s.rec.BytesOut += int64(len(lp.scratch))
	}
	c.Write(lp.scratch)
	if s.ended || s.server != srv {
		return false // the write failed and ended the session
	}
	srv.Discard(n)
	s.relayed = true
	if s.head != nil {
		lp.Heads.Put(s.head) // no retry once the server answered
		s.head = nil
	}
	s.closeAfter = closeClient
	s.reqBody.kind = codec.BodyNone // a response ends what is left of the request, as HAProxy does
	if tunnel {
		if s.pending {
			detach(s.rec) // held for hours: not pinning the whole request head
		}
		s.phase = PhaseTunnel
		s.lastSeen = lp.Env.Now()
		c.Schedule(s.lastSeen + lp.ticks(s.pool.Opts.TunnelTimeout) + 1)
		lp.Env.Tunnel()
		s.relay(srv, c, true)
		if !s.ended && s.server != nil {
			s.relay(c, s.server, false)
		}
		return false
	}
	s.respBody = bodyState{kind: kind, remaining: length}
	s.phase = PhaseResponseBody
	// Both framing headers (Transfer-Encoding won, Content-Length was
	// dropped): a sign of response splitting, so the server connection is
	// not used again.
	bothFraming := kind == codec.BodyChunked && resp.Header("Content-Length") != ""
	s.serverKeep = resp.ProtoMinor > 0 && !codec.FieldsHaveToken(resp.Headers, "Connection", "close") && !early && !bothFraming
	return true
}

// pumpResponse relays what has arrived of the response body.
func (s *Session) pumpResponse() {
	ok, err := s.pump(s.server, s.client, &s.respBody, true)
	if err != nil {
		s.lp.Env.Warn("bad response body from server", "pool", s.pool.Name, "server", s.target.Name, "err", err)
		s.note(accesslog.TermServerError, "bad response body")
		s.logEnd(accesslog.TermServerError)
		s.dropServer()
		return
	}
	if ok && s.respBody.kind == codec.BodyNone {
		s.exchangeDone()
	}
}

// exchangeDone ends one request/response: keep both connections for the next
// request, or close.
func (s *Session) exchangeDone() {
	s.logEnd(accesslog.TermNormal)
	if s.serverKeep && s.server != nil && s.server.InboundBuffered() > 0 {
		// Bytes past the end of the response (a body on a HEAD, 204 or
		// 304, a body longer than its Content-Length) would be read as the
		// answer to the next request, someone else's perhaps: response
		// desync. The connection is not reused, as HAProxy does.
		s.lp.Env.Warn("server sent bytes past its response", "pool", s.pool.Name, "server", s.target.Name)
		s.serverKeep = false
	}
	if !s.serverKeep {
		s.dropServer()
		if s.ended {
			return
		}
	}
	if s.closeAfter {
		s.End()
		s.client.Linger()
		return
	}
	if s.server != nil {
		s.phase = PhaseIdle
		s.server.Resume()
	}
	s.client.Resume()
	s.client.NextRequest() // a pipelined request may be waiting
}

// relay moves bytes from one side of a tunnel to the other.
func (s *Session) relay(from, to Side, fromServer bool) {
	if s.grip != nil {
		s.gripRelay(from, fromServer)
		return
	}
	buf := from.Peek()
	if len(buf) == 0 {
		return
	}
	n := len(buf)
	if fromServer {
		s.down.Track(buf)
	}
	to.Write(buf)
	if s.ended || s.server == nil {
		return // the write failed and closing one side ended the session
	}
	from.Discard(n)
	s.lastSeen = s.lp.Env.Now()
	s.lp.Env.TunnelBytes(n)
	s.count(fromServer, n)
	if to.OutboundBuffered() > SendCap {
		s.pause(from)
	}
}

// pause stops reading one side of a session; the client's timer then ticks
// every tick to resume it once the other side has drained.
func (s *Session) pause(side Side) {
	side.Pause()
	s.client.Schedule(s.lp.Env.Now() + 1)
}

// resume reads a side paused because its peer was backlogged again once the
// peer's outbound drained below half.
func (s *Session) resume(side Side, isClient bool) {
	if !side.Paused() {
		return
	}
	other := s.server
	if !isClient {
		other = s.client
	}
	if isClient && s.phase != PhaseRequestBody && s.phase != PhaseTunnel {
		return // a client waits (for a server, or for the exchange to end): exchangeDone resumes it
	}
	if other == nil || other.OutboundBuffered() < SendCap/2 {
		side.Resume()
	}
}
