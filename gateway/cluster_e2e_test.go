package gateway_test

// Cross-node broadcast through Kafka, end to end: three gateways in the test
// process (harness_test.go, each with its own -kafka-brokers bus client) and a
// real Kafka-protocol broker process (cmd/kafkadev, franz-go's kfake; no Apache
// Kafka is installable here), with raw RFC 6455 clients (codec/wstest's
// independent encoder) spread over the nodes, the publish API, and Debian's
// kcat as an outside producer and consumer.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
	"github.com/wsgate/wsgate/router/bus/kcattest"
)

const (
	clusterTopic = "wsgate.broadcast"
	clusterToken = "s3cret-token"
)

var kafkadevBuild goBinary

// kafkadevBinary builds cmd/kafkadev once, next to the gateway binary.
func kafkadevBinary(t *testing.T) string {
	t.Helper()
	return kafkadevBuild.build(t, "kafkadev", "github.com/wsgate/wsgate/cmd/kafkadev")
}

// kafkadevProc is a running broker process.
type kafkadevProc struct {
	Addr string
	*childProc
}

// startKafkadev runs the broker on addr (port 0: a free one) and waits for its "ready" line.
func startKafkadev(t *testing.T, addr, dataDir string) *kafkadevProc {
	t.Helper()
	args := []string{"-listen", addr, "-partitions", "6", "-topics", clusterTopic}
	if dataDir != "" {
		args = append(args, "-data-dir", dataDir)
	}
	spec := childSpec{label: "kafkadev", logMax: 32 << 10, grace: 5 * time.Second,
		readyLine: func(line []byte) (string, bool, error) {
			a, ok := strings.CutPrefix(string(line), "ready ")
			return a, ok, nil
		}}
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ { // a just-freed port may need a moment
		p, err := startChild(t, spec, exec.Command(kafkadevBinary(t), args...))
		if err != nil {
			t.Fatalf("start kafkadev: %v", err)
		}
		a, err := p.awaitReady(10 * time.Second)
		if err == nil {
			return &kafkadevProc{Addr: a, childProc: p}
		}
		if !errors.Is(err, errExitedEarly) {
			t.Fatal(err)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kafkadev did not start: %v", lastErr)
	return nil
}

// startCluster starts n wsgate nodes on the broker and waits until each reports its bus healthy.
func startCluster(t *testing.T, broker string, n int, extra ...string) []*testGateway {
	t.Helper()
	nodes := make([]*testGateway, n)
	for i := range nodes {
		args := append([]string{"-kafka-brokers", broker, "-node-id", fmt.Sprintf("n%d", i),
			"-publish-token", clusterToken, "-drain-time", "100ms"}, extra...)
		nodes[i] = startGateway(t, args...)
	}
	waitBusHealthy(t, nodes, 15*time.Second, "")
	return nodes
}

// waitBusHealthy waits, up to timeout for each node, until every node's /healthz is ok and does not
// report its bus degraded. what ("" or e.g. " at start") goes into the failure message.
func waitBusHealthy(t *testing.T, nodes []*testGateway, timeout time.Duration, what string) {
	t.Helper()
	for i, g := range nodes {
		deadline := time.Now().Add(timeout)
		for {
			body, _ := healthz(g)
			if strings.HasPrefix(body, "ok") && !strings.Contains(body, "degraded") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: bus not healthy within %v%s: /healthz %q", i, timeout, what, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func healthz(g *testGateway) (string, int) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + g.Admin + "/healthz")
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// received is one message a cluster client got, with its arrival time.
type received struct {
	op      byte
	payload string
	at      time.Time
}

// clusterClient is a raw WebSocket client recording every data frame it receives.
type clusterClient struct {
	node int
	conn *rawConn

	mu   sync.Mutex
	got  []received
	wmu  sync.Mutex
	done chan struct{}
}

func dialCluster(t *testing.T, g *testGateway, node int, path string) *clusterClient {
	t.Helper()
	c := &clusterClient{node: node, conn: upgradeRaw(t, g.Addr, path, 0), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			f, err := c.conn.ReadFrame(time.Now().Add(2 * time.Minute))
			if err != nil {
				return
			}
			if f.Op == wstest.OpText || f.Op == wstest.OpBinary {
				c.mu.Lock()
				c.got = append(c.got, received{op: f.Op, payload: string(f.Payload), at: time.Now()})
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// send writes one masked text frame; safe from several goroutines.
func (c *clusterClient) send(payload string) error {
	b := wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(payload)})
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

func (c *clusterClient) messages() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func (c *clusterClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *clusterClient) has(payload string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.got {
		if r.payload == payload {
			return true
		}
	}
	return false
}

func waitClients(t *testing.T, what string, timeout time.Duration, clients []*clusterClient, cond func(*clusterClient) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := 0
		for _, c := range clients {
			if cond(c) {
				ok++
			}
		}
		if ok == len(clients) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %d of %d clients done", timeout, what, ok, len(clients))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkSameStream asserts every client got every message exactly once, in one identical order.
func checkSameStream(t *testing.T, clients []*clusterClient, want int) {
	t.Helper()
	ref := clients[0].messages()
	for i, c := range clients {
		got := c.messages()
		seen := map[string]int{}
		for _, r := range got {
			seen[r.payload]++
		}
		var dups []string
		for p, n := range seen {
			if n > 1 {
				dups = append(dups, fmt.Sprintf("%.40q×%d", p, n))
			}
		}
		if len(dups) > 0 {
			t.Errorf("client %d (node %d): duplicates %v", i, c.node, dups)
		}
		if len(got) != want {
			t.Errorf("client %d (node %d): received %d messages, want %d", i, c.node, len(got), want)
		}
		for j := range min(len(got), len(ref)) {
			if got[j].payload != ref[j].payload || got[j].op != ref[j].op {
				t.Errorf("client %d (node %d): order differs from client 0 (node %d) at %d: %.40q vs %.40q",
					i, c.node, clients[0].node, j, got[j].payload, ref[j].payload)
				break
			}
		}
	}
}

func publish(t *testing.T, g *testGateway, topic, token, query string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+g.Admin+"/v1/publish/"+topic+query, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST /v1/publish/%s: %v", topic, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// 3 nodes + broker: 12 clients (4 per node) all publish on one topic; the
// publish API and kcat publish too. Every client receives every message
// exactly once, all in one order; kcat sees the records as key = topic,
// value = payload.
func TestClusterKafkaBroadcast(t *testing.T) {
	requireE2E(t, false, false)
	kcattest.Path(t)
	broker := startKafkadev(t, "127.0.0.1:0", "")
	nodes := startCluster(t, broker.Addr, 3, "-max-message-bytes", "65536")

	var clients []*clusterClient
	for i := range 12 {
		clients = append(clients, dialCluster(t, nodes[i%3], i%3, "/ws"))
	}
	const perClient = 15
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perClient {
				if err := c.send(fmt.Sprintf("c%02d-%03d", i, j)); err != nil {
					t.Errorf("client %d send: %v", i, err)
					return
				}
				time.Sleep(time.Duration(1+(i+j)%3) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	want := len(clients) * perClient
	waitClients(t, "client messages everywhere", 30*time.Second, clients, func(c *clusterClient) bool { return c.count() >= want })

	// Publish API on node 1: 401 without or with a wrong token, 413 over
	// -max-message-bytes, 202 and delivery on every node otherwise.
	if code := publish(t, nodes[1], "chat", "", "", []byte("nope")); code != http.StatusUnauthorized {
		t.Errorf("publish without token: %d, want 401", code)
	}
	if code := publish(t, nodes[1], "chat", "wrong", "", []byte("nope")); code != http.StatusUnauthorized {
		t.Errorf("publish with a wrong token: %d, want 401", code)
	}
	if code := publish(t, nodes[1], "chat", clusterToken, "", bytes.Repeat([]byte("x"), 65537)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("publish over -max-message-bytes: %d, want 413", code)
	}
	if code := publish(t, nodes[1], "chat", clusterToken, "", []byte("api-text")); code != http.StatusAccepted {
		t.Errorf("publish: %d, want 202", code)
	}
	if code := publish(t, nodes[2], "chat", clusterToken, "?binary=1", []byte("api-\x00binary")); code != http.StatusAccepted {
		t.Errorf("publish binary: %d, want 202", code)
	}
	want += 2
	// kcat as an outside producer: key = wsgate topic, value = payload.
	// murmur2_random is the Java client's partitioner, which the bus uses.
	kcattest.Run(t, "kcat-hello\n", "-P", "-b", broker.Addr, "-t", clusterTopic, "-k", "chat", "-X", "topic.partitioner=murmur2_random")
	want++
	waitClients(t, "API and kcat messages everywhere", 15*time.Second, clients, func(c *clusterClient) bool {
		return c.has("api-text") && c.has("api-\x00binary") && c.has("kcat-hello")
	})
	time.Sleep(300 * time.Millisecond) // let any duplicate arrive
	checkSameStream(t, clients, want)
	for _, r := range clients[5].messages() {
		if r.payload == "api-\x00binary" && r.op != wstest.OpBinary {
			t.Errorf("?binary=1 message arrived with opcode %d", r.op)
		}
		if r.payload == "kcat-hello" && r.op != wstest.OpText {
			t.Errorf("kcat message arrived with opcode %d, want text (no wsgate-op header)", r.op)
		}
	}

	// kcat as an outside consumer: what the gateways wrote is key = topic, value = raw payload.
	out := kcattest.Run(t, "", "-C", "-b", broker.Addr, "-t", clusterTopic, "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != want {
		t.Errorf("kcat consumed %d records, want %d", len(lines), want)
	}
	for _, needle := range []string{"chat|c00-000|", "chat|c11-014|", "chat|api-text|", "chat|kcat-hello|"} {
		if !strings.Contains(out, needle) {
			t.Errorf("kcat output lacks %q", needle)
		}
	}
	if !strings.Contains(out, "wsgate-origin=n1") || !strings.Contains(out, "wsgate-op=binary") {
		t.Errorf("kcat sees no wsgate headers:\n%.500s", out)
	}

	var published float64
	for i, g := range nodes {
		m := scrapeMetrics(t, g.Admin)
		p, _ := m.get("wsgate_bus_published_total", "")
		published += p
		m.atLeast(t, "wsgate_bus_delivered_total", "", float64(want))
		if d, _ := m.get("wsgate_bus_dropped_total", ""); d != 0 {
			t.Errorf("node %d: wsgate_bus_dropped_total %v", i, d)
		}
	}
	if published != float64(want-1) { // all but kcat's
		t.Errorf("nodes published %v records in all, want %d", published, want-1)
	}
}

// The broker stops for 10 s during a publish stream on node 0 and restarts
// (same port, same data directory): node 0's clients keep receiving
// (degraded local delivery), the other nodes receive the outage's messages
// after the restart, and nobody sees a duplicate.
func TestClusterKafkaBrokerOutage(t *testing.T) {
	requireE2E(t, false, false)
	dir := t.TempDir()
	broker := startKafkadev(t, "127.0.0.1:0", dir)
	nodes := startCluster(t, broker.Addr, 3)
	var clients []*clusterClient
	for i := range 6 {
		clients = append(clients, dialCluster(t, nodes[i%3], i%3, "/ws"))
	}
	pub := clients[0] // on node 0
	sent := 0
	var sentAt []time.Time
	sendFor := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); sent++ {
			sentAt = append(sentAt, time.Now())
			if err := pub.send(fmt.Sprintf("m%04d", sent)); err != nil {
				t.Fatalf("send: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	sendFor(time.Second)
	before := sent
	waitClients(t, "messages before the outage", 10*time.Second, clients, func(c *clusterClient) bool { return c.count() == before })

	broker.stop()
	sendFor(10 * time.Second)
	if body, _ := healthz(nodes[0]); !strings.Contains(body, "degraded") {
		t.Errorf("node 0 /healthz during the outage: %q, want it to report the bus degraded", body)
	}
	// Local delivery never stopped on node 0: every message arrived within a second.
	for _, c := range []*clusterClient{clients[0], clients[3]} {
		if c.count() != sent {
			t.Errorf("node 0 client got %d of %d messages during the outage", c.count(), sent)
		}
	}
	for _, c := range []*clusterClient{clients[1], clients[2]} {
		if n := c.count(); n != before {
			t.Errorf("node %d client got %d messages during the outage, want %d", c.node, n, before)
		}
	}
	var worst time.Duration
	for i, r := range clients[0].messages() {
		if i >= before && i < len(sentAt) {
			worst = max(worst, r.at.Sub(sentAt[i]))
		}
	}
	t.Logf("outage: %d messages published on node 0 while the broker was down; slowest local delivery %v",
		sent-before, worst.Round(time.Millisecond))

	startKafkadev(t, broker.Addr, dir)
	restarted := time.Now()
	waitClients(t, "outage messages on every node after the restart", 30*time.Second, clients, func(c *clusterClient) bool { return c.count() >= sent })
	t.Logf("other nodes caught up %v after the restart", time.Since(restarted).Round(time.Millisecond))
	sendFor(500 * time.Millisecond)
	waitClients(t, "messages after the restart", 15*time.Second, clients, func(c *clusterClient) bool { return c.count() >= sent })
	time.Sleep(300 * time.Millisecond)
	checkSameStream(t, clients, sent)
	for i, c := range clients {
		got := c.messages()
		for j, r := range got {
			if want := fmt.Sprintf("m%04d", j); r.payload != want {
				t.Errorf("client %d: message %d is %q, want %q (publish order)", i, j, r.payload, want)
				break
			}
		}
	}
	if d, _ := scrapeMetrics(t, nodes[0].Admin).get("wsgate_bus_dropped_total", ""); d != 0 {
		t.Errorf("node 0 dropped %v messages, want 0 (within -kafka-buffer)", d)
	}
}

// Publish→deliver latency across nodes at ~1k msgs/s on loopback. It logs
// p50/p99 (no timed assertion: shared machines are noisy). Set
// WSGATE_LATENCY_SECONDS to measure longer.
func TestClusterKafkaLatency(t *testing.T) {
	requireE2E(t, false, false)
	broker := startKafkadev(t, "127.0.0.1:0", "")
	nodes := startCluster(t, broker.Addr, 3)
	pub := dialCluster(t, nodes[0], 0, "/ws")
	var recv []*clusterClient
	for i := range 3 {
		recv = append(recv, dialCluster(t, nodes[i], i, "/ws"))
	}
	secs := 3
	if s, err := strconv.Atoi(os.Getenv("WSGATE_LATENCY_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	const rate = 1000
	n := secs * rate
	sentAt := make([]time.Time, n)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		sentAt[i] = time.Now()
		if err := pub.send("lat-" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("sent %d messages in %v", n, time.Since(start).Round(time.Millisecond))
	waitClients(t, "all latency messages", 30*time.Second, recv, func(c *clusterClient) bool { return c.count() >= n })
	for _, c := range recv {
		var lat []time.Duration
		for _, r := range c.messages() {
			i, err := strconv.Atoi(strings.TrimPrefix(r.payload, "lat-"))
			if err != nil || i >= n {
				continue
			}
			lat = append(lat, r.at.Sub(sentAt[i]))
		}
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		where := "cross-node"
		if c.node == 0 {
			where = "same node"
		}
		t.Logf("node %d (%s): %d msgs, publish→deliver p50 %v p90 %v p99 %v max %v", c.node, where, len(lat),
			q(0.50).Round(10*time.Microsecond), q(0.90).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	}
}
