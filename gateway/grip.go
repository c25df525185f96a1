package gateway

import (
	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/wsgate/wsgate/gateway/accesslog"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/proxy"
	"github.com/wsgate/wsgate/router"
)

// GRIP on the gateway's side (the session logic is gateway/proxy/grip.go):
// a GRIP client's channels are memberships in the loop's grips table, one
// gripSub each, so a connection can be on many channels while plain topic
// subscribers keep their single group. GRIP channels and topics are one
// namespace: a bus message for topic T reaches both tables' groups of T.

// DefaultMaxTopicsPerConn is -max-topics-per-conn's default.
const DefaultMaxTopicsPerConn = 64

// gripConn is a GRIP client's state on the gateway.
type gripConn struct {
	subs     []*gripSub
	detached bool // the backend detached: the gateway holds the client alone
}

// gripSub is one channel membership of a GRIP client.
type gripSub struct {
	cs  *conn
	grp *gripGroup
	idx int32
}

// GroupIndex lets the table remove the membership in O(1).
func (s *gripSub) GroupIndex() *int32 { return &s.idx }

type gripGroup = router.TopicGroup[*gripSub]

// gripMetrics are GRIP's Prometheus figures.
type gripMetrics struct {
	sessions      *prometheus.GaugeVec   // attached, detached
	subscriptions prometheus.Gauge       // channel memberships
	refused       *prometheus.CounterVec // subscribes ignored: limit, name
	control       *prometheus.CounterVec // control messages by type
	dropped       prometheus.Counter     // backend data messages without prefix
	discarded     prometheus.Counter     // client messages after detach
	backlog       prometheus.Counter     // sessions closed: publishes piled up behind a long backend message
}

func newGripMetrics(reg prometheus.Registerer) *gripMetrics {
	m := &gripMetrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wsgate_grip_sessions",
			Help: "GRIP-managed client sessions, by state (attached: the backend connection is open; detached: the gateway holds the client alone)"}, []string{"state"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wsgate_grip_subscriptions",
			Help: "channel subscriptions of GRIP sessions"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_grip_subscribes_ignored_total",
			Help: "GRIP subscribe control messages ignored, by reason (limit: -max-topics-per-conn; name: invalid channel name)"}, []string{"reason"}),
		control: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_grip_control_messages_total",
			Help: "GRIP control messages from backends, by type (unknown and malformed included)"}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_grip_dropped_messages_total",
			Help: "backend data messages of GRIP sessions dropped: neither control nor message prefix"}),
		discarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_grip_client_messages_discarded_total",
			Help: "client messages of detached GRIP sessions, which have no backend to go to"}),
		backlog: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_grip_backlog_closes_total",
			Help: "GRIP sessions closed because publishes piled up while their backend sent a long fragmented message"}),
	}
	reg.MustRegister(m.sessions, m.subscriptions, m.refused, m.control, m.dropped, m.discarded, m.backlog)
	for _, s := range []string{"attached", "detached"} {
		m.sessions.WithLabelValues(s)
	}
	return m
}

// newGripConfig is the GRIP part of a loop's proxy state.
func newGripConfig(l *loop) *proxy.GripConfig {
	return &proxy.GripConfig{
		Env:        (*gripEnv)(l),
		MaxMessage: l.g.cfg.MaxMessageBytes,
		MaxPending: l.g.cfg.MaxOutbound,
	}
}

// gripEnv adapts the loop to proxy.GripEnv.
type gripEnv loop

func (e *gripEnv) loop() *loop { return (*loop)(e) }

func clientConn(c proxy.Client) *conn { return c.(*side).conn() }

func (e *gripEnv) Attached(c proxy.Client) {
	cs := clientConn(c)
	if cs.grip == nil {
		cs.grip = &gripConn{}
		e.g.grip.sessions.WithLabelValues("attached").Inc()
	}
}

func (e *gripEnv) Event(kind string) {
	m := e.g.grip
	switch kind {
	case "dropped":
		m.dropped.Inc()
	case "backlog":
		m.backlog.Inc()
	case "detached":
	default:
		if len(kind) > 8 && kind[:8] == "control:" {
			m.control.WithLabelValues(kind[8:]).Inc()
		}
	}
}

