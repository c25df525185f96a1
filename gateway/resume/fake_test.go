package resume

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/router"
)

// The fakes stand in for the gateway: a socket that records what it is
// written, a loop whose posted work the test runs itself (the test's
// goroutine is the event loop), a bus with positions and a Kafka log, and
// broadcasts as the fan-out shares them.

type fakeClient struct {
	l        *Loop
	open     bool
	buf      []byte // every byte written
	outbound int    // pretend unsent bytes
	msgs     int    // Sent, for the access log
	lagging  int
	slow     int
}

func (c *fakeClient) Open() bool    { return c.open }
func (c *fakeClient) Outbound() int { return c.outbound }
func (c *fakeClient) Write(b []byte) {
	c.buf = append(c.buf, b...)
}
func (c *fakeClient) Writev(bufs [][]byte) {
	for _, b := range bufs {
		c.buf = append(c.buf, b...)
	}
}
func (c *fakeClient) Sent(msgs, _ int) { c.msgs += msgs }
func (c *fakeClient) Lagging()         { c.lagging++ }

// CloseSlow closes as the gateway does: the socket leaves at once.
func (c *fakeClient) CloseSlow() {
	c.slow++
	c.open = false
	c.l.Close(c)
}

// frames returns the payloads of the frames written since the last call
// (server frames: unmasked text).
func (c *fakeClient) frames(t *testing.T) []string {
	t.Helper()
	var out []string
	b := c.buf
	for len(b) > 0 {
		if b[0] != 0x80|byte(ws.OpText) {
			t.Fatalf("frame header %#x, want a final text frame", b[0])
		}
		n, h := int(b[1]&0x7f), 2
		switch n {
		case 126:
			n, h = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, h = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		out = append(out, string(b[h:h+n]))
		b = b[h+n:]
	}
	c.buf = c.buf[:0]
	return out
}

type published struct {
	topic   string
	op      router.OpCode
	payload string
}

type fakeEnv struct {
	l         *Loop
	inbox     []*fakeMsg // live messages waiting for the loop's next drain
	rt        *router.Snapshot
	posted    chan func()
	published []published
	pubErr    error
	denied    int
	delivered int // messages
	writes    int
	subs      int
}

func (e *fakeEnv) Post(fn func()) { e.posted <- fn }
func (e *fakeEnv) Publish(topic string, op router.OpCode, payload []byte) error {
	if e.pubErr != nil {
		return e.pubErr
	}
	e.published = append(e.published, published{topic, op, string(payload)})
	return nil
}
func (e *fakeEnv) DeliverWaiting() {
	if len(e.inbox) > 0 {
		b := e.inbox
		e.inbox = nil
		Pass(e.l, b)
	}
}
func (e *fakeEnv) PublishDenied()                { e.denied++ }
func (e *fakeEnv) Delivered(msgs, _, writes int) { e.delivered += msgs; e.writes += writes }
func (e *fakeEnv) Subscribed(delta int)          { e.subs += delta }
func (e *fakeEnv) Routes() *router.Snapshot      { return e.rt }

// fakeBus has one stream per topic, all in one epoch, starting at offset
// 0, and what Kafka holds of them (fetches read it).
type fakeBus struct {
	epoch string
	mu    sync.Mutex
	kafka map[string][]router.BusMessage
}

func (b *fakeBus) Publish(string, router.OpCode, []byte) error { return errors.New("not this bus") }
func (b *fakeBus) Close() error                                { return nil }
func (b *fakeBus) Position(string) (string, int64, bool)       { return b.epoch, 0, true }

func (b *fakeBus) Fetch(ctx context.Context, topic, epoch string, after, upTo int64, maxBytes int64, maxMsgs int, fn func(router.BusMessage)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if epoch != b.epoch {
		return errors.New("epoch changed")
	}
	n := 0
	for _, m := range b.kafka[topic] {
		if m.Offset > after && m.Offset <= upTo {
			if n++; maxMsgs < 0 || (maxMsgs > 0 && n > maxMsgs) {
				return errors.New("too many messages")
			}
			fn(m)
		}
	}
	return ctx.Err()
}

type fakeMsg struct {
	topic    string
	offset   int64
	epoch    string
	op       ws.OpCode
	payload  []byte
	echo     bool
	released bool
	env      []byte
	built    int // envelopes built: once for every loop and subscriber
}

func (m *fakeMsg) Topic() string             { return m.topic }
func (m *fakeMsg) Position() (int64, string) { return m.offset, m.epoch }
func (m *fakeMsg) Op() ws.OpCode             { return m.op }
func (m *fakeMsg) Payload() []byte           { return m.payload }
func (m *fakeMsg) Echo() bool                { return m.echo }
func (m *fakeMsg) Release()                  { m.released = true }
func (m *fakeMsg) Envelope(js *[]byte) []byte {
	if m.env == nil {
		m.built++
		m.env = AppendEnvelopeFrame(nil, js, m.topic, m.offset, m.epoch, m.op, m.payload)
	}
	return m.env
}

// harness is one node with one loop; its routes are -route values, and
// -backend values prefixed "backend ".
type harness struct {
	t   *testing.T
	n   *Node
	l   *Loop
	env *fakeEnv
	bus *fakeBus
	rt  *router.Router
	off map[string]int64 // each topic's newest offset
}

func newHarness(t *testing.T, cfg Config, routes ...string) *harness {
	t.Helper()
	if cfg.MaxTopics == 0 {
		cfg.MaxTopics = 64
	}
	if cfg.MaxOutbound == 0 {
		cfg.MaxOutbound = 1 << 20
	}
	var rc router.Config
	for _, r := range routes {
		if b, ok := strings.CutPrefix(r, "backend "); ok {
			rc.Backends = append(rc.Backends, b)
		} else {
			rc.Routes = append(rc.Routes, r)
		}
	}
	rt, err := router.New(rc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, rt: rt, bus: &fakeBus{epoch: "E", kafka: map[string][]router.BusMessage{}}, off: map[string]int64{}}
	h.n = New(cfg, prometheus.NewRegistry())
	h.n.SetBus(h.bus, prometheus.NewRegistry())
	h.env = &fakeEnv{rt: rt.Current(), posted: make(chan func(), 16)}
	h.l = h.n.NewLoop(h.env)
	h.env.l = h.l
	return h
}

// open upgrades a wsgate.v1 socket on path (since, epoch: the URL's).
func (h *harness) open(path string, mayPublish bool, since, epoch string) *fakeClient {
	h.t.Helper()
	d := h.rt.Current().Match(&router.Request{Path: path, Upgrade: true})
	if d.Status != 0 {
		h.t.Fatalf("%s: %d %s", path, d.Status, d.Reason)
	}
	c := &fakeClient{l: h.l, open: true}
	h.l.Open(c, &d, mayPublish, since, epoch)
	return c
}

// publish is the bus handler for the next n messages of topic: in Kafka,
// in the history, and returned as the broadcasts on their way to the loop.
func (h *harness) publish(topic string, n int) []*fakeMsg {
	var out []*fakeMsg
	for range n {
		h.off[topic]++
		o := h.off[topic]
		bm := router.BusMessage{Topic: topic, OpCode: router.OpText, Payload: []byte(payloadOf(o)), Offset: o, Epoch: h.bus.epoch}
		h.bus.mu.Lock()
		h.bus.kafka[topic] = append(h.bus.kafka[topic], bm)
		h.bus.mu.Unlock()
		h.n.Append(bm)
		out = append(out, &fakeMsg{topic: topic, offset: o, epoch: bm.Epoch, op: ws.OpText, payload: bm.Payload})
	}
	return out
}

func payloadOf(o int64) string { return "m" + strconv.FormatInt(o, 10) }

// deliver is the loop draining its inbox.
func (h *harness) deliver(msgs ...*fakeMsg) []*fakeMsg { return Pass(h.l, msgs) }

func (h *harness) command(c *fakeClient, js string) { h.l.Command(c, ws.OpText, []byte(js)) }

// runPosted runs the next piece of work a fetch worker posted to the loop.
func (h *harness) runPosted(ctx context.Context) {
	h.t.Helper()
	select {
	case fn := <-h.env.posted:
		fn()
	case <-ctx.Done():
		h.t.Fatal("no catch-up came back to the loop")
	}
}
