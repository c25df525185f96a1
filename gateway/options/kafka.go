package options

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/wsgate/wsgate/gateway"
	"github.com/wsgate/wsgate/router/bus"
)

// kafkaOptions are the flags of the Kafka bus. With no -kafka-brokers the
// gateway runs the in-process bus (one node).
type kafkaOptions struct {
	brokers string
	topic   string
	nodeID  string
	buffer  int
	linger  time.Duration
	acks    string
	stall   time.Duration
}

// kafkaFlags declares the Kafka bus flags on fs (called from newFlagSet).
func kafkaFlags(fs *flag.FlagSet, k *kafkaOptions) {
	fs.StringVar(&k.brokers, "kafka-brokers", "", "comma-separated Kafka bootstrap `host:port` list; set it on every node to broadcast across nodes (empty: in-process bus, single node)")
	fs.StringVar(&k.topic, "kafka-topic", bus.DefaultKafkaTopic, "Kafka `topic` all nodes share; record key = wsgate topic, value = payload, so any producer reaches clients")
	fs.StringVar(&k.nodeID, "node-id", "", "this node's `name` in the records it publishes (default: host name)")
	fs.IntVar(&k.buffer, "kafka-buffer", 64<<20, "`bytes` of publishes kept while Kafka is unreachable or slow (delivered locally at once, sent when it is back); beyond it publishes are dropped (API: 503)")
	fs.DurationVar(&k.linger, "kafka-linger", 0, "extra wait to gather a Kafka produce batch, like linger.ms (0: send at once; messages arriving while a produce is in flight form the next batch anyway)")
	fs.DurationVar(&k.stall, "kafka-stall-timeout", time.Second, "a produce not acknowledged for this `duration` (a hung broker: TCP open, no answer) degrades the bus: unacknowledged and new publishes are delivered locally at once and sent when Kafka answers, never twice (0: off, wait for the write to fail, ~5s)")
	fs.StringVar(&k.acks, "kafka-acks", "one", "produce acknowledgements: one (leader, lower latency) or all (in-sync replicas)")
}

func (k *kafkaOptions) brokerList() []string { return splitList(k.brokers) }

// validate reports every problem of the Kafka flags (for -check).
func (k *kafkaOptions) validate() error {
	var errs []error
	for _, b := range k.brokerList() {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("-kafka-brokers: %q is not host:port", b))
		}
	}
	if strings.TrimSpace(k.topic) == "" {
		errs = append(errs, errors.New("-kafka-topic: empty"))
	}
	if k.buffer <= 0 {
		errs = append(errs, fmt.Errorf("-kafka-buffer: %d: want a positive number of bytes", k.buffer))
	}
	if k.linger < 0 || k.linger > time.Second {
		errs = append(errs, fmt.Errorf("-kafka-linger: %v: want between 0 and 1s", k.linger))
	}
	if k.stall < 0 {
		errs = append(errs, fmt.Errorf("-kafka-stall-timeout: %v: want 0 (off) or a positive duration", k.stall))
	}
	if _, err := k.requiredAcks(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (k *kafkaOptions) requiredAcks() (kafka.RequiredAcks, error) {
	switch k.acks {
	case "one", "1":
		return kafka.RequireOne, nil
	case "all", "-1":
		return kafka.RequireAll, nil
	}
	return 0, fmt.Errorf("-kafka-acks: %q: want one or all", k.acks)
}

// Clustered reports whether the Kafka bus is configured (-kafka-brokers).
// It is read once at start: a reload does not change the bus.
func (o *Options) Clustered() bool { return len(o.kafka.brokerList()) > 0 }

// BusPlan is the bus line of -check's plan.
func (o *Options) BusPlan() string { return o.kafka.describe() }

func (k *kafkaOptions) describe() string {
	if len(k.brokerList()) == 0 {
		return "bus: in-process (single node)"
	}
	return fmt.Sprintf("bus: kafka %s topic %s, node %q, buffer %d bytes, linger %v, acks %s, stall timeout %v",
		strings.Join(k.brokerList(), ","), k.topic, k.nodeID, k.buffer, k.linger, k.acks, k.stall)
}

// NewBus returns the gateway's bus constructor: the Kafka bus when brokers
// are set, else the in-process bus.
func (o *Options) NewBus(log *slog.Logger, reg prometheus.Registerer) gateway.NewBus {
	k := &o.kafka
	brokers := k.brokerList()
	if len(brokers) == 0 {
		return func(h bus.Handler) (bus.Bus, error) { return bus.NewLocal(h), nil }
	}
	return func(h bus.Handler) (bus.Bus, error) {
		acks, err := k.requiredAcks()
		if err != nil {
			return nil, err
		}
		stall := k.stall
		if stall == 0 {
			stall = -1 // the flag's 0 means off; the config's 0 means its default
		}
		return bus.NewKafka(bus.KafkaConfig{
			Brokers:      brokers,
			Topic:        k.topic,
			NodeID:       k.nodeID,
			BufferBytes:  k.buffer,
			Linger:       k.linger,
			RequiredAcks: acks,
			StallTimeout: stall,
			Logger:       log,
			Registerer:   reg,
			Echoes:       true, // wsgate.v1 subscribers take these (gateway/resume.go)
		}, h)
	}
}
