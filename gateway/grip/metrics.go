package grip

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are GRIP's Prometheus figures, one set per gateway (shared by its
// loops' Channels).
type Metrics struct {
	sessions      *prometheus.GaugeVec   // attached, detached
	subscriptions prometheus.Gauge       // channel memberships
	refused       *prometheus.CounterVec // subscribes ignored: limit, name
	control       *prometheus.CounterVec // control messages by type
	dropped       prometheus.Counter     // backend data messages without prefix
	discarded     prometheus.Counter     // client messages after detach
	backlog       prometheus.Counter     // sessions closed: publishes piled up behind a long backend message
}

// NewMetrics registers GRIP's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wsgate_grip_sessions",
			Help: "GRIP-managed client sessions, by state (attached: the backend connection is open; detached: the gateway holds the client alone)"}, []string{"state"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wsgate_grip_subscriptions",
			Help: "channel subscriptions of GRIP sessions"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_grip_subscribes_ignored_total",
			Help: "GRIP subscribe control messages ignored, by reason (limit: -max-topics-per-conn; name: invalid channel name)"}, []string{"reason"}),
		control: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_grip_control_messages_total",
			Help: "GRIP control messages from backends, by type (unknown and malformed included)"}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_grip_dropped_messages_total",
			Help: "backend data messages of GRIP sessions dropped: neither control nor message prefix"}),
		discarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_grip_client_messages_discarded_total",
			Help: "client messages of detached GRIP sessions, which have no backend to go to"}),
		backlog: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_grip_backlog_closes_total",
			Help: "GRIP sessions closed because publishes piled up while their backend sent a long fragmented message"}),
	}
	reg.MustRegister(m.sessions, m.subscriptions, m.refused, m.control, m.dropped, m.discarded, m.backlog)
	for _, s := range []string{"attached", "detached"} {
		m.sessions.WithLabelValues(s) // both states show from the start, at 0
	}
	return m
}

// Event counts one event of a session machine (proxy.GripEnv.Event):
// "dropped", "backlog", "control:TYPE"; "detached" is counted by
// Channels.Detach, when the gateway takes the client over.
func (m *Metrics) Event(kind string) {
	switch kind {
	case "dropped":
		m.dropped.Inc()
	case "backlog":
		m.backlog.Inc()
	default:
		if t, ok := strings.CutPrefix(kind, "control:"); ok && t != "" {
			m.control.WithLabelValues(t).Inc()
		}
	}
}

// Discarded counts a message from a detached client: it has no backend to
// go to.
func (m *Metrics) Discarded() { m.discarded.Inc() }
