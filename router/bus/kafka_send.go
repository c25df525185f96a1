package bus

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Limits of one produce round (all partitions).
// sendMaxBytes stays under Kafka's default message.max.bytes (1 MiB), which
// caps one partition's record batch.
const (
	sendMaxMsgs  = 10000
	sendMaxBytes = 1_000_000
)

// localEchoTTL is how long a locally delivered message is remembered after
// Kafka acknowledged it, waiting for its echo through this node's readers.
const localEchoTTL = 2 * time.Minute

// sendLoop is the only goroutine that writes to Kafka. It produces the head
// of the queue (one request per partition) and removes it once acknowledged; on failure it marks the bus degraded and
// retries the same messages first, with backoff, so every topic keeps its
// order and nothing accepted is lost while within the buffer.
//
// Why not kafka-go's Writer: in sync mode every batch waits BatchTimeout
// (measured here: p99 > 40 ms at 1k msgs/s); in Async mode WriteMessages still
// looks up metadata synchronously (it would block an event loop during an
// outage), its queue is unbounded, and a batch that fails after MaxAttempts is
// gone: re-sending it from Completion would reorder it behind later messages.
func (b *Kafka) sendLoop() {
	select {
	case <-b.ready:
	case <-b.ctx.Done():
		return
	}
	failures := 0
	janitor := time.NewTicker(30 * time.Second)
	defer janitor.Stop()
	for {
		batch := b.head()
		if len(batch) > 0 && b.cfg.Linger > 0 && failures == 0 {
			time.Sleep(b.cfg.Linger)
			batch = b.head()
		}
		if len(batch) == 0 {
			var probe <-chan time.Time
			if b.isDegraded() {
				probe = time.After(backoff(failures))
			}
			select {
			case <-b.ctx.Done():
				return
			case <-b.wake:
			case <-janitor.C:
				b.pruneLocal()
			case <-probe:
				if err := b.probe(); err != nil {
					failures++
					b.setDegraded("kafka unreachable: " + err.Error())
				} else {
					failures = 0
					b.setHealthy()
				}
			}
			continue
		}
		b.producing()
		errs := b.produce(batch)
		if b.ctx.Err() != nil {
			return
		}
		retry, lastErr := b.acknowledge(batch, errs)
		if retry {
			failures++
			b.m.errors.WithLabelValues("write").Inc()
			// Pooled connections may be stale (a broker restarted).
			b.transport.CloseIdleConnections()
			wait := time.Millisecond
			if failures == 1 && !b.isDegraded() {
				// One failure on a healthy bus is often a dead pooled
				// connection: retry at once before declaring an outage,
				// which would deliver locally out of the common order.
				b.log.Debug("kafka write failed, retrying", "err", lastErr)
			} else {
				b.setDegraded("kafka write failed: " + lastErr.Error())
				wait = backoff(failures - 1)
			}
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		if failures > 0 || b.isDegraded() {
			b.setHealthy()
		}
		failures = 0
	}
}

// head returns the oldest queued messages (they stay queued until acked).
func (b *Kafka) head() []*outMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, size := 0, 0
	for n < len(b.queue) && n < sendMaxMsgs && (n == 0 || size+b.queue[n].size <= sendMaxBytes) {
		size += b.queue[n].size
		n++
	}
	return append([]*outMsg(nil), b.queue[:n]...)
}

