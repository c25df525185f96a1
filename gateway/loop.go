package gateway

import (
	"context"
	"sync"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/internal/gnetx"
	"github.com/wsgate/wsgate/gateway/proxy"
	"github.com/wsgate/wsgate/router"
)

// wheelSlots × tick is one turn of the wheel (≈100 s); longer timeouts simply
// wait for more turns.
const wheelSlots = 1024

// loop is the state one gnet event loop owns. Everything but the inbox is only
// touched from the loop's own goroutine, so it needs no locks.
type loop struct {
	g      *Gateway
	el     gnet.EventLoop
	wheel  *wheel
	parser codec.Parser
	topics *router.TopicTable[*conn]
	px     *proxy.Loop // state the proxy sessions of this loop share

	scratch  []byte   // responses and control frames, written before the next use
	iov      [][]byte // broadcast frames for the current topic run
	iovDefl  [][]byte
	wv       [][]byte // per-subscriber copy of iov: gnet's Writev trims it in place
	slow     []*conn
	deflater *codec.Compressor // nil until a compressing subscriber needs it
	poller   gnetx.Poller      // pauses reading on this loop's connections (pause.go)
	tls      tlsLoop           // TLS scratch and plaintext buffers (tlsconn.go)

	publishFails   int    // refused publishes since the last log line
	lastPublishLog uint32 // tick of that line

	inbox struct {
		sync.Mutex
		msgs      []*message
		scheduled bool
	}
	spare []*message

	clients      clientList // every client connection (drain.go)
	drainPerTick int        // Drain: connections closed per tick

	tickTask, drainTask gnet.Runnable
}

func newLoop(g *Gateway, el gnet.EventLoop) *loop {
	l := &loop{
		g:      g,
		el:     el,
		wheel:  newWheel(wheelSlots),
		topics: router.NewTopicTable[*conn](),
		parser: codec.Parser{Pool: &g.frames, MaxMessage: g.cfg.MaxMessageBytes, MaxInflateRatio: g.cfg.MaxInflateRatio},
	}
	l.wheel.now = g.now()
	l.px = newProxyLoop(l)
	l.tickTask = gnet.RunnableFunc(func(context.Context) error {
		if l.clients.next != nil {
			l.drainStep()
		}
		l.wheel.advance(l.g.now(), l.fire)
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
	if cs.group == nil {
		return
	}
	l.topics.Leave(cs.group, cs)
	cs.group = nil
	l.g.subs.Add(-1)
}

type topicGroup = router.TopicGroup[*conn]