func (e *gripEnv) Subscribe(c proxy.Client, channel string) {
	l, cs := e.loop(), clientConn(c)
	if cs.grip == nil {
		return
	}
	name, err := router.TopicName(channel)
	if err != nil {
		e.g.grip.refused.WithLabelValues("name").Inc()
		e.g.log.Debug("GRIP subscribe ignored: bad channel name", "channel", channel, "err", err)
		return
	}
	for _, s := range cs.grip.subs {
		if s.grp.Name() == name {
			return // already on it
		}
	}
	if len(cs.grip.subs) >= e.maxTopics() {
		e.g.grip.refused.WithLabelValues("limit").Inc()
		e.g.log.Warn("GRIP subscribe ignored: -max-topics-per-conn reached", "channel", name, "limit", e.maxTopics(),
			"remote", cs.c.RemoteAddr())
		return
	}
	s := &gripSub{cs: cs}
	s.grp = l.grips.Join(name, s)
	cs.grip.subs = append(cs.grip.subs, s)
	e.g.grip.subscriptions.Inc()
}

func (e *gripEnv) maxTopics() int {
	if n := e.g.cfg.MaxTopicsPerConn; n > 0 {
		return n
	}
	return DefaultMaxTopicsPerConn
}

func (e *gripEnv) Unsubscribe(c proxy.Client, channel string) {
	cs := clientConn(c)
	name, err := router.TopicName(channel)
	if cs.grip == nil || err != nil {
		return
	}
	for i, s := range cs.grip.subs {
		if s.grp.Name() == name {
			e.loop().grips.Leave(s.grp, s)
			cs.grip.subs = append(cs.grip.subs[:i], cs.grip.subs[i+1:]...)
			e.g.grip.subscriptions.Dec()
			return
		}
	}
}

// Detached takes a client over from its GRIP session: a WebSocket
// connection of the gateway's own from now on (pings, idle timeout), on its
// channels, whose messages go nowhere.
func (e *gripEnv) Detached(c proxy.Client, inMsg bool) {
	l, cs := e.loop(), clientConn(c)
	if cs.grip == nil || cs.state != stateProxy {
		return
	}
	cs.grip.detached = true
	e.g.guard.wave.add(e.g.now()) // its backend connection's garbage (wave.go)
	e.g.grip.sessions.WithLabelValues("attached").Dec()
	e.g.grip.sessions.WithLabelValues("detached").Inc()
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
	gc := cs.grip
	cs.grip = nil
	for _, s := range gc.subs {
		l.grips.Leave(s.grp, s)
	}
	l.g.grip.subscriptions.Sub(float64(len(gc.subs)))
	state := "attached"
	if gc.detached {
		state = "detached"
	}
	l.g.grip.sessions.WithLabelValues(state).Dec()
}

// deliverTopic delivers msgs, all of one topic in bus order, to the loop's
// subscribers of it: plain topic subscribers and GRIP sessions. A close
// message (a publisher's close action) closes every one of them, after
// what came before it.
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
			if grp := l.grips.Lookup(name); grp != nil {
				l.deliverGrip(grp, msgs[:k])
			}
		}
		if k < len(msgs) {
			l.closeTopic(name, msgs[k])
			k++
		}
		msgs = msgs[k:]
	}
}

// deliverGrip writes msgs to a channel's GRIP sessions: through the session
// while the backend is attached (it holds them back while the backend is
// inside a fragmented message), straight to a detached client.
func (l *loop) deliverGrip(grp *gripGroup, msgs []*message) {
	maxOut := l.g.cfg.MaxOutbound
	var delivered, bytes int
	// Backwards: a session closed on the way leaves the group by swapping
	// the last member, already visited, into its slot.
	for i := grp.Len() - 1; i >= 0; i-- {
		if i >= grp.Len() {
			continue
		}
		cs := grp.Members()[i].cs
		if cs.state != stateOpen && (cs.state != stateProxy || cs.sess == nil) {
			continue
		}
		if cs.c.OutboundBuffered() > maxOut {
			l.g.metrics.SlowConsumers.Inc()
			l.endSession(cs)
			l.closeWith(cs, ws.StatusPolicyViolation, "slow consumer: outbound buffer full", accesslog.TermSlowConsumer)
			continue
		}
		for _, m := range msgs {
			if cs.state == stateOpen {
				_, _ = cs.c.Write(m.frame.B)
			} else if cs.sess != nil {
				cs.sess.GripPublish(m.frame.B, false)
			}
			delivered++
			bytes += len(m.frame.B)
		}
	}
	grp.Delivered(len(msgs))
	l.g.metrics.MsgsOut.Add(float64(delivered))
	l.g.metrics.BytesOut.Add(float64(bytes))
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
	if grp := l.grips.Lookup(name); grp != nil {
		for i := grp.Len() - 1; i >= 0; i-- {
			if i >= grp.Len() {
				continue
			}
			cs := grp.Members()[i].cs
			if cs.state == stateProxy && cs.sess != nil {
				cs.sess.GripPublish(m.frame.B, true) // after the backend's message in progress
			} else {
				l.closeWith(cs, code, reason, accesslog.TermNormal)
			}
		}
	}
}
