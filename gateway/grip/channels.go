package grip

import (
	"log/slog"
	"net"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/router"
)

// DefaultMaxTopicsPerConn is -max-topics-per-conn's default.
const DefaultMaxTopicsPerConn = 64

// Client is a GRIP client connection as the gateway holds it. The gateway
// implements it on its connection type (a conversion: no allocation).
type Client interface {
	// Held reports whether the gateway holds the client alone: its backend
	// detached and its WebSocket connection is open.
	Held() bool
	// Session is the client's session while its backend is attached, nil
	// otherwise (and while the client is closing).
	Session() Session
	// OutboundBuffered is what the client has not read yet, in bytes.
	OutboundBuffered() int
	// Write writes a frame straight to a held client.
	Write(frame []byte)
	// SlowConsumer ends the client's session, if any, and closes it with
	// 1008: it stopped reading (more than -max-outbound unsent).
	SlowConsumer()
	// Close closes the client with a publisher's close code and reason.
	Close(code ws.StatusCode, reason string)
	// RemoteAddr names the client in log lines.
	RemoteAddr() net.Addr
}

// Session is what delivery needs of an attached GRIP session
// (proxy.Session.GripPublish).
type Session interface {
	// GripPublish writes a published frame to the client between the
	// backend's messages; isClose: a publisher's close frame, which ends
	// the session once it is out.
	GripPublish(frame []byte, isClose bool)
}

// Message is a bus message as the gateway delivers it: its frame, encoded
// once for every subscriber.
type Message interface {
	Frame() []byte
}

// Conn is a GRIP client's state, kept on its connection from the backend's
// acceptance of grip to the client's close.
type Conn[C Client] struct {
	subs     []*Sub[C]
	detached bool // the backend detached: the gateway holds the client alone
}

// Sub is one channel membership of a GRIP client.
type Sub[C Client] struct {
	c   C
	grp *router.TopicGroup[*Sub[C]]
	idx int32
}

// GroupIndex lets the table remove the membership in O(1).
func (s *Sub[C]) GroupIndex() *int32 { return &s.idx }

// Channels is one event loop's GRIP channels: a table of memberships, with
// the rules a subscribe obeys and the delivery of publishes. It is only used
// from its loop, so it takes no lock. C is the gateway's client connection,
// M its bus message.
type Channels[C Client, M Message] struct {
	table     *router.TopicTable[*Sub[C]]
	m         *Metrics
	log       *slog.Logger
	maxTopics int
	maxOut    int
}

// NewChannels makes a loop's channel table. maxTopics is
// -max-topics-per-conn (0: DefaultMaxTopicsPerConn); maxOutbound is
// -max-outbound, the unsent bytes past which a client is a slow consumer.
func NewChannels[C Client, M Message](m *Metrics, log *slog.Logger, maxTopics, maxOutbound int) *Channels[C, M] {
	if maxTopics <= 0 {
		maxTopics = DefaultMaxTopicsPerConn
	}
	return &Channels[C, M]{table: router.NewTopicTable[*Sub[C]](), m: m, log: log, maxTopics: maxTopics, maxOut: maxOutbound}
}

// Attach starts a client's GRIP state: its backend accepted grip.
func (ch *Channels[C, M]) Attach() *Conn[C] {
	ch.m.sessions.WithLabelValues("attached").Inc()
	return &Conn[C]{}
}

// Subscribe puts client c, whose state is gc, on channel (a raw name from
// the backend). A bad name or one channel too many is ignored, counted and
// logged; the session goes on.
func (ch *Channels[C, M]) Subscribe(gc *Conn[C], c C, channel string) {
	name, err := router.TopicName(channel)
	if err != nil {
		ch.m.refused.WithLabelValues("name").Inc()
		ch.log.Debug("GRIP subscribe ignored: bad channel name", "channel", channel, "err", err)
		return
	}
	for _, s := range gc.subs {
		if s.grp.Name() == name {
			return // already on it
		}
	}
	if len(gc.subs) >= ch.maxTopics {
		ch.m.refused.WithLabelValues("limit").Inc()
		ch.log.Warn("GRIP subscribe ignored: -max-topics-per-conn reached", "channel", name, "limit", ch.maxTopics,
			"remote", c.RemoteAddr())
		return
	}
	s := &Sub[C]{c: c}
	s.grp = ch.table.Join(name, s)
	gc.subs = append(gc.subs, s)
	ch.m.subscriptions.Inc()
}

// Unsubscribe takes the client off channel, if it is on it.
func (ch *Channels[C, M]) Unsubscribe(gc *Conn[C], channel string) {
	name, err := router.TopicName(channel)
	if err != nil {
		return
	}
	for i, s := range gc.subs {
		if s.grp.Name() == name {
			ch.table.Leave(s.grp, s)
			gc.subs = append(gc.subs[:i], gc.subs[i+1:]...)
			ch.m.subscriptions.Dec()
			return
		}
	}
}

// Detach counts the client as held by the gateway alone: its backend
// detached. The client keeps its channels.
func (ch *Channels[C, M]) Detach(gc *Conn[C]) {
	gc.detached = true
	ch.m.sessions.WithLabelValues("attached").Dec()
	ch.m.sessions.WithLabelValues("detached").Inc()
}

// Release drops a closing client's state: its channels, its count.
func (ch *Channels[C, M]) Release(gc *Conn[C]) {
	for _, s := range gc.subs {
		ch.table.Leave(s.grp, s)
	}
	ch.m.subscriptions.Sub(float64(len(gc.subs)))
	state := "attached"
	if gc.detached {
		state = "detached"
	}
	ch.m.sessions.WithLabelValues(state).Dec()
}

// Deliver writes msgs, all of channel name in bus order, to the channel's
// clients: through the session while the backend is attached, straight to a
// held client. A client past -max-outbound is closed as a slow consumer. It
// returns the messages and bytes delivered, for the gateway's counters.
func (ch *Channels[C, M]) Deliver(name string, msgs []M) (delivered, bytes int) {
	grp := ch.table.Lookup(name)
	if grp == nil {
		return 0, 0
	}
	// Backwards: a client closed on the way leaves the group by swapping
	// the last member, already visited, into its slot.
	for i := grp.Len() - 1; i >= 0; i-- {
		if i >= grp.Len() {
			continue
		}
		c := grp.Members()[i].c
		if !c.Held() && c.Session() == nil {
			continue // neither the gateway's nor its session's any more
		}
		if c.OutboundBuffered() > ch.maxOut {
			c.SlowConsumer()
			continue
		}
		for _, m := range msgs {
			f := m.Frame()
			if c.Held() {
				c.Write(f)
			} else if s := c.Session(); s != nil {
				s.GripPublish(f, false)
			}
			delivered++
			bytes += len(f)
		}
	}
	grp.Delivered(len(msgs))
	return delivered, bytes
}

// Close closes channel name's clients for a publisher's close action: an
// attached session after the backend's message in progress (frame is the
// close frame to send), a held client at once with code and reason.
func (ch *Channels[C, M]) Close(name string, frame []byte, code ws.StatusCode, reason string) {
	grp := ch.table.Lookup(name)
	if grp == nil {
		return
	}
	for i := grp.Len() - 1; i >= 0; i-- {
		if i >= grp.Len() {
			continue
		}
		c := grp.Members()[i].c
		if s := c.Session(); s != nil {
			s.GripPublish(frame, true)
		} else {
			c.Close(code, reason)
		}
	}
}
