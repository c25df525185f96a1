package gateway

import (
	"encoding/base64"
	"encoding/json"
	"github.com/wsgate/wsgate/gateway/internal/jsonstr"
	"strconv"
	"strings"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
	"github.com/wsgate/wsgate/router/history"
)

// wsgate.v1 (issue 15): the opt-in protocol of clients that want positions,
// negotiated as a WebSocket subprotocol on topic routes. Every message
// delivered is a JSON envelope {"topic","offset","epoch","data"|"b64"};
// the client sends JSON commands (subscribe with an optional since,
// unsubscribe, publish) and gets replies carrying its id. Plain clients are
// untouched: a v1 socket's subscriptions live in a per-loop table of their
// own (v1Loop, allocated by the first v1 client of the loop), so conn gains
// one bool in existing padding and nothing else.
const v1Protocol = "wsgate.v1"

// v1Loop is one loop's wsgate.v1 state.
type v1Loop struct {
	subs    *router.TopicTable[*v1Sub]
	conns   map[*conn]*v1Conn
	claims  *auth.Claims // the token of the upgrade being handled (authorize)
	run     []*message
	iov, wv [][]byte
	entries []history.Entry
	out, js []byte
	// recoveredBytes: recovered frames written since liveFirst last looked (resume_slice.go)
	recoveredBytes int
}

// v1Conn is one wsgate.v1 socket: what its route and credentials allow and
// the topics it holds (few: -max-topics-per-conn).
type v1Conn struct {
	urlTopic string
	wildcard bool // a topic:* route: any topic name, within the token's claims
	authMode router.AuthMode
	claims   *auth.Claims
	subs     []*v1Sub
}

// v1Sub is one topic of a wsgate.v1 socket: a member of the loop's v1 topic
// table. The socket has been given every message of the topic in
// (from, last] of epoch, and live delivery continues after last.
type v1Sub struct {
	cs    *conn
	topic string
	idx   int32
	epoch string
	from  int64
	last  int64
	// catching: a Kafka catch-up is out for this topic (resume_kafka.go)
	catching *catchup
}

// GroupIndex lets the topic table remove a subscription in O(1).
func (s *v1Sub) GroupIndex() *int32 { return &s.idx }

// offersV1 reports whether the client offers the wsgate.v1 subprotocol.
func offersV1(req *codec.Request) bool {
	for _, h := range req.Headers {
		if !codec.ASCIIEqualFold(h.Name, "Sec-WebSocket-Protocol") {
			continue
		}
		for p := range strings.SplitSeq(h.Value, ",") {
			if strings.TrimSpace(p) == v1Protocol {
				return true
			}
		}
	}
	return false
}

// upgradeOptions picks the subprotocol choice of an upgrade: wsgate.v1,
// when offered on a topic route, wins over -subprotocols.
func (g *Gateway) upgradeOptions(req *codec.Request, d *router.Decision) *codec.UpgradeOptions {
	if d.Route.Kind == router.TargetTopic && offersV1(req) {
		return &g.resume.upgrade
	}
	return &g.upgrade
}

func (l *loop) v1State() *v1Loop {
	if l.v1 == nil {
		l.v1 = &v1Loop{subs: router.NewTopicTable[*v1Sub](), conns: map[*conn]*v1Conn{}}
	}
	return l.v1
}

// keepClaims remembers a verified token for the upgrade being handled: a
// wsgate.v1 socket checks later subscribes and publishes against it.
func (l *loop) keepClaims(c *auth.Claims) { l.v1State().claims = c }

