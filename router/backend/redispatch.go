package backend

// The session policy of a pool beside Pick: what to do with a server at
// maxconn, where to go after a failed connect, and the cookie that pins a
// client to a server. The gateway's proxy session applies them; they hold no
// state of their own.

// Admit takes a session slot on s, the server Pick chose for a request
// (setCookie as Pick returned it). When s is at maxconn, queue says whether
// the session may wait in the pool's queue (Enqueue) for whichever server
// frees a slot first: only if the pool has a queue and the request is not
// bound to s by its cookie, as sending a sticky request to another server
// would break its session (the gateway answers 503 instead, and the client
// retries).
func (p *Pool) Admit(s *Server, setCookie bool) (acquired, queue bool) {
	if s.Acquire() {
		return true, false
	}
	bound := p.Opts.Cookie != "" && !setCookie
	return false, p.Opts.Queue > 0 && !bound
}

// Redispatch picks and acquires a server other than failed, for a session
// whose connect to failed did not succeed, as HAProxy's "option redispatch"
// does; nil when there is none with a free slot. An empty request makes
// hashing balancers fall back to round robin, so repeated picks walk the
// pool: a full weighted round visits every usable server.
func (p *Pool) Redispatch(failed *Server) *Server {
	tries := len(p.Servers)
	for _, srv := range p.Servers {
		tries += srv.Weight
	}
	for range tries {
		t, _, err := p.Pick(&Request{})
		if err != nil {
			return nil
		}
		if t != failed && t.Acquire() {
			return t
		}
	}
	return nil
}

// Stick returns the Set-Cookie value that pins a client to s
// (`cookie NAME insert`), or "" when the pool has no stickiness cookie.
func (p *Pool) Stick(s *Server) string {
	if p.Opts.Cookie == "" || s == nil {
		return ""
	}
	return p.Opts.Cookie + "=" + s.Name + "; Path=/"
}
