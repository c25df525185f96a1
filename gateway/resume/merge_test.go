package resume

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// delivery is an envelope as a client reads it.
type delivery struct {
	Topic  string `json:"topic"`
	Offset int64  `json:"offset"`
	Epoch  string `json:"epoch"`
	Data   string `json:"data"`
}

// reply is a subscribe reply as a client reads it.
type reply struct {
	ID        int64 `json:"id"`
	Subscribe *struct {
		Recovered *bool  `json:"recovered"`
		Offset    int64  `json:"offset"`
		Epoch     string `json:"epoch"`
		Reason    string `json:"reason"`
		Messages  *int   `json:"messages"`
	} `json:"subscribe"`
}

// read splits what a client got into the subscribe reply (if any) and the
// offsets delivered, checking every delivery is whole and of epoch E.
func read(t *testing.T, c *fakeClient) (*reply, []int64) {
	t.Helper()
	var r *reply
	var offsets []int64
	for _, f := range c.frames(t) {
		var d delivery
		if err := json.Unmarshal([]byte(f), &d); err == nil && d.Topic != "" {
			if d.Epoch != "E" || d.Data != payloadOf(d.Offset) {
				t.Fatalf("delivery %s", f)
			}
			offsets = append(offsets, d.Offset)
			continue
		}
		if r != nil {
			t.Fatalf("a second reply %s", f)
		}
		r = new(reply)
		if err := json.Unmarshal([]byte(f), r); err != nil || r.Subscribe == nil {
			t.Fatalf("not a subscribe reply: %s", f)
		}
	}
	return r, offsets
}

func show(r *reply) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func seq(from, to int64) []int64 {
	var s []int64
	for o := from; o <= to; o++ {
		s = append(s, o)
	}
	return s
}

func checkRecovered(t *testing.T, r *reply, offset int64, messages int) {
	t.Helper()
	if r == nil || r.Subscribe.Recovered == nil || !*r.Subscribe.Recovered || r.Subscribe.Offset != offset || r.Subscribe.Epoch != "E" ||
		r.Subscribe.Messages == nil || *r.Subscribe.Messages != messages {
		t.Fatalf("reply %s, want recovered:true offset %d epoch E messages %d", show(r), offset, messages)
	}
}

func checkNotRecovered(t *testing.T, r *reply, offset int64, reason string) {
	t.Helper()
	if r == nil || r.Subscribe.Recovered == nil || *r.Subscribe.Recovered || r.Subscribe.Offset != offset || r.Subscribe.Epoch != "E" ||
		r.Subscribe.Reason != reason {
		t.Fatalf("reply %s, want recovered:false offset %d epoch E reason %q", show(r), offset, reason)
	}
}

// A recovery from memory races the loop's inbox: message 6 is in the
// history when the client resumes, but its broadcast has not reached the
// loop yet. The client gets 3..6 with the reply, then only what it has
// not had of the live messages: no gap, no duplicate.
func TestRecoverFromMemoryThenLive(t *testing.T) {
	h := newHarness(t, Config{HistorySize: 100}, "/rooms/=topic:*")
	h.deliver(h.publish("t", 5)...) // nobody on this loop yet
	c := h.open("/rooms/t", true, "", "")
	inbox := h.publish("t", 1) // 6: in the history, on its way to the loop
	h.command(c, `{"id":1,"subscribe":{"topic":"t","since":{"offset":2,"epoch":"E"}}}`)
	r, got := read(t, c)
	checkRecovered(t, r, 6, 4)
	if fmt.Sprint(got) != fmt.Sprint(seq(3, 6)) {
		t.Fatalf("recovered %v, want 3..6", got)
	}
	inbox = append(inbox, h.publish("t", 2)...) // 7, 8
	h.deliver(inbox...)
	if _, got = read(t, c); fmt.Sprint(got) != fmt.Sprint(seq(7, 8)) {
		t.Fatalf("live %v, want 7 8 (6 was recovered)", got)
	}
	// Resuming again from a position it already has is a no-op reply.
	h.command(c, `{"id":2,"subscribe":{"topic":"t","since":{"offset":8,"epoch":"E"}}}`)
	if r, got = read(t, c); len(got) != 0 {
		t.Fatalf("resume at the newest position delivered %v", got)
	}
	checkRecovered(t, r, 8, 0)
}