// v1Open starts a wsgate.v1 session on a topic route: the URL's topic is
// subscribed live (or resumed, with ?since=OFFSET&epoch=EPOCH in the URL).
func (l *loop) v1Open(cs *conn, req *codec.Request, d *router.Decision) {
	v := l.v1State()
	vc := &v1Conn{urlTopic: d.Topic, wildcard: d.Route.Wildcard(), authMode: d.Route.Auth}
	if vc.authMode == router.AuthJWT {
		vc.claims = v.claims
	}
	v.claims = nil
	cs.v1 = true
	v.conns[cs] = vc
	if queryParam(req.RawQuery, "since") != "" {
		l.liveFirst() // before it joins: nothing live precedes its reply (resume_slice.go)
	}
	s := l.v1Join(cs, vc, d.Topic)
	if raw := queryParam(req.RawQuery, "since"); raw != "" {
		if off, err := strconv.ParseInt(raw, 10, 64); err == nil {
			l.recover(cs, s, 0, off, queryParam(req.RawQuery, "epoch"))
		}
	}
}

func (l *loop) v1Join(cs *conn, vc *v1Conn, topic string) *v1Sub {
	cur, epoch := l.g.resume.current(topic)
	s := &v1Sub{cs: cs, topic: topic, epoch: epoch, from: cur, last: cur}
	l.v1.subs.Join(topic, s)
	vc.subs = append(vc.subs, s)
	l.g.subs.Add(1)
	return s
}

func (l *loop) v1Unsubscribe(vc *v1Conn, i int) {
	s := vc.subs[i]
	s.catching = nil // its answer, when it comes, finds nobody
	if g := l.v1.subs.Lookup(s.topic); g != nil {
		l.v1.subs.Leave(g, s)
	}
	vc.subs = append(vc.subs[:i], vc.subs[i+1:]...)
	l.g.subs.Add(-1)
}

// v1Close forgets a closing wsgate.v1 socket (from leave).
func (l *loop) v1Close(cs *conn) {
	vc := l.v1.conns[cs]
	if vc == nil {
		return
	}
	for len(vc.subs) > 0 {
		l.v1Unsubscribe(vc, len(vc.subs)-1)
	}
	delete(l.v1.conns, cs)
}

func (vc *v1Conn) find(topic string) int {
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
func (vc *v1Conn) mayRead(rt *router.Snapshot, topic string) bool {
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
// (cs.noPub, computed at the upgrade, is the URL topic's answer).
func (vc *v1Conn) mayWrite(rt *router.Snapshot, cs *conn, topic string) bool {
	if topic == vc.urlTopic {
		return !cs.noPub
	}
	if !vc.mayRead(rt, topic) {
		return false
	}
	return rt.TopicPolicy(topic).Publish == router.PublishClients || (vc.claims != nil && vc.claims.MayPublish(topic))
}

// v1Position is a since: both fields are required.
type v1Position struct {
	Offset *int64  `json:"offset"`
	Epoch  *string `json:"epoch"`
}

type v1Args struct {
	Topic *string     `json:"topic"`
	Since *v1Position `json:"since"`
	Data  *string     `json:"data"`
	B64   *string     `json:"b64"`
}

// v1Command handles one message from a wsgate.v1 client.
func (l *loop) v1Command(cs *conn, op ws.OpCode, payload []byte) {
	r := l.g.resume
	r.commands.Inc()
	vc := l.v1.conns[cs]
	if vc == nil {
		return
	}
	if op != ws.OpText {
		l.v1Error(cs, 0, 400, "commands are JSON text messages")
		return
	}
	var cmd map[string]json.RawMessage
	if err := json.Unmarshal(payload, &cmd); err != nil {
		l.v1Error(cs, 0, 400, "malformed command: not a JSON object")
		return
	}
	var id int64
	if raw, ok := cmd["id"]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			l.v1Error(cs, 0, 400, "malformed command: id must be an integer")
			return
		}
		delete(cmd, "id")
	}
	if len(cmd) != 1 {
		l.v1Error(cs, id, 400, "malformed command: want exactly one of subscribe, unsubscribe, publish")
		return
	}
	var name string
	var raw json.RawMessage
	for name, raw = range cmd {
	}
	if name != "subscribe" && name != "unsubscribe" && name != "publish" {
		l.v1Error(cs, id, 404, "unknown command "+strconv.Quote(name))
		return
	}
	var a v1Args
	err := json.Unmarshal(raw, &a)
	if err == nil && a.Topic == nil && name == "publish" {
		a.Topic = &vc.urlTopic // a publish without a topic goes to the URL's
	}
	if err != nil || a.Topic == nil {
		l.v1Error(cs, id, 400, "malformed "+name+": want an object with a topic")
		return
	}
	topic, err := router.TopicName(*a.Topic)
	if err != nil {
		l.v1Error(cs, id, 400, "malformed "+name+": "+err.Error())
		return
	}
	switch name {
	case "subscribe":
		l.v1Subscribe(cs, vc, id, topic, a.Since)
	case "unsubscribe":
		if i := vc.find(topic); i >= 0 {
			l.v1Unsubscribe(vc, i)
		}
		l.v1Reply(cs, id, "unsubscribe")
	case "publish":
		l.v1Publish(cs, vc, id, topic, &a)
	}
}

