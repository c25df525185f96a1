package gateway

import (
	"errors"

	"github.com/wsgate/wsgate/gateway/internal/gnetx"
)

// gnet has no API to stop reading a connection, which a tunnel needs for
// backpressure: while one side's outbound is over its cap, the other side must
// not be read, or its bytes pile up in our memory instead of in the peer's
// TCP window. gnetx changes the connection's interest set on the event loop's
// epoll instance, found when the loop takes its first connection (loopOf).
// gnet re-arms reading when it finishes flushing a connection's outbound; the
// gateway pauses again on the next read if the other side is still full.

// setReading turns read interest for cs on or off, keeping gnet's write
// interest while it still has outbound bytes to flush.
//
// A pause is always issued, even on a side marked paused: gnet re-arms
// reading by itself when that side's own outbound drains.
func (l *loop) setReading(cs *conn, on bool) {
	if cs.c == nil || cs.state == stateClosed || (on && !cs.paused) {
		return
	}
	if err := l.poller.SetReading(cs.c, on); err != nil {
		// Off Linux this is ErrUnsupported on every call, announced once at start.
		if !errors.Is(err, gnetx.ErrUnsupported) {
			l.g.log.Debug("pause reading", "on", on, "err", err)
		}
		return
	}
	cs.paused = !on
}

// shutdownWrite sends FIN once gnet has flushed everything we wrote (linger).
func (l *loop) shutdownWrite(cs *conn) {
	if !cs.shutWr && cs.c.OutboundBuffered() == 0 {
		_ = gnetx.ShutdownWrite(cs.c)
		cs.shutWr = true
	}
}
