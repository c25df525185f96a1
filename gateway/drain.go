package gateway

import (
	"context"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/internal/ilist"
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

// clientList links every client connection of a loop, so that Drain reaches
// each one whatever its state and whether or not it waits on the timing wheel
// (internal/ilist: the links live in conn.peers, no allocation). Upstream
// (server side) connections are not in it: a session ends with its client.
type clientList = ilist.List[*conn]

// peerLink is a connection's place in its loop's clientList.
type peerLink = ilist.Link[*conn]

// ListLink gives the client list the connection's link.
func (cs *conn) ListLink() *peerLink { return &cs.peers }

// startDrain starts closing every client connection of the loop; the timing
// wheel's tick closes a share of them each time (drainStep). Connections
// close in list order; one that closes before its turn unlinks itself.
func (l *loop) startDrain(ticks int) {
	l.clients.Walk()
	l.drainPerTick = max(1, (l.clients.Len()+ticks-1)/ticks)
	l.drainStep()
}

// drainStep closes the next share of the connections.
func (l *loop) drainStep() {
	for n := l.drainPerTick; n > 0; n-- {
		cs, ok := l.clients.Next()
		if !ok {
			return
		}
		l.drainConn(cs)
	}
}

func (l *loop) drainConn(cs *conn) {
	switch cs.state {
	case stateHandshake:
		_ = l.el.Close(cs.sock())
	case stateOpen:
		l.closeWith(cs, ws.StatusGoingAway, "server shutting down", accesslog.TermDrain)
	case stateProxy:
		// A tunnel or an idle keep-alive closes; a request in flight
		// finishes and its response closes the connection.
		if cs.sess != nil {
			cs.sess.Drain()
		}
	}
}