func (l *loop) v1Subscribe(cs *conn, vc *v1Conn, id int64, topic string, since *v1Position) {
	if since != nil && (since.Offset == nil || since.Epoch == nil) {
		l.v1Error(cs, id, 400, "malformed subscribe: since needs offset and epoch")
		return
	}
	if !vc.mayRead(l.g.router.Current(), topic) {
		l.v1Error(cs, id, 403, "not allowed to subscribe to "+topic)
		return
	}
	if since != nil {
		// Live messages waiting go out first (resume_slice.go), before a new topic is joined:
		// nothing live precedes its reply. A delivery may close this socket (slow consumer).
		if l.liveFirst(); cs.state != stateOpen {
			return
		}
	}
	i := vc.find(topic)
	if i < 0 {
		if len(vc.subs) >= l.g.resume.maxTopics {
			l.v1Error(cs, id, 429, "over -max-topics-per-conn ("+strconv.Itoa(l.g.resume.maxTopics)+")")
			return
		}
		l.v1Join(cs, vc, topic)
		i = len(vc.subs) - 1
	}
	s := vc.subs[i]
	if s.catching != nil {
		l.v1Error(cs, id, 409, "a resume of "+topic+" is still running")
		return
	}
	if since != nil {
		l.recover(cs, s, id, *since.Offset, *since.Epoch)
		return
	}
	v := l.v1
	v.out = appendSubscribeReply(v.out[:0], id, false, false, s.last, s.epoch, "", -1)
	l.v1Write(cs, v.out)
}

func (l *loop) v1Publish(cs *conn, vc *v1Conn, id int64, topic string, a *v1Args) {
	if !vc.mayWrite(l.g.router.Current(), cs, topic) {
		l.g.auth.metrics.refusals.WithLabelValues("publish_denied").Inc()
		l.v1Error(cs, id, 403, "not allowed to publish to "+topic)
		return
	}
	op, payload := router.OpText, []byte(nil)
	switch {
	case a.Data != nil && a.B64 == nil:
		payload = []byte(*a.Data)
	case a.B64 != nil && a.Data == nil:
		var err error
		if payload, err = base64.StdEncoding.DecodeString(*a.B64); err != nil {
			l.v1Error(cs, id, 400, "malformed publish: b64 is not base64")
			return
		}
		op = router.OpBinary
	default:
		l.v1Error(cs, id, 400, "malformed publish: want one of data, b64")
		return
	}
	if err := l.g.bus.Publish(topic, op, payload); err != nil {
		l.g.metrics.PublishErrors.Inc()
		l.publishFailed(topic, err)
		l.v1Error(cs, id, 503, "publish failed: "+err.Error())
		return
	}
	l.v1Reply(cs, id, "publish")
}