// produce writes batch (the head of the queue) with one Produce request per
// partition, concurrently, and returns each message's error. There is no
// linger timer (kafka-go's Writer waits BatchTimeout for every batch): what
// arrives while a request is in flight forms the next batch by itself.
func (b *Kafka) produce(batch []*outMsg) []error {
	errs := make([]error, len(batch))
	parts := b.partitionIDs()
	groups := map[int][]int{} // partition → indexes in batch
	for i, m := range batch {
		p := b.balancer.Balance(kafka.Message{Key: []byte(m.topic)}, parts...)
		groups[p] = append(groups[p], i)
	}
	now := time.Now()
	var wg sync.WaitGroup
	for p, idx := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			records := make([]kafka.Record, len(idx))
			for j, i := range idx {
				records[j] = b.record(batch[i], now)
			}
			res, err := b.client.Produce(b.ctx, &kafka.ProduceRequest{
				Topic:        b.cfg.Topic,
				Partition:    p,
				RequiredAcks: b.cfg.RequiredAcks,
				Records:      kafka.NewRecordReader(records...),
			})
			if err == nil && res != nil {
				err = res.Error
			}
			for j, i := range idx {
				errs[i] = err
				if err == nil && res != nil && res.RecordErrors[j] != nil {
					errs[i] = res.RecordErrors[j]
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

func (b *Kafka) record(m *outMsg, now time.Time) kafka.Record {
	op := "text"
	switch m.op {
	case OpBinary:
		op = "binary"
	case OpClose:
		op = "close"
	}
	return kafka.Record{
		Time:  now,
		Key:   kafka.NewBytes([]byte(m.topic)),
		Value: kafka.NewBytes(m.payload),
		Headers: []kafka.Header{
			{Key: hdrOrigin, Value: []byte(b.cfg.NodeID)},
			{Key: hdrRun, Value: []byte(b.run)},
			{Key: hdrSeq, Value: strconv.AppendUint(nil, m.seq, 10)},
			{Key: hdrOp, Value: []byte(op)},
		},
	}
}

// acknowledge removes the acknowledged (or permanently refused) messages of
// batch, the head of the queue, keeping the ones to retry at the head in
// their order. It reports whether some must be retried.
func (b *Kafka) acknowledge(batch []*outMsg, failed []error) (retry bool, lastErr error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := make([]*outMsg, 0, len(b.queue))
	published := 0
	for i, m := range batch {
		switch e := failed[i]; {
		case e == nil:
			published++
			b.queued -= m.size
			if m.local {
				if _, ok := b.local[m.seq]; ok {
					b.local[m.seq] = now
				}
			}
		case permanent(e):
			b.queued -= m.size
			delete(b.local, m.seq)
			b.m.dropped.Inc()
			b.m.errors.WithLabelValues("write").Inc()
			b.log.Warn("kafka refused a message, dropped", "topic", m.topic, "bytes", len(m.payload), "err", e)
		default:
			retry, lastErr = true, e
			keep = append(keep, m)
		}
	}
	b.m.published.Add(float64(published))
	if !retry {
		b.unacked = time.Time{} // the stall clock restarts with the next produce
	}
	keep = append(keep, b.queue[len(batch):]...)
	clear(b.queue) // drop references for the GC
	b.queue = keep
	return retry, lastErr
}

// permanent reports errors that no retry will fix (the message itself is refused).
func permanent(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return true
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		switch kerr {
		case kafka.MessageSizeTooLarge, kafka.InvalidRecord, kafka.InvalidMessage, kafka.RecordListTooLarge, kafka.InvalidTopic:
			return true
		}
	}
	return false
}

func (b *Kafka) isDegraded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.degraded
}

// probe checks that the brokers answer (used while degraded with nothing to send).
func (b *Kafka) probe() error {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	_, err := b.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{b.cfg.Topic}})
	return err
}

// pruneLocal forgets locally delivered messages whose echo never came back
// (e.g. the readers started after Kafka stored them).
func (b *Kafka) pruneLocal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for seq, acked := range b.local {
		if !acked.IsZero() && time.Since(acked) > localEchoTTL {
			delete(b.local, seq)
		}
	}
}

// backoff grows from 50ms to 2s.
func backoff(failures int) time.Duration {
	d := 50 * time.Millisecond
	for i := 1; i < failures && d < 2*time.Second; i++ {
		d *= 2
	}
	return min(d, 2*time.Second)
}
