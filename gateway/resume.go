package gateway

import (
	"context"
	"net/http"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/gateway/resume"
	"github.com/wsgate/wsgate/router"
)

// wsgate.v1 and lossless resume (issue 15) live in gateway/resume: the
// commands and replies, envelopes, each socket's subscriptions and access,
// positions and history, the merge of a recovery with live messages, the
// Kafka catch-ups. This file adapts the gateway to it: a conn is its
// Client, a loop its Env, a broadcast its Message. A conn gains only the
// v1 bool; its topics are in the loop's resume.Loop (l.v1).

const v1Protocol = resume.Protocol

// The gateway's names for the node's state (Gateway.resume) and a loop's
// (loop.v1).
type (
	v1Node = resume.Node
	v1Loop = resume.Loop
)

func newResume(cfg *Config, up codec.UpgradeOptions, reg prometheus.Registerer) *v1Node {
	maxTopics := cfg.MaxTopicsPerConn
	if maxTopics <= 0 {
		maxTopics = DefaultMaxTopicsPerConn // -max-topics-per-conn 0 (grip.go)
	}
	return resume.New(resume.Config{HistorySize: cfg.HistorySize, HistoryTTL: cfg.HistoryTTL, HistoryMaxBytes: cfg.HistoryMaxBytes,
		MaxTopics: maxTopics, MaxMessages: cfg.ResumeMaxMessages, MaxOutbound: cfg.MaxOutbound,
		Fetches: cfg.ResumeFetches, FetchTimeout: cfg.ResumeFetchTime, Upgrade: up}, reg)
}

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
	l.v1State().Open((*v1Client)(cs), d, !cs.noPub, queryParam(q, "since"), queryParam(q, "epoch"))
}

// v1Command handles one message from a wsgate.v1 client.
func (l *loop) v1Command(cs *conn, op ws.OpCode, payload []byte) {
	l.v1.Command((*v1Client)(cs), op, payload)
}

// v1Close forgets a closing wsgate.v1 socket (from leave).
func (l *loop) v1Close(cs *conn) { l.v1.Close((*v1Client)(cs)) }

// v1Pass delivers a drained batch to the loop's wsgate.v1 subscribers and
// returns what goes to plain ones (without the echoes: resume.Pass).
func (l *loop) v1Pass(batch []*message) []*message { return resume.Pass(l.v1, batch) }

// v1Topics adds the loop's wsgate.v1 subscribers to the stats page's counts.
func (l *loop) v1Topics(m map[string]admin.TopicCount) {
	if l.v1 != nil {
		l.v1.Topics(m)
	}
}

// serveScript answers GET /wsgate.js (the browser client) on the client
// listener, keeping the connection when the request has no body.
func (l *loop) serveScript(cs *conn, req *codec.Request, n int) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		l.logAnswered(cs, req, "", http.StatusMethodNotAllowed, accesslog.TermDenied, "wsgate.js: not GET")
		l.refuse(cs, http.StatusMethodNotAllowed, "only GET is served here")
		return false
	}
	kind, _, err := codec.RequestBodyOf(req)
	closing := err != nil || kind != codec.BodyNone || req.WantsClose()
	_, _ = cs.c.Write(l.g.resume.Script(&l.scratch, closing, req.Method == http.MethodHead))
	l.g.metrics.HTTPResponse(http.StatusOK)
	l.logAnswered(cs, req, "", http.StatusOK, accesslog.TermNormal, "")
	if closing {
		l.linger(cs)
		return false
	}
	_, _ = cs.c.Discard(n)
	return cs.state == stateHandshake
}

// v1Client is a wsgate.v1 connection as resume.Client.
type v1Client conn

func (c *v1Client) Open() bool           { return c.state == stateOpen }
func (c *v1Client) Outbound() int        { return c.c.OutboundBuffered() }
func (c *v1Client) Write(b []byte)       { _, _ = c.c.Write(b) }
func (c *v1Client) Writev(bufs [][]byte) { _, _ = c.c.Writev(bufs) }
func (c *v1Client) Lagging()             { c.loop.slow = append(c.loop.slow, (*conn)(c)) }

func (c *v1Client) Sent(msgs, bytes int) {
	if c.alog != nil { // access log on: the session's line counts what it got
		c.alog.msgsOut += int64(msgs)
		c.alog.bytesOut += int64(bytes)
	}
}

func (c *v1Client) CloseSlow() {
	c.loop.g.metrics.SlowConsumers.Inc()
	c.loop.closeWith((*conn)(c), ws.StatusPolicyViolation, "slow consumer: outbound buffer full", accesslog.TermSlowConsumer)
}

// v1Env is an event loop as resume.Env.
type v1Env loop

func (e *v1Env) Routes() *router.Snapshot { return e.g.router.Current() }
func (e *v1Env) Subscribed(delta int)     { e.g.subs.Add(int64(delta)) }
func (e *v1Env) PublishDenied()           { e.g.auth.metrics.refusals.WithLabelValues("publish_denied").Inc() }

func (e *v1Env) Post(fn func()) {
	_ = e.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		return nil
	}))
}

func (e *v1Env) Publish(topic string, op router.OpCode, payload []byte) error {
	err := e.g.bus.Publish(topic, op, payload)
	if err != nil {
		e.g.metrics.PublishErrors.Inc()
		(*loop)(e).publishFailed(topic, err)
	}
	return err
}

func (e *v1Env) Delivered(msgs, bytes, writes int) {
	m := e.g.metrics
	m.MsgsOut.Add(float64(msgs))
	m.BytesOut.Add(float64(bytes))
	m.Writes.Add(float64(writes))
}

// A broadcast as resume.Message.
func (m *message) Topic() string             { return m.topic }
func (m *message) Position() (int64, string) { return m.offset, m.epoch }
func (m *message) Op() ws.OpCode             { return m.op }
func (m *message) Payload() []byte           { return m.payload() }
func (m *message) Echo() bool                { return m.echo }
func (m *message) Release()                  { m.release() }

// Envelope returns the message as a wsgate.v1 envelope frame, built once
// for every loop and subscriber (like deflatedFrame: racers keep the first).
func (m *message) Envelope(js *[]byte) []byte {
	if b := m.env.Load(); b != nil {
		return b.B
	}
	b := m.pool.Get()
	b.B = resume.AppendEnvelopeFrame(b.B, js, m.topic, m.offset, m.epoch, m.op, m.payload())
	if !m.env.CompareAndSwap(nil, b) {
		m.pool.Put(b)
		return m.env.Load().B
	}
	return b.B
}
