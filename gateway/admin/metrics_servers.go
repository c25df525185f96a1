package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/router"
)

// serverCollector exports per-pool and per-server figures at scrape time
// from the running configuration, so a reload's new servers appear and removed
// ones go. Labels are pool and server names: bounded by the configuration.
type serverCollector struct {
	pools func() []router.PoolStats

	up, active, queued       *prometheus.Desc
	total, bytesIn, bytesOut *prometheus.Desc
}

// NewServerCollector exports the per-pool and per-server figures that pools
// returns at each scrape (wsgate_server_*, wsgate_pool_queued_sessions).
func NewServerCollector(pools func() []router.PoolStats) prometheus.Collector {
	l := []string{"pool", "server"}
	return &serverCollector{
		pools:    pools,
		up:       prometheus.NewDesc("wsgate_server_up", "1 if the server takes new sessions (UP), 0 if DOWN, DRAIN or MAINT.", append(l, "state"), nil),
		active:   prometheus.NewDesc("wsgate_server_sessions", "Sessions open to the server now.", l, nil),
		total:    prometheus.NewDesc("wsgate_server_sessions_total", "Sessions opened to the server.", l, nil),
		bytesIn:  prometheus.NewDesc("wsgate_server_bytes_in_total", "Bytes sent from clients to the server.", l, nil),
		bytesOut: prometheus.NewDesc("wsgate_server_bytes_out_total", "Bytes sent from the server to clients.", l, nil),
		queued:   prometheus.NewDesc("wsgate_pool_queued_sessions", "Sessions waiting for a server slot (maxconn).", []string{"pool"}, nil),
	}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.active, c.total, c.bytesIn, c.bytesOut, c.queued} {
		ch <- d
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.pools() {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(p.Queued), p.Name)
		for _, st := range p.Servers {
			up := 0.0
			if st.State == router.ServerUp {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, p.Name, st.Name, st.State.String())
			ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(st.Active), p.Name, st.Name)
			ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(st.Total), p.Name, st.Name)
			ch <- prometheus.MustNewConstMetric(c.bytesIn, prometheus.CounterValue, float64(st.BytesIn), p.Name, st.Name)
			ch <- prometheus.MustNewConstMetric(c.bytesOut, prometheus.CounterValue, float64(st.BytesOut), p.Name, st.Name)
		}
	}
}
