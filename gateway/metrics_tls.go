package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway/tlscert"
)

// tlsCertCollector exports the expiry of the served certificates at scrape
// time, from the store's current set, so a SIGHUP reload's renewed
// certificate shows at once. Register it with the TLS listener:
// reg.MustRegister(newTLSCertCollector(store.Certs)).
type tlsCertCollector struct {
	certs  func() []tlscert.CertInfo
	expiry *prometheus.Desc
}

func newTLSCertCollector(certs func() []tlscert.CertInfo) *tlsCertCollector {
	return &tlsCertCollector{
		certs: certs,
		expiry: prometheus.NewDesc("wsgate_tls_cert_expiry_timestamp_seconds",
			"NotAfter of the leaf certificate served for name (its first SAN, or CN), as a Unix time.", []string{"name"}, nil),
	}
}

func (c *tlsCertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.expiry }

// Collect sends one series per name. Two pairs may share a first name (an
// ECDSA and an RSA certificate for one host): the one expiring first is
// reported, as it is the one to renew.
func (c *tlsCertCollector) Collect(ch chan<- prometheus.Metric) {
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
