package resume

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wsgate/wsgate/router"
)

// Second review of -resume-rate (pace.go after "paced recoveries take turns
// by socket"), read as an attacker. "FAILS" marks a test that fails on
// 7bf1990 and names the defect it proves; the others pin behaviour found
// sound.

// fetchOne is one fetch worker's pass over the next queued catch-up (the
// body of fetchQueue.work), run by the test so it decides when the budget
// is looked at: a worker starts its fetch while the budget has room, and
// the catch-up then goes back to its loop.
func fetchOne(t *testing.T, ctx context.Context, q *fetchQueue) *catchup {
	t.Helper()
	var c *catchup
	select {
	case c = <-q.jobs:
	default:
		return nil
	}
	q.queued.Add(-1)
	if c.memory = q.hist.Covers(c.s.topic, c.epoch, c.since); !c.memory {
		if q.pacer.wait() != 0 {
			t.Fatal("fetchOne called while the budget is spent")
		}
		if c.err = q.fetch(ctx, c); c.err == nil {
			q.hist.Backfill(c.s.topic, c.epoch, c.since, c.target, c.got)
		}
	}
	return c
}

// FAILS. -max-outbound bounds what one socket's catch-ups hold together
// (Loop.buffered), but only their buffered LIVE bytes: a Kafka catch-up
// that comes back while recoveries wait (fetched → paced) keeps its
// fetched messages (c.got, up to -max-outbound each) in its socket's queue
// until its turn, and nothing counts them. The fetch workers are not
// charged either: each starts a fetch whenever the budget has room, so with
// -resume-kafka-fetches 4 four catch-ups come back per refill while the
// loop writes one. One socket resuming 64 topics from Kafka (the default
// -max-topics-per-conn), reading everything it is sent, makes the node
// hold ~48 times -max-outbound of fetched messages after 16 refills; at
// the defaults (16 MiB) that is ~1 GiB per socket, held for as long as the
// rate takes to write it, and more sockets add up.
func TestAttackPacedFetchedCatchupsHoldUnboundedBytes(t *testing.T) {
	const maxOut = 1 << 20
	h, clock := pacedHarness(t, Config{HistorySize: 4, Fetches: 4, FetchTimeout: time.Hour, MaxOutbound: maxOut})
	h.env.posted = make(chan func(), 4096) // the pacing timers' posts; the test runs runWaiting itself
	for i := range 64 {
		topic := "k" + strconv.Itoa(i)
		for range 15 { // 15 × 64 KiB: each gap just under -max-outbound, in Kafka (the history keeps 4)
			h.off[topic]++
			bm := router.BusMessage{Topic: topic, OpCode: router.OpText, Payload: bytes.Repeat([]byte("x"), 64<<10), Offset: h.off[topic], Epoch: "E"}
			h.bus.kafka[topic] = append(h.bus.kafka[topic], bm)
			h.n.Append(bm)
		}
	}
	attacker := h.open("/rooms/k0", true, "", "")
	for i := range 64 {
		h.command(attacker, `{"id":`+strconv.Itoa(i+1)+`,"subscribe":{"topic":"k`+strconv.Itoa(i)+`","since":{"offset":0,"epoch":"E"}}}`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, p := h.n.fetch, h.l.node.pace
	held, most := 0, 0
	for refill := 0; refill < 16; refill++ {
		for p.wait() != 0 {
			*clock = clock.Add(p.wait())
		}
		// The budget has room: the workers' timers and the loop's fire together;
		// each worker starts a fetch before the loop has written anything.
		var back []*catchup
		for range q.workers {
			if c := fetchOne(t, ctx, q); c != nil {
				back = append(back, c)
			}
		}
		for _, c := range back {
			h.l.fetched(c)
		}
		h.l.runWaiting()
		attacker.buf = attacker.buf[:0] // it reads everything
		held = 0
		for _, c := range h.l.waitingEntries() {
			held += int(c.bytes)
		}
		most = max(most, held)
	}
	t.Logf("one socket, 16 refills: %d catch-ups waiting, %d KiB of fetched messages held (-max-outbound %d KiB)",
		len(h.l.waitingEntries()), most>>10, maxOut>>10)
	if most > 2*maxOut {
		t.Fatalf("one socket made the loop hold %d KiB of fetched messages in %d waiting catch-ups, %dx -max-outbound (%d KiB)",
			most>>10, len(h.l.waitingEntries()), most/maxOut, maxOut>>10)
	}
}

// Sound (passes on 7bf1990): a memory recovery that waits (reread) gives
// the gap once, in order, with what came meanwhile — live messages
// delivered while it waited (not written: its Sub is catching), ones still
// in the loop's inbox when its turn comes (drained by liveFirst inside
// catchupDone), an echo (a client's own publish after a degraded period) —
// and live delivery afterwards skips all of it. Covers the URL's topic
// resumed at the upgrade (Loop.Open, a second subscribe of it answered 409
// while it waits) and a socket that already held the topic live and
// resumes it again (s.from/s.last: it is not sent again what it had).
func TestPacedRereadGivesGapOnceWithEverythingMeanwhile(t *testing.T) {
	h, clock := pacedHarness(t, Config{HistorySize: 3000, MaxOutbound: 16 << 20})
	h.env.posted = make(chan func(), 64)
	h.deliver(h.publish("t", 10)...)
	y := h.open("/rooms/t", true, "", "") // live on t from 10
	h.deliver(h.publish("t", 3)...)       // 11..13 to y
	if _, got := read(t, y); len(got) != 3 {
		t.Fatalf("y got %v live, want 11..13", got)
	}
	h.l.node.pace.spend(2 << 20) // a storm spent the budget
	x := h.open("/rooms/t", true, "3", "E")
	h.command(y, `{"id":5,"subscribe":{"topic":"t","since":{"offset":5,"epoch":"E"}}}`)
	if len(x.buf)+len(y.buf) != 0 || len(h.l.waitingEntries()) != 2 {
		t.Fatalf("over the budget: %d/%d bytes written, %d waiting; want 0/0, 2", len(x.buf), len(y.buf), len(h.l.waitingEntries()))
	}
	h.command(x, `{"id":2,"subscribe":{"topic":"t"}}`) // the URL's topic, resuming: 409
	if f := x.frames(t); len(f) != 1 || !bytes.Contains([]byte(f[0]), []byte(`"code":409`)) {
		t.Fatalf("a subscribe of the topic whose resume waits: %q, want 409", f)
	}
	h.deliver(h.publish("t", 2)...) // 14, 15: not written (catching), nothing buffered
	inbox := h.publish("t", 2)      // 16, 17: in the history, still in the inbox at the turn
	echo := h.publish("t", 1)[0]    // 18: an echo, in the history too
	echo.echo = true
	h.env.inbox = append(inbox, echo)
	h.l.recovered = recoverySlice // the turn's liveFirst drains the inbox first
	if len(x.buf)+len(y.buf) != 0 {
		t.Fatal("a live message went out before the waiting recovery")
	}
	*clock = clock.Add(3 * time.Second)
	h.l.runWaiting()
	r, got := read(t, x)
	checkRecovered(t, r, 18, 15)
	if want := seq(4, 18); !slices.Equal(got, want) {
		t.Fatalf("x (resumed at the upgrade) got %v, want %v", got, want)
	}
	r, got = read(t, y)
	checkRecovered(t, r, 18, 10) // 6..10 and 14..18: not 11..13, which it had live
	if want := append(seq(6, 10), seq(14, 18)...); !slices.Equal(got, want) {
		t.Fatalf("y (held t live, resumed it) got %v, want %v", got, want)
	}
	// A late copy of what was recovered is skipped; the next one goes out once.
	h.deliver(inbox...)
	h.deliver(h.publish("t", 1)...)
	for _, c := range []*fakeClient{x, y} {
		if _, got := read(t, c); !slices.Equal(got, []int64{19}) {
			t.Fatalf("after the recovery, live gave %v, want [19]", got)
		}
	}
	if len(h.l.turns) != 0 || len(h.l.waitingEntries()) != 0 {
		t.Fatalf("%d sockets still in turn, %d entries", len(h.l.turns), len(h.l.waitingEntries()))
	}
}

// checkTurns is pace.go's bookkeeping: a socket is in the loop's turns at
// most once, exactly when queued, and every open socket with a recovery
// waiting has a turn.
func checkTurns(t *testing.T, l *Loop) {
	t.Helper()
	in := map[*Conn]int{}
	for _, vc := range l.turns {
		if in[vc]++; !vc.queued {
			t.Fatal("a socket in turns is not marked queued")
		}
	}
	for _, n := range in {
		if n > 1 {
			t.Fatalf("a socket holds %d turns", n)
		}
	}
	for _, vc := range l.conns {
		if vc.queued != (in[vc] > 0) {
			t.Fatalf("queued %v, in turns %v", vc.queued, in[vc] > 0)
		}
		if len(vc.waiting) > 0 && !vc.queued {
			t.Fatal("an open socket with a recovery waiting has no turn: it is never served")
		}
	}
}

// Sound (passes on 7bf1990): sockets that open, resume while the budget is
// spent and close, over and over, cannot grow the loop's turns (closed
// ones are compacted away), and the turns stay consistent with queued; the
// ones still open are all served once the budget allows.
func TestPacedSocketChurnKeepsTurnsBounded(t *testing.T) {
	h, clock := pacedHarness(t, Config{HistorySize: 3000})
	h.env.posted = make(chan func(), 64)
	h.deliver(h.publish("u", 5)...)
	h.l.node.pace.spend(4 << 20)
	var keep []*fakeClient
	for i := range 20000 {
		x := h.open("/rooms/u", true, "0", "E")
		h.command(x, `{"id":1,"subscribe":{"topic":"v","since":{"offset":0,"epoch":"E"}}}`) // nothing known of v: answered now
		x.buf = x.buf[:0]
		if i%1000 == 0 {
			keep = append(keep, x)
			continue
		}
		if i%3 == 0 {
			h.command(x, `{"id":2,"unsubscribe":{"topic":"u"}}`)
		}
		x.open = false
		h.l.Close(x)
		if i%997 == 0 {
			checkTurns(t, h.l)
		}
	}
	checkTurns(t, h.l)
	if n := cap(h.l.turns); n > 8*len(keep)+64 {
		t.Fatalf("20,000 sockets came and went, %d still wait: turns holds %d (cap %d)", len(keep), len(h.l.turns), n)
	}
	*clock = clock.Add(10 * time.Second)
	h.l.runWaiting()
	for _, x := range keep {
		r, got := read(t, x)
		checkRecovered(t, r, 5, 5)
		if !slices.Equal(got, seq(1, 5)) {
			t.Fatalf("got %v, want 1..5", got)
		}
	}
	checkTurns(t, h.l)
	if len(h.l.turns) != 0 {
		t.Fatalf("%d turns left after every recovery was served", len(h.l.turns))
	}
}
