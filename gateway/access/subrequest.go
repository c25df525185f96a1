package access

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
	"github.com/wsgate/wsgate/router/backend"
)

// The auth subrequest (auth=request:POOL/PATH, nginx's auth_request). The
// loop never waits for it: Decide answers Wait, the gateway leaves the
// client's request head unread in its inbound buffer and stops reading,
// and a goroutine asks a server of POOL (picked by its balancer, counted
// against its maxconn with Acquire). Its outcome goes back through
// Conn.AuthAnswered; the gateway then parses the same head again and asks
// Decide again, which takes the answer instead of asking — so accepting
// the upgrade, proxying, or refusing is the ordinary code path.
//
// The client is a hand-written HTTP/1.1 GET on its own connection, not
// net/http: one connection per subrequest is exactly one Acquire on the
// server the balancer picked, so maxconn, health (passive connect
// failures) and the stats page count subrequests like any session, and
// nothing (a Transport's idle pool) hides connections from that count.
// auth-cache= is what saves the connects under a reconnect storm.

// Conn is the connection a subrequest answers for.
type Conn interface {
	// AuthAnswered is called once, off the event loops, when s has its
	// outcome. It must hand s to the connection's event loop, which (if the
	// connection still waits for s) calls s.MarkAnswered and decides again.
	AuthAnswered(s *Subrequest)
}

// Subrequest is a connection's auth subrequest: in flight, then answered.
// The connection keeps it from Decide's Wait until the decision that uses
// its answer.
type Subrequest struct {
	pool, path string // what was asked: a reload may change the route meanwhile
	done       bool   // the answer is in ans (or err); set on the loop
	ans        auth.Answer
	err        error
}

// Waiting reports whether s is still out: the connection must not look at
// its input until it is answered. A nil s is not waiting.
func (s *Subrequest) Waiting() bool { return s != nil && !s.done }

// MarkAnswered is called on the connection's event loop when it takes the
// outcome AuthAnswered brought: the next Decide uses it.
func (s *Subrequest) MarkAnswered() { s.done = true }

// maxAnswer bounds an auth service's answer head.
const maxAnswer = 16 << 10

// subrequest decides an auth=request route: the answer to the connection's
// subrequest if it has one for this route, else a cached answer, else a new
// subrequest (Wait).
func (a *Access) subrequest(match *router.Decision, q *Request, d Decision) Decision {
	req, r := q.Head, &match.Route
	if s := q.Sub; s != nil && s.done {
		if s.pool == r.AuthPool && s.path == r.AuthPath {
			if s.err != nil {
				return a.failed(q, s.err)
			}
			return a.answer(match, q, d, &s.ans)
		}
		// The route changed under the request (a reload): ask again.
	}
	var ip string
	if q.IP.IsValid() {
		ip = q.IP.String()
	}
	f, ok := forwardOf(req, ip)
	if !ok {
		// Authorization is a singleton (RFC 9110 11.6.2): with two, the auth
		// service and the server behind could each judge a different one.
		a.metrics.refused(reasonInvalid)
		a.log.Debug("auth subrequest: several Authorization fields", "remote", q.Remote, "path", req.Path)
		return refuse(http.StatusBadRequest, "", "more than one Authorization field")
	}
	var key auth.CacheKey
	if r.AuthCache > 0 {
		key = auth.Key(r.AuthPool, r.AuthPath, &f)
		if ans, ok := a.cache.Get(key, r.AuthCache); ok {
			a.metrics.cacheHits.Inc()
			return a.answer(match, q, d, &ans)
		}
	}
	pool := a.router.Current().Pools().Pool(r.AuthPool)
	if pool == nil {
		return a.failed(q, fmt.Errorf("no -backend named %q", r.AuthPool))
	}
	pr := &backend.Request{SourceIP: ip, URI: req.URI, Path: req.Path, Header: req.Header,
		Query: func(name string) string { return codec.QueryParam(req.RawQuery, name) }}
	s := &Subrequest{pool: r.AuthPool, path: r.AuthPath}
	j := &job{a: a, conn: q.Conn, s: s, path: r.AuthPath, fwd: f, key: key, ttl: r.AuthCache, start: time.Now()}
	srv, _, err := pool.Pick(pr)
	switch {
	case err == nil && srv.Acquire():
		go j.run(srv, nil)
	case (err == nil || errors.Is(err, backend.ErrFull)) && pool.Opts.Queue > 0:
		ch := make(chan *backend.Server, 1) // Enqueue's fn runs on whoever frees a slot: it only hands over
		w, ok := pool.Enqueue(pr, func(s *backend.Server) { ch <- s })
		if !ok {
			return a.failed(q, fmt.Errorf("pool %s: every server at maxconn and its queue is full", pool.Name))
		}
		go j.wait(pool, w, ch)
	case err == nil:
		return a.failed(q, fmt.Errorf("pool %s: server %s at maxconn", pool.Name, srv.Name))
	default:
		return a.failed(q, fmt.Errorf("pool %s: %w", pool.Name, err))
	}
	return Decision{Verdict: Wait, Sub: s}
}

