package access

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
)

// Claims is what a verified token grants (router/auth's): the gateway keeps
// a topic route's for wsgate.v1 commands without importing router/auth.
type Claims = auth.Claims

// Verdict is what Decide says about a request head.
type Verdict uint8

const (
	Allow  Verdict = iota // serve it; the Decision says what the session may do
	Refuse                // answer Status (with Challenge, if any) and Reason, then close
	Wait                  // an auth subrequest is out: read nothing more until Conn.AuthAnswered
)

// Request is a request head to decide and what its connection holds.
type Request struct {
	Head   *codec.Request // on Allow, a backend route's token parameter is cut from its target
	Remote net.Addr       // the client, for logs
	IP     netip.Addr     // the client's address, for the subrequest's X-Forwarded-For
	User   *User          // the user count the connection holds already (nil: none)
	Sub    *Subrequest    // the connection's answered subrequest (nil: none)
	Conn   Conn           // the connection, told when a subrequest started now is answered
}

// Decision is Decide's answer. The gateway applies it to the connection:
// on Allow the session's rights, on Refuse the answer, on Wait the
// subrequest it keeps until the answer.
type Decision struct {
	Verdict Verdict

	// Refuse: the answer. Without a challenge it is a plain error page.
	Status    int
	Challenge string // WWW-Authenticate; "" none
	Reason    string // one line, the body

	// Allow: what the session may do.
	NoPub   bool      // it may not publish (publish=none, and no grant)
	User    *User     // a user count it now holds (it held none): Release it at close
	Expires time.Time // it ends then (the token's expiry plus -jwt-expiry-grace); zero: never
	Claims  *Claims   // the verified token of a topic route (wsgate.v1 checks commands against it)

	// Wait: the subrequest in flight; nil otherwise (an answered one is used up).
	Sub *Subrequest
}

// Challenges of RFC 6750 (Bearer tokens). Without a token at all the
// challenge carries no error attribute (RFC 6750 3).
const (
	challengeMissing = `Bearer realm="wsgate"`
	challengeInvalid = `Bearer realm="wsgate", error="invalid_token"`
	challengeExpired = `Bearer realm="wsgate", error="invalid_token", error_description="token expired"`
	challengeScope   = `Bearer realm="wsgate", error="insufficient_scope"`
	// challengeNoSubject: the token is valid but cannot be counted per user.
	challengeNoSubject = `Bearer realm="wsgate", error="invalid_token", error_description="no sub claim"`
)

func refuse(status int, challenge, reason string) Decision {
	return Decision{Verdict: Refuse, Status: status, Challenge: challenge, Reason: reason}
}

// Decide applies the auth= and publish= options of the route q matched
// (match, the topic's policy applied) to q before it is served. It runs on
// an event loop and never blocks: an auth=request route that needs asking
// returns Wait at once. match is apart from q because q's pointers outlive
// the call (a subrequest keeps them) and match, the handshake's, must not.
func (a *Access) Decide(match *router.Decision, q *Request) Decision {
	r := &match.Route
	d := Decision{NoPub: r.Kind == router.TargetTopic && r.Publish == router.PublishNone}
	switch {
	case r.Auth == router.AuthNone:
		return d
	case codec.BadQueryParamName(q.Head.RawQuery):
		// Which parameter is the token is ambiguous: refused, not guessed.
		a.metrics.refused(reasonInvalid)
		return refuse(http.StatusBadRequest, "", "undecodable query parameter name")
	case r.Auth == router.AuthRequest:
		return a.subrequest(match, q, d) // subrequest.go
	case a.v == nil:
		// auth=jwt without keys (refused by Validate): fail closed.
		a.metrics.refused(reasonBackendError)
		return refuse(http.StatusServiceUnavailable, "", "access control is not available")
	}
	return a.token(match, q, d)
}

