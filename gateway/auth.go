package gateway

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/access"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/router"
)

// The gateway's side of access control (package access decides): asking at
// the handshake and applying the decision to the connection, resuming a
// handshake when its auth subrequest answers, and the 1008 closes of an
// open session (publish denied, token expired) on the loop's wheel.

// The conn's access-control fields hold these (conn.go): a user count of
// -max-conns-per-user, an auth=request subrequest.
type (
	userConns   = access.User
	authPending = access.Subrequest
)

// authorize applies the route's access control to a request head before it
// is served. It returns false when it has refused the request or its auth
// subrequest is out (the handshake resumes with authResume); on true, cs
// carries what the session may do (publish, until when, as whom).
func (l *loop) authorize(cs *conn, req *codec.Request, d *router.Decision) bool {
	remote := cs.c.RemoteAddr()
	dec := l.g.auth.Decide(d, &access.Request{Head: req, Remote: remote, IP: clientIP(remote),
		User: cs.user, Sub: cs.authWait, Conn: cs})
	cs.noPub, cs.authWait = dec.NoPub, dec.Sub
	switch {
	case dec.Verdict == access.Wait:
		l.setReading(cs, false) // the head stays in the inbound buffer meanwhile
		return false
	case dec.Verdict == access.Refuse && dec.Challenge == "":
		l.refuse(cs, dec.Status, dec.Reason)
		return false
	case dec.Verdict == access.Refuse:
		l.scratch = dec.AppendChallenge(l.scratch[:0])
		l.refused, l.refusedBytes = dec.Status, len(l.scratch)
		_, _ = cs.c.Write(l.scratch)
		l.g.metrics.HTTPResponse(dec.Status)
		l.linger(cs)
		return false
	}
	if dec.User != nil {
		cs.user = dec.User
	}
	if dec.Claims != nil {
		l.keepClaims(dec.Claims) // a wsgate.v1 socket checks its commands against them (v1.go)
	}
	if !dec.Expires.IsZero() {
		// The session ends with the token (plus grace): a wheel tick, no timer.
		// Ticks compare as int32 distances: an expiry further off than
		// maxAuthTicks would read as already past, so it is held to that
		// (a session that outlives it is closed as expired, failing closed).
		cs.authExp = l.wheel.now + authTicks(time.Until(dec.Expires))
		if cs.authExp == 0 {
			cs.authExp = 1 // 0 means no expiry
		}
	}
	return true
}

// authWaiting reports whether cs's request waits for its subrequest: the
// handshake must not look at its input until the answer is back.
func (l *loop) authWaiting(cs *conn) bool { return cs.authWait.Waiting() }

// AuthAnswered hands a subrequest's outcome to cs's loop (access.Conn).
func (cs *conn) AuthAnswered(s *authPending) {
	l := cs.loop
	// An error here means the engine is stopping: it closes the client.
	_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l.authResume(cs, s)
		return nil
	}))
}

// authResume runs on the loop with a subrequest's outcome. A client that
// went away (closed, refused on its handshake timeout) or moved on is no
// longer waiting for s: the outcome is dropped.
func (l *loop) authResume(cs *conn, s *authPending) {
	if cs.authWait != s || cs.state != stateHandshake {
		return
	}
	s.MarkAnswered()
	l.setReading(cs, true)
	l.handshake(cs) // parses the same head again; authorize now takes the answer
	if cs.authWait == s {
		cs.authWait = nil // not taken (the head now goes elsewhere): never reuse it
	}
}

// publishDenied closes a client that sent a data message where it may not.
func (l *loop) publishDenied(cs *conn) {
	l.g.auth.PublishDenied()
	l.closeWith(cs, 1008, "publish not allowed", accesslog.TermDenied)
}

// maxAuthTicks is the furthest expiry the wheel can tell from a past one.
const maxAuthTicks = 1 << 30

// authTicks is how many ticks away an expiry d from now is, at least 1 and
// at most maxAuthTicks (clamped before the conversion, which would wrap).
func authTicks(d time.Duration) uint32 {
	return max(ticks(min(max(d, 0), maxAuthTicks*tick)), 1)
}

// authExpired closes a session whose token (plus -jwt-expiry-grace) ran
// out. It reports whether it did; fire calls it for an open connection.
func (l *loop) authExpired(cs *conn) bool {
	if cs.authExp == 0 || int32(l.wheel.now-cs.authExp) < 0 {
		return false
	}
	l.g.auth.SessionExpired()
	l.closeWith(cs, 1008, "token expired", accesslog.TermDenied)
	return true
}

// authTimer brings an open connection's timer forward to its token's
// expiry when that comes first (the wheel holds one due tick per conn).
func (l *loop) authTimer(cs *conn) {
	if cs.authExp != 0 && cs.state == stateOpen && (!cs.timer.Linked() || int32(cs.timer.Due()-cs.authExp) > 0) {
		l.wheel.schedule(cs, cs.authExp)
	}
}
