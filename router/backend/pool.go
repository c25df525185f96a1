// Package backend holds the backend pools of wsgate: their configuration
// (parsed from `-backend` flags), the live state of each server (up, down,
// drain, maint; session and byte counters) and Pool.Pick, which applies
// cookie stickiness and then the pool's balancer.
//
// It is the router side of proxying and knows no sockets: the gateway calls
// Pick and Acquire when a session starts, ConnectFailed/ConnectOK when its
// upstream dial ends, and Release when the session closes; router/health runs
// the active checks and calls CheckResult. State lives in atomics, so Pick is
// cheap and safe from every event loop at once, and a server that goes down
// stops receiving new sessions on the very next Pick.
//
// Semantics follow HAProxy, which the users this replaces already know:
// `cookie NAME insert indirect nocache` stickiness with redispatch when the
// cookie's server is down, `drain` that keeps persistent sessions, rise/fall
// counters shared by active checks and passive connect failures.
package backend

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsgate/wsgate/router/balance"
)

// Errors of Pick.
var (
	// ErrNoServer means no server of the pool is up (answer 503).
	ErrNoServer = errors.New("no server available")
	// ErrFull means servers are up but all are at maxconn, or sessions are
	// already queued: Enqueue the session if the pool has a queue, else 503.
	ErrFull = errors.New("all servers at maxconn")
)

// CheckKind is an active health check type.
type CheckKind uint8

// The check types.
const (
	CheckNone CheckKind = iota // no active check (see router/health for passive-down recovery)
	CheckTCP                   // connect within the timeout
	CheckHTTP                  // GET Path; 2xx, 3xx or 101 is up
)

// CheckSpec is a parsed `check=` value.
type CheckSpec struct {
	Kind CheckKind
	Path string // for CheckHTTP, starts with "/"
}

func (c CheckSpec) String() string {
	switch c.Kind {
	case CheckTCP:
		return "tcp"
	case CheckHTTP:
		return "http:" + c.Path
	}
	return "none"
}

// ParseCheck parses tcp, http:PATH or none.
func ParseCheck(s string) (CheckSpec, error) {
	switch {
	case s == "tcp":
		return CheckSpec{Kind: CheckTCP}, nil
	case s == "none":
		return CheckSpec{}, nil
	case strings.HasPrefix(s, "http:"):
		path := s[len("http:"):]
		if !strings.HasPrefix(path, "/") {
			return CheckSpec{}, fmt.Errorf("check=%s: path must start with /", s)
		}
		if strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return CheckSpec{}, fmt.Errorf("check=%s: path must not contain spaces or control characters", s)
		}
		return CheckSpec{Kind: CheckHTTP, Path: path}, nil
	}
	return CheckSpec{}, fmt.Errorf("check=%s: want tcp, http:PATH or none", s)
}

// Options are a pool's settings. The global flags give the defaults
// (Parse's def); each `-backend` may override them.
type Options struct {
	Balance        string        // roundrobin|leastconn|source|uri|hdr:NAME|query:NAME
	Cookie         string        // stickiness cookie name; "" = no stickiness
	Check          CheckSpec     // active check; zero = none
	Inter          time.Duration // check interval, also the check timeout
	Rise, Fall     int           // consecutive successes to go up / failures to go down
	MaxConn        int           // per-server session limit; 0 = unlimited
	ConnectTimeout time.Duration // upstream dial
	ServerTimeout  time.Duration // waiting for a response head (HTTP, and the 101)
	TunnelTimeout  time.Duration // idle WebSocket tunnel
	Queue          int           // sessions that may wait for a server at maxconn; 0 = 503 at once
	Grip           bool          // ";grip": offer GRIP to the servers on upgrades (backend-driven subscriptions)
}

// DefaultOptions are HAProxy's usual values: roundrobin, inter 2s, rise 2,
// fall 3, connect 5s, server 30s, tunnel 1h. Parse fills every zero field of
// its def from them.
func DefaultOptions() Options {
	return Options{
		Balance: "roundrobin", Inter: 2 * time.Second, Rise: 2, Fall: 3,
		ConnectTimeout: 5 * time.Second, ServerTimeout: 30 * time.Second, TunnelTimeout: time.Hour,
	}
}

