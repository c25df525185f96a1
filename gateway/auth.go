package gateway

import (
	"context"
	"errors"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/admin"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
)

// gatewayAuth is the gateway's side of access control (issue 13): the JWT
// verifier, the per-user connection counts and the refusal metrics.
type gatewayAuth struct {
	v       *auth.Verifier // nil without -jwt-key / -jwt-jwks
	cfg     auth.Config
	log     *slog.Logger
	metrics *authMetrics
	cache   *auth.Cache // auth=request answers of routes with auth-cache= (auth_request.go)
	// lastFailLog (unix ns) spaces the warnings of failed subrequests: loops share it.
	lastFailLog atomic.Int64

	mu    sync.Mutex
	users map[string]*userConns // by sub, while it has connections
}

// userConns is one user's live connection count; a conn points at it.
type userConns struct {
	name string
	n    int
}

func newGatewayAuth(cfg auth.Config, reg prometheus.Registerer, log *slog.Logger) (*gatewayAuth, error) {
	a := &gatewayAuth{cfg: cfg, log: log, users: map[string]*userConns{}, cache: auth.NewCache(auth.DefaultCacheEntries, nil)}
	if cfg.Enabled() {
		v, err := auth.New(cfg, log)
		if err != nil {
			return nil, err
		}
		a.v = v
	}
	a.metrics = newAuthMetrics(reg, a.v)
	return a, nil
}

// run refreshes the JWK set until ctx ends (a goroutine: never on a loop).
func (a *gatewayAuth) run(ctx context.Context) {
	if a.v != nil {
		go a.v.Run(ctx)
	}
}

// authorize applies the route's access control to a request head before
// it is served. It returns false when it has refused the request; on true,
// cs carries what the session may do (publish, until when, as whom). For a
// backend route the token query parameter is cut from req's target, so the
// server and its logs never see it.
func (l *loop) authorize(cs *conn, req *codec.Request, d *router.Decision) bool {
	a, r := l.g.auth, d.Route
	cs.noPub = r.Kind == router.TargetTopic && r.Publish == router.PublishNone
	switch {
	case r.Auth == router.AuthNone:
		return true
	case badParamName(req.RawQuery):
		// Which parameter is the token is ambiguous: refused, not guessed.
		a.metrics.refusals.WithLabelValues("invalid").Inc()
		l.refuse(cs, http.StatusBadRequest, "undecodable query parameter name")
		return false
	case r.Auth == router.AuthRequest:
		return l.authRequest(cs, req, d) // auth_request.go
	case a.v == nil:
		// auth=jwt without keys (refused by Validate): fail closed.
		a.metrics.refusals.WithLabelValues("auth_backend_error").Inc()
		l.refuse(cs, http.StatusServiceUnavailable, "access control is not available")
		return false
	}
	var cookie string
	if a.cfg.Cookie != "" {
		cookie = codec.CookieValue(req, a.cfg.Cookie)
	}
	tok, err := auth.TokenFrom(req.Header("Authorization"), queryParam(req.RawQuery, "token"), cookie)
	var claims *auth.Claims
	if err == nil {
		claims, err = a.v.Verify(tok)
	}
	if err != nil {
		l.refuseToken(cs, err, req.Path)
		return false
	}
	if r.Kind == router.TargetTopic {
		if !claims.MaySubscribe(d.Topic) {
			a.metrics.refusals.WithLabelValues("forbidden").Inc()
			l.refuseWith(cs, http.StatusForbidden, `Bearer realm="wsgate", error="insufficient_scope"`, "the token does not grant topic "+d.Topic)
			return false
		}
		if cs.noPub && claims.MayPublish(d.Topic) {
			cs.noPub = false
		}
		l.keepClaims(claims) // a wsgate.v1 socket checks its commands against them (v1.go)
	}
	if claims.Subject != "" && req.IsUpgrade() && cs.user == nil && !a.acquire(cs, claims.Subject) {
		l.refuse(cs, http.StatusTooManyRequests, "too many connections for this user (-max-conns-per-user)")
		return false
	}
	// The session ends with the token (plus grace): a wheel tick, no timer.
	until := time.Until(claims.Expires) + a.cfg.ExpiryGrace
	cs.authExp = l.wheel.now + max(ticks(max(until, 0)), 1)
	if cs.authExp == 0 {
		cs.authExp = 1 // 0 means no expiry
	}
	if r.Kind == router.TargetBackend {
		// The forwarded target is req.URI (origin-form); Target follows it so
		// nothing downstream (balance=uri, logs) sees the token either.
		req.URI, req.RawQuery = stripToken(req.Path, req.RawQuery)
		req.Target = req.URI
	}
	l.g.log.Debug("token accepted", "sub", claims.Subject, "path", req.Path, "topic", d.Topic)
	return true
}

// refuseToken answers 401 for a missing or bad token (RFC 6750 3: no
// error attribute when the request carried no token at all).
func (l *loop) refuseToken(cs *conn, err error, path string) {
	reason, challenge := "invalid", `Bearer realm="wsgate", error="invalid_token"`
	switch {
	case errors.Is(err, auth.ErrMissing):
		reason, challenge = "missing", `Bearer realm="wsgate"`
	case errors.Is(err, auth.ErrExpired):
		reason, challenge = "expired", `Bearer realm="wsgate", error="invalid_token", error_description="token expired"`
	}
	l.g.auth.metrics.refusals.WithLabelValues(reason).Inc()
	l.g.log.Debug("token refused", "remote", cs.c.RemoteAddr(), "path", path, "reason", reason, "err", err)
	l.refuseWith(cs, http.StatusUnauthorized, challenge, reason+" token")
}

