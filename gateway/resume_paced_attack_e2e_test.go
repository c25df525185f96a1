package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// atkSock is a raw wsgate.v1 socket recording every text frame it gets.
type atkSock struct {
	conn *rawConn
	mu   sync.Mutex
	got  []atkFrame
}

type atkFrame struct {
	ID        int64           `json:"id"`
	Topic     string          `json:"topic"`
	Offset    int64           `json:"offset"`
	Epoch     string          `json:"epoch"`
	Subscribe json.RawMessage `json:"subscribe"`
	Error     json.RawMessage `json:"error"`
}

func dialAtk(t *testing.T, g *testGateway, path string) *atkSock {
	t.Helper()
	c := dialRaw(t, g.Addr)
	if _, err := c.Handshake(path, wstest.Options{Host: g.Addr, Timeout: 5 * time.Second,
		Headers: []string{"Sec-WebSocket-Protocol: wsgate.v1"}}); err != nil {
		t.Fatalf("upgrade %s: %v", path, err)
	}
	s := &atkSock{conn: c}
	go func() {
		for {
			f, err := c.ReadFrame(time.Now().Add(2 * time.Minute))
			if err != nil {
				return
			}
			if f.Op != wstest.OpText {
				continue
			}
			var v atkFrame
			if json.Unmarshal(f.Payload, &v) == nil {
				s.mu.Lock()
				s.got = append(s.got, v)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *atkSock) send(t *testing.T, cmd string) {
	t.Helper()
	if _, err := s.conn.Write(wstest.Text(cmd)); err != nil {
		t.Fatal(err)
	}
}

func (s *atkSock) frames() []atkFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]atkFrame(nil), s.got...)
}

// waitFor polls until ok holds for the socket's frames.
func (s *atkSock) waitFor(t *testing.T, what string, ok func([]atkFrame) bool) []atkFrame {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f := s.frames()
		if ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %d frames", what, len(f))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The real binary, Kafka bus, one event loop, -resume-rate 100000 (a
// 128 KiB bucket): B resumes topic t2 from a position older than the
// history (a Kafka catch-up), then unsubscribes t2 and subscribes it again
// live, while A and A2 spend the budget on recoveries of ~250 KB. When B's
// fetch comes back to the loop, the budget is spent (or A2 waits): the
// catch-up is queued by -resume-rate and, on 64d5673, written to B later —
// a second answer to id 1 and 1,000+ old messages of t2 after the live
// ones it already has. FAILS on 64d5673 (main), passes with the fix in
// kafka.go fetched (h-review15).
func TestAttackPacedKafkaUnsubscribeE2E(t *testing.T) {
	requireE2E(t, false, false)
	broker := startKafkadev(t, "127.0.0.1:0", "")
	g := startCluster(t, broker.Addr, 1, "-route", "/r/=topic:*", "-history-size", "1000",
		"-resume-rate", "100000", "-event-loops", "1", "-resume-kafka-timeout", "20s")[0]
	// A and A2 hold another topic: their resumes of big write all of it (a socket that had big live
	// would be sent only what it had not had).
	// B too: its resume of t2 is of a topic it did not hold (W and W2 watch big and t2 for the positions).
	w, a, a2 := dialAtk(t, g, "/r/big"), dialAtk(t, g, "/r/x"), dialAtk(t, g, "/r/x")
	w2, b := dialAtk(t, g, "/r/t2"), dialAtk(t, g, "/r/y")
	payload := strings.Repeat("p", 250)
	for i := range 1000 {
		if code := publish(t, g, "big", clusterToken, "", []byte(fmt.Sprint(i, payload))); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	for i := range 1100 {
		if code := publish(t, g, "t2", clusterToken, "", []byte(fmt.Sprint(i))); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	live := func(topic string, n int) func([]atkFrame) bool {
		return func(f []atkFrame) bool {
			k := 0
			for _, x := range f {
				if x.Topic == topic {
					k++
				}
			}
			return k >= n
		}
	}
	fa := w.waitFor(t, "1000 live messages of big on W", live("big", 1000))
	fb := w2.waitFor(t, "1100 live messages of t2 on W2", live("t2", 1100))
	bigSince, epoch := fa[0].Offset-1, fa[0].Epoch
	t2Since := fb[0].Offset // 1,099 missed: older than the history's 1,000 → Kafka
	a.send(t, fmt.Sprintf(`{"id":1,"subscribe":{"topic":"big","since":{"offset":%d,"epoch":%q}}}`, bigSince, epoch))
	a2.send(t, fmt.Sprintf(`{"id":1,"subscribe":{"topic":"big","since":{"offset":%d,"epoch":%q}}}`, bigSince, epoch))
	b.send(t, fmt.Sprintf(`{"id":1,"subscribe":{"topic":"t2","since":{"offset":%d,"epoch":%q}}}`, t2Since, fb[0].Epoch))
	b.send(t, `{"id":2,"unsubscribe":{"topic":"t2"}}`)
	b.send(t, `{"id":3,"subscribe":{"topic":"t2"}}`)
	b.waitFor(t, "the reply to id 3", func(f []atkFrame) bool { return len(f) > 0 && f[len(f)-1].ID == 3 })
	hasReply := func(f []atkFrame) bool {
		for _, x := range f {
			if x.ID == 1 {
				return true
			}
		}
		return false
	}
	a.waitFor(t, "A's recovery", hasReply)
	a2.waitFor(t, "A2's recovery", hasReply)
	time.Sleep(6 * time.Second) // the budget's deficit after A2: ~1.5 s; the stale catch-up's turn comes within it
	var stale []atkFrame
	after := false // the unsubscribe's reply (id 2) came
	for _, x := range b.frames() {
		if x.ID == 1 && !after {
			t.Fatalf("B's resume was answered before it unsubscribed (the race this test needs did not happen): %s", x.Subscribe)
		}
		after = after || x.ID == 2
		if after && (x.ID == 1 || (x.Topic == "t2" && x.Offset <= fb[len(fb)-1].Offset)) {
			stale = append(stale, x)
		}
	}
	if len(stale) > 0 {
		t.Fatalf("B unsubscribed t2 (and subscribed it again live) while its Kafka catch-up ran, and then got %d frames of it: "+
			"first id %d %s, last offset %d (its live subscription started after %d)", len(stale), stale[0].ID, stale[0].Subscribe,
			stale[len(stale)-1].Offset, fb[len(fb)-1].Offset)
	}
	if v := v1Metric(t, g, "wsgate_resume_paced_total"); v < 1 {
		t.Logf("nothing waited (wsgate_resume_paced_total %v): the race this test needs did not happen", v)
	}
}
