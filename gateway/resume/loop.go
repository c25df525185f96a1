package resume

import (
	"strconv"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/history"
)

// Client is one wsgate.v1 socket as the gateway gives it: the connection
// is the gateway's, and so is closing it.
type Client interface {
	Open() bool    // still a WebSocket that is not closing
	Outbound() int // bytes written and not yet sent
	Write(b []byte)
	Writev(bufs [][]byte) // may trim bufs in place
	// Sent counts, for the access log, messages and bytes written.
	Sent(msgs, bytes int)
	// Lagging marks a subscriber over -max-outbound during a delivery: the
	// loop closes it (1008, a slow consumer) once the delivery is over.
	Lagging()
	// CloseSlow closes the socket now as a slow consumer (1008).
	CloseSlow()
}

// Env is one event loop as this package needs it.
type Env interface {
	// Post runs fn on this loop, later (from a Kafka fetch worker). If the
	// engine is stopping, fn may never run: nobody is left to answer.
	Post(fn func())
	// Publish sends a client's message on the bus. The gateway counts and
	// logs a failure; the client is answered 503.
	Publish(topic string, op router.OpCode, payload []byte) error
	PublishDenied()                    // a publish refused by access rules (a metric)
	Delivered(msgs, bytes, writes int) // messages written to subscribers (metrics)
	Subscribed(delta int)              // subscriptions added (+) or removed (-)
	Routes() *router.Snapshot          // the routing the access checks apply
	// DeliverWaiting delivers the live messages waiting for this loop now,
	// ahead of their task (a resume storm: slice.go); Pass runs inside it.
	DeliverWaiting()
}

// Grants is what a verified token allows beyond the URL's topic (the
// claims of router/auth).
type Grants interface {
	MaySubscribe(topic string) bool
	MayPublish(topic string) bool
}

// Loop is one event loop's wsgate.v1 state. Plain clients are untouched:
// wsgate.v1 subscriptions live in a topic table of their own, built by the
// first wsgate.v1 client of the loop. Only the loop touches it.
type Loop struct {
	node    *Node
	env     Env
	subs    *router.TopicTable[*Sub]
	conns   map[Client]*Conn
	claims  Grants // the token of the upgrade being handled (KeepClaims)
	batch   []Message
	run     []Message
	iov, wv [][]byte
	entries []history.Entry
	out, js []byte
	// recovered: bytes of recovered frames written since liveFirst last looked (slice.go)
	recovered int
	// turns: the sockets whose recoveries wait for -resume-rate, in turn (pace.go)
	turns     []*Conn
	paceArmed bool
}

// NewLoop is the state of one event loop, acting through env.
func (n *Node) NewLoop(env Env) *Loop {
	return &Loop{node: n, env: env, subs: router.NewTopicTable[*Sub](), conns: map[Client]*Conn{}}
}

// Conn is one wsgate.v1 socket: what its route and credentials allow and
// the topics it holds (few: -max-topics-per-conn).
type Conn struct {
	urlTopic   string
	wildcard   bool // a topic:* route: any topic name, within the token's claims
	mayPublish bool // the URL's topic: the upgrade's answer (publish= and the token)
	authMode   router.AuthMode
	claims     Grants
	subs       []*Sub
	waiting    []*catchup // recoveries held back by -resume-rate, oldest first (pace.go)
	queued     bool       // in the loop's turns
}

// Sub is one topic of a wsgate.v1 socket: a member of the loop's topic
// table. The socket has been given every message of the topic in
// (from, last] of epoch, and live delivery continues after last.
type Sub struct {
	c     Client
	topic string
	idx   int32
	epoch string
	from  int64
	last  int64
	// catching: a Kafka catch-up is out for this topic (kafka.go), or a
	// recovery waits for -resume-rate (pace.go)
	catching *catchup
}

// GroupIndex lets the topic table remove a subscription in O(1).
func (s *Sub) GroupIndex() *int32 { return &s.idx }

// KeepClaims remembers a verified token for the upgrade being handled: a
// wsgate.v1 socket checks later subscribes and publishes against it.
func (l *Loop) KeepClaims(g Grants) { l.claims = g }

