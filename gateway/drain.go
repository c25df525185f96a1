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

// clientList links every client connection of a loop, so that Drain reaches
// each one whatever its state and whether or not it waits on the timing wheel.
// It is intrusive (the links live in conn.peers): O(1) to add and remove, no
// allocation. Upstream (server side) connections are not in it: a session
// ends with its client.
type clientList struct {
	head *conn
	n    int
	next *conn // while draining: the next connection drainStep visits
}

// peerLink is embedded in conn.
type peerLink struct{ next, prev *conn }

func (ls *clientList) add(c *conn) {
	c.peers = peerLink{next: ls.head}
	if ls.head != nil {
		ls.head.peers.prev = c
	}
	ls.head = c
	ls.n++
}

func (ls *clientList) remove(c *conn) {
	if c.peers.prev == nil && ls.head != c {
		return // not linked
	}
	if ls.next == c {
		ls.next = c.peers.next
	}
	if c.peers.prev != nil {
		c.peers.prev.peers.next = c.peers.next
	} else {
		ls.head = c.peers.next
	}
	if c.peers.next != nil {
		c.peers.next.peers.prev = c.peers.prev
	}
	c.peers = peerLink{}
	ls.n--
}

// startDrain starts closing every client connection of the loop; the timing
// wheel's tick closes a share of them each time (drainStep). Connections
// close in list order; one that closes before its turn unlinks itself.
func (l *loop) startDrain(ticks int) {
	l.clients.next = l.clients.head
	l.drainPerTick = max(1, (l.clients.n+ticks-1)/ticks)
	l.drainStep()
}

// drainStep closes the next share of the connections.
func (l *loop) drainStep() {
	for n := l.drainPerTick; n > 0 && l.clients.next != nil; n-- {
		cs := l.clients.next
		l.clients.next = cs.peers.next
		l.drainConn(cs)
	}
}

func (l *loop) drainConn(cs *conn) {
	switch cs.state {
	case stateHandshake:
		_ = l.el.Close(cs.sock())
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
