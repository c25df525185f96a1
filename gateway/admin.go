package gateway

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsgate/wsgate/router"
)

// adminHandler serves the admin listener: health, metrics and profiles. It is
// plain net/http on its own goroutines, away from the event loops.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if g.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		// A degraded bus still serves local clients: report it, stay 200.
		if s, ok := g.bus.(router.BusStatuser); ok {
			if healthy, detail := s.Status(); !healthy {
				_, _ = w.Write([]byte("ok\nbus: degraded: " + detail + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/v1/publish/{topic...}", g.publishHandler())
	if g.cfg.StatsURI != "" {
		mux.Handle(g.cfg.StatsURI, g.statsHandler())
	}
	mux.Handle("/v1/servers", g.serversHandler())
	mux.Handle("/v1/servers/", g.serversHandler())
	mux.Handle("/metrics", promhttp.HandlerFor(g.gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