// answer applies an auth service's answer (fresh or cached) to the request.
func (a *Access) answer(match *router.Decision, q *Request, d Decision, ans *auth.Answer) Decision {
	switch ans.Verdict() {
	case auth.Deny:
		reason := reasonInvalid
		if ans.Status == http.StatusForbidden {
			reason = reasonForbidden
		}
		a.metrics.refused(reason)
		a.log.Debug("auth service refused", "remote", q.Remote, "path", q.Head.Path, "status", ans.Status)
		return refuse(ans.Status, ans.Challenge, "refused by the auth service")
	case auth.Fail:
		return a.failed(q, fmt.Errorf("auth service answered %d", ans.Status))
	}
	if topic := match.Topic; match.Route.Kind == router.TargetTopic {
		if !ans.MaySubscribe(topic) {
			a.metrics.refused(reasonForbidden)
			return refuse(http.StatusForbidden, "", "the auth service does not grant topic "+topic)
		}
		if may, decided := ans.MayPublish(topic); decided {
			d.NoPub = !may
		}
	} else {
		// As for a JWT: the token parameter never reaches the server.
		stripToken(q.Head)
	}
	return d
}

// failed fails closed: 503, counted as auth_backend_error. It warns at most
// once a second (an outage fails every upgrade; the metric counts them),
// and logs each at debug level.
func (a *Access) failed(q *Request, err error) Decision {
	a.metrics.refused(reasonBackendError)
	now, last := time.Now().UnixNano(), a.lastFailLog.Load()
	if now-last >= int64(time.Second) && a.lastFailLog.CompareAndSwap(last, now) {
		a.log.Warn("auth subrequest failed: answering 503", "path", q.Head.Path, "err", err)
	} else {
		a.log.Debug("auth subrequest failed: answering 503", "remote", q.Remote, "path", q.Head.Path, "err", err)
	}
	return refuse(http.StatusServiceUnavailable, "", "the auth service is unavailable")
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
	f.OriginalURI, _ = codec.StripQueryParam(req.Path, req.RawQuery, "token")
	return f, authorizations <= 1
}

// job is one subrequest, run off the loops.
type job struct {
	a     *Access
	conn  Conn
	s     *Subrequest
	path  string
	fwd   auth.Forward
	key   auth.CacheKey
	ttl   time.Duration // auth-cache; 0: not cached
	start time.Time
}

// wait waits (at most -auth-timeout) for the pool's queue to give a server.
func (j *job) wait(pool *backend.Pool, w *backend.Waiter, ch chan *backend.Server) {
	t := time.NewTimer(j.a.timeout)
	defer t.Stop()
	select {
	case s := <-ch:
		j.run(s, nil)
	case <-t.C:
		if !pool.Cancel(w) {
			(<-ch).Release() // given a server as the timer fired: give it back
		}
		j.run(nil, fmt.Errorf("pool %s: no server free within -auth-timeout %v", pool.Name, j.a.timeout))
	}
}

// run asks server srv (already Acquired; nil when err says why not) and
// hands the outcome to the connection.
func (j *job) run(srv *backend.Server, err error) {
	var ans auth.Answer
	if srv != nil {
		ans, err = j.ask(srv)
		srv.Release()
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
	j.s.ans, j.s.err = ans, err // before AuthAnswered: its hand-over to the loop publishes them
	j.conn.AuthAnswered(j.s)
}

// ask sends the GET and reads the answer head (the body is not read: the
// connection closes). Everything, connect included, ends by the deadline.
func (j *job) ask(s *backend.Server) (auth.Answer, error) {
	deadline := j.start.Add(j.a.timeout)
	connect := time.Until(deadline)
	if ct := s.Pool().Opts.ConnectTimeout; ct > 0 && ct < connect {
		connect = ct
	}
	if connect <= 0 {
		return auth.Answer{}, fmt.Errorf("auth server %s: -auth-timeout %v spent waiting", s, j.a.timeout)
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
		resp, hn, perr := codec.ParseResponseHead(buf, maxAnswer)
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
