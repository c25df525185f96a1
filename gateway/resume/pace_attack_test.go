package resume

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/router"
)

// Review of -resume-rate (pace.go) read as an attacker. Each test here
// failed on the code it was written against (64d5673) and names the defect
// it proves ("FAILS" below: failed then); all pass since the fixes
// (kafka.go fetched/buffer, loop.go unsubscribe and Close, pace.go: sockets
// take turns, a memory recovery that waits buffers nothing).

// pacedHarness is a node paced at 1 MiB/s whose clock the test moves.
func pacedHarness(t *testing.T, cfg Config) (*harness, *time.Time) {
	t.Helper()
	cfg.Rate = 1 << 20
	h := newHarness(t, cfg, "/rooms/=topic:*")
	clock := time.Unix(1000, 0)
	p := h.l.node.pace
	p.now = func() time.Time { return clock }
	p.last = clock
	return h, &clock
}

// frameInfo is a frame as a client reads it: a delivery (topic set) or a
// reply (id set).
type frameInfo struct {
	ID        int64           `json:"id"`
	Topic     string          `json:"topic"`
	Offset    int64           `json:"offset"`
	Subscribe json.RawMessage `json:"subscribe"`
}

func parseFrames(t *testing.T, c *fakeClient) []frameInfo {
	t.Helper()
	var out []frameInfo
	for _, f := range c.frames(t) {
		var fi frameInfo
		if err := json.Unmarshal([]byte(f), &fi); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		out = append(out, fi)
	}
	return out
}

