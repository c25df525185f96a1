package history

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func offsets(es []Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Offset
	}
	return out
}

func eq(a, b []int64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestAppendRange(t *testing.T) {
	h := New(Config{Size: 4})
	for o := int64(1); o <= 3; o++ {
		h.Append("t", "E", o, 1, []byte{byte(o)})
	}
	got, off, ep, why := h.Range(nil, "t", "E", 1, 0)
	if why != OK || !eq(offsets(got), []int64{2, 3}) || off != 3 || ep != "E" || got[1].Payload[0] != 3 {
		t.Fatalf("range: %v %d %q %q", offsets(got), off, ep, why)
	}
	// since 0: the stream was seen from its first message (offset 1).
	if got, _, _, why = h.Range(nil, "t", "E", 0, 0); why != OK || len(got) != 3 {
		t.Fatalf("from the start: %v %q", offsets(got), why)
	}
	// Nothing missed: served, empty.
	if got, _, _, why = h.Range(nil, "t", "E", 3, 0); why != OK || len(got) != 0 {
		t.Fatalf("nothing missed: %v %q", offsets(got), why)
	}
	if _, off, _, why = h.Range(nil, "t", "E", 9, 0); why != Future || off != 3 {
		t.Fatalf("future: %q %d", why, off)
	}
	if _, _, ep, why = h.Range(nil, "t", "X", 1, 0); why != Epoch || ep != "E" {
		t.Fatalf("epoch: %q", why)
	}
	if _, _, _, why = h.Range(nil, "u", "E", 0, 0); why != NoStream {
		t.Fatalf("unknown topic: %q", why)
	}
	if _, _, _, why = h.Range(nil, "t", "E", 0, 2); why != TooMany {
		t.Fatalf("max: %q", why)
	}
	if h.Messages() != 3 || h.Bytes() != 3*(1+entryOverhead) {
		t.Fatalf("accounting: %d msgs %d bytes", h.Messages(), h.Bytes())
	}
}

// Eviction keeps the newest Size entries and refuses (never serves part
// of) a gap that reaches below them.
func TestEviction(t *testing.T) {
	h := New(Config{Size: 3})
	for o := int64(1); o <= 10; o++ {
		h.Append("t", "E", o, 1, []byte("x"))
	}
	if got, _, _, why := h.Range(nil, "t", "E", 7, 0); why != OK || !eq(offsets(got), []int64{8, 9, 10}) {
		t.Fatalf("newest: %v %q", offsets(got), why)
	}
	if _, _, _, why := h.Range(nil, "t", "E", 6, 0); why != TooOld {
		t.Fatalf("evicted gap: %q", why)
	}
	if h.Messages() != 3 {
		t.Fatalf("held %d", h.Messages())
	}
}

// Offsets with gaps (a Kafka partition shared with other topics): a gap in
// offsets is not a missing message.
func TestOffsetGaps(t *testing.T) {
	h := New(Config{Size: 3})
	for _, o := range []int64{100, 105, 230, 231, 400} {
		h.Append("t", "K", o, 2, []byte("x"))
	}
	got, _, _, why := h.Range(nil, "t", "K", 200, 0)
	if why != OK || !eq(offsets(got), []int64{230, 231, 400}) {
		t.Fatalf("gaps: %v %q", offsets(got), why)
	}
	// 105 was evicted: since 104 would need it.
	if _, _, _, why := h.Range(nil, "t", "K", 104, 0); why != TooOld {
		t.Fatalf("evicted: %q", why)
	}
	// Since 105 (the evicted entry itself): everything after it is held.
	if got, _, _, why := h.Range(nil, "t", "K", 105, 0); why != OK || len(got) != 3 {
		t.Fatalf("since the floor: %v %q", offsets(got), why)
	}
	// First seen at 100: a since below it is not known to be complete.
	h2 := New(Config{Size: 10})
	h2.Append("t", "K", 100, 1, nil)
	if _, _, _, why := h2.Range(nil, "t", "K", 50, 0); why != TooOld {
		t.Fatalf("before first sight: %q", why)
	}
	if got, _, _, why := h2.Range(nil, "t", "K", 99, 0); why != OK || len(got) != 1 {
		t.Fatalf("just before first sight: %v %q", offsets(got), why)
	}
	// Replays and stale offsets are ignored.
	h2.Append("t", "K", 100, 1, nil)
	h2.Append("t", "K", 90, 1, nil)
	if h2.Messages() != 1 {
		t.Fatalf("replay recorded: %d", h2.Messages())
	}
}

func TestTTL(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	h := New(Config{Size: 100, TTL: 10 * time.Second, Now: c.now})
	h.Append("t", "E", 1, 1, []byte("a"))
	c.t = c.t.Add(6 * time.Second)
	h.Append("t", "E", 2, 1, []byte("b"))
	c.t = c.t.Add(5 * time.Second) // entry 1 is 11 s old, 2 is 5 s
	if _, _, _, why := h.Range(nil, "t", "E", 0, 0); why != TooOld {
		t.Fatalf("expired gap served: %q", why)
	}
	if got, _, _, why := h.Range(nil, "t", "E", 1, 0); why != OK || !eq(offsets(got), []int64{2}) {
		t.Fatalf("unexpired: %v %q", offsets(got), why)
	}
	c.t = c.t.Add(10 * time.Second)
	h.Sweep()
	if h.Messages() != 0 || h.Bytes() != 0 {
		t.Fatalf("sweep left %d msgs %d bytes", h.Messages(), h.Bytes())
	}
	if off, ep, ok := h.Position("t"); !ok || off != 2 || ep != "E" {
		t.Fatalf("position after expiry: %d %q %v", off, ep, ok)
	}
}

// A new epoch starts the stream afresh; Size 0 keeps positions only.
func TestEpochResetAndOff(t *testing.T) {
	h := New(Config{Size: 5})
	h.Append("t", "A", 5, 1, []byte("x"))
	h.Append("t", "B", 1, 1, []byte("y"))
	if _, _, _, why := h.Range(nil, "t", "A", 4, 0); why != Epoch {
		t.Fatalf("old epoch: %q", why)
	}
	if got, _, _, why := h.Range(nil, "t", "B", 0, 0); why != OK || len(got) != 1 || h.Messages() != 1 {
		t.Fatalf("new epoch: %v %q %d", offsets(got), why, h.Messages())
	}
	h.Append("t", "", 9, 1, nil) // no position: not recorded
	off := New(Config{})
	off.Append("t", "E", 1, 1, []byte("x"))
	off.Append("t", "E", 2, 1, []byte("x"))
	if _, _, _, why := off.Range(nil, "t", "E", 1, 0); why != TooOld {
		t.Fatalf("history off served: %q", why)
	}
	if _, o, _, why := off.Range(nil, "t", "E", 2, 0); why != OK || o != 2 || off.Messages() != 0 {
		t.Fatalf("history off, nothing missed: %q %d", why, o)
	}
}

// The ring grows with use, wraps, and stays in order when it grows after
// expiry moved its head.
func TestRingGrowAfterWrap(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	h := New(Config{Size: 8, TTL: 10 * time.Second, Now: c.now})
	o := int64(0)
	add := func(n int) {
		for range n {
			o++
			h.Append("t", "E", o, 1, nil)
		}
	}
	add(3)
	c.t = c.t.Add(11 * time.Second)
	add(5) // expiry moved the head to 3, then 5 more (the ring grows)
	add(4) // over Size: 8 held, 9..12 newest
	got, _, _, why := h.Range(nil, "t", "E", 4, 0)
	if why != OK || !eq(offsets(got), []int64{5, 6, 7, 8, 9, 10, 11, 12}) {
		t.Fatalf("after wrap: %v %q", offsets(got), why)
	}
}

func BenchmarkAppend(b *testing.B) {
	h := New(Config{Size: 1000})
	p := make([]byte, 64)
	for i := range b.N {
		h.Append("t", "E", int64(i+1), 1, p)
	}
}

// A stream's floor may come from the bus (where its reader started): a
// since between it and the first message seen is served.
func TestFloorHint(t *testing.T) {
	h := New(Config{Size: 10, Floor: func(topic, epoch string) (int64, bool) { return 49, epoch == "K" }})
	h.Append("t", "K", 100, 1, nil)
	if got, _, _, why := h.Range(nil, "t", "K", 60, 0); why != OK || len(got) != 1 {
		t.Fatalf("since above the floor: %v %q", offsets(got), why)
	}
	if _, _, _, why := h.Range(nil, "t", "K", 48, 0); why != TooOld {
		t.Fatalf("since below the floor: %q", why)
	}
}

// Messages read back from Kafka go in front of the history (as many as fit)
// and the floor moves down: the next resume into them is served from memory.
func TestBackfill(t *testing.T) {
	h := New(Config{Size: 5})
	h.Append("t", "K", 100, 1, nil) // first seen at 100: floor 99
	h.Append("t", "K", 101, 1, nil)
	fetched := []Entry{{Offset: 10}, {Offset: 40}, {Offset: 60}, {Offset: 99}}
	if n := h.Backfill("t", "K", 5, 99, fetched); n != 3 {
		t.Fatalf("kept %d, want 3 (room for 3)", n)
	}
	got, _, _, why := h.Range(nil, "t", "K", 10, 0)
	if why != OK || !eq(offsets(got), []int64{40, 60, 99, 100, 101}) {
		t.Fatalf("after backfill: %v %q", offsets(got), why)
	}
	if _, _, _, why := h.Range(nil, "t", "K", 9, 0); why != TooOld {
		t.Fatalf("below the kept part: %q", why)
	}
	if !h.Covers("t", "K", 10) || h.Covers("t", "K", 9) || h.Covers("t", "X", 50) {
		t.Fatal("Covers")
	}
	// A stream not seen yet (a node that started after the gap).
	h.Backfill("u", "K", 0, 50, []Entry{{Offset: 20}, {Offset: 50}})
	if got, o, _, why := h.Range(nil, "u", "K", 0, 0); why != OK || o != 50 || !eq(offsets(got), []int64{20, 50}) {
		t.Fatalf("new stream: %v %d %q", offsets(got), o, why)
	}
	h.Append("u", "K", 51, 1, nil)
	if got, _, _, why := h.Range(nil, "u", "K", 20, 0); why != OK || !eq(offsets(got), []int64{50, 51}) {
		t.Fatalf("new stream, then live: %v %q", offsets(got), why)
	}
	if h.Messages() != 8 {
		t.Fatalf("held %d", h.Messages())
	}
	if New(Config{}).Backfill("t", "K", 0, 5, fetched) != 0 {
		t.Fatal("backfill with the history off")
	}
}

// The cost every bus message pays with the history off (-history-size 0):
// the topic's position only.
func BenchmarkAppendOff(b *testing.B) {
	h := New(Config{})
	p := make([]byte, 64)
	for i := range b.N {
		h.Append("t", "E", int64(i+1), 1, p)
	}
}
