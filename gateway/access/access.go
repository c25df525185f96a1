// Package access is wsgate's access control at the gateway (issue 13): it
// decides, once per request head, whether a route's auth= and publish=
// options let the request through, and what the session may then do.
//
// It owns everything that decision needs and that outlives one event-loop
// turn: the JWT verifier (router/auth) and where a token is read from
// (Authorization header, ?token=, the -jwt-cookie), the per-user
// connection counts of -max-conns-per-user and their stats, cutting the
// token parameter from a forwarded target, the auth=request subrequest (its
// pool slot or queue wait, the connection to the auth service, the answer
// and auth-cache), each refusal's status, challenge and reason, and the
// wsgate_auth_* metrics.
//
// The boundary is the decision. The gateway owns the sockets and the
// connection state machine, so it asks Decide at one point of its handshake
// and gets back a Decision: allow (with what the session may do), refuse
// (status, WWW-Authenticate challenge and reason, which it writes), or wait
// (an auth subrequest is out: it stops reading and, once the Resumer it
// passed is called, parses the same head again and asks again, which now
// takes the answer). Nothing in this package touches gnet, a wheel or a
// conn: a connection's state here is the two pointers it keeps (*User,
// *Subrequest), so the decisions are tested without sockets.
package access

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
)

// Options configure access control; they are fixed for the process (a
// reload that changes -jwt-* or -auth-timeout asks for a restart).
type Options struct {
	JWT      auth.Config    // -jwt-* and -max-conns-per-user
	Timeout  time.Duration  // -auth-timeout: an auth subrequest's queue wait, connect and answer
	Router   *router.Router // auth=request's pools, as of each request (a reload may change them)
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Access is one gateway's access control; its methods are safe for
// concurrent use by every event loop and the admin listener.
type Access struct {
	v       *auth.Verifier // nil without -jwt-key / -jwt-jwks
	cfg     auth.Config
	timeout time.Duration
	router  *router.Router
	log     *slog.Logger
	metrics *metrics
	cache   *auth.Cache // auth=request answers of routes with auth-cache= (subrequest.go)
	// lastFailLog (unix ns) spaces the warnings of failed subrequests: loops share it.
	lastFailLog atomic.Int64

	mu    sync.Mutex
	users map[string]*User // by sub, while it has connections
}

// User is one user's (a token's sub) live connection count. A connection
// that counts against it keeps the pointer and gives it back with Release.
type User struct {
	name string
	n    int
}

// New builds access control and registers its metrics. With -jwt-jwks it
// fetches the key set once: a gateway that cannot read it does not start.
func New(o Options) (*Access, error) {
	a := &Access{cfg: o.JWT, timeout: o.Timeout, router: o.Router, log: o.Log,
		users: map[string]*User{}, cache: auth.NewCache(auth.DefaultCacheEntries, nil)}
	if o.JWT.Enabled() {
		v, err := auth.New(o.JWT, o.Log)
		if err != nil {
			return nil, err
		}
		a.v = v
	}
	a.metrics = newMetrics(o.Registry, a.v)
	return a, nil
}

// Run refreshes the JWK set until ctx ends, in a goroutine of its own
// (never on an event loop); it returns at once.
func (a *Access) Run(ctx context.Context) {
	if a.v != nil {
		go a.v.Run(ctx)
	}
}

// PublishDenied counts a message refused because its sender may not
// publish; the gateway closes the client (or answers a wsgate.v1 error).
func (a *Access) PublishDenied() { a.metrics.refused(reasonPublishDenied) }

// SessionExpired counts an open session closed because its token (plus
// -jwt-expiry-grace) ran out.
func (a *Access) SessionExpired() { a.metrics.expiredSessions.Inc() }

// acquire counts a connection against user sub; nil when the user is at
// -max-conns-per-user.
func (a *Access) acquire(sub string) *User {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[sub]
	if u == nil {
		u = &User{name: sub}
		a.users[sub] = u
	}
	if a.cfg.MaxPerUser > 0 && u.n >= a.cfg.MaxPerUser {
		if u.n == 0 {
			delete(a.users, sub)
		}
		return nil
	}
	u.n++
	return u
}

// Release gives back a closed connection's user count and clears *u; a
// connection that counts against nobody (*u == nil) is a no-op.
func (a *Access) Release(u **User) {
	x := *u
	if x == nil {
		return
	}
	*u = nil
	a.mu.Lock()
	defer a.mu.Unlock()
	if x.n--; x.n <= 0 {
		delete(a.users, x.name)
	}
}

// Users lists the users with the most connections first (then by name), at
// most topN (0: all), for the stats page.
func (a *Access) Users(topN int) []admin.UserStats {
	a.mu.Lock()
	out := make([]admin.UserStats, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, admin.UserStats{Sub: u.name, Connections: u.n})
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y admin.UserStats) int {
		return cmp.Or(cmp.Compare(y.Connections, x.Connections), cmp.Compare(x.Sub, y.Sub))
	})
	if topN > 0 && len(out) > topN {
		out = out[:topN]
	}
	return out
}

// MayPublish is the publish API's second way in: a bearer JWT whose
// publish claim names the topic (the operator's -publish-token is the first).
func (a *Access) MayPublish(r *http.Request, topic string) bool {
	if a.v == nil {
		return false
	}
	tok, err := auth.TokenFrom(r.Header.Get("Authorization"), "", "")
	if err != nil {
		return false
	}
	claims, err := a.v.Verify(tok)
	if err != nil {
		a.log.Debug("publish API: token refused", "err", err)
		return false
	}
	if !claims.MayPublish(topic) {
		a.metrics.refused(reasonPublishDenied)
		return false
	}
	return true
}
