package router

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wsgate/wsgate/router/backend"
)

// Config is the part of wsgate's configuration the router owns: the -route,
// -backend and -drain flag values and the pool defaults the global flags set.
// It is plain data (spec strings, no live pool), so it can be built, compared
// and validated without starting anything; New and Reload turn it into
// pools and health checks. Errors name the flags, as `wsgate -check` prints them.
type Config struct {
	Routes   []string // -route values: [HOST]PATH_PREFIX=topic:NAME|backend:POOL[;opt=val...]
	Backends []string // -backend values: POOL=SERVER[,SERVER...][;opt=val...]
	Drain    []string // -drain values: POOL/SERVER put in drain at start and on reload
	// PoolDefaults are what a -backend does not set itself (-balance,
	// -connect-timeout, -check-inter...); zero fields take DefaultPoolOptions.
	PoolDefaults PoolOptions
}

// PoolOptions are a pool's settings (balance, cookie, check, timeouts...).
type PoolOptions = backend.Options

// DefaultPoolOptions are the pool settings when neither a -backend option nor
// a global flag sets them (HAProxy's usual values).
func DefaultPoolOptions() PoolOptions { return backend.DefaultOptions() }

// Validate returns every problem in c, one per line in the joined error.
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

// Describe returns what c would run, for `wsgate -check`: each pool in
// -backend syntax with every option explicit, then each route as given.
// Specs that do not parse are left out (Validate reports them).
func (c *Config) Describe() (pools, routes []string) {
	cc, _ := c.compile()
	for _, p := range cc.pools {
		pools = append(pools, p.String())
	}
	for _, r := range cc.routes {
		routes = append(routes, r.Spec)
	}
	return pools, routes
}

// compiled is a parsed Config: routes in flag order, the route table and
// pools that are built but not started (no health check, no hook).
type compiled struct {
	routes []Route
	table  *Table
	pools  []*backend.Pool
	reg    *backend.Registry
}

// Broadcasts reports whether c can deliver broadcasts on a loop: a topic
// route, or a route to a GRIP pool (its held sessions take publishes).
// cmd/wsgate keeps a spare scheduler P for such a node (procs there).
func (c *Config) Broadcasts() bool {
	cc, _ := c.compile()
	for _, r := range cc.routes {
		switch {
		case r.Kind == TargetTopic:
			return true
		case r.Kind == TargetBackend && cc.reg != nil:
			if p := cc.reg.Pool(r.Name); p != nil && p.Opts.Grip {
				return true
			}
		}
	}
	return false
}

// compile parses every spec and cross-checks them (routes to pools, -drain
// to servers). It reports every problem it finds; on error the result holds
// what did parse.
func (c *Config) compile() (*compiled, error) {
	var errs []error
	cc := &compiled{}
	for _, s := range c.Routes {
		r, err := ParseRoute(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("-route: %w", err))
			continue
		}
		cc.routes = append(cc.routes, r)
	}
	table, err := NewTable(cc.routes)
	if err != nil {
		errs = append(errs, fmt.Errorf("-route: %w", err))
	}
	cc.table = table
	errs = append(errs, checkTopicAuth(cc.routes)...)
	var broken []string // pools whose spec failed: a route naming one is not reported again
	for _, s := range c.Backends {
		p, err := backend.Parse(s, c.PoolDefaults)
		if err != nil {
			errs = append(errs, fmt.Errorf("-backend: %w", err))
			name, _, _ := strings.Cut(s, "=")
			broken = append(broken, name)
			continue
		}
		cc.pools = append(cc.pools, p)
	}
	reg, err := backend.NewRegistry(cc.pools)
	if err != nil {
		return cc, errors.Join(append(errs, fmt.Errorf("-backend: %w", err))...)
	}
	cc.reg = reg
	for _, r := range cc.routes {
		if r.Kind == TargetBackend && reg.Pool(r.Name) == nil && !slices.Contains(broken, r.Name) {
			errs = append(errs, fmt.Errorf("-route %q: no -backend named %q", r.Spec, r.Name))
		}
		if r.Auth == AuthRequest && reg.Pool(r.AuthPool) == nil && !slices.Contains(broken, r.AuthPool) {
			errs = append(errs, fmt.Errorf("-route %q: auth=request: no -backend named %q", r.Spec, r.AuthPool))
		}
	}
	for _, ref := range c.Drain {
		pool, _, _ := strings.Cut(ref, "/")
		if _, err := reg.Lookup(ref); err != nil && !slices.Contains(broken, pool) {
			errs = append(errs, fmt.Errorf("-drain: %w", err))
		}
	}
	return cc, errors.Join(errs...)
}
