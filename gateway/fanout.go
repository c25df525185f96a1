package gateway

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/pool"
	"github.com/wsgate/wsgate/router"
)

// message is one broadcast, encoded once and shared by every event loop.
// A server frame is unmasked, so the same bytes go to every subscriber.
type message struct {
	topic  string
	op     ws.OpCode
	frame  *pool.Buffer // header + payload
	hdrLen int
	// refs counts the loops that have not delivered it yet; the last one
	// returns both buffers (frame and deflated) to the pool.
	refs atomic.Int32

	deflated atomic.Pointer[pool.Buffer] // permessage-deflate frame, published by the first loop that made one
	pool     *pool.Pool

	// Position and wsgate.v1 envelope frame (resume.go).
	offset int64
	epoch  string
	echo   bool // delivered already, without a position: for wsgate.v1 only
	env    atomic.Pointer[pool.Buffer]
}

func (m *message) payload() []byte { return m.frame.B[m.hdrLen:] }

// deflatedFrame returns the message as a compressed frame. No loop waits for
// another: one that finds no frame published compresses the message with its
// own compressor and publishes the result; if another loop published first
// (both compressed at the same moment), it uses that one and returns its own
// buffer. Every loop but the racers reuses the first loop's work.
func (m *message) deflatedFrame(c *codec.Compressor) []byte {
	if b := m.deflated.Load(); b != nil {
		return b.B
	}
	b := m.pool.Get()
	var err error
	if b.B, err = c.AppendFrame(b.B, m.op, m.payload()); err != nil {
		// Cannot happen with an in-memory writer; fall back to the plain frame.
		m.pool.Put(b)
		return m.frame.B
	}
	if !m.deflated.CompareAndSwap(nil, b) {
		m.pool.Put(b)
		return m.deflated.Load().B
	}
	return b.B
}

func (m *message) release() {
	if m.refs.Add(-1) == 0 {
		m.pool.Put(m.frame)
		m.pool.Put(m.deflated.Load())
		m.pool.Put(m.env.Load())
	}
}

// deliver is the bus handler: it is called once per message in bus order, and
// hands the message to every event loop's inbox (one task per loop, not one per
// connection). Inboxes are FIFO, so every loop delivers in bus order.
func (g *Gateway) deliver(bm router.BusMessage) {
	g.resume.Append(bm) // before any loop sees it (resume.go)
	loops := *g.loops.Load()
	if len(loops) == 0 {
		return
	}
	m := &message{topic: bm.Topic, op: ws.OpCode(bm.OpCode), pool: &g.frames, offset: bm.Offset, epoch: bm.Epoch, echo: bm.Echo}
	m.frame = g.frames.Get()
	m.frame.B = codec.AppendFrame(m.frame.B, m.op, bm.Payload)
	m.hdrLen = len(m.frame.B) - len(bm.Payload)
	m.refs.Store(int32(len(loops)))
	for _, l := range loops {
		l.enqueue(m)
	}
}

func (l *loop) enqueue(m *message) {
	l.inbox.Lock()
	l.inbox.msgs = append(l.inbox.msgs, m)
	wake := !l.inbox.scheduled
	l.inbox.scheduled = true
	var wait time.Duration
	if wake && l.g.cfg.BroadcastCoalesce > 0 {
		// Coalescing: the loop drained less than a window ago, so this topic
		// is busy; what arrives until the window ends joins this message and
		// goes to each subscriber in the same writev. A quiet topic (first
		// message in over a window) is delivered at once.
		wait = l.g.cfg.BroadcastCoalesce - time.Since(l.inbox.last)
		if wait > 0 {
			if l.inbox.timer == nil {
				l.inbox.timer = time.AfterFunc(wait, l.wake)
			} else {
				l.inbox.timer.Reset(wait)
			}
		}
	}
	l.inbox.Unlock()
	if wake && wait <= 0 {
		l.wake()
	}
}

// wake schedules a drain on the loop (once per inbox batch: enqueue only
// calls it for the first message after a drain).
func (l *loop) wake() {
	if err := l.el.Execute(context.Background(), l.drainTask); err != nil {
		// The engine is shutting down: nobody is left to deliver to.
		l.inbox.Lock()
		l.inbox.scheduled = false
		l.inbox.Unlock()
	}
}

// drain delivers everything in the inbox. Messages that piled up since the
// last drain go to each subscriber in one writev, so a busy topic costs one
// syscall per subscriber per drain, not per message.
func (l *loop) drain() {
	l.inbox.Lock()
	batch := l.inbox.msgs
	l.inbox.msgs = l.spare
	l.inbox.scheduled = false
	if l.g.cfg.BroadcastCoalesce > 0 {
		l.inbox.last = time.Now()
	}
	l.inbox.Unlock()

	// Group by topic; the stable sort keeps each topic's order.
	byTopic := func(a, b *message) int { return cmp.Compare(a.topic, b.topic) }
	if !slices.IsSortedFunc(batch, byTopic) {
		slices.SortStableFunc(batch, byTopic)
	}
	batch = l.v1Pass(batch) // wsgate.v1 subscribers; echoes are theirs alone (resume.go)
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && batch[j].topic == batch[i].topic {
			j++
		}
		l.deliverTopic(batch[i:j]) // topic subscribers and GRIP sessions
		i = j
	}
	for i, m := range batch {
		m.release()
		batch[i] = nil
	}
	l.spare = batch[:0]
	l.closeSlow()
}