// FAILS. A Kafka catch-up whose socket unsubscribed the topic while the
// fetch ran is dropped when the budget has room (catchupDone finds
// s.catching != c) — but when it comes back to a loop whose budget is
// spent, fetched → paced sets c.s.catching = c again on the dead Sub and
// queues it; runWaiting → catchupDone then finds s.catching == c and the
// socket open, and writes the whole recovery (reply id 1 and 6..20) to a
// socket that unsubscribed — here after it re-subscribed the topic live
// and already got 21: duplicates, out of order, and a second reply to id 1.
func TestAttackPacedKafkaCatchupAfterUnsubscribe(t *testing.T) {
	h, clock := pacedHarness(t, Config{HistorySize: 4, Fetches: 1, FetchTimeout: 10 * time.Second, MaxOutbound: 16 << 20})
	h.deliver(h.publish("t", 20)...) // the history holds 17..20; Kafka all
	c := h.open("/rooms/t", true, "", "")
	h.command(c, `{"id":1,"subscribe":{"topic":"t","since":{"offset":5,"epoch":"E"}}}`) // → Kafka
	h.command(c, `{"id":2,"unsubscribe":{"topic":"t"}}`)
	h.command(c, `{"id":3,"subscribe":{"topic":"t"}}`) // live again, from 20
	h.deliver(h.publish("t", 1)...)                    // 21, live
	before := parseFrames(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.n.fetch.start(ctx) // the budget has room: the worker fetches at once
	// The fetch is back on its way to the loop; meanwhile other recoveries spend the budget.
	select {
	case fn := <-h.env.posted:
		h.l.node.pace.spend(1 << 20)
		fn() // fetched(c): budget spent → paced
	case <-ctx.Done():
		t.Fatal("the fetch never came back")
	}
	*clock = clock.Add(2 * time.Second)
	if len(h.l.waitingEntries()) > 0 {
		h.runPosted(ctx) // runWaiting
	}
	after := parseFrames(t, c)
	var stale []frameInfo
	for _, f := range after {
		if f.ID == 1 || (f.Topic == "t" && f.Offset <= 21) {
			stale = append(stale, f)
		}
	}
	if len(stale) > 0 {
		t.Fatalf("before the fetch came back the socket had %d frames (unsubscribe reply, subscribe reply, 21); "+
			"after: %d more frames for the abandoned resume (first: id %d subscribe %s; last offset %d): "+
			"a recovery delivered to a socket that unsubscribed (and re-subscribed) the topic",
			len(before), len(stale), stale[0].ID, stale[0].Subscribe, stale[len(stale)-1].Offset)
	}
}

// FAILS. -max-outbound is meant to bound the live bytes one socket's
// waiting recoveries buffer together (Loop.buffered). But unsubscribe only
// clears s.catching: the catchup stays in l.waiting with its c.live buffer
// until its turn comes, and buffered() no longer counts it. A socket that
// loops subscribe-with-since / (live traffic) / unsubscribe while the
// budget is spent makes the loop hold N times -max-outbound, and l.waiting
// grows by one entry per cycle with no bound (unlike the Kafka queue,
// catchQueueMax).
func TestAttackWaitingChurnHoldsUnboundedLiveBytes(t *testing.T) {
	const maxOut = 150 << 10
	h, _ := pacedHarness(t, Config{HistorySize: 3000, MaxOutbound: maxOut})
	h.publish("u", 5)
	h.l.node.pace.spend(4 << 20) // a storm spent the budget (4 s at this rate)
	x := h.open("/rooms/u", true, "", "")
	const cycles = 20
	for range cycles {
		h.command(x, `{"id":1,"subscribe":{"topic":"u","since":{"offset":0,"epoch":"E"}}}`)
		o := h.off["u"] + 1
		h.off["u"] = o
		big := &fakeMsg{topic: "u", offset: o, epoch: "E", op: ws.OpText, payload: bytes.Repeat([]byte("a"), 100<<10)}
		h.n.Append(routerMsg(big))
		h.deliver(big) // buffered for this socket's waiting recovery: under the bound alone
		h.command(x, `{"id":2,"unsubscribe":{"topic":"u"}}`)
	}
	held := 0
	for _, c := range h.l.waitingEntries() {
		for _, e := range c.live {
			held += len(e.Payload)
		}
	}
	t.Logf("one socket, %d cycles: %d entries in l.waiting, %d KiB of live messages held (-max-outbound %d KiB)",
		cycles, len(h.l.waitingEntries()), held>>10, maxOut>>10)
	if held > maxOut {
		t.Fatalf("one socket made the loop hold %d KiB of buffered live messages in %d waiting entries, over -max-outbound (%d KiB)",
			held>>10, len(h.l.waitingEntries()), maxOut>>10)
	}
}

// FAILS. A waiting recovery whose buffer overflowed drops its messages
// (c.live = nil) but keeps liveBytes, which buffered() still counts for
// the socket's other waiting recoveries: one busy topic's overflow makes
// every sibling overflow on its next live message, answering
// recovered:false for gaps the node could serve whole (here 5 + 1 small
// messages on v while nothing else is held).
func TestAttackOverflowedSiblingPoisonsOthers(t *testing.T) {
	h, clock := pacedHarness(t, Config{HistorySize: 3000, MaxOutbound: 150 << 10})
	h.publish("u", 5)
	h.publish("v", 5)
	h.l.node.pace.spend(1 << 20)
	x := h.open("/rooms/u", true, "", "")
	h.command(x, `{"id":3,"subscribe":{"topic":"u","since":{"offset":0,"epoch":"E"}}}`)
	h.command(x, `{"id":4,"subscribe":{"topic":"v","since":{"offset":0,"epoch":"E"}}}`)
	if len(h.l.waitingEntries()) != 2 {
		t.Fatalf("%d waiting, want u and v", len(h.l.waitingEntries()))
	}
	huge := &fakeMsg{topic: "u", offset: 6, epoch: "E", op: ws.OpText, payload: bytes.Repeat([]byte("a"), 200<<10)}
	h.n.Append(routerMsg(huge))
	h.deliver(huge) // u overflows alone: recovered:false for u is right, its buffer is freed
	small := h.publish("v", 1)
	h.deliver(small...) // 10 bytes for v
	*clock = clock.Add(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.runPosted(ctx)
	var replies []string
	for _, f := range x.frames(t) {
		if strings.Contains(f, `"subscribe"`) {
			replies = append(replies, f)
		}
	}
	if len(replies) != 2 || !strings.Contains(replies[1], `"id":4,"subscribe":{"recovered":true`) {
		t.Fatalf("replies %q: want v recovered (6 short messages, nothing else buffered: u's overflow freed its buffer)", replies)
	}
}

// routerMsg is m as the bus handler records it in the history.
func routerMsg(m *fakeMsg) router.BusMessage {
	return router.BusMessage{Topic: m.topic, OpCode: router.OpCode(m.op), Payload: m.payload, Offset: m.offset, Epoch: m.epoch}
}

// FAILS. Stale entries are never taken out of l.waiting before their turn:
// a socket looping subscribe-with-since / unsubscribe while the budget is
// spent adds one entry (a catchup and its dead Sub) per two commands, with
// no bound, for as long as the budget stays spent. The queue should not
// hold many more entries than recoveries still waiting.
func TestAttackWaitingChurnGrowsQueue(t *testing.T) {
	h, _ := pacedHarness(t, Config{HistorySize: 3000})
	h.publish("u", 5)
	h.l.node.pace.spend(4 << 20)
	x := h.open("/rooms/u", true, "", "")
	const cycles = 10000
	for range cycles {
		h.command(x, `{"id":1,"subscribe":{"topic":"u","since":{"offset":0,"epoch":"E"}}}`)
		h.command(x, `{"id":2,"unsubscribe":{"topic":"u"}}`)
	}
	x.buf = nil
	live := 0
	for _, c := range h.l.waitingEntries() {
		if c.s.catching == c {
			live++
		}
	}
	if len(h.l.waitingEntries()) > 2*live+16 {
		t.Fatalf("one socket, %d subscribe/unsubscribe cycles: %d entries in l.waiting, %d of them still waiting for something",
			cycles, len(h.l.waitingEntries()), live)
	}
}

// FAILS (fairness; fixed). The budget is the node's and the queue is FIFO by
// recovery, not by socket: one socket holding 64 topics (the default
// -max-topics-per-conn), each resumed from a gap near 1 MiB, puts 64 MiB
// ahead of every later recovery on its loop. At -resume-rate 1 MiB/s a
// victim resuming 5 short messages answers after ~a minute (its live
// messages buffered meanwhile, a busy topic's overflowing into
// recovered:false). The attacker only has to read what it asked for.
//
// Fixed: sockets take turns, one recovery each (pace.go): 1.9 s.
func TestAttackOneSocketStarvesOthers(t *testing.T) {
	h, clock := pacedHarness(t, Config{HistorySize: 20000, MaxOutbound: 16 << 20})
	h.env.posted = make(chan func(), 4096) // the timers' posts land here; the test runs runWaiting itself
	p := h.l.node.pace
	for i := range 64 {
		topic := "a" + strconv.Itoa(i)
		for o := int64(1); o <= 16; o++ {
			h.n.Append(router.BusMessage{Topic: topic, OpCode: router.OpText, Payload: bytes.Repeat([]byte("x"), 64<<10), Offset: o, Epoch: "E"})
		}
	}
	h.publish("v", 5)
	p.spend(1 << 20) // a storm is on: the budget is spent
	attacker := h.open("/rooms/a0", true, "", "")
	for i := range 64 {
		h.command(attacker, `{"id":1,"subscribe":{"topic":"a`+strconv.Itoa(i)+`","since":{"offset":0,"epoch":"E"}}}`)
	}
	victim := h.open("/rooms/v", true, "", "")
	h.command(victim, `{"id":1,"subscribe":{"topic":"v","since":{"offset":0,"epoch":"E"}}}`)
	start := *clock
	for rounds := 0; len(victim.buf) == 0; rounds++ {
		if rounds > 1000 {
			t.Fatal("the victim was never answered")
		}
		*clock = clock.Add(p.wait())
		h.l.runWaiting()
		attacker.buf = attacker.buf[:0] // it reads everything it asked for
	}
	waited := clock.Sub(start)
	t.Logf("victim (5 short messages) answered after %v of budget, behind one socket's 64 recoveries", waited)
	if waited > 10*time.Second {
		t.Fatalf("one socket delayed another's 5-message resume by %v at -resume-rate 1 MiB/s", waited)
	}
}
