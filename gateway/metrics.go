package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	gwmetrics "github.com/wsgate/wsgate/gateway/internal/metrics"
)

// metrics are the gateway's Prometheus figures (internal/metrics).
type metrics = gwmetrics.Set

func newMetrics(reg prometheus.Registerer, subscribers func() float64) *metrics {
	return gwmetrics.New(reg, subscribers)
}
