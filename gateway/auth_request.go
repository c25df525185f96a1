package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
	"github.com/wsgate/wsgate/router/backend"
)

// The auth subrequest (auth=request:POOL/PATH, nginx's auth_request). The
// loop never waits for it: the client's request head stays unread in gnet's
// inbound buffer, reading stops, and a goroutine asks a server of POOL
// (picked by its balancer, counted against its maxconn with Acquire).
// Its answer comes back through the loop's Execute; the handshake then
// parses the same head again and, reaching authorize, takes the answer
// instead of asking (authPending.done) — so accepting the upgrade,
// proxying, or refusing is the ordinary code path.
//
// The client is a hand-written HTTP/1.1 GET on its own connection, not
// net/http: one connection per subrequest is exactly one Acquire on the
// server the balancer picked, so maxconn, health (passive connect
// failures) and the stats page count subrequests like any session, and
// nothing (a Transport's idle pool) hides connections from that count.
// auth-cache= is what saves the connects under a reconnect storm.

// authPending is a connection's subrequest in flight (conn.authWait).
type authPending struct {
	pool, path string // what was asked: a reload may change the route meanwhile
	done       bool   // the answer is in ans (or err)
	ans        auth.Answer
	err        error
}

// authWaiting reports whether cs's request waits for its subrequest: the
// handshake must not look at its input until the answer is back.
func (l *loop) authWaiting(cs *conn) bool { return cs.authWait != nil && !cs.authWait.done }

// authMaxAnswer bounds an auth service's answer head.
const authMaxAnswer = 16 << 10

// authRequest is authorize for an auth=request route. It returns true when
// the request may go on; false when it was refused or its subrequest is
// now in flight (the handshake resumes when the answer is back).
func (l *loop) authRequest(cs *conn, req *codec.Request, d *router.Decision) bool {
	r := d.Route
	if p := cs.authWait; p != nil && p.done {
		cs.authWait = nil
		if p.pool == r.AuthPool && p.path == r.AuthPath {
			if p.err != nil {
				return l.authFailed(cs, req, p.err)
			}
			return l.authAnswer(cs, req, d, &p.ans)
		}
		// The route changed under the request (a reload): ask again.
	}
	a := l.g.auth
	var ip string
	if addr := clientIP(cs.c.RemoteAddr()); addr.IsValid() {
		ip = addr.String()
	}
	f, ok := forwardOf(req, ip)
	if !ok {
		// Authorization is a singleton (RFC 9110 11.6.2): with two, the auth
		// service and the server behind could each judge a different one.
		a.metrics.refusals.WithLabelValues("invalid").Inc()
		l.g.log.Debug("auth subrequest: several Authorization fields", "remote", cs.c.RemoteAddr(), "path", req.Path)
		l.refuse(cs, http.StatusBadRequest, "more than one Authorization field")
		return false
	}
	var key auth.CacheKey
	if r.AuthCache > 0 {
		key = auth.Key(r.AuthPool, r.AuthPath, &f)
		if ans, ok := a.cache.Get(key, r.AuthCache); ok {
			a.metrics.cacheHits.Inc()
			return l.authAnswer(cs, req, d, &ans)
		}
	}
	pool := l.g.router.Current().Pools().Pool(r.AuthPool)
	if pool == nil {
		return l.authFailed(cs, req, fmt.Errorf("no -backend named %q", r.AuthPool))
	}
	pr := &backend.Request{SourceIP: ip, URI: req.URI, Path: req.Path, Header: req.Header,
		Query: func(name string) string { return queryParam(req.RawQuery, name) }}
	p := &authPending{pool: r.AuthPool, path: r.AuthPath}
	job := &authJob{a: a, l: l, cs: cs, p: p, path: r.AuthPath, fwd: f, key: key, ttl: r.AuthCache,
		timeout: l.g.cfg.AuthTimeout, start: time.Now()}
	s, _, err := pool.Pick(pr)
	switch {
	case err == nil && s.Acquire():
		go job.run(s, nil)
	case (err == nil || errors.Is(err, backend.ErrFull)) && pool.Opts.Queue > 0:
		ch := make(chan *backend.Server, 1) // Enqueue's fn runs on whoever frees a slot: it only hands over
		w, ok := pool.Enqueue(pr, func(s *backend.Server) { ch <- s })
		if !ok {
			return l.authFailed(cs, req, fmt.Errorf("pool %s: every server at maxconn and its queue is full", pool.Name))
		}
		go job.wait(pool, w, ch)
	case err == nil:
		return l.authFailed(cs, req, fmt.Errorf("pool %s: server %s at maxconn", pool.Name, s.Name))
	default:
		return l.authFailed(cs, req, fmt.Errorf("pool %s: %w", pool.Name, err))
	}
	cs.authWait = p
	l.setReading(cs, false)
	return false
}

