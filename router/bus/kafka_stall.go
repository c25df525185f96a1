package bus

// Stall detection (issue 16, item 5). A broker that hangs (process stopped,
// partition, long GC pause) refuses nothing: produce requests are simply never
// answered, and the client only gives up after its own timeouts (~5 s), all
// that time with local subscribers receiving nothing. stallLoop watches how
// long the queue's head has been in flight and, past StallTimeout, declares
// the bus degraded: what is queued is delivered locally in order (and kept
// marked local, so its echo after the thaw is skipped) and later publishes are
// delivered at once, as when the broker is down.

import (
	"fmt"
	"sort"
	"time"
)

const stallReason = "kafka produce not acknowledged"

// stallLoop checks the in-flight produce ten times per StallTimeout.
func (b *Kafka) stallLoop() {
	if b.cfg.StallTimeout < 0 {
		return
	}
	// A tenth of the threshold: local delivery starts at most 10% late; the
	// check is a lock and a clock read.
	tick := min(b.cfg.StallTimeout/10, 100*time.Millisecond)
	t := time.NewTicker(max(tick, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		stalled := !b.degraded && !b.unacked.IsZero() && time.Since(b.unacked) >= b.cfg.StallTimeout
		b.mu.Unlock()
		if stalled {
			b.m.errors.WithLabelValues("write").Inc()
			b.setDegraded(stallReason)
		}
	}
}

// producing records that the sender starts producing the queue's head; the
// clock keeps running across retries until an acknowledgement arrives.
func (b *Kafka) producing() {
	b.mu.Lock()
	if b.unacked.IsZero() {
		b.unacked = time.Now()
	}
	b.mu.Unlock()
}

// stallReasonLocked is the degraded reason with how long the produce has been
// waiting, e.g. "kafka produce stalled for 4s" (b.mu held).
func (b *Kafka) stallReasonLocked() string {
	if b.cfg.StallTimeout < 0 || b.unacked.IsZero() || time.Since(b.unacked) < b.cfg.StallTimeout {
		return b.reason
	}
	s := fmt.Sprintf("kafka produce stalled for %ds", int(time.Since(b.unacked).Seconds()))
	if b.reason != stallReason && b.reason != "" {
		s += "; last: " + b.reason
	}
	return s
}

// markEchoedLocked marks a still-queued message as delivered here: its echo
// came back through a reader before the produce was acknowledged (b.mu held;
// the queue is in seq order).
func (b *Kafka) markEchoedLocked(seq uint64) {
	q := b.queue
	i := sort.Search(len(q), func(i int) bool { return q[i].seq >= seq })
	if i < len(q) && q[i].seq == seq {
		q[i].local = true
	}
}