// Open starts a wsgate.v1 session on a topic route: the URL's topic is
// subscribed live, or resumed when the URL says ?since=OFFSET&epoch=EPOCH
// (since and epoch are those parameters' values). mayPublish is whether
// the upgrade allowed publishing to the URL's topic.
func (l *Loop) Open(c Client, d *router.Decision, mayPublish bool, since, epoch string) {
	vc := &Conn{urlTopic: d.Topic, wildcard: d.Route.Wildcard(), authMode: d.Route.Auth, mayPublish: mayPublish}
	if vc.authMode == router.AuthJWT {
		vc.claims = l.claims
	}
	l.claims = nil
	l.conns[c] = vc
	if since != "" {
		l.liveFirst() // before it joins: nothing live precedes its reply (slice.go)
		if !c.Open() {
			return // closed as a slow consumer by that delivery
		}
	}
	s := l.join(c, vc, d.Topic)
	if since != "" {
		if off, err := strconv.ParseInt(since, 10, 64); err == nil {
			l.recover(c, s, 0, off, epoch)
		}
	}
}

func (l *Loop) join(c Client, vc *Conn, topic string) *Sub {
	cur, epoch := l.node.current(topic)
	s := &Sub{c: c, topic: topic, epoch: epoch, from: cur, last: cur}
	l.subs.Join(topic, s)
	vc.subs = append(vc.subs, s)
	l.env.Subscribed(1)
	return s
}

func (l *Loop) unsubscribe(vc *Conn, i int) {
	s := vc.subs[i]
	if cu := s.catching; cu != nil {
		// A recovery waiting for -resume-rate stays in its socket's queue until
		// its turn (or the socket's next paced recovery): it must not keep its
		// buffered live messages (no longer counted by buffered).
		cu.live, cu.liveBytes = nil, 0
	}
	s.catching = nil // its answer, when it comes, finds nobody
	if g := l.subs.Lookup(s.topic); g != nil {
		l.subs.Leave(g, s)
	}
	vc.subs = append(vc.subs[:i], vc.subs[i+1:]...)
	l.env.Subscribed(-1)
}

// Close forgets a closing wsgate.v1 socket.
func (l *Loop) Close(c Client) {
	vc := l.conns[c]
	if vc == nil {
		return
	}
	for len(vc.subs) > 0 {
		l.unsubscribe(vc, len(vc.subs)-1)
	}
	clear(vc.waiting)
	vc.waiting = nil // its turn, if it has one, finds nothing (pace.go)
	delete(l.conns, c)
}

func (vc *Conn) find(topic string) int {
	for i, s := range vc.subs {
		if s.topic == topic {
			return i
		}
	}
	return -1
}

// mayRead: the same rules as an upgrade, applied to the topic's own policy
// (every topic route shares one namespace: router.TopicPolicy). A fixed
// route allows its topic only; a topic:* route any name whose policy allows
// it: auth=jwt if the token's topics claim does (no token: no),
// auth=request never (its answer was given for the URL's topic only).
func (vc *Conn) mayRead(rt *router.Snapshot, topic string) bool {
	switch {
	case topic == vc.urlTopic:
		return true
	case !vc.wildcard || vc.authMode == router.AuthRequest:
		return false
	}
	switch rt.TopicPolicy(topic).Auth {
	case router.AuthJWT:
		return vc.claims != nil && vc.claims.MaySubscribe(topic)
	case router.AuthRequest:
		return false
	}
	return true
}

// mayWrite: a reader may publish unless the topic's policy says
// publish=none, then only with a token whose publish claim names the topic
// (the URL topic's answer was given at the upgrade).
func (vc *Conn) mayWrite(rt *router.Snapshot, topic string) bool {
	if topic == vc.urlTopic {
		return vc.mayPublish
	}
	if !vc.mayRead(rt, topic) {
		return false
	}
	return rt.TopicPolicy(topic).Publish == router.PublishClients || (vc.claims != nil && vc.claims.MayPublish(topic))
}

