// Package router decides where a request goes. A Router owns the route table
// (Host and path prefix to a broadcast topic or a backend pool), the backend
// pools (router/backend) and their health checks (router/health); it
// validates a configuration of plain spec strings (Config), reloads to a new
// one without dropping a session, and decides each request: a topic, a pool
// and server (with the stickiness cookie to set), or a refusal status.
//
// It knows no sockets and no gnet types, so it is tested with plain values.
// The gateway imports this package only: layer.go gives it the names it
// needs from the sub-packages (bus, topic table, server states and stats).
package router

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/wsgate/wsgate/router/backend"
	"github.com/wsgate/wsgate/router/health"
)

// Router is wsgate's routing layer: it owns the route table, the backend
// pools and their health checks, and decides where each request goes.
// Event loops read the current Snapshot (one atomic load, no lock); Reload
// swaps in a new one, so a request in flight keeps the routing it started
// with and a reload never touches a session: sessions hold the servers they
// were given, and a server that is gone gets no new ones.
type Router struct {
	log *slog.Logger
	cur atomic.Pointer[Snapshot]

	mu     sync.Mutex      // orders Start and Reload
	ctx    context.Context // nil until Start: health checks run under it
	cfg    Config
	checks map[*backend.Pool]*check // one health checker per live pool
}

// check is one pool's health checker and, once started, its stop.
type check struct {
	checker *health.Checker
	stop    context.CancelFunc
	done    chan struct{} // closed when the checker has returned
}

// Snapshot is the routing of one configuration. It never changes; a reload
// builds a new one. Pools are live (their servers' state moves), the rest is not.
type Snapshot struct {
	routes *Table
	pools  *backend.Registry
}

// Routes returns the routes in match order.
func (s *Snapshot) Routes() []Route { return s.routes.Routes() }

// Pools returns the backend pools, by name and in flag order.
func (s *Snapshot) Pools() *backend.Registry { return s.pools }

// New validates cfg and builds its routes and pools; -drain servers start
// in drain. Health checks start with Start. log receives their state
// changes (nil: slog.Default()).
func New(cfg Config, log *slog.Logger) (*Router, error) {
	if log == nil {
		log = slog.Default()
	}
	cc, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	empty, _ := backend.NewRegistry(nil)
	r := &Router{log: log, checks: map[*backend.Pool]*check{}}
	r.cur.Store(&Snapshot{routes: &Table{}, pools: empty})
	if _, err := r.apply(cfg, cc); err != nil {
		return nil, err
	}
	return r, nil
}

// Current is the routing in force now.
func (r *Router) Current() *Snapshot { return r.cur.Load() }

// Config is the configuration in force now (the last one New or Reload accepted).
func (r *Router) Config() Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// Decide decides req against the current routing (see Snapshot.Decide).
func (r *Router) Decide(req *Request) Decision { return r.Current().Decide(req) }

// Start runs the health checks of every pool, now and after each reload,
// until ctx ends.
func (r *Router) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx = ctx
	for p := range r.checks {
		r.startCheck(p)
	}
}

func (r *Router) startCheck(p *backend.Pool) {
	c := r.checks[p]
	if r.ctx == nil || c.stop != nil {
		return // not started yet (Start starts it), or running
	}
	ctx, stop := context.WithCancel(r.ctx)
	c.stop, c.done = stop, make(chan struct{})
	go func() {
		defer close(c.done)
		if err := c.checker.Run(ctx); err != nil {
			r.log.Error("health checks", "pool", p.Name, "err", err)
		}
	}()
}

// Reloaded says what a Reload changed; pool lists hold names.
type Reloaded struct {
	Routes, Pools int      // in the new configuration
	Added         []string // new pools
	Changed       []string // pools whose servers or options changed: rebuilt, server state carried over
	Removed       []string // pools gone: their servers drain
	Kept          []string // unchanged pools: the same pool, its queue and checks go on
}

// Reload replaces routes, pools, servers, weights and health checks. A
// configuration that does not validate is refused and the running one
// stays. A pool whose spec is unchanged is kept as is (its balancer, queue
// and health checks go on); a changed pool is rebuilt and each of its
// servers that keeps its name and address keeps its state (health, drain,
// maint, counters). Servers that disappear drain: their sessions go on,
// they get no new ones.
func (r *Router) Reload(cfg Config) (Reloaded, error) {
	cc, err := cfg.compile()
	if err != nil {
		return Reloaded{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.apply(cfg, cc)
}

// apply makes cc the current routing. r.mu is held (or r is not shared yet).
func (r *Router) apply(cfg Config, cc *compiled) (Reloaded, error) {
	prev := r.cur.Load()
	res := Reloaded{Routes: len(cc.routes), Pools: len(cc.pools)}
	pools := make([]*backend.Pool, len(cc.pools))
	var fresh []*backend.Pool // built for this configuration: they need checks
	for i, p := range cc.pools {
		old := prev.pools.Pool(p.Name)
		switch {
		case old == nil:
			res.Added = append(res.Added, p.Name)
		case samePool(old, p):
			res.Kept = append(res.Kept, p.Name)
			pools[i] = old
			continue
		default:
			res.Changed = append(res.Changed, p.Name)
			for _, s := range p.Servers {
				if o := old.Server(s.Name); o != nil && o.Addr == s.Addr {
					s.Inherit(o)
				}
			}
		}
		pools[i] = p
		fresh = append(fresh, p)
	}
	reg, err := backend.NewRegistry(pools)
	if err != nil {
		return Reloaded{}, fmt.Errorf("-backend: %w", err) // compile checked the names: not reached
	}
	// From here on nothing fails: the new pools become live.
	for _, p := range fresh {
		c := &check{checker: health.New([]*backend.Pool{p})}
		c.checker.Logger = r.log
		r.checks[p] = c
	}
	for _, ref := range cfg.Drain {
		if s, err := reg.Lookup(ref); err == nil {
			s.SetDrain(true)
		}
	}
	var gone []*backend.Pool
	for _, p := range prev.pools.Pools() {
		np := reg.Pool(p.Name)
		if np == p {
			continue // kept
		}
		if np == nil {
			res.Removed = append(res.Removed, p.Name)
		}
		for _, s := range p.Servers {
			if np == nil || np.Server(s.Name) == nil || np.Server(s.Name).Addr != s.Addr {
				s.SetDrain(true)
			}
		}
		gone = append(gone, p)
	}
	r.cur.Store(&Snapshot{routes: cc.table, pools: reg})
	for _, p := range gone {
		if c := r.checks[p]; c != nil && c.stop != nil {
			c.stop()
		}
		delete(r.checks, p)
	}
	for _, p := range pools {
		r.startCheck(p)
	}
	r.cfg = cfg
	return res, nil
}

// samePool reports whether a freshly parsed pool has the configuration of a
// running one: same options and the same servers in the same order.
func samePool(old, p *backend.Pool) bool {
	if old.Opts != p.Opts || len(old.Servers) != len(p.Servers) {
		return false
	}
	for i, s := range p.Servers {
		o := old.Servers[i]
		if o.Name != s.Name || o.Addr != s.Addr || o.Weight != s.Weight || o.MaxConn != s.MaxConn {
			return false
		}
	}
	return true
}