func (o *Options) fillDefaults() {
	d := DefaultOptions()
	if o.Balance == "" {
		o.Balance = d.Balance
	}
	if o.Inter <= 0 {
		o.Inter = d.Inter
	}
	if o.Rise <= 0 {
		o.Rise = d.Rise
	}
	if o.Fall <= 0 {
		o.Fall = d.Fall
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = d.ConnectTimeout
	}
	if o.ServerTimeout <= 0 {
		o.ServerTimeout = d.ServerTimeout
	}
	if o.TunnelTimeout <= 0 {
		o.TunnelTimeout = d.TunnelTimeout
	}
}

// Request is what Pick needs to know about a new session or HTTP request.
// Header and Query may be nil (treated as absent); Header is called with a
// lower-case name and must match case-insensitively.
type Request struct {
	SourceIP string // client IP (a port, if present, is ignored)
	URI      string // request target as received
	Path     string // URI path without the query
	Header   func(name string) string
	Query    func(name string) string
	Cookie   string // value of the pool's stickiness cookie; "" if absent
}

// Pool is a named set of servers with one balancer and one set of options.
// Build it with Parse or NewPool; its configuration never changes afterwards
// (a reload builds new pools).
type Pool struct {
	Name    string
	Servers []*Server
	Opts    Options
	Method  balance.Method
	Spec    string // the -backend flag value, "" if built with NewPool

	byName   map[string]*Server
	bal      balance.Balancer
	onChange atomic.Pointer[func(Change)]

	queued atomic.Int32 // len(queue), read without qmu on hot paths
	qmu    sync.Mutex
	queue  list.List // of *Waiter
}

// NewPool builds a pool from servers (Name, Addr, Weight, MaxConn set; a zero
// MaxConn takes opts.MaxConn; Weight 0 means sticky sessions only, as in
// Parse) and options (zero fields take DefaultOptions).
func NewPool(name string, servers []*Server, opts Options) (*Pool, error) {
	opts.fillDefaults()
	m, err := balance.ParseMethod(opts.Balance)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", name, err)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("backend %q: no servers", name)
	}
	p := &Pool{Name: name, Servers: servers, Opts: opts, Method: m, byName: make(map[string]*Server, len(servers))}
	for _, s := range servers {
		if _, dup := p.byName[s.Name]; dup {
			return nil, fmt.Errorf("backend %q: duplicate server name %q", name, s.Name)
		}
		if s.MaxConn == 0 {
			s.MaxConn = opts.MaxConn
		}
		s.pool = p
		p.byName[s.Name] = s
	}
	p.bal, err = balance.New(m, serverSet(servers))
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", name, err)
	}
	return p, nil
}

// serverSet is the balancer's view of the pool.
type serverSet []*Server

func (ss serverSet) Len() int          { return len(ss) }
func (ss serverSet) Weight(i int) int  { return ss[i].Weight }
func (ss serverSet) ID(i int) string   { return ss[i].Name }
func (ss serverSet) Usable(i int) bool { return ss[i].usable() }
func (ss serverSet) Load(i int) int64  { return ss[i].active.Load() }

// Server returns the server named name, or nil.
func (p *Pool) Server(name string) *Server { return p.byName[name] }

// SetOnChange installs the hook called on every state change of a server of
// the pool, whatever caused it: a check, a passive failure, SetDrain/SetMaint.
// It runs synchronously on the goroutine that caused the change (an event
// loop for passive failures), so it must be quick. router/health installs one
// that logs and forwards to its own OnChange.
func (p *Pool) SetOnChange(fn func(Change)) {
	if fn == nil {
		p.onChange.Store(nil)
		return
	}
	p.onChange.Store(&fn)
}