// Command handles one message from a wsgate.v1 client.
func (l *Loop) Command(c Client, op ws.OpCode, payload []byte) {
	l.node.commands.Inc()
	vc := l.conns[c]
	if vc == nil {
		return
	}
	cmd, bad := parseCommand(op, payload, vc.urlTopic)
	if bad != nil {
		l.fail(c, cmd.id, bad)
		return
	}
	switch cmd.name {
	case "subscribe":
		l.subscribe(c, vc, &cmd)
	case "unsubscribe":
		if i := vc.find(cmd.topic); i >= 0 {
			l.unsubscribe(vc, i)
		}
		l.reply(c, cmd.id, "unsubscribe")
	case "publish":
		l.publish(c, vc, &cmd)
	}
}

func (l *Loop) subscribe(c Client, vc *Conn, cmd *command) {
	id, topic := cmd.id, cmd.topic
	if !vc.mayRead(l.env.Routes(), topic) {
		l.fail(c, id, &badCommand{403, "not allowed to subscribe to " + topic})
		return
	}
	if cmd.Since != nil {
		// Live messages waiting go out first (slice.go), before a new topic is joined:
		// nothing live precedes its reply. A delivery may close this socket (slow consumer).
		if l.liveFirst(); !c.Open() {
			return
		}
	}
	i := vc.find(topic)
	if i < 0 {
		if limit := l.node.cfg.MaxTopics; len(vc.subs) >= limit {
			l.fail(c, id, &badCommand{429, "over -max-topics-per-conn (" + strconv.Itoa(limit) + ")"})
			return
		}
		l.join(c, vc, topic)
		i = len(vc.subs) - 1
	}
	s := vc.subs[i]
	if s.catching != nil {
		l.fail(c, id, &badCommand{409, "a resume of " + topic + " is still running"})
		return
	}
	if cmd.Since != nil {
		l.recover(c, s, id, *cmd.Since.Offset, *cmd.Since.Epoch)
		return
	}
	l.out = AppendSubscribeReply(l.out[:0], id, false, false, s.last, s.epoch, "", -1)
	l.write(c, l.out)
}

func (l *Loop) publish(c Client, vc *Conn, cmd *command) {
	if !vc.mayWrite(l.env.Routes(), cmd.topic) {
		l.env.PublishDenied()
		l.fail(c, cmd.id, &badCommand{403, "not allowed to publish to " + cmd.topic})
		return
	}
	op, payload, bad := cmd.message()
	if bad != nil {
		l.fail(c, cmd.id, bad)
		return
	}
	if err := l.env.Publish(cmd.topic, op, payload); err != nil {
		l.fail(c, cmd.id, &badCommand{503, "publish failed: " + err.Error()})
		return
	}
	l.reply(c, cmd.id, "publish")
}

// reply answers a command that succeeded with nothing to say.
func (l *Loop) reply(c Client, id int64, name string) {
	l.out = appendReply(l.out[:0], &l.js, id, name)
	l.write(c, l.out)
}

// fail answers {"id":N,"error":{"code":C,"message":M}} (id 0 when the
// command carried none that could be read).
func (l *Loop) fail(c Client, id int64, e *badCommand) {
	l.node.errors.WithLabelValues(strconv.Itoa(e.code)).Inc()
	l.out = appendError(l.out[:0], &l.js, id, e.code, e.msg)
	l.write(c, l.out)
}

// write writes replies (and recovered frames) to a wsgate.v1 client; one
// that stopped reading is closed like a slow subscriber.
func (l *Loop) write(c Client, b []byte) {
	if !c.Open() {
		return
	}
	c.Write(b)
	c.Sent(0, len(b))
	if c.Open() && c.Outbound() > l.node.cfg.MaxOutbound {
		c.CloseSlow()
	}
}

// Topics adds the loop's wsgate.v1 subscribers to the stats page's counts.
func (l *Loop) Topics(m map[string]admin.TopicCount) {
	l.subs.Each(func(g *router.TopicGroup[*Sub]) {
		c := m[g.Name()]
		c.Subscribers += g.Len()
		c.Messages = max(c.Messages, g.Messages())
		m[g.Name()] = c
	})
}
