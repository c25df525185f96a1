package bus

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// Local is the in-process bus of a single node: Publish calls the handler at
// once, under a lock, so every publish from every event loop is delivered in
// one total order.
type Local struct {
	mu      sync.Mutex
	handler Handler
	closed  bool
	// Positions: a per-topic sequence (1, 2, …) and one random epoch per
	// process start, so a position from a previous run never matches.
	epoch string
	seq   map[string]int64
}

// NewLocal returns an in-process bus delivering to h.
func NewLocal(h Handler) *Local {
	var e [8]byte
	_, _ = rand.Read(e[:])
	return &Local{handler: h, epoch: hex.EncodeToString(e[:]), seq: map[string]int64{}}
}

// Epoch is this process's epoch.
func (b *Local) Epoch() string { return b.epoch }

// Position: every topic starts at offset 0 of this process's epoch.
func (b *Local) Position(string) (epoch string, floor int64, ok bool) { return b.epoch, 0, true }

// Publish delivers the message synchronously.
func (b *Local) Publish(topic string, op OpCode, payload []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	n := b.seq[topic] + 1
	b.seq[topic] = n
	b.handler(Message{Topic: topic, OpCode: op, Payload: payload, Offset: n, Epoch: b.epoch})
	return nil
}

// Close stops delivery.
func (b *Local) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}
