package bus

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type kafkaMetrics struct {
	published  prometheus.Counter
	delivered  prometheus.Counter
	dropped    prometheus.Counter
	duplicates prometheus.Counter
	errors     *prometheus.CounterVec
}

func newKafkaMetrics(b *Kafka, reg prometheus.Registerer) (*kafkaMetrics, error) {
	m := &kafkaMetrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bus_published_total",
			Help: "Messages this node wrote to Kafka (acknowledged)."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bus_delivered_total",
			Help: "Messages delivered to this node's subscribers (from Kafka, or locally while degraded)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bus_dropped_total",
			Help: "Publishes refused: -kafka-buffer full, too large for Kafka, or refused by the broker."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_bus_duplicates_total",
			Help: "Records skipped because their (origin, sequence) was already delivered (a retried write)."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_bus_errors_total",
			Help: "Kafka errors by operation (connect, write, read, decode)."}, []string{"op"}),
	}
	for _, op := range []string{"connect", "write", "read", "decode"} {
		m.errors.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.published, m.delivered, m.dropped, m.duplicates, m.errors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_bus_lag",
			Help: "Records behind the high watermark, summed over partitions."}, b.lagTotal),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_bus_degraded",
			Help: "1 while Kafka is unreachable (local delivery, publishes buffered), else 0."}, func() float64 {
			if b.isDegraded() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_bus_buffered_bytes",
			Help: "Bytes accepted and not yet acknowledged by Kafka (capped by -kafka-buffer)."}, func() float64 {
			b.mu.Lock()
			defer b.mu.Unlock()
			return float64(b.queued)
		}),
	}
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return m, errors.Join(errs...)
}