// authAnswer applies an answer (fresh or cached) to the request.
func (l *loop) authAnswer(cs *conn, req *codec.Request, d *router.Decision, ans *auth.Answer) bool {
	m := l.g.auth.metrics
	switch ans.Verdict() {
	case auth.Deny:
		reason := "invalid"
		if ans.Status == http.StatusForbidden {
			reason = "forbidden"
		}
		m.refusals.WithLabelValues(reason).Inc()
		l.g.log.Debug("auth service refused", "remote", cs.c.RemoteAddr(), "path", req.Path, "status", ans.Status)
		l.refuseChallenge(cs, ans.Status, ans.Challenge, "refused by the auth service")
		return false
	case auth.Fail:
		return l.authFailed(cs, req, fmt.Errorf("auth service answered %d", ans.Status))
	}
	if d.Route.Kind == router.TargetTopic {
		if !ans.MaySubscribe(d.Topic) {
			m.refusals.WithLabelValues("forbidden").Inc()
			l.refuse(cs, http.StatusForbidden, "the auth service does not grant topic "+d.Topic)
			return false
		}
		if may, decided := ans.MayPublish(d.Topic); decided {
			cs.noPub = !may
		}
	} else {
		// As for a JWT: the token parameter never reaches the server.
		req.URI, req.RawQuery = stripToken(req.Path, req.RawQuery)
		req.Target = req.URI
	}
	return true
}

// authFailed fails closed: 503, counted as auth_backend_error. It warns at
// most once a second (an outage fails every upgrade; the metric counts
// them), and logs each at debug level.
func (l *loop) authFailed(cs *conn, req *codec.Request, err error) bool {
	a := l.g.auth
	a.metrics.refusals.WithLabelValues("auth_backend_error").Inc()
	now, last := time.Now().UnixNano(), a.lastFailLog.Load()
	if now-last >= int64(time.Second) && a.lastFailLog.CompareAndSwap(last, now) {
		l.g.log.Warn("auth subrequest failed: answering 503", "path", req.Path, "err", err)
	} else {
		l.g.log.Debug("auth subrequest failed: answering 503", "remote", cs.c.RemoteAddr(), "path", req.Path, "err", err)
	}
	l.refuse(cs, http.StatusServiceUnavailable, "the auth service is unavailable")
	return false
}

// refuseChallenge is refuseWith, the challenge left out when there is none.
func (l *loop) refuseChallenge(cs *conn, status int, challenge, reason string) {
	if challenge != "" {
		l.refuseWith(cs, status, challenge, reason)
		return
	}
	l.refuse(cs, status, reason)
}

// authResume runs on the loop with a subrequest's outcome. A client that
// went away (closed, refused on its handshake timeout) or moved on is no
// longer waiting for p: the outcome is dropped.
func (l *loop) authResume(cs *conn, p *authPending) {
	if cs.authWait != p || cs.state != stateHandshake {
		return
	}
	p.done = true
	l.setReading(cs, true)
	l.handshake(cs)
	if cs.authWait == p {
		cs.authWait = nil // not taken (the head now goes elsewhere): never reuse it
	}
}

// forwardOf collects what a subrequest passes on from req; false when req
// carries more than one Authorization field. Those are refused rather than
// joined: credentials are not a list (RFC 9110 11.6.2), so a joined value
// is one no service parses, and passing the first only would let the server
// behind honour another one than the auth service judged.
func forwardOf(req *codec.Request, ip string) (auth.Forward, bool) {
	f := auth.Forward{Proto: "http", Host: req.Host}
	if req.TLS {
		f.Proto = "https"
	}
	var xff []string
	authorizations := 0
	for _, h := range req.Headers {
		switch {
		case codec.ASCIIEqualFold(h.Name, "Cookie"):
			if f.Cookie != "" {
				f.Cookie += "; "
			}
			f.Cookie += h.Value
		case codec.ASCIIEqualFold(h.Name, "Authorization"):
			if authorizations++; authorizations == 1 {
				f.Authorization = h.Value
			}
		case codec.ASCIIEqualFold(h.Name, "Origin") && f.Origin == "":
			f.Origin = h.Value
		case codec.ASCIIEqualFold(h.Name, "X-Forwarded-For"):
			xff = append(xff, h.Value)
		}
	}
	if ip != "" {
		xff = append(xff, ip)
	}
	f.XFF = strings.Join(xff, ", ")
	f.OriginalURI, _ = stripToken(req.Path, req.RawQuery)
	return f, authorizations <= 1
}

