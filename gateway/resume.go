package gateway

import (
	"context"
	"net/http"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/resume"
	"github.com/wsgate/wsgate/router"
)

// wsgate.v1 and lossless resume (issue 15) live in gateway/resume: the
// commands and replies, envelopes, each socket's subscriptions and access,
// positions and history, the merge of a recovery with live messages, the
// Kafka catch-ups. This file adapts the node to it: the gateway's flags,
// a loop as its Env, a broadcast as its Message, GET /wsgate.js; v1.go
// adapts a socket.

// v1Node is the node's resume state (Gateway.resume).
type v1Node = resume.Node

func newResume(cfg *Config, up codec.UpgradeOptions, reg prometheus.Registerer) *v1Node {
	maxTopics := cfg.MaxTopicsPerConn
	if maxTopics <= 0 {
		maxTopics = DefaultMaxTopicsPerConn // -max-topics-per-conn 0 (grip.go)
	}
	return resume.New(resume.Config{HistorySize: cfg.HistorySize, HistoryTTL: cfg.HistoryTTL, HistoryMaxBytes: cfg.HistoryMaxBytes,
		MaxTopics: maxTopics, MaxMessages: cfg.ResumeMaxMessages, MaxOutbound: cfg.MaxOutbound,
		Fetches: cfg.ResumeFetches, FetchTimeout: cfg.ResumeFetchTime, Rate: cfg.ResumeRate, Upgrade: up}, reg)
}

// v1Pass delivers a drained batch to the loop's wsgate.v1 subscribers and
// returns what goes to plain ones (without the echoes: resume.Pass).
func (l *loop) v1Pass(batch []*message) []*message { return resume.Pass(l.v1, batch) }

// serveScript answers GET /wsgate.js (the browser client) on the client
// listener, keeping the connection when the request has no body.
func (l *loop) serveScript(cs *conn, req *codec.Request, n int) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		l.refuseLogged(cs, req, "", http.StatusMethodNotAllowed, accesslog.TermDenied, "wsgate.js: not GET", "only GET is served here")
		return false
	}
	kind, _, err := codec.RequestBodyOf(req)
	closing := err != nil || kind != codec.BodyNone || req.WantsClose()
	script := l.g.resume.Script(&l.scratch, closing, req.Method == http.MethodHead)
	_, _ = cs.c.Write(script)
	l.g.metrics.HTTPResponse(http.StatusOK)
	l.logAnswered(cs, req, "", http.StatusOK, accesslog.TermNormal, "", len(script))
	if closing {
		l.linger(cs)
		return false
	}
	_, _ = cs.c.Discard(n)
	return cs.state == stateHandshake
}

// v1Env is an event loop as resume.Env.
type v1Env loop

func (e *v1Env) Routes() *router.Snapshot { return e.g.router.Current() }
func (e *v1Env) Subscribed(delta int)     { e.g.subs.Add(int64(delta)) }
func (e *v1Env) PublishDenied()           { e.g.auth.PublishDenied() }

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

// DeliverWaiting drains the loop's inbox now if anything waits in it.
func (e *v1Env) DeliverWaiting() {
	l := (*loop)(e)
	l.inbox.Lock()
	waiting := len(l.inbox.msgs) > 0
	l.inbox.Unlock()
	if waiting {
		l.drain()
	}
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
