package gateway

import "fmt"

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
	if restart := restartOnly(&g.cfg, &cfg); len(restart) > 0 {
		g.log.Warn("reload: these settings need a restart and were not applied", "flags", restart)
	}
	g.log.Info("configuration reloaded", "routes", res.Routes, "pools", res.Pools,
		"pools_added", res.Added, "pools_changed", res.Changed, "pools_removed", res.Removed)
	return nil
}

// restartOnly lists the settings that differ between a and b but are only
// read at start. Everything in Routing is applied by a reload.
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
	check("-tls-listen", a.TLS.Listen != b.TLS.Listen)
	check("-tls-min-version", a.TLS.MinVersion != b.TLS.MinVersion)
	return out
}
