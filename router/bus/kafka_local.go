package bus

// Local delivery while Kafka is degraded. Publish and setDegraded only append to
// localQ under mu; this goroutine takes the queue and calls the handler outside
// mu, so an event loop publishing never waits for a backlog (up to BufferBytes)
// being delivered, and messages still reach local subscribers in publish order.

func (b *Kafka) wakeLocal() {
	select {
	case b.localWake <- struct{}{}:
	default:
	}
}

// localLoop delivers localQ in order until the bus is closed; what is queued at
// Close is still delivered (it was accepted by Publish).
func (b *Kafka) localLoop() {
	for {
		select {
		case <-b.localWake:
		case <-b.ctx.Done():
			b.deliverLocalQueue()
			return
		}
		b.deliverLocalQueue()
	}
}

func (b *Kafka) deliverLocalQueue() {
	for {
		b.mu.Lock()
		batch := b.localQ
		b.localQ = nil
		b.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, m := range batch {
			b.deliver(Message{Topic: m.topic, OpCode: m.op, Payload: m.payload})
		}
	}
}
