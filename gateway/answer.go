package gateway

import (
	"github.com/wsgate/wsgate/gateway/accesslog"
	"net/http"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/proxy"
)

// Requests the gateway answers itself on a keep-alive connection (issue 11
// items 2 and 7): a declared body is never read as the next request, and a
// client that pipelines without reading is not served past a cap.

// maxDiscard is the largest request body the demo page reads and drops to
// keep the connection; a larger one, or one not yet all here, or a chunked
// one, gets the page with Connection: close.
const maxDiscard = 64 << 10

// pipelineCap is how much of a client's answers may wait unsent before the
// gateway stops taking its next request: the proxy's SendCap, so that the
// page and the proxy hold a client's backlog to the same bound. Reading
// resumes once the backlog is under half.
const pipelineCap = proxy.SendCap

// appendPage appends the demo page's 200 response (with Connection: close
// when closing).
func appendPage(dst []byte, closing bool) []byte {
	hs := []codec.HeaderField{
		{Name: "Content-Type", Value: "text/html; charset=utf-8"},
		{Name: "Cache-Control", Value: "no-cache"},
	}
	if closing {
		hs = append(hs, codec.HeaderField{Name: "Connection", Value: "close"})
	}
	return codec.AppendResponse(dst, http.StatusOK, hs, demoPage)
}

// servePage answers a GET of the demo page, whose head is buf[:n] (buf is
// every byte buffered). A declared body is part of the request (RFC 9112
// 6.3), not the next one (CL.0): one that is already here whole and small
// (Content-Length or chunked) is dropped and the connection kept; any other
// ends the connection after the page. It reports whether the connection
// reads on.
func (l *loop) servePage(cs *conn, req *codec.Request, n int, buf []byte) bool {
	kind, length, err := codec.RequestBodyOf(req)
	if err != nil {
		l.refuseLogged(cs, req, "", codec.StatusOf(err), accesslog.TermProtocolError, err.Error(), err.Error())
		return false
	}
	closing := req.WantsClose()
	switch kind {
	case codec.BodyNone:
	case codec.BodyLength:
		if length <= maxDiscard && int64(len(buf)-n) >= length {
			n += int(length)
		} else {
			closing = true
		}
	default:
		var sc codec.ChunkedScanner
		m, done, err := sc.Scan(buf[n:min(len(buf), n+maxDiscard)])
		if err == nil && done {
			n += m
		} else {
			closing = true
		}
	}
	page := l.g.page
	if closing {
		l.scratch = appendPage(l.scratch[:0], true)
		page = l.scratch
	}
	_, _ = cs.c.Write(page)
	l.g.metrics.HTTPResponse(http.StatusOK)
	l.logAnswered(cs, req, "", http.StatusOK, accesslog.TermNormal, "", len(page))
	if closing {
		l.linger(cs) // drops whatever else was sent
		return false
	}
	_, _ = cs.c.Discard(n)
	return cs.state == stateHandshake
}

// holdPipeline reports whether cs's next request must wait because the
// answers it has not read pile up past pipelineCap (58,000 pipelined GETs
// of the page from a client that never reads took 118 MB before): reading
// stops, and the timer polls every tick (heldTick) until the backlog is
// under half. The page and proxied requests alike come through here.
func (l *loop) holdPipeline(cs *conn) bool {
	out := cs.c.OutboundBuffered()
	if cs.held {
		if out >= pipelineCap/2 {
			return true
		}
		cs.held = false
		l.setReading(cs, true)
		return false
	}
	if out <= pipelineCap {
		return false
	}
	cs.held = true
	l.setReading(cs, false)
	l.wheel.schedule(cs, l.wheel.now+1)
	return true
}

// heldTick is the timer of a held client: take requests again once its
// backlog drained, or close it when it read nothing for the handshake
// timeout (it cannot be answered: it does not read).
func (l *loop) heldTick(cs *conn) {
	now := l.wheel.now
	if l.holdPipeline(cs) {
		if now-cs.lastSeen >= l.g.handshakeTicks {
			l.g.metrics.Timeouts.WithLabelValues("handshake").Inc()
			_ = l.el.Close(cs.sock())
			return
		}
		l.wheel.schedule(cs, now+1)
		return
	}
	cs.lastSeen = now
	l.wheel.schedule(cs, now+l.g.handshakeTicks)
	l.handshake(cs)
}
