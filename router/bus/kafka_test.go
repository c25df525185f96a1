package bus

// Tests of the Kafka bus against a real Kafka-protocol broker (franz-go's
// kfake, started in-process on real TCP loopback ports) with the real kafka-go
// client, and Debian's kcat as an independent client checking the wire format.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/wsgate/wsgate/router/bus/kcattest"
)

const testTopic = "wsgate.test"

// startBroker runs kfake with one broker per port (0: any free port), the
// test topic seeded with 4 partitions, and its log kept in dataDir if set.
func startBroker(t *testing.T, dataDir string, ports ...int) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.Ports(ports...), kfake.SeedTopics(4, testTopic), kfake.DefaultNumPartitions(4), kfake.AllowAutoTopicCreation()}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	var c *kfake.Cluster
	var err error
	// A port just released by a closed broker can take a moment to be free.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err = kfake.NewCluster(opts...); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	return c
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// recorder is a Handler that keeps every delivered message.
type recorder struct {
	mu    sync.Mutex
	msgs  []Message
	count map[string]int // payload → deliveries
}

func newRecorder() *recorder { return &recorder{count: map[string]int{}} }

func (r *recorder) handle(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.Payload = bytes.Clone(m.Payload)
	r.msgs = append(r.msgs, m)
	r.count[string(m.Payload)]++
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) has(payload string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[payload] > 0
}

// byTopic returns the payloads delivered per topic, in delivery order.
func (r *recorder) byTopic() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, m := range r.msgs {
		out[m.Topic] = append(out[m.Topic], string(m.Payload))
	}
	return out
}

func (r *recorder) duplicates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d []string
	for p, n := range r.count {
		if n > 1 {
			d = append(d, fmt.Sprintf("%q×%d", p, n))
		}
	}
	return d
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return nil
}

