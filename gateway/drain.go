package gateway

import (
	"context"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// Drain is the graceful stop (SIGTERM): new connections are refused, /healthz
// answers 503 so an outer balancer stops sending, and every client gets close
// 1001, spread over drainTime so they do not all reconnect in one burst. It
// returns when every client connection has closed or ctx is done; the caller
// then stops the engine.
func (g *Gateway) Drain(ctx context.Context, drainTime time.Duration) {
	if !g.draining.CompareAndSwap(false, true) {
		return
	}
	g.log.Info("draining", "connections", g.open.Load(), "drain_time", drainTime.String())
	perTick := max(1, int(drainTime/tick))
	for _, l := range *g.loops.Load() {
		_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			l.startDrain(perTick)
			return nil
		}))
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for g.open.Load() > 0 {
		select {
		case <-ctx.Done():
			g.log.Warn("drain time over", "connections_left", g.open.Load())
			return
		case <-t.C:
		}
	}
	g.log.Info("drained")
}

// startDrain queues every connection of the loop for closing; the timing
// wheel's tick closes a share of them each time (drainStep).
func (l *loop) startDrain(ticks int) {
	l.draining = l.draining[:0]
	for _, head := range l.wheel.slots {
		for c := head; c != nil; c = c.timer.next {
			l.draining = append(l.draining, c)
		}
	}
	l.drainPerTick = max(1, (len(l.draining)+ticks-1)/ticks)
	l.drainStep()
}

// drainStep closes the next share of the connections queued by startDrain.
func (l *loop) drainStep() {
	n := min(l.drainPerTick, len(l.draining))
	for _, cs := range l.draining[:n] {
		l.drainConn(cs)
	}
	clear(l.draining[:n])
	l.draining = l.draining[n:]
}

func (l *loop) drainConn(cs *conn) {
	switch cs.state {
	case stateHandshake:
		_ = l.el.Close(cs.c)
	case stateOpen:
		l.closeWith(cs, ws.StatusGoingAway, "server shutting down")
	case stateProxy:
		// A tunnel or an idle keep-alive closes; a request in flight
		// finishes and its response closes the connection.
		if cs.sess != nil {
			cs.sess.Drain()
		}
	}
}
