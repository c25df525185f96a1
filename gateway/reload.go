package gateway

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/backend"
	"github.com/wsgate/wsgate/router/health"
)

// routing is the part of the configuration a reload replaces: routes, pools
// and their health checks. Event loops load it once per request, so a reload
// is one atomic swap and never touches a session in flight: sessions hold the
// servers they were given, and a server that is gone simply gets no new ones.
type routing struct {
	routes  *router.Table
	pools   *backend.Registry
	checker *health.Checker
	stop    context.CancelFunc // stops checker
}

func newRouting(cfg *Config, log *slog.Logger) (*routing, error) {
	routes, err := router.NewTable(cfg.Routes)
	if err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	pools, err := backend.NewRegistry(cfg.Backends)
	if err != nil {
		return nil, fmt.Errorf("backends: %w", err)
	}
	for _, ref := range cfg.Drain {
		s, err := pools.Lookup(ref)
		if err != nil {
			return nil, fmt.Errorf("-drain: %w", err)
		}
		s.SetDrain(true)
	}
	checker := health.New(pools.Pools())
	checker.Logger = log
	return &routing{routes: routes, pools: pools, checker: checker}, nil
}

// start runs the health checks until ctx ends or the routing is replaced.
func (r *routing) start(ctx context.Context, log *slog.Logger) {
	ctx, r.stop = context.WithCancel(ctx)
	go func() {
		if err := r.checker.Run(ctx); err != nil {
			log.Error("health checks", "err", err)
		}
	}()
}

// Reload replaces routes, pools, servers, weights and health checks without
// dropping a session. A configuration that does not validate is refused and
// the running one stays. Settings outside routing (listeners, timeouts,
// limits) need a restart; they are reported, not applied.
func (g *Gateway) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reload refused, keeping the running configuration: %w", err)
	}
	next, err := newRouting(&cfg, g.log)
	if err != nil {
		return fmt.Errorf("reload refused, keeping the running configuration: %w", err)
	}
	prev := g.routing.Load()
	for _, p := range next.pools.Pools() {
		old := prev.pools.Pool(p.Name)
		if old == nil {
			continue
		}
		for _, s := range p.Servers {
			if o := old.Server(s.Name); o != nil && o.Addr == s.Addr {
				drain := s.State() == backend.Drain
				s.Inherit(o)
				if drain || contains(cfg.Drain, p.Name+"/"+s.Name) {
					s.SetDrain(true)
				}
			}
		}
	}
	// Servers that disappeared drain: their sessions go on, they get no new ones.
	for _, p := range prev.pools.Pools() {
		for _, s := range p.Servers {
			if np := next.pools.Pool(p.Name); np == nil || np.Server(s.Name) == nil || np.Server(s.Name).Addr != s.Addr {
				s.SetDrain(true)
			}
		}
	}
	g.runMu.Lock()
	g.routing.Store(next)
	if prev.stop != nil {
		prev.stop()
	}
	if g.runCtx != nil { // before Run, Run starts whichever routing is current
		next.start(g.runCtx, g.log)
	}
	g.runMu.Unlock()
	if restart := restartOnly(&g.cfg, &cfg); len(restart) > 0 {
		g.log.Warn("reload: these settings need a restart and were not applied", "flags", restart)
	}
	g.cfg.Routes, g.cfg.Backends, g.cfg.Drain = cfg.Routes, cfg.Backends, cfg.Drain
	g.log.Info("configuration reloaded", "routes", len(next.routes.Routes()), "pools", len(next.pools.Pools()))
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// restartOnly lists the settings that differ between a and b but are only read at start.
func restartOnly(a, b *Config) []string {
	var out []string
	check := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	check("-listen", a.Listen != b.Listen)
	check("-admin-listen", a.AdminListen != b.AdminListen)
	check("-event-loops", a.EventLoops != b.EventLoops)
	check("-reuseport", a.ReusePort != b.ReusePort)
	check("-handshake-timeout", a.HandshakeTimeout != b.HandshakeTimeout)
	check("-ping-interval", a.PingInterval != b.PingInterval)
	check("-idle-timeout", a.IdleTimeout != b.IdleTimeout)
	check("-max-message-bytes", a.MaxMessageBytes != b.MaxMessageBytes)
	check("-compression", a.Compression != b.Compression)
	return out
}
