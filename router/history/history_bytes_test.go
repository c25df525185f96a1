package history

import (
	"fmt"
	"testing"
)

// MaxBytes bounds all topics together: many topics of one big message each
// (the per-topic Size does not help) stay within it, the least recently
// appended topics losing their entries first, and what was dropped is not
// served as if it were complete.
func TestMaxBytesAcrossTopics(t *testing.T) {
	const payload, limit = 1000, 10 * (1000 + entryOverhead)
	h := New(Config{Size: 1, MaxBytes: limit})
	for i := range 300 {
		h.Append(fmt.Sprintf("t%d", i), "E", 1, 1, make([]byte, payload))
		if b := h.Bytes(); b > limit {
			t.Fatalf("after %d topics: %d bytes held, over %d", i+1, b, limit)
		}
	}
	if h.Messages() != 10 || h.Evicted() != 290 {
		t.Fatalf("messages %d evicted %d, want 10 and 290", h.Messages(), h.Evicted())
	}
	// The newest ten topics are whole; an evicted one answers TooOld, not an empty OK.
	if got, _, _, why := h.Range(nil, "t299", "E", 0, 0); why != OK || len(got) != 1 {
		t.Fatalf("t299: %v %q", offsets(got), why)
	}
	if got, _, _, why := h.Range(nil, "t0", "E", 0, 0); why != TooOld || len(got) != 0 {
		t.Fatalf("t0: %v %q, want TooOld", offsets(got), why)
	}
	// An evicted topic starts again cleanly.
	h.Append("t0", "E", 2, 1, []byte("x"))
	if got, _, _, why := h.Range(nil, "t0", "E", 1, 0); why != OK || !eq(offsets(got), []int64{2}) {
		t.Fatalf("t0 again: %v %q", offsets(got), why)
	}
}

// Within one topic the oldest go first; appending to a topic makes it the
// most recent, so a quiet topic is evicted before a busy one.
func TestMaxBytesLRU(t *testing.T) {
	const e = 100 + entryOverhead
	h := New(Config{Size: 100, MaxBytes: 6 * e})
	for o := int64(1); o <= 3; o++ {
		h.Append("quiet", "E", o, 1, make([]byte, 100))
	}
	for o := int64(1); o <= 3; o++ {
		h.Append("busy", "E", o, 1, make([]byte, 100))
	}
	h.Append("quiet", "E", 4, 1, make([]byte, 100)) // quiet is now the most recent: busy loses 1
	if got, _, _, why := h.Range(nil, "busy", "E", 1, 0); why != OK || !eq(offsets(got), []int64{2, 3}) {
		t.Fatalf("busy: %v %q", offsets(got), why)
	}
	if _, _, _, why := h.Range(nil, "busy", "E", 0, 0); why != TooOld {
		t.Fatalf("busy from 0: %q, want TooOld", why)
	}
	for o := int64(4); o <= 6; o++ {
		h.Append("busy", "E", o, 1, make([]byte, 100))
	}
	// quiet (least recent) gave its oldest three: only 4 is left.
	if got, _, _, why := h.Range(nil, "quiet", "E", 3, 0); why != OK || !eq(offsets(got), []int64{4}) {
		t.Fatalf("quiet: %v %q", offsets(got), why)
	}
	if h.Bytes() != 6*e || h.Messages() != 6 {
		t.Fatalf("bytes %d messages %d", h.Bytes(), h.Messages())
	}
	// An epoch change drops a stream without breaking the links.
	h.Append("quiet", "F", 1, 1, make([]byte, 100))
	for o := int64(7); o <= 20; o++ {
		h.Append("busy", "E", o, 1, make([]byte, 100))
	}
	if h.Bytes() > 6*e {
		t.Fatalf("bytes %d over the bound", h.Bytes())
	}
}

// Backfilled entries count too.
func TestMaxBytesBackfill(t *testing.T) {
	const e = 10 + entryOverhead
	h := New(Config{Size: 100, MaxBytes: 5 * e})
	h.Append("t", "E", 10, 1, make([]byte, 10))
	var old []Entry
	for o := int64(1); o <= 9; o++ {
		old = append(old, Entry{Offset: o, Payload: make([]byte, 10)})
	}
	h.Backfill("t", "E", 0, 9, old)
	if h.Bytes() > 5*e || h.Messages() != 5 {
		t.Fatalf("bytes %d messages %d", h.Bytes(), h.Messages())
	}
	if got, _, _, why := h.Range(nil, "t", "E", 5, 0); why != OK || !eq(offsets(got), []int64{6, 7, 8, 9, 10}) {
		t.Fatalf("range: %v %q", offsets(got), why)
	}
}
