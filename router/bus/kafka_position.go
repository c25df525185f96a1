package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// Positions on the Kafka bus (lossless resume). A message's offset is its
// record's offset in its partition: every node reads the same record at the
// same offset, whichever node (or foreign producer) wrote it. The epoch
// names the partition's incarnation and must be computed alike on every
// node without coordination, so it is a hash of what all nodes see the same:
//
//	epoch = hex(sha256(clusterID "/" kafkaTopic "/" partition))[:16]
//
// Cluster ID (from metadata, KIP-78) changes when the brokers' cluster is
// rebuilt, which wipes every offset. What it cannot see: a Kafka topic
// deleted and recreated on the same cluster under the same name (Kafka's
// topic IDs would, but kafka-go's metadata v8 has none). There offsets
// restart from 0; a client's since beyond what the node has read of that
// partition (beyond its high-water mark) is answered recovered:false, and
// a since still below it is indistinguishable from a real position — the
// documented limit: recreate the bus topic under a new name (-kafka-topic)
// instead. Truncation by retention keeps the epoch (offsets stay valid);
// positions older than what the node holds are not served (recovered:false).
// The earliest offset is deliberately not part of the epoch: retention
// moves it, which would change the epoch of a healthy partition.

func (b *Kafka) setCluster(id string) {
	if old := b.cluster.Load(); old == nil || *old != id {
		b.cluster.Store(&id)
	}
}

// partitionEpoch is the epoch of partition p (see above).
func (b *Kafka) partitionEpoch(p int) string {
	id := ""
	if c := b.cluster.Load(); c != nil {
		id = *c
	}
	sum := sha256.Sum256([]byte(id + "/" + b.cfg.Topic + "/" + strconv.Itoa(p)))
	return hex.EncodeToString(sum[:8])
}

// Position is the epoch of the partition topic is keyed to and the offset
// before the first one this node's reader of it read: every record of topic
// above that offset reaches this node.
func (b *Kafka) Position(topic string) (epoch string, floor int64, ok bool) {
	parts := b.parts.Load()
	if parts == nil || len(*parts) == 0 {
		return "", 0, false
	}
	p := b.balancer.Balance(kafka.Message{Key: []byte(topic)}, *parts...)
	b.readersMu.Lock()
	pr := b.readers[p]
	b.readersMu.Unlock()
	if pr == nil {
		return "", 0, false
	}
	return pr.epoch, pr.floor, true
}
