package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus figures. Hot-path counters are plain
// counters (one atomic add); label lookups only happen on errors and closes.
type metrics struct {
	connsOpen     prometheus.Gauge
	connsTotal    prometheus.Counter
	upgrades      prometheus.Counter
	httpResponses *prometheus.CounterVec
	msgsIn        prometheus.Counter
	bytesIn       prometheus.Counter
	msgsOut       prometheus.Counter
	bytesOut      prometheus.Counter
	writes        prometheus.Counter
	closes        *prometheus.CounterVec
	slowConsumers prometheus.Counter
	timeouts      *prometheus.CounterVec
	publishErrors prometheus.Counter
	refused       *prometheus.CounterVec
	tunnels       prometheus.Counter
	tunnelBytes   prometheus.Counter
	subscribers   prometheus.GaugeFunc

	inflateThrottles prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, subscribers func() float64) *metrics {
	m := &metrics{
		connsOpen:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "wsgate_connections_open", Help: "Client connections open now."}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_connections_total", Help: "Client TCP connections accepted."}),
		upgrades:   prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_upgrades_total", Help: "Successful WebSocket upgrades."}),
		httpResponses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_http_responses_total",
			Help: "HTTP responses the gateway itself sent on the client listener, by status code."}, []string{"code"}),
		msgsIn:   prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_messages_in_total", Help: "WebSocket messages received from clients."}),
		bytesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bytes_in_total", Help: "Payload bytes of messages received from clients."}),
		msgsOut:  prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_messages_out_total", Help: "Broadcast messages delivered to clients."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bytes_out_total", Help: "Frame bytes of broadcast messages delivered to clients."}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_broadcast_writes_total",
			Help: "write/writev calls made for broadcast delivery; messages_out / writes is frames per write."}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_closes_total",
			Help: "Close frames sent by the gateway, by close code."}, []string{"code"}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_slow_consumer_closes_total",
			Help: "Subscribers closed because their unsent outbound bytes exceeded -max-outbound."}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_timeouts_total",
			Help: "Connections closed by a timeout, by kind (handshake, idle)."}, []string{"kind"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_publish_errors_total",
			Help: "Client messages the bus refused (counted, not delivered)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_refused_connections_total",
			Help: "Connections refused at accept, by limit (max-conns, max-conns-per-ip, conn-rate-per-ip)."}, []string{"limit"}),
		tunnels: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_tunnels_total",
			Help: "WebSocket sessions tunneled to a backend server (101 relayed)."}),
		tunnelBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_tunnel_bytes_total",
			Help: "Bytes relayed through tunnels, both directions."}),
		subscribers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_topic_subscribers",
			Help: "Topic subscriptions on this node."}, subscribers),
		inflateThrottles: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_inflate_throttles_total",
			Help: "Times a client was not read until the next loop turn because its compressed messages inflated past its share of the turn."}),
	}
	reg.MustRegister(m.connsOpen, m.connsTotal, m.upgrades, m.httpResponses, m.msgsIn, m.bytesIn, m.msgsOut,
		m.bytesOut, m.writes, m.closes, m.slowConsumers, m.timeouts, m.publishErrors, m.refused, m.tunnels, m.tunnelBytes, m.subscribers, m.inflateThrottles,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) httpResponse(status int) {
	m.httpResponses.WithLabelValues(strconv.Itoa(status)).Inc()
}

// closeSent counts a close frame we sent, labelled by closeLabel.
func (m *metrics) closeSent(code int) {
	m.closes.WithLabelValues(closeLabel(code)).Inc()
}

// closeLabel is the metric label of a close code. We echo the code a peer
// closed with, so a client could otherwise make one series per code (about
// 2,000): the codes RFC 6455 7.4.1 and the IANA registry define keep their
// number, an empty close (echoing a peer's empty close) is "none", the
// registered (3000-3999) and private (4000-4999) ranges are one label each,
// and anything else is "other".
func closeLabel(code int) string {
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
