package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch reads a topic's range back from its partition: the same offsets and
// payloads the readers delivered, other topics of the partition skipped, and
// a range it cannot read whole refused (epoch, high-water mark, budget,
// retention).
func TestKafkaFetch(t *testing.T) {
	c := startBroker(t, "", 0)
	defer c.Close()
	r := newRecorder()
	b := newTestBus(t, "a", c.ListenAddrs(), r.handle)
	// Two wsgate topics on one partition, interleaved.
	parts := *b.parts.Load()
	part := func(topic string) int { return b.balancer.Balance(kafka.Message{Key: []byte(topic)}, parts...) }
	other := ""
	for i := 0; other == ""; i++ {
		if n := fmt.Sprintf("other-%d", i); part(n) == part("x") {
			other = n
		}
	}
	for i := range 10 {
		for _, tp := range []string{"x", other} {
			if err := b.Publish(tp, OpText, []byte(fmt.Sprintf("%s-%d", tp, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "20 deliveries", 10*time.Second, func() bool { return r.len() == 20 })
	var xs []Message
	r.mu.Lock()
	for _, m := range r.msgs {
		if m.Topic == "x" {
			xs = append(xs, m)
		}
	}
	r.mu.Unlock()
	epoch, _, ok := b.Position("x")
	if !ok || xs[0].Epoch != epoch {
		t.Fatalf("position epoch %q (%v), delivered %q", epoch, ok, xs[0].Epoch)
	}
	ctx := context.Background()
	fetch := func(after, upTo int64, maxMsgs int, ep string) ([]Message, error) {
		var got []Message
		err := b.Fetch(ctx, "x", ep, after, upTo, 1<<20, maxMsgs, func(m Message) { got = append(got, m) })
		return got, err
	}
	got, err := fetch(xs[0].Offset-1, xs[9].Offset, 0, epoch)
	if err != nil || len(got) != 10 {
		t.Fatalf("whole range: %d messages, %v", len(got), err)
	}
	for i, m := range got {
		if m.Offset != xs[i].Offset || string(m.Payload) != string(xs[i].Payload) || m.Epoch != epoch || m.Topic != "x" {
			t.Fatalf("message %d: %+v, delivered %+v", i, m, xs[i])
		}
	}
	if got, err = fetch(xs[4].Offset, xs[7].Offset, 0, epoch); err != nil || len(got) != 3 || got[0].Offset != xs[5].Offset {
		t.Fatalf("middle range: %v %v", got, err)
	}
	if _, err = fetch(xs[0].Offset-1, xs[9].Offset, 3, epoch); !errors.Is(err, ErrRangeTooBig) {
		t.Fatalf("over maxMsgs: %v", err)
	}
	if _, err = fetch(xs[0].Offset, xs[9].Offset+100, 0, epoch); !errors.Is(err, ErrRangeFuture) {
		t.Fatalf("beyond the high-water mark: %v", err)
	}
	if _, err = fetch(xs[0].Offset, xs[9].Offset, 0, "nope"); !errors.Is(err, ErrEpochChanged) {
		t.Fatalf("another epoch: %v", err)
	}
	// Retention deletes the start of the partition: a range reaching into it is gone.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = testTopic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = int32(part("x")), xs[5].Offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	if _, err := req.RequestWith(ctx, cl); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	if _, err = fetch(xs[2].Offset, xs[9].Offset, 0, epoch); !errors.Is(err, ErrRangeGone) {
		t.Fatalf("a range partly deleted: %v", err)
	}
	if got, err = fetch(xs[5].Offset-1, xs[9].Offset, 0, epoch); err != nil || len(got) != 5 {
		t.Fatalf("the range still held: %d %v", len(got), err)
	}
}
