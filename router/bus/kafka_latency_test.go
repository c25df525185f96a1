package bus

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Bus-level publish→deliver latency at ~1k msgs/s between two nodes on one
// in-process broker. It logs percentiles; no timed assertion.
func TestKafkaLatency(t *testing.T) {
	c := startBroker(t, "", 0)
	defer c.Close()
	const n = 2000
	var mu sync.Mutex
	sentAt := make([]time.Time, n)
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	h := func(m Message) {
		i, err := strconv.Atoi(string(m.Payload))
		if err != nil {
			return
		}
		mu.Lock()
		lat = append(lat, time.Since(sentAt[i]))
		if len(lat) == n {
			close(done)
		}
		mu.Unlock()
	}
	a := newTestBus(t, "a", c.ListenAddrs(), func(Message) {})
	newTestBus(t, "b", c.ListenAddrs(), h)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
		mu.Lock()
		sentAt[i] = time.Now()
		mu.Unlock()
		if err := a.Publish("lobby-"+strconv.Itoa(i%10), OpText, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d delivered", len(lat), n)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	t.Logf("bus a→b at 1k msgs/s: p50 %v p90 %v p99 %v max %v", q(0.5), q(0.9), q(0.99), q(1))
}
