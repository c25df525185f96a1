package router

import (
	"errors"
	"net/http"

	"github.com/wsgate/wsgate/router/backend"
)

// Request is what the router needs to know about a request head. Match
// reads Host, Path and Upgrade; the rest is for Decide's server pick.
type Request struct {
	Host    string // the Host header (a port is ignored)
	Path    string // the target's path, without the query
	Upgrade bool   // a WebSocket upgrade request

	SourceIP string                   // client address, for balance=source
	URI      string                   // request target as received, for balance=uri
	Header   func(name string) string // header lookup (lower-case name), for balance=hdr; nil: none
	Query    func(name string) string // query parameter lookup, for balance=query; nil: none
	Cookies  func(name string) string // cookie lookup, for the pool's stickiness cookie; nil: none
}

// PickRequest is what a pool's balancer was given (backend.Request).
type PickRequest = backend.Request

// Decision is where a request goes: a topic, a backend pool (and, from
// Decide, its server), or a refusal.
type Decision struct {
	// Status is 0 to go ahead, or the HTTP status to refuse the request
	// with: 400 (a path CleanPath refuses), 404 (no route), 426 (a topic route asked without an upgrade),
	// 503 (no pool, no server up, every server full).
	Status int
	Reason string // why it is refused, for the response body and the log

	Route Route  // the matching route, refused or not (zero for a 404)
	Topic string // a topic route: the topic to join
	Pool  *Pool  // a backend route: its pool

	// Set by Decide only (Match leaves the pick to the caller):
	Server    *Server      // the server picked; nil with Queue. Not counted: call Server.Acquire
	SetCookie bool         // the response must set the pool's cookie to Server.Name
	Queue     bool         // every server is at maxconn and the pool has a queue: Pool.Enqueue(Pick, ...)
	Pick      *PickRequest // the request the server was picked for (its Cookie filled in)
}

// Pool is a backend pool: its servers, options and balancer (backend.Pool).
type Pool = backend.Pool

// Server is one server of a pool, with its live state (backend.Server).
type Server = backend.Server

// Match decides the route of req: a topic, a pool, or a refusal (404, 426,
// 503 for a route whose pool is missing). It leaves the server pick to the
// caller.
func (s *Snapshot) Match(req *Request) Decision {
	path, err := CleanPath(req.Path)
	if err != nil {
		return Decision{Status: http.StatusBadRequest, Reason: err.Error()}
	}
	r, topic, ok := s.routes.Match(req.Host, path)
	if !ok {
		return Decision{Status: http.StatusNotFound, Reason: "no route for " + req.Path}
	}
	d := Decision{Route: r, Topic: topic}
	switch r.Kind {
	case TargetTopic:
		if !req.Upgrade {
			d.Status, d.Reason = http.StatusUpgradeRequired, "this route only speaks WebSocket"
		}
	case TargetBackend:
		if d.Pool = s.pools.Pool(r.Name); d.Pool == nil {
			d.Status, d.Reason = http.StatusServiceUnavailable, "no backend pool "+r.Name
		}
	}
	return d
}

// Decide is Match, then for a backend route the server pick: the server
// the pool's cookie names (sticky) or its balancer chooses, whether the
// response must set the cookie, or Queue when every server is at maxconn
// and the pool has a queue; 503 when no server is up or all are full
// without a queue. The session is not counted: call Server.Acquire.
func (s *Snapshot) Decide(req *Request) Decision {
	d := s.Match(req)
	if d.Status != 0 || d.Pool == nil {
		return d
	}
	p := d.Pool
	pick := PickRequest{SourceIP: req.SourceIP, URI: req.URI, Path: req.Path, Header: req.Header, Query: req.Query}
	if p.Opts.Cookie != "" && req.Cookies != nil {
		pick.Cookie = req.Cookies(p.Opts.Cookie)
	}
	d.Pick = &pick
	srv, setCookie, err := p.Pick(&pick)
	switch {
	case err == nil:
		d.Server, d.SetCookie = srv, setCookie
	case errors.Is(err, backend.ErrFull) && p.Opts.Queue > 0:
		d.Queue = true
	default:
		d.Status, d.Reason = http.StatusServiceUnavailable, "pool "+p.Name+": "+err.Error()
	}
	return d
}
