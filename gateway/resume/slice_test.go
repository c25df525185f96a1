package resume

import (
	"fmt"
	"strings"
	"testing"
)

// A storm of recoveries on one loop (slice.go): once a recovery slice has
// been written, the live messages waiting in the loop's inbox go out before
// the next recovery, not after the whole epoll batch; a subscriber that got
// one live before its subscribe's reply does not get it again, and a small
// recovery leaves the inbox to its task (live messages stay batched).
func TestLiveBeforeTheNextRecovery(t *testing.T) {
	h := newHarness(t, Config{HistorySize: 3000, MaxOutbound: 16 << 20}, "/rooms/=topic:*")
	h.publish("t", 2000)
	a, c := h.open("/rooms/t", true, "", ""), h.open("/rooms/t", true, "", "")
	h.command(a, `{"id":1,"subscribe":{"topic":"t","since":{"offset":500,"epoch":"E"}}}`) // ~85 KB: over the slice
	h.env.inbox = h.publish("t", 1)                                                       // 2001 waits for the loop's task
	h.command(c, `{"id":2,"subscribe":{"topic":"t","since":{"offset":1900,"epoch":"E"}}}`)
	if len(h.env.inbox) != 0 {
		t.Fatal("the live message still waits after the second recovery")
	}
	r, got := read(t, a)
	checkRecovered(t, r, 2000, 1500)
	if fmt.Sprint(got) != fmt.Sprint(seq(501, 2001)) {
		t.Fatalf("a got %d messages, want 501..2001 (the recovery, then the live one once)", len(got))
	}
	// c had 2001 live before its reply: the reply says 100 follow (1901..2000).
	cf := c.frames(t)
	if len(cf) != 102 || !strings.Contains(cf[0], `"offset":2001,`) || !strings.Contains(cf[1], `"offset":2001,"epoch":"E","messages":100}`) {
		t.Fatalf("c: %d frames, want the live one, then the reply (messages:100): %.80q, %.120q", len(cf), cf[0], cf[1])
	}
	for k, f := range cf[2:] {
		if !strings.Contains(f, fmt.Sprintf(`"offset":%d,`, 1901+k)) {
			t.Fatalf("c: recovered frame %d is %.80q, want offset %d", k, f, 1901+k)
		}
	}
	// A small recovery stays under the slice: the inbox waits for its task.
	h.l.recovered = 0
	d := h.open("/rooms/t", true, "", "")
	h.command(d, `{"id":3,"subscribe":{"topic":"t","since":{"offset":2000,"epoch":"E"}}}`)
	h.env.inbox = h.publish("t", 1) // 2002
	h.command(d, `{"id":4,"subscribe":{"topic":"t","since":{"offset":2001,"epoch":"E"}}}`)
	if len(h.env.inbox) != 1 || len(a.buf) != 0 {
		t.Fatalf("after recoveries under the slice: %d in the inbox (want 1, left to its task)", len(h.env.inbox))
	}
	if df := d.frames(t); len(df) != 4 || !strings.Contains(df[1], `"offset":2001,`) || !strings.Contains(df[3], `"offset":2002,`) {
		t.Fatalf("d: %d frames, want reply, 2001, reply, 2002 (each recovered from the history): %q", len(df), df)
	}
	h.env.DeliverWaiting() // the task: 2002 to a, not again to d
	if _, got = read(t, a); fmt.Sprint(got) != "[2002]" || len(d.buf) != 0 {
		t.Fatalf("the inbox's task: a got %v, d %d bytes; want 2002 to a only", got, len(d.buf))
	}
}
