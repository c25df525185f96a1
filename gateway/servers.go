package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/wsgate/wsgate/router/backend"
)

// serversHandler serves GET /v1/servers (every server's state and counters as
// JSON) and POST /v1/servers/{pool}/{server}?state=drain|ready|maint, the
// runtime equivalent of HAProxy's "set server app/s1 state drain".
func (g *Gateway) serversHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1/servers"), "/")
		switch {
		case r.Method == http.MethodGet && ref == "":
			var out []backend.Stats
			for _, p := range g.routing.Load().pools.Pools() {
				for _, s := range p.Servers {
					out = append(out, s.Stats())
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
		case r.Method == http.MethodPost && ref != "":
			if !g.authorizedPublisher(r) {
				http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
				return
			}
			s, err := g.routing.Load().pools.Lookup(ref)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			switch state := r.URL.Query().Get("state"); state {
			case "drain":
				s.SetMaint(false)
				s.SetDrain(true)
			case "maint":
				s.SetMaint(true)
			case "ready":
				s.SetMaint(false)
				s.SetDrain(false)
			default:
				http.Error(w, "state must be drain, maint or ready", http.StatusBadRequest)
				return
			}
			g.log.Info("server state set by admin", "server", ref, "state", s.State().String())
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(s.Stats())
		default:
			http.Error(w, "GET /v1/servers or POST /v1/servers/POOL/SERVER?state=drain|maint|ready", http.StatusMethodNotAllowed)
		}
	})
}
