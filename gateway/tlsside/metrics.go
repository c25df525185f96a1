package tlsside

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway/tlscert"
)

// certCollector exports the expiry of the served certificates at scrape
// time, from the store's current set, so a SIGHUP reload's renewed
// certificate shows at once. Register it with the TLS listener:
// reg.MustRegister(newCertCollector(store.Certs)).
type certCollector struct {
	certs  func() []tlscert.CertInfo
	expiry *prometheus.Desc
}

func newCertCollector(certs func() []tlscert.CertInfo) *certCollector {
	return &certCollector{
		certs: certs,
		expiry: prometheus.NewDesc("wsgate_tls_cert_expiry_timestamp_seconds",
			"NotAfter of the leaf certificate served for name (its first SAN, or CN), as a Unix time.", []string{"name"}, nil),
	}
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.expiry }

// Collect sends one series per name. Two pairs may share a first name (an
// ECDSA and an RSA certificate for one host): the one expiring first is
// reported, as it is the one to renew.
func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	first := map[string]float64{}
	var order []string
	for _, ci := range c.certs() {
		t := float64(ci.NotAfter.Unix())
		if prev, ok := first[ci.Name]; !ok {
			order = append(order, ci.Name)
			first[ci.Name] = t
		} else if t < prev {
			first[ci.Name] = t
		}
	}
	for _, name := range order {
		ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, first[name], name)
	}
}

// metrics are the TLS listener's figures (registered only with -tls-listen).
type metrics struct {
	handshakes *prometheus.CounterVec // result: ok, resumed, failed; reason for failed
	duration   prometheus.Histogram
	open       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, certs func() []tlscert.CertInfo) *metrics {
	m := &metrics{
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_tls_handshakes_total",
			Help: "TLS handshakes on the TLS listener by result (ok, resumed, failed) and, for failed, reason " +
				"(http: plain HTTP sent, not_tls, version, cipher, alpn, remote_alert, timeout, closed, other)."},
			[]string{"result", "reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wsgate_tls_handshake_duration_seconds",
			Help:    "Time from accept to the end of a successful TLS handshake.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wsgate_tls_connections_open",
			Help: "Client connections open on the TLS listener (also counted in wsgate_connections_open)."}),
	}
	reg.MustRegister(m.handshakes, m.duration, m.open, newCertCollector(certs))
	return m
}