// The URL may carry the position: the socket's first topic is resumed.
func TestRecoverInURL(t *testing.T) {
	h := newHarness(t, Config{HistorySize: 100}, "/rooms/=topic:*")
	h.publish("t", 4)
	c := h.open("/rooms/t", true, "1", "E")
	r, got := read(t, c)
	checkRecovered(t, r, 4, 3)
	if r.ID != 0 || fmt.Sprint(got) != fmt.Sprint(seq(2, 4)) {
		t.Fatalf("id %d, recovered %v, want id 0 and 2..4", r.ID, got)
	}
	if bad := h.open("/rooms/t", true, "x", "E"); len(bad.buf) != 0 {
		t.Fatal("a since that is not a number was answered")
	}
}

// Never a partial recovery: each gap that cannot be served whole answers
// recovered:false with the stream's position, and the socket goes on live
// from there.
func TestNotRecovered(t *testing.T) {
	h := newHarness(t, Config{HistorySize: 10, MaxMessages: 5, MaxOutbound: 100}, "/rooms/=topic:*")
	h.publish("t", 20) // the history holds 11..20
	c := h.open("/rooms/t", true, "", "")
	for _, tc := range []struct {
		since  string
		reason string
	}{
		{`{"offset":15,"epoch":"other"}`, "epoch changed"},
		{`{"offset":21,"epoch":"E"}`, "since is beyond the stream's position"},
		{`{"offset":3,"epoch":"E"}`, "since is older than the history this node holds"}, // no Kafka here
		{`{"offset":12,"epoch":"E"}`, "more messages missed than -resume-max-messages"},
	} {
		h.command(c, `{"id":1,"subscribe":{"topic":"t","since":`+tc.since+`}}`)
		r, got := read(t, c)
		checkNotRecovered(t, r, 20, tc.reason)
		if len(got) != 0 {
			t.Fatalf("%s: delivered %v", tc.since, got)
		}
	}
	// 5 messages fit the count but not -max-outbound (100 bytes).
	h.command(c, `{"id":1,"subscribe":{"topic":"t","since":{"offset":15,"epoch":"E"}}}`)
	r, got := read(t, c)
	checkNotRecovered(t, r, 20, "more bytes missed than -max-outbound")
	if len(got) != 0 {
		t.Fatalf("delivered %v", got)
	}
	h.deliver(h.publish("t", 1)...)
	if _, got = read(t, c); fmt.Sprint(got) != "[21]" {
		t.Fatalf("live after recovered:false: %v, want 21", got)
	}
}

