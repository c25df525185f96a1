package bus

import (
	"fmt"
	"testing"
	"time"
)

// While Kafka is unreachable, local delivery must not run under the lock that
// Publish takes: event loops call Publish, and a slow handler (or a 64 MiB
// backlog delivered at the moment the bus degrades) would stall them. Before
// the fix Publish called the handler itself under b.mu, so with a blocked
// handler the second Publish never returned.
func TestKafkaDegradedPublishDoesNotWaitForDelivery(t *testing.T) {
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	gate := make(chan struct{})
	rec := newRecorder()
	handler := func(m Message) {
		<-gate // a handler stuck delivering (a huge backlog, a slow loop)
		rec.handle(m)
	}
	b := newTestBus(t, "a", brokers, handler, func(c *KafkaConfig) { c.ConnectTimeout = 200 * time.Millisecond })
	if ok, _ := b.Status(); ok {
		t.Fatal("bus healthy with no broker")
	}
	done := make(chan error, 1)
	go func() {
		for i := range 100 {
			if err := b.Publish("lobby", OpText, fmt.Appendf(nil, "m-%03d", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		close(gate)
		t.Fatal("Publish blocked behind local delivery while degraded")
	}
	close(gate)
	waitFor(t, "local delivery after the handler unblocks", 5*time.Second, func() bool { return rec.len() == 100 })
	got := rec.byTopic()["lobby"]
	for i, p := range got {
		if want := fmt.Sprintf("m-%03d", i); p != want {
			t.Fatalf("delivery %d is %q, want %q (publish order)", i, p, want)
		}
	}
}
