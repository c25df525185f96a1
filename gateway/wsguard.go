package gateway

// Guards on the WebSocket path against clients that make the gateway hold
// memory or burn loop time (issue 11): ping floods, messages that never end,
// deflate amplification, and memory that abandoned messages leave behind.

import (
	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/internal/reclaim"
)

// wsGuard is the gateway-wide part of these guards.
type wsGuard struct {
	msgTicks uint32            // -message-timeout in ticks
	reclaim  reclaim.Reclaimer // returns abandoned message buffers' memory to the OS
	wave     wave              // short-lived connections' garbage (wave.go)
}

// pendingPong holds the payload of the most recent ping not answered yet.
// RFC 6455 5.5.3 lets an endpoint answer only the most recent ping while a
// pong is pending, so a flood of pings from a client that does not read
// costs this one slot, not a queued pong each.
type pendingPong struct {
	b [ws.MaxControlFramePayloadSize]byte
	n uint8
}

// inflateShare is the inflated bytes one client may have its messages
// produce in one turn of its loop (at least one message always completes).
// Past it the client is not read until the next turn, so one client sending
// compressed messages cannot hold the loop for everyone else.
const inflateShare = 256 << 10

// turnStart begins a turn of reading cs: it reads again if a previous turn
// throttled it, sends a deferred pong if it can, and returns the inflate
// budget of this turn (for overBudget).
func (l *loop) turnStart(cs *conn) int64 {
	if cs.paused {
		l.setReading(cs, true)
	}
	l.flushPong(cs)
	return l.parser.Inflated + inflateShare
}

// overBudget stops reading cs for the rest of this turn once its messages
// have inflated more than its share and input is still waiting: the peer's
// bytes stay in its TCP window (backpressure, not a close), and a wake-up
// queued behind the other connections' events resumes it.
func (l *loop) overBudget(cs *conn, budget int64) bool {
	if l.parser.Inflated < budget || cs.state != stateOpen || cs.c.InboundBuffered() == 0 {
		return false
	}
	if err := cs.c.Wake(nil); err != nil {
		return false // the engine is stopping: nothing to yield to
	}
	l.setReading(cs, false)
	l.g.metrics.InflateThrottles.Inc()
	return true
}

// progress notes what a frame means for the timers. A complete message ends
// the message in progress. Activity, which holds off the idle timeout, is
// anything but a ping or a fragment with no bytes: a client could otherwise
// keep an unfinished message, and the memory it holds, alive for ever with
// empty continuations. (Answering our pings with pongs is activity.)
func (l *loop) progress(cs *conn, ev codec.Event) {
	switch {
	case ev.Kind == codec.KindMessage:
		cs.inMsg = false
	case ev.Kind == codec.KindPing, ev.Kind == codec.KindNone && len(ev.Payload) == 0:
		return
	}
	cs.lastSeen, cs.pinged = l.wheel.now, false
}

// messageBusy records whether a message is under way at the end of a read
// (fragments kept, or part of a frame waiting for the rest). The first time,
// the connection's timer is brought forward to the -message-timeout deadline.
func (l *loop) messageBusy(cs *conn, busy bool) {
	if !busy {
		cs.inMsg = false
		return
	}
	if cs.inMsg {
		return
	}
	cs.inMsg, cs.msgSince = true, l.wheel.now
	due := cs.msgSince + l.g.guard.msgTicks
	if !cs.timer.Linked() || int32(cs.timer.Due()-due) > 0 {
		l.wheel.schedule(cs, due)
	}
}

// answerPing sends the pong for a ping, or keeps it for later while our
// outbound is backed up (a pong may still be waiting in it).
func (l *loop) answerPing(cs *conn, payload []byte) {
	if cs.c.OutboundBuffered() > 0 {
		if cs.pong == nil {
			cs.pong = new(pendingPong)
		}
		cs.pong.n = uint8(copy(cs.pong.b[:], payload))
		l.wheel.schedule(cs, l.wheel.now+1) // fireOpen sends it once the outbound drains
		return
	}
	cs.pong = nil // superseded
	l.scratch = codec.AppendFrame(l.scratch[:0], ws.OpPong, payload)
	l.send(cs, l.scratch)
}

// flushPong sends the deferred pong once nothing else waits before it.
func (l *loop) flushPong(cs *conn) {
	if cs.pong == nil || cs.state != stateOpen || cs.c.OutboundBuffered() > 0 {
		return
	}
	p := cs.pong
	cs.pong = nil
	l.scratch = codec.AppendFrame(l.scratch[:0], ws.OpPong, p.b[:p.n])
	l.send(cs, l.scratch)
}

// send writes a frame of our own (pong, ping) to an open connection and
// applies -max-outbound to it like to broadcasts: a peer over it is closed
// as a slow consumer (1008, counted). It reports whether cs is still open.
func (l *loop) send(cs *conn, b []byte) bool {
	_, _ = cs.c.Write(b)
	cs.alog.Sent(0, len(b))
	if cs.state != stateOpen {
		return false // the write failed and gnet closed the connection
	}
	if out := cs.c.OutboundBuffered(); out > l.g.cfg.MaxOutbound {
		l.g.metrics.SlowConsumers.Inc()
		l.g.log.Debug("slow consumer closed", "remote", cs.c.RemoteAddr(), "outbound", out)
		l.closeWith(cs, ws.StatusPolicyViolation, "slow consumer: outbound buffer full", accesslog.TermSlowConsumer)
		return false
	}
	return true
}

// fireOpen is the timer of an open WebSocket connection: deferred pong,
// -message-timeout, then pings and the idle timeout.
func (l *loop) fireOpen(cs *conn) {
	g, now := l.g, l.wheel.now
	if l.flushPong(cs); cs.state != stateOpen {
		return
	}
	msgDue := cs.msgSince + g.guard.msgTicks
	if cs.inMsg && int32(now-msgDue) >= 0 {
		g.metrics.Timeouts.WithLabelValues("message").Inc()
		l.closeWith(cs, ws.StatusPolicyViolation, "message not completed within -message-timeout", accesslog.TermTimeoutClient)
		return
	}
	var due uint32
	switch silent := now - cs.lastSeen; {
	case silent >= g.idleTicks:
		g.metrics.Timeouts.WithLabelValues("idle").Inc()
		l.closeWith(cs, ws.StatusGoingAway, "idle timeout", accesslog.TermTimeoutIdle)
		return
	case silent >= g.pingTicks && !cs.pinged:
		l.scratch = codec.AppendFrame(l.scratch[:0], ws.OpPing, nil)
		if !l.send(cs, l.scratch) {
			return
		}
		cs.pinged = true
		l.tlsIdle(cs)
		due = cs.lastSeen + g.idleTicks
	case cs.pinged:
		due = cs.lastSeen + g.idleTicks
	default:
		due = cs.lastSeen + g.pingTicks
	}
	if cs.inMsg && int32(due-msgDue) > 0 {
		due = msgDue
	}
	if cs.pong != nil {
		due = now + 1
	}
	l.wheel.schedule(cs, due)
}

// reclaim runs on every tick of the loop: the buffers of abandoned messages
// are dropped, not pooled (codec.Parser.Release), and internal/reclaim
// returns their memory to the OS once enough of them add up.
func (l *loop) reclaim() {
	l.g.guard.reclaim.Tick(l.parser.Dropped)
	l.parser.Dropped = 0
	l.waveReclaim() // after a wave of GRIP detaches or TLS handshakes (wave.go)
}