// Pick chooses the server for a new session or HTTP request.
//
//  1. With a stickiness cookie configured and present, naming a server that
//     is UP or DRAIN, that server (setCookie false). HAProxy's drain keeps
//     persistent sessions, so a draining server still gets requests that
//     carry its cookie — which is what lets Socket.IO's polling sessions
//     finish. The sticky server is returned even at maxconn: sending a
//     session-bound request elsewhere would break it, so the gateway's
//     Acquire fails and it answers 503 (the client retries).
//  2. Otherwise the balancer over UP servers below maxconn, with the key its
//     method hashes (source IP, path, header, query parameter). setCookie is
//     true when the pool has a cookie: absent, unknown, or naming a server
//     that is DOWN or MAINT (redispatch), the response must set it anew.
//
// ErrNoServer: no server is up. ErrFull: servers are up but all are at
// maxconn, or earlier sessions are queued (first come, first served).
// Pick does not count the session: call Acquire on the result.
func (p *Pool) Pick(r *Request) (s *Server, setCookie bool, err error) {
	if r == nil {
		r = &Request{}
	}
	sticky := p.Opts.Cookie != ""
	if sticky && r.Cookie != "" {
		if s := p.byName[r.Cookie]; s != nil {
			if st := s.State(); st == Up || st == Drain {
				return s, false, nil
			}
		}
	}
	if p.queued.Load() > 0 {
		return nil, false, p.noServer()
	}
	i := p.bal.Pick(p.key(r))
	if i < 0 {
		return nil, false, p.noServer()
	}
	return p.Servers[i], sticky, nil
}

// noServer tells ErrFull from ErrNoServer.
func (p *Pool) noServer() error {
	for _, s := range p.Servers {
		if s.State() == Up && s.Weight > 0 {
			return ErrFull
		}
	}
	return ErrNoServer
}

// key returns the hash key of r for the pool's method ("" for the others).
func (p *Pool) key(r *Request) string {
	switch p.Method.Kind {
	case balance.Source:
		return hostOnly(r.SourceIP)
	case balance.URI:
		if r.Path != "" {
			return r.Path
		}
		path, _, _ := strings.Cut(r.URI, "?")
		return path
	case balance.Header:
		if r.Header != nil {
			return r.Header(p.Method.Arg)
		}
	case balance.Query:
		if r.Query != nil {
			return r.Query(p.Method.Arg)
		}
	}
	return ""
}

// hostOnly drops a port from an address: "10.0.0.1:5000" and "10.0.0.1"
// both give "10.0.0.1", "[::1]:5000" gives "::1", a bare IPv6 is kept.
func hostOnly(a string) string {
	if strings.HasPrefix(a, "[") {
		if host, _, err := net.SplitHostPort(a); err == nil {
			return host
		}
		return strings.Trim(a, "[]")
	}
	if strings.Count(a, ":") == 1 {
		return a[:strings.IndexByte(a, ':')]
	}
	return a
}

// Up counts the servers that take new sessions.
func (p *Pool) Up() int {
	n := 0
	for _, s := range p.Servers {
		if s.State() == Up {
			n++
		}
	}
	return n
}

// String is the pool in -backend syntax with every option explicit, for
// `wsgate -check` to print what it would run.
func (p *Pool) String() string {
	var b strings.Builder
	b.WriteString(p.Name)
	b.WriteByte('=')
	for i, s := range p.Servers {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s@%s*%d", s.Name, s.Addr, s.Weight)
	}
	o := p.Opts
	fmt.Fprintf(&b, ";balance=%s", p.Method)
	if o.Cookie != "" {
		fmt.Fprintf(&b, ";cookie=%s", o.Cookie)
	}
	fmt.Fprintf(&b, ";check=%s;inter=%s;rise=%d;fall=%d;maxconn=%d", o.Check, o.Inter, o.Rise, o.Fall, o.MaxConn)
	if o.Queue > 0 {
		fmt.Fprintf(&b, ";queue=%d", o.Queue)
	}
	fmt.Fprintf(&b, ";connect-timeout=%s;server-timeout=%s;tunnel-timeout=%s", o.ConnectTimeout, o.ServerTimeout, o.TunnelTimeout)
	if o.Grip {
		b.WriteString(";grip")
	}
	return b.String()
}