// A gap older than the history is read back from Kafka while the topic
// goes on: live messages published during the catch-up are buffered and
// follow the fetched ones, each once and in order; a second resume of the
// topic meanwhile is 409; afterwards live delivery goes on.
func TestRecoverFromKafkaWhileLive(t *testing.T) {
	h := newHarness(t, Config{HistorySize: 4, Fetches: 1, FetchTimeout: 10 * time.Second}, "/rooms/=topic:*")
	h.deliver(h.publish("t", 20)...) // the history holds 17..20; Kafka all
	c := h.open("/rooms/t", true, "", "")
	h.command(c, `{"id":1,"subscribe":{"topic":"t","since":{"offset":5,"epoch":"E"}}}`)
	if got := c.frames(t); len(got) != 0 {
		t.Fatalf("answered before the fetch: %q", got)
	}
	h.command(c, `{"id":2,"subscribe":{"topic":"t","since":{"offset":5,"epoch":"E"}}}`)
	if got := c.frames(t); len(got) != 1 || got[0] != `{"id":2,"error":{"code":409,"message":"a resume of t is still running"}}` {
		t.Fatalf("a second resume during the catch-up: %q", got)
	}
	late := h.publish("t", 3) // 21..23 arrive during the catch-up...
	h.deliver(late[:2]...)
	h.deliver(late[1:]...) // ...22 twice (the bus replays: the history ignores it, the loops get it)
	if got := c.frames(t); len(got) != 0 {
		t.Fatalf("live messages written during the catch-up: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.n.fetch.start(ctx)
	h.runPosted(ctx)
	r, got := read(t, c)
	checkRecovered(t, r, 23, 18)
	if fmt.Sprint(got) != fmt.Sprint(seq(6, 23)) {
		t.Fatalf("recovered %v, want 6..23", got)
	}
	h.deliver(append(late[2:], h.publish("t", 1)...)...) // 23 again, then 24
	if _, got = read(t, c); fmt.Sprint(got) != "[24]" {
		t.Fatalf("live after the catch-up: %v, want 24", got)
	}
}

// More live messages during a catch-up than -resume-max-messages allows
// with the gap: recovered:false, and live delivery goes on from the
// stream's position. A socket that left meanwhile is not answered.
func TestRecoverFromKafkaOverflow(t *testing.T) {
	h := newHarness(t, Config{HistorySize: 4, Fetches: 1, MaxMessages: 20}, "/rooms/=topic:*")
	h.publish("t", 20)
	c := h.open("/rooms/t", true, "", "")
	gone := h.open("/rooms/t", true, "", "")
	h.command(c, `{"id":1,"subscribe":{"topic":"t","since":{"offset":5,"epoch":"E"}}}`) // 15 missed
	h.command(gone, `{"id":1,"subscribe":{"topic":"t","since":{"offset":5,"epoch":"E"}}}`)
	gone.open = false
	h.l.Close(gone)
	h.deliver(h.publish("t", 10)...) // 21..30 during the catch-up: 25 in all
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.n.fetch.start(ctx)
	h.runPosted(ctx)
	h.runPosted(ctx)
	r, got := read(t, c)
	checkNotRecovered(t, r, 30, "more messages missed than -resume-max-messages (or -max-outbound bytes)")
	if len(got) != 0 {
		t.Fatalf("delivered %v with recovered:false", got)
	}
	if len(gone.buf) != 0 {
		t.Fatal("a socket closed during its catch-up was answered")
	}
	h.deliver(h.publish("t", 1)...)
	if _, got = read(t, c); fmt.Sprint(got) != "[31]" {
		t.Fatalf("live after recovered:false: %v, want 31", got)
	}
}

// Fan-out: one envelope per message for every subscriber, a slow one is
// left to the loop to close, positionless messages are not for wsgate.v1,
// and echoes go to wsgate.v1 only (out of what plain subscribers get).
func TestPass(t *testing.T) {
	h := newHarness(t, Config{MaxOutbound: 1000}, "/rooms/=topic:*")
	a, b, slow := h.open("/rooms/t", true, "", ""), h.open("/rooms/t", true, "", ""), h.open("/rooms/t", true, "", "")
	slow.outbound = 1001
	msgs := h.publish("t", 2)
	msgs = append(msgs, &fakeMsg{topic: "t"}) // no position (Kafka degraded): plain subscribers only
	echo := h.publish("t", 1)[0]
	echo.echo = true
	other := h.publish("u", 1)[0] // nobody here
	plain := h.deliver(append(msgs, echo, other)...)
	for _, c := range []*fakeClient{a, b} {
		if _, got := read(t, c); fmt.Sprint(got) != "[1 2 3]" || c.msgs != 3 {
			t.Fatalf("delivered %v (%d counted), want 1 2 3", got, c.msgs)
		}
	}
	if slow.lagging != 1 || len(slow.buf) != 0 {
		t.Fatalf("slow subscriber: lagging %d, %d bytes written", slow.lagging, len(slow.buf))
	}
	if msgs[0].built != 1 || other.built != 0 {
		t.Fatalf("envelopes built %d and %d, want once per message that has a subscriber", msgs[0].built, other.built)
	}
	if len(plain) != 4 || plain[3] != other || !echo.released || h.env.delivered != 6 || h.env.writes != 2 {
		t.Fatalf("plain %d messages, echo released %v, delivered %d in %d writes", len(plain), echo.released, h.env.delivered, h.env.writes)
	}
	if got := Pass[*fakeMsg](nil, []*fakeMsg{echo, other}); len(got) != 1 || got[0] != other {
		t.Fatal("a loop without wsgate.v1 sockets must still drop echoes")
	}
}