func newTestBus(t *testing.T, node string, brokers []string, h Handler, tweak ...func(*KafkaConfig)) *Kafka {
	t.Helper()
	cfg := KafkaConfig{Brokers: brokers, Topic: testTopic, NodeID: node, Logger: testLogger(t)}
	for _, f := range tweak {
		f(&cfg)
	}
	b, err := NewKafka(cfg, h)
	if err != nil {
		t.Fatalf("NewKafka(%s): %v", node, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Two nodes on one (3-broker) cluster: every message published on either is
// delivered exactly once on both, in the same order per topic, and each
// publisher's own order is kept.
func TestKafkaTwoNodesSameOrder(t *testing.T) {
	c := startBroker(t, "", 0, 0, 0)
	defer c.Close()
	ra, rb := newRecorder(), newRecorder()
	a := newTestBus(t, "a", c.ListenAddrs(), ra.handle)
	b := newTestBus(t, "b", c.ListenAddrs(), rb.handle)
	if ok, detail := a.Status(); !ok {
		t.Fatalf("bus a not healthy after start: %s", detail)
	}

	const perNode, topics = 300, 5
	var wg sync.WaitGroup
	for _, n := range []struct {
		name string
		bus  *Kafka
	}{{"a", a}, {"b", b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perNode {
				op := OpText
				if i%7 == 0 {
					op = OpBinary
				}
				if err := n.bus.Publish(fmt.Sprintf("room-%d", i%topics), op, fmt.Appendf(nil, "%s-%04d", n.name, i)); err != nil {
					t.Errorf("publish on %s: %v", n.name, err)
					return
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	total := 2 * perNode
	waitFor(t, "all messages on both nodes", 20*time.Second, func() bool { return ra.len() >= total && rb.len() >= total })
	time.Sleep(200 * time.Millisecond) // let any duplicate show up
	for name, r := range map[string]*recorder{"a": ra, "b": rb} {
		if r.len() != total {
			t.Errorf("node %s delivered %d messages, want %d", name, r.len(), total)
		}
		if d := r.duplicates(); len(d) > 0 {
			t.Errorf("node %s delivered duplicates: %v", name, d)
		}
	}
	ta, tb := ra.byTopic(), rb.byTopic()
	for topic, seqA := range ta {
		if !slices.Equal(seqA, tb[topic]) {
			t.Errorf("topic %s: nodes delivered different orders:\n a: %v\n b: %v", topic, seqA, tb[topic])
		}
		// Each publisher's messages keep their publish order.
		for _, origin := range []string{"a-", "b-"} {
			var own []string
			for _, p := range seqA {
				if strings.HasPrefix(p, origin) {
					own = append(own, p)
				}
			}
			if !slices.IsSorted(own) {
				t.Errorf("topic %s: publisher %s's order not kept: %v", topic, origin, own)
			}
		}
	}
	ra.mu.Lock()
	for _, m := range ra.msgs {
		var i int
		_, _ = fmt.Sscanf(string(m.Payload[2:]), "%d", &i)
		if want := map[bool]OpCode{true: OpBinary, false: OpText}[i%7 == 0]; m.OpCode != want {
			t.Errorf("%s: opcode %d, want %d", m.Payload, m.OpCode, want)
			break
		}
	}
	ra.mu.Unlock()
	if got := counterValue(a.m.published); got != perNode {
		t.Errorf("a: published_total %v, want %d", got, perNode)
	}
	if got := counterValue(b.m.delivered); got != float64(total) {
		t.Errorf("b: delivered_total %v, want %d", got, total)
	}
}

// The broker goes away and comes back on the same port with its log: the
// publisher delivers locally at once (degraded), the other node receives the
// outage's messages after the restart, and nobody delivers anything twice.
func TestKafkaBrokerOutage(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	c := startBroker(t, dir, port)
	brokers := c.ListenAddrs()
	ra, rb := newRecorder(), newRecorder()
	a := newTestBus(t, "a", brokers, ra.handle)
	b := newTestBus(t, "b", brokers, rb.handle)

	for i := range 10 {
		if err := a.Publish("lobby", OpText, fmt.Appendf(nil, "before-%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "messages before the outage", 10*time.Second, func() bool { return ra.len() == 10 && rb.len() == 10 })

	c.Close()
	start := time.Now()
	// A stream during the outage: local delivery must not stop.
	const during = 50
	for i := range during {
		if err := a.Publish("lobby", OpText, fmt.Appendf(nil, "during-%02d", i)); err != nil {
			t.Fatalf("publish during outage: %v", err)
		}
		if i == 0 {
			waitFor(t, "local delivery of the first message of the outage", 10*time.Second, func() bool { return ra.has("during-00") })
			t.Logf("first outage message delivered locally after %v", time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(10 * time.Millisecond)
		if !ra.has(fmt.Sprintf("during-%02d", i)) {
			t.Fatalf("during-%02d not delivered locally at once while degraded", i)
		}
	}
	if ok, detail := a.Status(); ok {
		t.Errorf("a reports healthy during the outage: %s", detail)
	} else {
		t.Logf("a status during outage: %s", detail)
	}
	if rb.len() != 10 {
		t.Errorf("b delivered %d messages during the outage, want 10 (nothing could reach it)", rb.len())
	}

	c2 := startBroker(t, dir, port)
	defer c2.Close()
	waitFor(t, "outage messages on b after the restart", 20*time.Second, func() bool { return rb.len() == 10+during })
	waitFor(t, "a healthy again", 10*time.Second, func() bool { ok, _ := a.Status(); return ok })
	// a's echoes came back and were recognised.
	waitFor(t, "a's echoes", 10*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.local) == 0
	})
	for i := range 5 {
		if err := b.Publish("lobby", OpText, fmt.Appendf(nil, "after-%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := 10 + during + 5
	waitFor(t, "messages after the restart on both", 10*time.Second, func() bool { return ra.len() == want && rb.len() == want })
	time.Sleep(200 * time.Millisecond)
	for name, r := range map[string]*recorder{"a": ra, "b": rb} {
		if r.len() != want {
			t.Errorf("node %s delivered %d, want %d", name, r.len(), want)
		}
		if d := r.duplicates(); len(d) > 0 {
			t.Errorf("node %s delivered duplicates: %v", name, d)
		}
	}
	if !slices.Equal(ra.byTopic()["lobby"], rb.byTopic()["lobby"]) {
		t.Errorf("orders differ:\n a: %v\n b: %v", ra.byTopic()["lobby"], rb.byTopic()["lobby"])
	}
	if d := counterValue(a.m.dropped); d != 0 {
		t.Errorf("dropped_total %v, want 0", d)
	}
}

// Startup with the brokers down: the bus works locally, reports degraded,
// buffers up to BufferBytes and drops (and counts) beyond; when the broker
// appears the buffered messages are written once and not delivered twice.
func TestKafkaStartDownAndBufferLimit(t *testing.T) {
	port := freePort(t)
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	ra := newRecorder()
	const payload = 100
	// Each message costs payload + topic + msgOverhead against the buffer.
	perMsg := payload + len("lobby") + msgOverhead
	const fit = 4
	a := newTestBus(t, "a", brokers, ra.handle, func(c *KafkaConfig) {
		c.BufferBytes = fit*perMsg + perMsg/2
		c.ConnectTimeout = 300 * time.Millisecond
	})
	if ok, detail := a.Status(); ok {
		t.Fatalf("healthy with no broker: %s", detail)
	} else {
		t.Logf("status: %s", detail)
	}
	var refused int
	for i := range 20 {
		p := fmt.Appendf(nil, "%03d-%s", i, strings.Repeat("x", payload-4))
		if err := a.Publish("lobby", OpText, p); err != nil {
			if err != ErrBufferFull {
				t.Fatalf("publish %d: %v, want nil or ErrBufferFull", i, err)
			}
			refused++
		}
	}
	if refused != 20-fit {
		t.Errorf("%d publishes refused, want %d", refused, 20-fit)
	}
	if got := counterValue(a.m.dropped); got != float64(20-fit) {
		t.Errorf("dropped_total %v, want %d", got, 20-fit)
	}
	// Local delivery runs on the bus's own goroutine (never under the lock Publish takes).
	waitFor(t, "local delivery of the accepted publishes", 5*time.Second, func() bool { return ra.len() >= fit })
	if ra.len() != fit {
		t.Errorf("delivered locally %d, want %d", ra.len(), fit)
	}
	if err := a.Publish("lobby", OpText, make([]byte, 2<<20)); err != ErrTooLarge {
		t.Errorf("2 MiB publish: %v, want ErrTooLarge", err)
	}

	c := startBroker(t, "", port)
	defer c.Close()
	waitFor(t, "bus healthy after the broker started", 15*time.Second, func() bool { ok, _ := a.Status(); return ok })
	waitFor(t, "buffer flushed", 10*time.Second, func() bool { return counterValue(a.m.published) == fit })
	// One more after the broker is up: delivered through Kafka.
	if err := a.Publish("lobby", OpText, []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "message after start", 10*time.Second, func() bool { return ra.has("after") })
	time.Sleep(200 * time.Millisecond)
	if ra.len() != fit+1 {
		t.Errorf("delivered %d, want %d (buffered ones must not come back twice)", ra.len(), fit+1)
	}
	if d := ra.duplicates(); len(d) > 0 {
		t.Errorf("duplicates: %v", d)
	}
	// The records really are in Kafka: read the partition of "lobby" from the start.
	if n := countRecords(t, c.ListenAddrs(), testTopic); n != fit+1 {
		t.Errorf("Kafka holds %d records, want %d", n, fit+1)
	}
}

// countRecords reads every partition of topic from the beginning.
func countRecords(t *testing.T, brokers []string, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...)}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range md.Topics[0].Partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	res, err := cl.ListOffsets(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, po := range res.Topics[topic] {
		n += int(po.LastOffset - po.FirstOffset)
	}
	return n
}

// An outside producer (kcat, librdkafka) with key = topic reaches the bus,
// and what the bus writes is a plain record: key = topic, value = payload.
func TestKafkaKcatWireFormat(t *testing.T) {
	kcattest.Path(t)
	c := startBroker(t, "", 0)
	defer c.Close()
	broker := c.ListenAddrs()[0]
	r := newRecorder()
	a := newTestBus(t, "a", c.ListenAddrs(), r.handle)

	// librdkafka's murmur2_random partitioner is the Java client's default
	// and the one the bus uses, so kcat's "lobby" joins wsgate's "lobby" order.
	kcattest.Run(t, "hello from kcat\n", "-P", "-b", broker, "-t", testTopic, "-k", "lobby",
		"-X", "topic.partitioner=murmur2_random", "-H", "trace=1")
	waitFor(t, "kcat's message delivered", 10*time.Second, func() bool { return r.has("hello from kcat") })
	r.mu.Lock()
	m := r.msgs[0]
	r.mu.Unlock()
	if m.Topic != "lobby" || m.OpCode != OpText {
		t.Errorf("kcat message delivered as topic %q op %d, want lobby text", m.Topic, m.OpCode)
	}

	if err := a.Publish("lobby", OpText, []byte("from wsgate")); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish("room-7", OpBinary, []byte{0, 1, 2, 0xff}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "own messages delivered", 10*time.Second, func() bool { return r.len() == 3 })

	out := kcattest.Run(t, "", "-C", "-b", broker, "-t", testTopic, "-o", "beginning", "-e", "-q",
		"-f", "%p|%k|%s|%h\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("kcat consumed %d records, want 3:\n%s", len(lines), out)
	}
	parts := map[string]string{} // payload → partition
	seen := map[string]bool{}
	for _, l := range lines {
		f := strings.SplitN(l, "|", 4)
		if len(f) != 4 {
			t.Fatalf("kcat line %q", l)
		}
		parts[f[2]] = f[0]
		seen[f[1]+"|"+f[2]] = true
		if f[2] == "from wsgate" {
			for _, h := range []string{"wsgate-origin=a", "wsgate-seq=1", "wsgate-op=text", "wsgate-run="} {
				if !strings.Contains(f[3], h) {
					t.Errorf("headers %q lack %q", f[3], h)
				}
			}
		}
	}
	for _, want := range []string{"lobby|hello from kcat", "lobby|from wsgate", "room-7|\x00\x01\x02\xff"} {
		if !seen[want] {
			t.Errorf("kcat did not see key|value %q in:\n%q", want, out)
		}
	}
	if parts["hello from kcat"] != parts["from wsgate"] {
		t.Errorf("kcat's lobby went to partition %s, wsgate's to %s: one topic must have one partition",
			parts["hello from kcat"], parts["from wsgate"])
	}
}