// Waiter is a session queued by Enqueue.
type Waiter struct {
	key  string
	fn   func(*Server)
	elem *list.Element
}

// Enqueue queues a session that got ErrFull, if the pool has room in its
// queue (Opts.Queue); false means answer 503. When a slot frees up (a
// Release, a server coming up or leaving drain/maint), the oldest waiter is
// given a server already Acquired for it: fn(s) runs on the goroutine that
// freed the slot (often another event loop), so it must only hand the session
// over to its own loop. The gateway Cancels the waiter when the client goes
// away or its queue timeout (connect-timeout) passes.
func (p *Pool) Enqueue(r *Request, fn func(s *Server)) (*Waiter, bool) {
	if r == nil {
		r = &Request{}
	}
	w := &Waiter{key: p.key(r), fn: fn}
	p.qmu.Lock()
	if p.queue.Len() >= p.Opts.Queue {
		p.qmu.Unlock()
		return nil, false
	}
	w.elem = p.queue.PushBack(w)
	p.queued.Store(int32(p.queue.Len()))
	p.qmu.Unlock()
	p.dequeue() // a slot may have freed since Pick
	return w, true
}

// Cancel removes w from the queue. It returns false if w was already given a
// server (its fn has run or is running: the gateway must then Release it).
func (p *Pool) Cancel(w *Waiter) bool {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if w.elem == nil {
		return false
	}
	p.queue.Remove(w.elem)
	w.elem = nil
	p.queued.Store(int32(p.queue.Len()))
	return true
}

// Queued is the number of waiting sessions.
func (p *Pool) Queued() int { return int(p.queued.Load()) }

// dequeue hands free slots to waiters, oldest first.
func (p *Pool) dequeue() {
	if p.queued.Load() == 0 {
		return
	}
	type grant struct {
		w *Waiter
		s *Server
	}
	var grants []grant
	p.qmu.Lock()
	for p.queue.Len() > 0 {
		w := p.queue.Front().Value.(*Waiter)
		i := p.bal.Pick(w.key)
		if i < 0 || !p.Servers[i].Acquire() {
			break
		}
		p.queue.Remove(w.elem)
		w.elem = nil
		grants = append(grants, grant{w, p.Servers[i]})
	}
	p.queued.Store(int32(p.queue.Len()))
	p.qmu.Unlock()
	for _, g := range grants {
		g.w.fn(g.s)
	}
}

// Registry is the set of pools, looked up by name by the route table.
type Registry struct {
	pools  []*Pool
	byName map[string]*Pool
}

// NewRegistry indexes pools; two pools with one name are an error.
func NewRegistry(pools []*Pool) (*Registry, error) {
	r := &Registry{pools: pools, byName: make(map[string]*Pool, len(pools))}
	for _, p := range pools {
		if _, dup := r.byName[p.Name]; dup {
			return nil, fmt.Errorf("backend %q: defined twice", p.Name)
		}
		r.byName[p.Name] = p
	}
	return r, nil
}

// Pool returns the pool named name, or nil.
func (r *Registry) Pool(name string) *Pool { return r.byName[name] }

// Pools returns the pools in flag order.
func (r *Registry) Pools() []*Pool { return r.pools }

// Lookup finds a server by "pool/server" (as in `-drain app/s1` and the logs).
func (r *Registry) Lookup(ref string) (*Server, error) {
	pool, name, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, fmt.Errorf("server %q: want POOL/SERVER", ref)
	}
	p := r.Pool(pool)
	if p == nil {
		return nil, fmt.Errorf("server %q: no backend %q", ref, pool)
	}
	s := p.Server(name)
	if s == nil {
		return nil, fmt.Errorf("server %q: backend %q has no server %q", ref, pool, name)
	}
	return s, nil
}

// SetOnChange installs fn as every pool's state-change hook.
func (r *Registry) SetOnChange(fn func(Change)) {
	for _, p := range r.pools {
		p.SetOnChange(fn)
	}
}