// token decides an auth=jwt route: a token from the Authorization header,
// ?token= or the -jwt-cookie (they must agree), verified, its claims
// checked against the topic, its sub counted.
func (a *Access) token(match *router.Decision, q *Request, d Decision) Decision {
	req, r := q.Head, &match.Route
	if req.HeaderCount("Authorization") > 1 {
		// Authorization is a singleton (RFC 9110 11.6.2): with two, the
		// gateway would verify one and the server behind could read the other.
		a.metrics.refused(reasonInvalid)
		return refuse(http.StatusBadRequest, "", "more than one Authorization field")
	}
	var cookie string
	agreed := true
	if a.cfg.Cookie != "" {
		cookie, agreed = codec.CookieAgreed(req, a.cfg.Cookie)
	}
	tok, err := auth.TokenFrom(req.Header("Authorization"), codec.QueryParam(req.RawQuery, "token"), cookie)
	if err == nil && !agreed {
		err = auth.ErrConflict // the token cookie twice, with different values
	}
	var claims *auth.Claims
	if err == nil {
		claims, err = a.v.Verify(tok)
	}
	if err != nil {
		return a.badToken(q, err)
	}
	if r.Kind == router.TargetTopic {
		topic := match.Topic
		if !claims.MaySubscribe(topic) {
			a.metrics.refused(reasonForbidden)
			return refuse(http.StatusForbidden, challengeScope, "the token does not grant topic "+topic)
		}
		if d.NoPub && claims.MayPublish(topic) {
			d.NoPub = false
		}
		d.Claims = claims
	}
	if claims.Subject == "" && a.cfg.MaxPerUser > 0 && req.IsUpgrade() {
		// The limit cannot be held for a token that names no one: fail closed
		// rather than let sub-less tokens open connections without a count.
		a.metrics.refused(reasonNoSubject)
		return refuse(http.StatusUnauthorized, challengeNoSubject, "the token has no sub claim, which -max-conns-per-user needs")
	}
	if claims.Subject != "" && req.IsUpgrade() && q.User == nil {
		if d.User = a.acquire(claims.Subject); d.User == nil {
			a.metrics.refused(reasonUserLimit)
			return refuse(http.StatusTooManyRequests, "", "too many connections for this user (-max-conns-per-user)")
		}
	}
	d.Expires = claims.Expires.Add(a.cfg.ExpiryGrace)
	if r.Kind == router.TargetBackend {
		stripToken(req)
	}
	a.log.Debug("token accepted", "sub", claims.Subject, "path", req.Path, "topic", match.Topic)
	return d
}

// badToken refuses a missing or bad token with 401 and its challenge.
func (a *Access) badToken(q *Request, err error) Decision {
	reason, challenge := reasonInvalid, challengeInvalid
	switch {
	case errors.Is(err, auth.ErrMissing):
		reason, challenge = reasonMissing, challengeMissing
	case errors.Is(err, auth.ErrExpired):
		reason, challenge = reasonExpired, challengeExpired
	}
	a.metrics.refused(reason)
	a.log.Debug("token refused", "remote", q.Remote, "path", q.Head.Path, "reason", reason, "err", err)
	return refuse(http.StatusUnauthorized, challenge, reason+" token")
}

// stripToken cuts the token parameter from a request to be forwarded, so
// the server and its logs never see it. The forwarded target is req.URI
// (origin-form); Target follows it so nothing downstream (balance=uri,
// the access log) sees the token either.
func stripToken(req *codec.Request) {
	req.URI, req.RawQuery = codec.StripQueryParam(req.Path, req.RawQuery, "token")
	req.Target = req.URI
}

// AppendChallenge appends the answer to a refusal that carries a
// challenge: the status, WWW-Authenticate, and the reason as the body.
// (A refusal without one is the gateway's plain error page.)
func (d *Decision) AppendChallenge(dst []byte) []byte {
	return codec.AppendResponse(dst, d.Status, []codec.HeaderField{
		{Name: "Content-Type", Value: "text/plain; charset=utf-8"},
		{Name: "Connection", Value: "close"},
		{Name: "WWW-Authenticate", Value: d.Challenge},
	}, []byte(d.Reason+"\n"))
}
