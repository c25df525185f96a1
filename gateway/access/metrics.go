package access

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/router/auth"
)

// metrics are access control's figures (issue 13).
type metrics struct {
	refusals        *prometheus.CounterVec
	expiredSessions prometheus.Counter
	subrequest      *prometheus.HistogramVec // auth=request: duration by result (allow, deny, error)
	cacheHits       prometheus.Counter       // auth=request answers taken from auth-cache
}

// The refusal labels, pre-created so a dashboard sees zeros.
const (
	reasonMissing       = "missing"
	reasonInvalid       = "invalid"
	reasonExpired       = "expired"
	reasonForbidden     = "forbidden"
	reasonPublishDenied = "publish_denied"
	reasonBackendError  = "auth_backend_error"
	reasonUserLimit     = "user_limit" // over -max-conns-per-user (429)
	reasonNoSubject     = "no_subject" // a token without sub while -max-conns-per-user is on (401)
)

func newMetrics(reg prometheus.Registerer, v *auth.Verifier) *metrics {
	m := &metrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_auth_refusals_total",
			Help: "Requests and messages refused by access control, by reason (missing, invalid, expired token; forbidden topic; user_limit over -max-conns-per-user; no_subject, a token without sub while that limit is on; publish_denied; auth_backend_error)."}, []string{"reason"}),
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
	for _, r := range []string{reasonMissing, reasonInvalid, reasonExpired, reasonForbidden, reasonPublishDenied, reasonBackendError, reasonUserLimit, reasonNoSubject} {
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

// refused counts a refusal by reason.
func (m *metrics) refused(reason string) { m.refusals.WithLabelValues(reason).Inc() }
