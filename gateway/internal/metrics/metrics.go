// Package metrics declares the gateway's own Prometheus figures (the
// wsgate_* series of the client side; the admin package adds the per-server
// ones).
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Set is the gateway's Prometheus figures. Hot-path counters are plain
// counters (one atomic add); label lookups only happen on errors and closes.
type Set struct {
	ConnsOpen     prometheus.Gauge
	ConnsTotal    prometheus.Counter
	Upgrades      prometheus.Counter
	HTTPResponses *prometheus.CounterVec
	MsgsIn        prometheus.Counter
	BytesIn       prometheus.Counter
	MsgsOut       prometheus.Counter
	BytesOut      prometheus.Counter
	Writes        prometheus.Counter
	Closes        *prometheus.CounterVec
	SlowConsumers prometheus.Counter
	Timeouts      *prometheus.CounterVec
	PublishErrors prometheus.Counter
	Refused       *prometheus.CounterVec
	Tunnels       prometheus.Counter
	TunnelBytes   prometheus.Counter
	Subscribers   prometheus.GaugeFunc

	InflateThrottles prometheus.Counter
}

// New registers the figures with reg (with Go's and the process's);
// subscribers reports the topic subscriptions at scrape time.
func New(reg prometheus.Registerer, subscribers func() float64) *Set {
	m := &Set{
		ConnsOpen:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "wsgate_connections_open", Help: "Client connections open now."}),
		ConnsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_connections_total", Help: "Client TCP connections accepted."}),
		Upgrades:   prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_upgrades_total", Help: "Successful WebSocket upgrades."}),
		HTTPResponses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_http_responses_total",
			Help: "HTTP responses the gateway itself sent on the client listener, by status code."}, []string{"code"}),
		MsgsIn:   prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_messages_in_total", Help: "WebSocket messages received from clients."}),
		BytesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bytes_in_total", Help: "Payload bytes of messages received from clients."}),
		MsgsOut:  prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_messages_out_total", Help: "Broadcast messages delivered to clients."}),
		BytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bytes_out_total", Help: "Frame bytes of broadcast messages delivered to clients."}),
		Writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_broadcast_writes_total",
			Help: "write/writev calls made for broadcast delivery; messages_out / writes is frames per write."}),
		Closes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_closes_total",
			Help: "Close frames sent by the gateway, by close code."}, []string{"code"}),
		SlowConsumers: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_slow_consumer_closes_total",
			Help: "Subscribers closed because their unsent outbound bytes exceeded -max-outbound."}),
		Timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_timeouts_total",
			Help: "Connections closed by a timeout, by kind (handshake, idle)."}, []string{"kind"}),
		PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_publish_errors_total",
			Help: "Client messages the bus refused (counted, not delivered)."}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_refused_connections_total",
			Help: "Connections refused at accept, by limit (max-conns, max-conns-per-ip, conn-rate-per-ip)."}, []string{"limit"}),
		Tunnels: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_tunnels_total",
			Help: "WebSocket sessions tunneled to a backend server (101 relayed)."}),
		TunnelBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_tunnel_bytes_total",
			Help: "Bytes relayed through tunnels, both directions."}),
		Subscribers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_topic_subscribers",
			Help: "Topic subscriptions on this node."}, subscribers),
		InflateThrottles: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_inflate_throttles_total",
			Help: "Times a client was not read until the next loop turn because its compressed messages inflated past its share of the turn."}),
	}
	reg.MustRegister(m.ConnsOpen, m.ConnsTotal, m.Upgrades, m.HTTPResponses, m.MsgsIn, m.BytesIn, m.MsgsOut,
		m.BytesOut, m.Writes, m.Closes, m.SlowConsumers, m.Timeouts, m.PublishErrors, m.Refused, m.Tunnels, m.TunnelBytes, m.Subscribers, m.InflateThrottles,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// HTTPResponse counts a response the gateway itself sent.
func (m *Set) HTTPResponse(status int) {
	m.HTTPResponses.WithLabelValues(strconv.Itoa(status)).Inc()
}

// CloseSent counts a close frame the gateway sent, labelled by CloseLabel.
func (m *Set) CloseSent(code int) {
	m.Closes.WithLabelValues(CloseLabel(code)).Inc()
}

// CloseLabel is the metric label of a close code. We echo the code a peer
// closed with, so a client could otherwise make one series per code (about
// 2,000): the codes RFC 6455 7.4.1 and the IANA registry define keep their
// number, an empty close (echoing a peer's empty close) is "none", the
// registered (3000-3999) and private (4000-4999) ranges are one label each,
// and anything else is "other".
func CloseLabel(code int) string {
	switch {
	case code == 0:
		return "none"
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return strconv.Itoa(code)
	case code >= 3000 && code <= 3999:
		return "3xxx"
	case code >= 4000 && code <= 4999:
		return "4xxx"
	default:
		return "other"
	}
}
