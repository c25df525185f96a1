package gateway

import (
	"cmp"
	"github.com/wsgate/wsgate/gateway/admin"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/router/auth"
)

// authMetrics are access control's counters (issue 13).
type authMetrics struct {
	refusals        *prometheus.CounterVec
	expiredSessions prometheus.Counter
	subrequest      *prometheus.HistogramVec // auth=request: duration by result (allow, deny, error)
	cacheHits       prometheus.Counter       // auth=request answers taken from auth-cache
}

// authReasons are the refusal labels, pre-created so a dashboard sees zeros.
var authReasons = []string{"missing", "invalid", "expired", "forbidden", "publish_denied", "auth_backend_error"}

func newAuthMetrics(reg prometheus.Registerer, v *auth.Verifier) *authMetrics {
	m := &authMetrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_auth_refusals_total",
			Help: "Requests and messages refused by access control, by reason (missing, invalid, expired token; forbidden topic or user limit; publish_denied; auth_backend_error)."}, []string{"reason"}),
		expiredSessions: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_auth_sessions_expired_total",
			Help: "Open sessions closed with 1008 because their token expired."}),
		subrequest: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wsgate_auth_subrequest_duration_seconds",
			Help:    "auth=request subrequests, from the request head to the answer (queue, connect, answer head), by result: allow (2xx), deny (401/403), error (other status, timeout, no server).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"result"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_auth_cache_hits_total",
			Help: "auth=request answers served from auth-cache instead of a subrequest."}),
	}
	for _, r := range []string{"allow", "deny", "error"} {
		m.subrequest.WithLabelValues(r)
	}
	for _, r := range authReasons {
		m.refusals.WithLabelValues(r)
	}
	reg.MustRegister(m.refusals, m.expiredSessions, m.subrequest, m.cacheHits)
	if v != nil {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wsgate_jwks_refreshes_total", Help: "JWK set fetches that succeeded."},
				func() float64 { return float64(v.Refreshes.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wsgate_jwks_refresh_failures_total", Help: "JWK set fetches that failed (the last good keys stay in use)."},
				func() float64 { return float64(v.RefreshFail.Load()) }),
		)
	}
	return m
}

// sortUsers orders the stats page's users: most connections first, then by name.
func sortUsers(u []admin.UserStats) {
	slices.SortFunc(u, func(a, b admin.UserStats) int {
		return cmp.Or(cmp.Compare(b.Connections, a.Connections), cmp.Compare(a.Sub, b.Sub))
	})
}
