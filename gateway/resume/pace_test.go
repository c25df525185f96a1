package resume

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	dto "github.com/prometheus/client_model/go"
)

// -resume-rate (pace.go): recoveries go out while the node's budget has
// room; once it is spent the next ones wait on the loop, in order, their
// live messages buffered, and each is then sent whole from the history —
// reply, the gap, the live ones after it, each once. A socket that leaves
// while waiting is skipped; a gap the history lost meanwhile is
// recovered:false, never partial.
func TestPacedRecoveries(t *testing.T) {
	h, clock := pacedHarness(t, Config{HistorySize: 2100, MaxOutbound: 16 << 20})
	h.publish("t", 2000)
	// The bucket holds 128 KiB: two recoveries of ~110 KB each go out at once (the first leaves room).
	a, b := h.open("/rooms/t", true, "", ""), h.open("/rooms/t", true, "", "")
	c, d, e := h.open("/rooms/t", true, "", ""), h.open("/rooms/t", true, "", ""), h.open("/rooms/t", true, "", "")
	h.command(a, `{"id":1,"subscribe":{"topic":"t","since":{"offset":0,"epoch":"E"}}}`)
	h.command(b, `{"id":2,"subscribe":{"topic":"t","since":{"offset":0,"epoch":"E"}}}`)
	for _, x := range []*fakeClient{a, b} {
		r, got := read(t, x)
		checkRecovered(t, r, 2000, 2000)
		if fmt.Sprint(got) != fmt.Sprint(seq(1, 2000)) {
			t.Fatalf("got %d messages, want 1..2000", len(got))
		}
	}
	// The budget is spent: c, d and e wait. d leaves; a live message comes meanwhile.
	h.command(c, `{"id":3,"subscribe":{"topic":"t","since":{"offset":1500,"epoch":"E"}}}`)
	h.command(d, `{"id":4,"subscribe":{"topic":"t","since":{"offset":1500,"epoch":"E"}}}`)
	h.command(e, `{"id":5,"subscribe":{"topic":"t","since":{"offset":1500,"epoch":"E"}}}`)
	if len(c.buf)+len(d.buf)+len(e.buf) != 0 || len(h.l.waitingEntries()) != 3 {
		t.Fatalf("over the budget: %d/%d/%d bytes written, %d waiting; want nothing written, 3 waiting",
			len(c.buf), len(d.buf), len(e.buf), len(h.l.waitingEntries()))
	}
	var m dto.Metric
	if err := h.l.node.paced.Write(&m); err != nil || m.GetCounter().GetValue() != 3 {
		n := m.GetCounter().GetValue()
		t.Fatalf("wsgate_resume_paced_total %v, want 3", n)
	}
	h.command(e, `{"id":6,"subscribe":{"topic":"t","since":{"offset":1500,"epoch":"E"}}}`) // while it waits: 409
	if f := e.frames(t); len(f) != 1 || !strings.Contains(f[0], `"code":409`) {
		t.Fatalf("a second resume while one waits: %q, want a 409 error", f)
	}
	d.open = false
	h.l.Close(d)
	h.deliver(h.publish("t", 1)...) // 2001: buffered for c and e, not written yet
	if len(c.buf)+len(e.buf) != 0 {
		t.Fatal("a live message went out before the waiting recovery")
	}
	// The timer comes back to the loop; a second later the budget has room again.
	*clock = clock.Add(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.runPosted(ctx)
	for _, x := range []*fakeClient{c, e} {
		r, got := read(t, x)
		// Read from the history when its turn came, the gap reaches the live one (the reply says 501).
		checkRecovered(t, r, 2001, 501)
		if fmt.Sprint(got) != fmt.Sprint(seq(1501, 2001)) {
			t.Fatalf("got %d messages (%v…), want 1501..2001: the gap with the live one, once", len(got), got[:min(3, len(got))])
		}
	}
	if len(d.buf) != 0 || len(h.l.waitingEntries()) != 0 {
		t.Fatalf("the socket that left got %d bytes; %d still waiting", len(d.buf), len(h.l.waitingEntries()))
	}
	// A gap the history no longer holds when its turn comes: recovered:false.
	g, f := h.open("/rooms/t", true, "", ""), h.open("/rooms/t", true, "", "")
	h.command(g, `{"id":8,"subscribe":{"topic":"t","since":{"offset":0,"epoch":"E"}}}`) // spends the budget again
	if len(g.buf) == 0 {
		t.Fatal("with room in the budget, a recovery waited")
	}
	h.command(f, `{"id":7,"subscribe":{"topic":"t","since":{"offset":100,"epoch":"E"}}}`)
	if len(h.l.waitingEntries()) != 1 {
		t.Fatalf("%d waiting, want the new resume waiting (budget spent)", len(h.l.waitingEntries()))
	}
	h.deliver(h.publish("t", 200)...) // the history (2,100) drops 1..201
	*clock = clock.Add(time.Second)
	h.runPosted(ctx)
	r, got := read(t, f)
	checkNotRecovered(t, r, 2201, "since is older than the history this node holds")
	if len(got) != 0 {
		t.Fatalf("recovered:false came with %d messages", len(got))
	}
}

// -max-outbound bounds the live messages one socket's Kafka catch-ups
// buffer together while their fetches run: a socket holding many topics (up
// to -max-topics-per-conn) cannot make the loop keep that many times the
// bound. Over it, the catch-up that overflowed answers recovered:false; the
// others are served whole. (A memory recovery waiting for -resume-rate
// buffers nothing: the history holds what comes meanwhile.)
func TestCatchupsShareTheOutboundBound(t *testing.T) {
	h := newHarness(t, Config{HistorySize: 4, Fetches: 1, FetchTimeout: 10 * time.Second, MaxOutbound: 150 << 10}, "/rooms/=topic:*")
	h.publish("u", 5)
	h.publish("v", 5) // the history holds 2..5 of each; Kafka all
	x := h.open("/rooms/u", true, "", "")
	h.command(x, `{"id":3,"subscribe":{"topic":"u","since":{"offset":0,"epoch":"E"}}}`)
	h.command(x, `{"id":4,"subscribe":{"topic":"v","since":{"offset":0,"epoch":"E"}}}`)
	big := func(topic string, o int64) *fakeMsg {
		return &fakeMsg{topic: topic, offset: o, epoch: "E", op: ws.OpText, payload: bytes.Repeat([]byte("a"), 60<<10)}
	}
	// 120 KiB for u (under the bound alone), then 120 KiB for v: together over 150 KiB.
	h.deliver(big("u", 6), big("u", 7), big("v", 6), big("v", 7))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.n.fetch.start(ctx)
	h.runPosted(ctx)
	h.runPosted(ctx)
	var replies []string
	for _, f := range x.frames(t) {
		if strings.Contains(f, `"subscribe"`) {
			replies = append(replies, f)
		}
	}
	if len(replies) != 2 || !strings.Contains(replies[0], `"id":3,"subscribe":{"recovered":true,"offset":7`) ||
		!strings.Contains(replies[1], `"id":4,"subscribe":{"recovered":false`) {
		t.Fatalf("replies %q: want u recovered (through its 2 live ones), v recovered:false (over -max-outbound together)", replies)
	}
}

// waitingEntries is every recovery waiting for -resume-rate on l, socket by
// socket in turn order.
func (l *Loop) waitingEntries() []*catchup {
	var out []*catchup
	for _, vc := range l.turns {
		out = append(out, vc.waiting...)
	}
	return out
}

// A resume whose gap the socket already had live (it holds the topic) has
// nothing new to write: it is answered at once, even with the budget spent,
// so its live delivery does not pause for a turn.
func TestPacedResumeOfWhatItHadDoesNotWait(t *testing.T) {
	h, _ := pacedHarness(t, Config{HistorySize: 100, MaxOutbound: 16 << 20})
	h.publish("t", 10)
	c := h.open("/rooms/t", true, "", "") // holds t live from 10
	h.deliver(h.publish("t", 5)...)       // 11..15, live
	c.frames(t)
	h.l.node.pace.spend(1 << 20)
	h.command(c, `{"id":1,"subscribe":{"topic":"t","since":{"offset":10,"epoch":"E"}}}`)
	if n := len(h.l.waitingEntries()); n != 0 {
		t.Fatalf("%d waiting: a resume of what the socket had waited for the budget", n)
	}
	r, got := read(t, c)
	checkRecovered(t, r, 15, 0)
	if len(got) != 0 {
		t.Fatalf("resent %v", got)
	}
	// A gap it had not had still waits.
	d := h.open("/rooms/t", true, "", "")
	h.command(d, `{"id":2,"subscribe":{"topic":"t","since":{"offset":10,"epoch":"E"}}}`)
	if n := len(h.l.waitingEntries()); n != 1 {
		t.Fatalf("%d waiting, want the new socket's resume waiting", n)
	}
}
