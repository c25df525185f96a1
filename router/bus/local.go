package bus

import "sync"

// Local is the in-process bus of a single node: Publish calls the handler at
// once, under a lock, so every publish from every event loop is delivered in
// one total order.
type Local struct {
	mu      sync.Mutex
	handler Handler
	closed  bool
}

// NewLocal returns an in-process bus delivering to h.
func NewLocal(h Handler) *Local { return &Local{handler: h} }

// Publish delivers the message synchronously.
func (b *Local) Publish(topic string, op OpCode, payload []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.handler(Message{Topic: topic, OpCode: op, Payload: payload})
	return nil
}

// Close stops delivery.
func (b *Local) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}
