package gateway

import (
	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/gateway/resume"
	"github.com/wsgate/wsgate/router"
)

// A wsgate.v1 socket's side of the adapter to gateway/resume (resume.go has
// the node's): the connection state machine's call sites, and a conn as a
// resume.Client. A conn gains only the v1 bool; its topics are in its
// loop's resume.Loop (l.v1).

const v1Protocol = resume.Protocol

// v1Loop is a loop's wsgate.v1 state; nil until the loop has a v1 socket.
type v1Loop = resume.Loop

// upgradeOptions picks the subprotocol choice of an upgrade: wsgate.v1,
// when offered on a topic route, wins over -subprotocols.
func (g *Gateway) upgradeOptions(req *codec.Request, d *router.Decision) *codec.UpgradeOptions {
	if d.Route.Kind == router.TargetTopic && resume.Offers(req) {
		return g.resume.Upgrade()
	}
	return &g.upgrade
}

func (l *loop) v1State() *v1Loop {
	if l.v1 == nil {
		l.v1 = l.g.resume.NewLoop((*v1Env)(l))
	}
	return l.v1
}

// keepClaims remembers a verified token for the upgrade being handled: a
// wsgate.v1 socket checks later subscribes and publishes against it.
func (l *loop) keepClaims(c resume.Grants) { l.v1State().KeepClaims(c) }

// v1Open starts a wsgate.v1 session on a topic route (the URL's topic,
// resumed with ?since=OFFSET&epoch=EPOCH).
func (l *loop) v1Open(cs *conn, req *codec.Request, d *router.Decision) {
	cs.v1 = true
	q := req.RawQuery
	l.v1State().Open((*v1Client)(cs), d, !cs.noPub, codec.QueryParam(q, "since"), codec.QueryParam(q, "epoch"))
}

// v1Command handles one message from a wsgate.v1 client.
func (l *loop) v1Command(cs *conn, op ws.OpCode, payload []byte) {
	l.v1.Command((*v1Client)(cs), op, payload)
}

// v1Close forgets a closing wsgate.v1 socket (from leave).
func (l *loop) v1Close(cs *conn) { l.v1.Close((*v1Client)(cs)) }

// v1Topics adds the loop's wsgate.v1 subscribers to the stats page's counts.
func (l *loop) v1Topics(m map[string]admin.TopicCount) {
	if l.v1 != nil {
		l.v1.Topics(m)
	}
}

// v1Client is a wsgate.v1 connection as resume.Client.
type v1Client conn

func (c *v1Client) Open() bool           { return c.state == stateOpen }
func (c *v1Client) Outbound() int        { return c.c.OutboundBuffered() }
func (c *v1Client) Write(b []byte)       { _, _ = c.c.Write(b) }
func (c *v1Client) Writev(bufs [][]byte) { _, _ = c.c.Writev(bufs) }
func (c *v1Client) Lagging()             { c.loop.slow = append(c.loop.slow, (*conn)(c)) }

// Sent counts what the session got on its access-log line (a no-op when the log is off).
func (c *v1Client) Sent(msgs, bytes int) { c.alog.Sent(msgs, bytes) }

func (c *v1Client) CloseSlow() {
	c.loop.g.metrics.SlowConsumers.Inc()
	c.loop.closeWith((*conn)(c), ws.StatusPolicyViolation, "slow consumer: outbound buffer full", accesslog.TermSlowConsumer)
}