// v1Reply answers a command that succeeded with nothing to say.
func (l *loop) v1Reply(cs *conn, id int64, name string) {
	v := l.v1
	v.js = append(strconv.AppendInt(append(v.js[:0], `{"id":`...), id, 10), `,"`...)
	v.js = append(append(v.js, name...), `":{}}`...)
	v.out = codec.AppendFrame(v.out[:0], ws.OpText, v.js)
	l.v1Write(cs, v.out)
}

// v1Error answers {"id":N,"error":{"code":C,"message":M}} (id 0 when the
// command carried none that could be read).
func (l *loop) v1Error(cs *conn, id int64, code int, msg string) {
	l.g.resume.errors.WithLabelValues(strconv.Itoa(code)).Inc()
	v := l.v1
	v.js = strconv.AppendInt(append(v.js[:0], `{"id":`...), id, 10)
	v.js = strconv.AppendInt(append(v.js, `,"error":{"code":`...), int64(code), 10)
	v.js = jsonstr.Append(append(v.js, `,"message":`...), msg)
	v.js = append(v.js, "}}"...)
	v.out = codec.AppendFrame(v.out[:0], ws.OpText, v.js)
	l.v1Write(cs, v.out)
}

// appendSubscribeReply appends the reply frame to a subscribe:
// {"id":N,"subscribe":{"offset":O,"epoch":E}}, with "recovered" when it
// had a since (and "reason" when false, "messages" — how many recovered
// messages follow — when true). Only deliveries carry a topic.
func appendSubscribeReply(dst []byte, id int64, recovered, withSince bool, offset int64, epoch, reason string, messages int) []byte {
	js := strconv.AppendInt(append(make([]byte, 0, 128), `{"id":`...), id, 10)
	js = append(js, `,"subscribe":{`...)
	if withSince {
		js = strconv.AppendBool(append(js, `"recovered":`...), recovered)
		js = append(js, ',')
	}
	js = strconv.AppendInt(append(js, `"offset":`...), offset, 10)
	js = jsonstr.Append(append(js, `,"epoch":`...), epoch)
	if reason != "" {
		js = jsonstr.Append(append(js, `,"reason":`...), reason)
	}
	if messages >= 0 {
		js = strconv.AppendInt(append(js, `,"messages":`...), int64(messages), 10)
	}
	js = append(js, "}}"...)
	return codec.AppendFrame(dst, ws.OpText, js)
}

// appendEnvelope appends a delivered message as wsgate.v1 JSON.
func appendEnvelope(dst []byte, topic string, offset int64, epoch string, op ws.OpCode, payload []byte) []byte {
	dst = jsonstr.Append(append(dst, `{"topic":`...), topic)
	dst = strconv.AppendInt(append(dst, `,"offset":`...), offset, 10)
	dst = jsonstr.Append(append(dst, `,"epoch":`...), epoch)
	if op == ws.OpBinary {
		dst = append(dst, `,"b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, payload)
		return append(dst, `"}`...)
	}
	dst = jsonstr.Append(append(dst, `,"data":`...), string(payload))
	return append(dst, '}')
}

// appendEnvelopeFrame appends the envelope as a text frame (js is scratch).
func appendEnvelopeFrame(dst []byte, js *[]byte, topic string, offset int64, epoch string, op ws.OpCode, payload []byte) []byte {
	*js = appendEnvelope((*js)[:0], topic, offset, epoch, op, payload)
	return codec.AppendFrame(dst, ws.OpText, *js)
}

// v1Topics adds the loop's wsgate.v1 subscribers to the stats page's counts.
func (l *loop) v1Topics(m map[string]admin.TopicCount) {
	if l.v1 == nil {
		return
	}
	l.v1.subs.Each(func(g *router.TopicGroup[*v1Sub]) {
		c := m[g.Name()]
		c.Subscribers += g.Len()
		c.Messages = max(c.Messages, g.Messages())
		m[g.Name()] = c
	})
}
