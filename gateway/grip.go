package gateway

import (
	"net"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/grip"
	"github.com/wsgate/wsgate/gateway/proxy"
)

// GRIP glue: the session logic is gateway/proxy/grip.go, the channels,
// their rules, delivery and metrics gateway/grip; this file adapts the loop
// to proxy.GripEnv and a connection to grip.Client, and takes a detached
// client over.

// DefaultMaxTopicsPerConn is -max-topics-per-conn's default.
const DefaultMaxTopicsPerConn = grip.DefaultMaxTopicsPerConn

type (
	gripConn     = grip.Conn[*gripClient]               // conn.grip
	gripChannels = grip.Channels[*gripClient, *message] // loop.grips
)

func newGripChannels(g *Gateway) *gripChannels {
	return grip.NewChannels[*gripClient, *message](g.grip, g.log, g.cfg.MaxTopicsPerConn, g.cfg.MaxOutbound)
}

// Frame is the message's encoded frame (grip.Message).
func (m *message) Frame() []byte { return m.frame.B }

// gripClient adapts a client connection to grip.Client.
type gripClient conn

func (c *gripClient) Held() bool            { return c.state == stateOpen }
func (c *gripClient) OutboundBuffered() int { return c.c.OutboundBuffered() }
func (c *gripClient) Write(frame []byte)    { _, _ = c.c.Write(frame) }
func (c *gripClient) RemoteAddr() net.Addr  { return c.c.RemoteAddr() }
func (c *gripClient) Session() grip.Session {
	if c.state != stateProxy || c.sess == nil {
		return nil // not a nil *session in an interface
	}
	return c.sess
}
func (c *gripClient) SlowConsumer() {
	cs := (*conn)(c)
	cs.loop.g.metrics.SlowConsumers.Inc()
	cs.loop.endSession(cs)
	cs.loop.closeWith(cs, ws.StatusPolicyViolation, "slow consumer: outbound buffer full", accesslog.TermSlowConsumer)
}
func (c *gripClient) Close(code ws.StatusCode, reason string) {
	c.loop.closeWith((*conn)(c), code, reason, accesslog.TermNormal) // a publisher closed the channel
}

// newGripConfig is the GRIP part of a loop's proxy state.
func newGripConfig(l *loop) *proxy.GripConfig {
	return &proxy.GripConfig{Env: (*gripEnv)(l), MaxMessage: l.g.cfg.MaxMessageBytes, MaxPending: l.g.cfg.MaxOutbound}
}

// gripEnv adapts the loop to proxy.GripEnv.
type gripEnv loop

func clientConn(c proxy.Client) *conn { return c.(*side).conn() }

func (e *gripEnv) Event(kind string) { e.g.grip.Event(kind) }

func (e *gripEnv) Attached(c proxy.Client) {
	if cs := clientConn(c); cs.grip == nil {
		cs.grip = e.grips.Attach()
	}
}

func (e *gripEnv) Subscribe(c proxy.Client, channel string) {
	if cs := clientConn(c); cs.grip != nil {
		e.grips.Subscribe(cs.grip, (*gripClient)(cs), channel)
	}
}

func (e *gripEnv) Unsubscribe(c proxy.Client, channel string) {
	if cs := clientConn(c); cs.grip != nil {
		e.grips.Unsubscribe(cs.grip, channel)
	}
}

// Detached takes a client over from its GRIP session: a WebSocket
// connection of the gateway's own from now on (pings, idle timeout), on its
// channels, whose messages go nowhere.
func (e *gripEnv) Detached(c proxy.Client, inMsg bool) {
	l, cs := (*loop)(e), clientConn(c)
	if cs.grip == nil || cs.state != stateProxy {
		return
	}
	l.grips.Detach(cs.grip)
	e.g.guard.wave.add(e.g.now()) // its backend connection's garbage (wave.go)
	cs.state = stateOpen
	cs.need, cs.inMsg = 0, false
	if inMsg {
		l.parser.ResumeMessage(&cs.dec)
	}
	cs.lastSeen, cs.pinged = l.wheel.now, false
	l.wheel.schedule(cs, cs.lastSeen+e.g.pingTicks)
	if cs.paused {
		l.setReading(cs, true)
	}
	if cs.c.InboundBuffered() > 0 {
		l.frames(cs)
	}
}

// gripRelease drops a closing client's GRIP state: its channels, its count.
func (l *loop) gripRelease(cs *conn) {
	l.grips.Release(cs.grip)
	cs.grip = nil
}