// refuseWith is refuse with a WWW-Authenticate challenge.
func (l *loop) refuseWith(cs *conn, status int, challenge, reason string) {
	l.refused = status
	l.scratch = codec.AppendResponse(l.scratch[:0], status, []codec.HeaderField{
		{Name: "Content-Type", Value: "text/plain; charset=utf-8"},
		{Name: "Connection", Value: "close"},
		{Name: "WWW-Authenticate", Value: challenge},
	}, []byte(reason+"\n"))
	_, _ = cs.c.Write(l.scratch)
	l.g.metrics.HTTPResponse(status)
	l.linger(cs)
}

// publishDenied closes a client that sent a data message where it may not.
func (l *loop) publishDenied(cs *conn) {
	l.g.auth.metrics.refusals.WithLabelValues("publish_denied").Inc()
	l.closeWith(cs, 1008, "publish not allowed", accesslog.TermDenied)
}

// authExpired closes a session whose token (plus -jwt-expiry-grace) ran
// out. It reports whether it did; fire calls it for an open connection.
func (l *loop) authExpired(cs *conn) bool {
	if cs.authExp == 0 || int32(l.wheel.now-cs.authExp) < 0 {
		return false
	}
	l.g.auth.metrics.expiredSessions.Inc()
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

func (a *gatewayAuth) acquire(cs *conn, sub string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[sub]
	if u == nil {
		u = &userConns{name: sub}
		a.users[sub] = u
	}
	if a.cfg.MaxPerUser > 0 && u.n >= a.cfg.MaxPerUser {
		if u.n == 0 {
			delete(a.users, sub)
		}
		return false
	}
	u.n++
	cs.user = u
	return true
}

// release forgets a closed connection's user count.
func (a *gatewayAuth) release(cs *conn) {
	u := cs.user
	if u == nil {
		return
	}
	cs.user = nil
	a.mu.Lock()
	defer a.mu.Unlock()
	if u.n--; u.n <= 0 {
		delete(a.users, u.name)
	}
}

// userStats lists the users with the most connections first, at most topN.
func (a *gatewayAuth) userStats(topN int) []admin.UserStats {
	a.mu.Lock()
	out := make([]admin.UserStats, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, admin.UserStats{Sub: u.name, Connections: u.n})
	}
	a.mu.Unlock()
	sortUsers(out)
	if topN > 0 && len(out) > topN {
		out = out[:topN]
	}
	return out
}

// jwtMayPublish is the publish API's second way in: a bearer JWT whose
// publish claim names the topic (the operator's -publish-token is the first).
func (g *Gateway) jwtMayPublish(r *http.Request, topic string) bool {
	if g.auth.v == nil {
		return false
	}
	tok, err := auth.TokenFrom(r.Header.Get("Authorization"), "", "")
	if err != nil {
		return false
	}
	claims, err := g.auth.v.Verify(tok)
	if err != nil {
		g.log.Debug("publish API: token refused", "err", err)
		return false
	}
	if !claims.MayPublish(topic) {
		g.auth.metrics.refusals.WithLabelValues("publish_denied").Inc()
		return false
	}
	return true
}

// paramName decodes the name of a query parameter (name=value) as servers
// do, so that ?%74oken= is the token parameter too; ok is false when the
// name does not decode (the auth check refuses such a query: see auth).
func paramName(part string) (name string, ok bool) {
	k, _, _ := strings.Cut(part, "=")
	if strings.IndexByte(k, '%') < 0 && strings.IndexByte(k, '+') < 0 {
		return k, true
	}
	n, err := url.QueryUnescape(k)
	return n, err == nil
}

// badParamName reports whether a raw query holds a parameter name that does
// not decode: a server might read it (leniently) as token, we cannot tell.
func badParamName(raw string) bool {
	if strings.IndexByte(raw, '%') < 0 {
		return false
	}
	for part := range strings.SplitSeq(raw, "&") {
		if _, ok := paramName(part); !ok {
			return true
		}
	}
	return false
}

// queryParam returns the unescaped value of name in a raw query ("" if
// absent), names compared decoded.
func queryParam(raw, name string) string {
	for part := range strings.SplitSeq(raw, "&") {
		if k, ok := paramName(part); ok && k == name {
			_, v, _ := strings.Cut(part, "=")
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
			return v
		}
	}
	return ""
}

// stripToken rebuilds a request target without its token parameters (names
// compared decoded, as the server would read them).
func stripToken(path, raw string) (target, query string) {
	if raw == "" {
		return path, ""
	}
	var kept []string
	for part := range strings.SplitSeq(raw, "&") {
		if k, ok := paramName(part); !ok || k != "token" {
			kept = append(kept, part)
		}
	}
	query = strings.Join(kept, "&")
	if query == "" {
		return path, ""
	}
	return path + "?" + query, query
}
