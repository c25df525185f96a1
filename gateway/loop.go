package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/internal/gnetx"
	twheel "github.com/wsgate/wsgate/gateway/internal/wheel"
	"github.com/wsgate/wsgate/gateway/proxy"
	"github.com/wsgate/wsgate/gateway/tlsside"
	"github.com/wsgate/wsgate/router"
)

// wheelSlots × tick is one turn of the wheel (≈100 s); longer timeouts simply
// wait for more turns.
const wheelSlots = 1024

// loop is the state one gnet event loop owns. Everything but the inbox is only
// touched from the loop's own goroutine, so it needs no locks.
type loop struct {
	// refused is the status of the last refusal written on this loop (refuse,
	// authorize), so a caller that only learns "refused" can log it.
	refused      int
	refusedBytes int // and the size of its answer, for the access log
	g            *Gateway
	el           gnet.EventLoop
	wheel        *timers
	parser       codec.Parser
	topics       *router.TopicTable[*conn]
	grips        *gripChannels // GRIP sessions' channels (grip.go)
	px           *proxy.Loop   // state the proxy sessions of this loop share

	scratch  []byte   // responses and control frames, written before the next use
	iov      [][]byte // broadcast frames for the current topic run
	iovDefl  [][]byte
	wv       [][]byte // per-subscriber copy of iov: gnet's Writev trims it in place
	slow     []*conn
	deflater *codec.Compressor // nil until a compressing subscriber needs it
	poller   gnetx.Poller      // pauses reading on this loop's connections (pause.go)
	tls      *tlsside.Loop     // TLS scratch and plaintext buffers; nil without -tls-listen (tls.go)
	v1       *v1Loop           // wsgate.v1 sockets' topics; nil until the loop has one (v1.go)

	publishFails   int    // refused publishes since the last log line
	lastPublishLog uint32 // tick of that line

	inbox struct {
		sync.Mutex
		msgs      []*message
		scheduled bool
		last      time.Time   // when the last drain started (-broadcast-coalesce)
		timer     *time.Timer // wakes the loop at the end of a coalescing window
	}
	spare []*message

	// Server connections being set up and reused (proxy.go).
	enrolling chan struct{} // one token per gnet Enroll in flight: at most enrollSlots
	upClosed  []*conn       // server connections closed since the last tick
	upFree    []*conn       // and before: their structs, for the next dials

	clients      clientList // every client connection (drain.go)
	drainPerTick int        // Drain: connections closed per tick

	tickTask, drainTask gnet.Runnable
}

func newLoop(g *Gateway, el gnet.EventLoop) *loop {
	l := &loop{
		g:      g,
		el:     el,
		topics: router.NewTopicTable[*conn](),
		grips:  newGripChannels(g),
		parser: codec.Parser{Pool: &g.frames, MaxMessage: g.cfg.MaxMessageBytes, MaxInflateRatio: g.cfg.MaxInflateRatio},
	}
	l.enrolling = make(chan struct{}, enrollSlots)
	l.wheel = newTimers(g.now())
	l.px = newProxyLoop(l)
	l.tls = g.tls.NewLoop((*tlsHost)(l))
	l.tickTask = gnet.RunnableFunc(func(context.Context) error {
		if l.clients.Walking() {
			l.drainStep()
		}
		l.wheel.advance(l.g.now(), l.fire)
		l.recycleUpstreams()
		l.reclaim()
		return nil
	})
	l.drainTask = gnet.RunnableFunc(func(context.Context) error {
		l.drain()
		return nil
	})
	return l
}

func (l *loop) join(cs *conn, name string) {
	cs.group = l.topics.Join(name, cs)
	l.g.subs.Add(1)
}

func (l *loop) leave(cs *conn) {
	if cs.grip != nil {
		l.gripRelease(cs)
	}
	if cs.group == nil {
		if cs.v1 { // its topics are in l.v1 (v1.go)
			l.v1Close(cs)
		}
		return
	}
	l.topics.Leave(cs.group, cs)
	cs.group = nil
	l.g.subs.Add(-1)
}

type topicGroup = router.TopicGroup[*conn]

// timers is a loop's timing wheel of connections (internal/wheel), with the
// wheel's current tick kept as a field: every event stamps it (lastSeen), and
// during advance it is the tick being fired, as fire expects.
type timers struct {
	w   *twheel.Wheel[*conn]
	now uint32
}

// timerLink is a connection's place in the wheel (conn.timer).
type timerLink = twheel.Link[*conn]

// WheelLink gives the wheel the connection's link.
func (cs *conn) WheelLink() *timerLink { return &cs.timer }

func newTimers(now uint32) *timers { return &timers{w: twheel.New[*conn](wheelSlots, now), now: now} }

func (t *timers) schedule(cs *conn, due uint32) { t.w.Schedule(cs, due) }
func (t *timers) remove(cs *conn)               { t.w.Remove(cs) }

func (t *timers) advance(now uint32, fire func(*conn)) {
	// The closure does not escape (Advance only calls it): no allocation per tick.
	t.w.Advance(now, func(cs *conn) {
		t.now = t.w.Now()
		fire(cs)
	})
	t.now = now
}
