package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/wsgate/wsgate/router"
)

// serversHandler serves GET /v1/servers (every server's state and counters as
// JSON) and POST /v1/servers/{pool}/{server}?state=drain|ready|maint, the
// runtime equivalent of HAProxy's "set server app/s1 state drain".
func (g *Server) serversHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1/servers"), "/")
		switch {
		case r.Method == http.MethodGet && ref == "":
			var out []router.ServerStats
			for _, p := range g.router.Current().PoolStats() {
				out = append(out, p.Servers...)
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
		case r.Method == http.MethodPost && ref != "":
			if !g.authorizedPublisher(r) {
				http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
				return
			}
			st, err := g.router.SetServerState(ref, r.URL.Query().Get("state"))
			switch {
			case errors.Is(err, router.ErrBadState):
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			case err != nil:
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			g.log.Info("server state set by admin", "server", ref, "state", st.State.String())
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(st)
		default:
			http.Error(w, "GET /v1/servers or POST /v1/servers/POOL/SERVER?state=drain|maint|ready", http.StatusMethodNotAllowed)
		}
	})
}
