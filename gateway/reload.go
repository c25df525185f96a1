package gateway

import (
	"fmt"

	"github.com/wsgate/wsgate/gateway/config"
)

// Reload applies a new configuration's routing (routes, pools, servers,
// weights, health checks: see router.Router.Reload) without dropping a
// session. A configuration that does not validate is refused and the running
// one stays. Settings outside routing (listeners, timeouts, limits) need a
// restart; they are reported, not applied.
func (g *Gateway) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reload refused, keeping the running configuration: %w", err)
	}
	res, err := g.router.Reload(cfg.Routing)
	if err != nil {
		return fmt.Errorf("reload refused, keeping the running configuration: %w", err)
	}
	if err := g.reloadTLS(&cfg); err != nil {
		g.log.Error("reload", "err", err) // routing was applied; the certificates stay
	}
	if restart := config.RestartOnly(&g.cfg, &cfg); len(restart) > 0 {
		g.log.Warn("reload: these settings need a restart and were not applied", "flags", restart)
	}
	g.log.Info("configuration reloaded", "routes", res.Routes, "pools", res.Pools,
		"pools_added", res.Added, "pools_changed", res.Changed, "pools_removed", res.Removed)
	return nil
}
