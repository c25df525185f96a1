package gateway

import (
	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router"
)

// originAllowed applies the Origin allow-list to a WebSocket upgrade on
// route r, a topic's or a proxied one alike (a proxied upgrade a foreign
// page opens is cross-site WebSocket hijacking just the same): the route's
// origins= option, else -origins. Every Origin field must pass, so that a
// second one cannot hide behind an allowed first.
func (g *Gateway) originAllowed(req *codec.Request, r router.Route) bool {
	for _, h := range req.Headers {
		if codec.ASCIIEqualFold(h.Name, "Origin") && !r.AllowsOrigin(h.Value, g.cfg.Origins) {
			return false
		}
	}
	return true
}