// deliverTopic delivers msgs, all of one topic in bus order, to the loop's
// subscribers of it: plain topic subscribers and GRIP sessions
// (gateway/grip). A close message (a publisher's close action) closes every
// one of them, after what came before it.
func (l *loop) deliverTopic(msgs []*message) {
	name := msgs[0].topic
	for len(msgs) > 0 {
		k := 0
		for k < len(msgs) && msgs[k].op != ws.OpClose {
			k++
		}
		if k > 0 {
			if grp := l.topics.Lookup(name); grp != nil {
				l.deliverRun(grp, msgs[:k])
			}
			if n, bytes := l.grips.Deliver(name, msgs[:k]); n > 0 {
				l.g.metrics.MsgsOut.Add(float64(n))
				l.g.metrics.BytesOut.Add(float64(bytes))
			}
		}
		if k < len(msgs) {
			l.closeTopic(name, msgs[k])
			k++
		}
		msgs = msgs[k:]
	}
}

// closeTopic closes every subscriber of a topic on this loop with the close
// message's code and reason: plain subscribers and GRIP sessions alike.
func (l *loop) closeTopic(name string, m *message) {
	code, reason := codec.CloseBody(m.payload())
	if grp := l.topics.Lookup(name); grp != nil {
		for i := grp.Len() - 1; i >= 0; i-- {
			if i < grp.Len() {
				l.closeWith(grp.Members()[i], code, reason, accesslog.TermNormal) // a publisher closed the channel
			}
		}
	}
	l.grips.Close(name, m.frame.B, code, reason)
}

// deliverRun writes msgs (all of one topic, in order) to every local subscriber.
func (l *loop) deliverRun(grp *topicGroup, msgs []*message) {
	// Writing is capped at the kernel's IOV_MAX per call.
	const iovMax = 1024
	for len(msgs) > iovMax {
		l.deliverRun(grp, msgs[:iovMax])
		msgs = msgs[iovMax:]
	}
	l.iov = l.iov[:0]
	l.iovDefl = l.iovDefl[:0]
	size := 0
	for _, m := range msgs {
		l.iov = append(l.iov, m.frame.B)
		size += len(m.frame.B)
	}
	maxOut := l.g.cfg.MaxOutbound
	var delivered, bytes, writes, sizeDefl int
	// Walk backwards: a subscriber whose write fails is closed (and removed by
	// swapping the last member into its slot) inside Writev, and the last
	// member has already been visited.
	for i := grp.Len() - 1; i >= 0; i-- {
		if i >= grp.Len() {
			continue
		}
		cs := grp.Members()[i]
		if cs.state != stateOpen {
			continue
		}
		if cs.c.OutboundBuffered() > maxOut {
			l.slow = append(l.slow, cs)
			continue
		}
		iov, n := l.iov, size
		if cs.deflate {
			if len(l.iovDefl) == 0 {
				for _, m := range msgs {
					f := m.deflatedFrame(l.compressor())
					l.iovDefl = append(l.iovDefl, f)
					sizeDefl += len(f)
				}
			}
			iov, n = l.iovDefl, sizeDefl
		}
		if len(iov) == 1 {
			_, _ = cs.c.Write(iov[0])
		} else {
			l.wv = append(l.wv[:0], iov...)
			_, _ = cs.c.Writev(l.wv)
		}
		cs.alog.Sent(len(iov), n) // access log on: the session's line counts what it got
		writes++
		delivered += len(iov)
		bytes += n
	}
	grp.Delivered(len(msgs))
	m := l.g.metrics
	m.MsgsOut.Add(float64(delivered))
	m.BytesOut.Add(float64(bytes))
	m.Writes.Add(float64(writes))
}

// closeSlow closes the subscribers that stopped reading. It runs after
// delivery so that no group changes while it is being walked.
func (l *loop) closeSlow() {
	for i, cs := range l.slow {
		if cs.state == stateOpen {
			l.g.metrics.SlowConsumers.Inc()
			l.g.log.Debug("slow consumer closed", "remote", cs.c.RemoteAddr(), "outbound", cs.c.OutboundBuffered())
			l.closeWith(cs, ws.StatusPolicyViolation, "slow consumer: outbound buffer full", accesslog.TermSlowConsumer)
		}
		l.slow[i] = nil
	}
	l.slow = l.slow[:0]
}

// compressor returns the loop's deflate writer, built on first use (about
// 1 MiB, so only loops that serve a compressing subscriber pay for it).
func (l *loop) compressor() *codec.Compressor {
	if l.deflater == nil {
		l.deflater = codec.NewCompressor()
	}
	return l.deflater
}