// authJob is one subrequest, run off the loop.
type authJob struct {
	a       *gatewayAuth
	l       *loop
	cs      *conn
	p       *authPending
	path    string
	fwd     auth.Forward
	key     auth.CacheKey
	ttl     time.Duration // auth-cache; 0: not cached
	timeout time.Duration
	start   time.Time
}

// wait waits (at most the timeout) for the pool's queue to give a server.
func (j *authJob) wait(pool *backend.Pool, w *backend.Waiter, ch chan *backend.Server) {
	t := time.NewTimer(j.timeout)
	defer t.Stop()
	select {
	case s := <-ch:
		j.run(s, nil)
	case <-t.C:
		if !pool.Cancel(w) {
			(<-ch).Release() // given a server as the timer fired: give it back
		}
		j.run(nil, fmt.Errorf("pool %s: no server free within -auth-timeout %v", pool.Name, j.timeout))
	}
}

// run asks server s (already Acquired; nil when err says why not) and
// hands the outcome to the connection's loop.
func (j *authJob) run(s *backend.Server, err error) {
	var ans auth.Answer
	if s != nil {
		ans, err = j.ask(s)
		s.Release()
	}
	result := "error"
	switch {
	case err != nil:
	case ans.Verdict() == auth.Allow:
		result = "allow"
	case ans.Verdict() == auth.Deny:
		result = "deny"
	}
	j.a.metrics.subrequest.WithLabelValues(result).Observe(time.Since(j.start).Seconds())
	if err == nil && j.ttl > 0 {
		j.a.cache.Put(j.key, ans, j.ttl)
	}
	j.p.ans, j.p.err = ans, err
	l, cs, p := j.l, j.cs, j.p
	// An error here means the engine is stopping: it closes the client.
	_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l.authResume(cs, p)
		return nil
	}))
}

// ask sends the GET and reads the answer head (the body is not read: the
// connection closes). Everything, connect included, ends by the deadline.
func (j *authJob) ask(s *backend.Server) (auth.Answer, error) {
	deadline := j.start.Add(j.timeout)
	connect := time.Until(deadline)
	if ct := s.Pool().Opts.ConnectTimeout; ct > 0 && ct < connect {
		connect = ct
	}
	if connect <= 0 {
		return auth.Answer{}, fmt.Errorf("auth server %s: -auth-timeout %v spent waiting", s, j.timeout)
	}
	nc, err := net.DialTimeout("tcp", s.Addr, connect)
	if err != nil {
		s.ConnectFailed(err)
		return auth.Answer{}, fmt.Errorf("auth server %s: %w", s, err)
	}
	s.ConnectOK()
	defer nc.Close()
	_ = nc.SetDeadline(deadline)
	head := auth.AppendSubrequest(make([]byte, 0, 512), j.path, s.Addr, &j.fwd)
	s.AddBytesOut(len(head))
	if _, err := nc.Write(head); err != nil {
		return auth.Answer{}, fmt.Errorf("auth server %s: sending: %w", s, err)
	}
	buf := make([]byte, 0, 1024)
	var rerr error
	for {
		resp, hn, perr := codec.ParseResponseHead(buf, authMaxAnswer)
		switch {
		case perr != nil:
			return auth.Answer{}, fmt.Errorf("auth server %s: %w", s, perr)
		case hn > 0 && resp.Status >= 100 && resp.Status < 200 && resp.Status != http.StatusSwitchingProtocols:
			buf = buf[:copy(buf, buf[hn:])] // an interim answer: the final one follows
			continue
		case hn > 0:
			return auth.AnswerOf(resp.Status, func(yield func(string, string) bool) {
				for _, h := range resp.Headers {
					if !yield(h.Name, h.Value) {
						return
					}
				}
			}), nil
		case rerr != nil:
			return auth.Answer{}, fmt.Errorf("auth server %s: reading the answer: %w", s, rerr)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		var n int
		n, rerr = nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		s.AddBytesIn(n)
	}
}
