package gateway_test

// The Kafka broker (cmd/kafkadev, a child process) killed and restarted under two in-process gateways,
// and the local buffer overflowing during an outage.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Two nodes on one kafkadev broker; a publisher and a reader on each node. The broker is SIGKILLed for
// 10 s and restarted on the same port and -data-dir. During the outage each node keeps delivering its
// own clients' messages; after the restart cross-node delivery resumes within 5 s, nothing published
// after the restart is lost, whatever a client missed equals wsgate_bus_dropped_total, and /healthz
// stops reporting the bus degraded once it works again.
func TestE2EFailureKafkaBrokerKilled(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	dir := t.TempDir()
	broker := startKafkadev(t, "127.0.0.1:0", dir)
	nodes := startCluster(t, broker.Addr, 2)
	pub := []*clusterClient{dialCluster(t, nodes[0], 0, "/ws"), dialCluster(t, nodes[1], 1, "/ws")}
	all := []*clusterClient{pub[0], pub[1], dialCluster(t, nodes[0], 0, "/ws"), dialCluster(t, nodes[1], 1, "/ws")}

	type sentMsg struct {
		payload string
		node    int
		at      time.Time
	}
	var sent []sentMsg
	sendOne := func(phase string, n int) {
		node := n % 2
		p := fmt.Sprintf("%s-n%d-%04d", phase, node, n)
		sent = append(sent, sentMsg{p, node, time.Now()})
		if err := pub[node].send(p); err != nil {
			t.Fatalf("publisher on node %d: %v", node, err)
		}
	}
	count := func(c *clusterClient, prefix string) int {
		n := 0
		for _, r := range c.messages() {
			if strings.HasPrefix(r.payload, prefix) {
				n++
			}
		}
		return n
	}

	for i := range 20 {
		sendOne("pre", i)
		time.Sleep(50 * time.Millisecond)
	}
	waitClients(t, "messages before the outage", 15*time.Second, all, func(c *clusterClient) bool { return count(c, "pre-") == 20 })

	killed := time.Now()
	if err := broker.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-broker.done
	outage := 0
	for time.Since(killed) < 10*time.Second {
		sendOne("out", outage)
		outage++
		time.Sleep(50 * time.Millisecond)
	}
	for i, g := range nodes {
		if body, _ := healthz(g); !strings.Contains(body, "degraded") {
			t.Errorf("node %d /healthz at the end of the outage: %q, want the bus reported degraded", i, body)
		}
	}
	// Local delivery went on: each node's clients have every message its own publisher sent.
	deadline := time.Now().Add(3 * time.Second)
	for _, c := range all {
		want := outage / 2
		if c.node == 0 {
			want = (outage + 1) / 2
		}
		prefix := fmt.Sprintf("out-n%d-", c.node)
		for count(c, prefix) < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := count(c, prefix); got != want {
			t.Errorf("node %d client: %d of its node's %d outage messages delivered locally", c.node, got, want)
		}
	}
	var worstLocal time.Duration
	sentAt := map[string]time.Time{}
	for _, s := range sent {
		sentAt[s.payload] = s.at
	}
	crossDuring := 0
	for _, c := range all {
		for _, r := range c.messages() {
			if !strings.HasPrefix(r.payload, "out-") {
				continue
			}
			if strings.HasPrefix(r.payload, fmt.Sprintf("out-n%d-", c.node)) {
				worstLocal = max(worstLocal, r.at.Sub(sentAt[r.payload]))
			} else {
				crossDuring++
			}
		}
	}
	t.Logf("outage: %d messages published over 10s (both nodes); slowest local delivery %v; %d cross-node deliveries during the outage",
		outage, worstLocal.Round(time.Millisecond), crossDuring)

	startKafkadev(t, broker.Addr, dir)
	restarted := time.Now()
	var resumed [2]time.Duration // [0]: node 0 → node 1 client, [1]: node 1 → node 0 client
	post := 0
	for {
		sendOne("post", post)
		post++
		time.Sleep(50 * time.Millisecond)
		for dst := range 2 {
			if resumed[dst] == 0 && count(all[2+(1-dst)], fmt.Sprintf("post-n%d-", dst)) > 0 {
				resumed[dst] = time.Since(restarted)
			}
		}
		if (resumed[0] > 0 && resumed[1] > 0 && post >= 40) || time.Since(restarted) > 8*time.Second {
			break
		}
	}
	for src, d := range resumed {
		switch {
		case d == 0:
			t.Errorf("node %d → node %d: no cross-node delivery of a post-restart message within 8s of the restart", src, 1-src)
		case d > 5*time.Second:
			t.Errorf("node %d → node %d: cross-node delivery resumed %v after the restart, want within 5s", src, 1-src, d.Round(time.Millisecond))
		}
	}
	t.Logf("cross-node delivery resumed %v (n0→n1) and %v (n1→n0) after the restart; %d messages published after it",
		resumed[0].Round(time.Millisecond), resumed[1].Round(time.Millisecond), post)

	// Everything published after the restart reaches every client on both nodes.
	waitDeadline := time.Now().Add(20 * time.Second)
	for _, c := range all {
		for count(c, "post-") < post && time.Now().Before(waitDeadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The outage's messages travel once Kafka is back (buffered within -kafka-buffer): give them time too.
	total := len(sent)
	for _, c := range all {
		for len(c.messages()) < total && time.Now().Before(waitDeadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // let a duplicate show up
	var dropped float64
	for i, g := range nodes {
		d, ok := scrapeMetrics(t, g.Admin).get("wsgate_bus_dropped_total", "")
		if !ok {
			t.Errorf("node %d: wsgate_bus_dropped_total is missing from /metrics", i)
		}
		dropped += d
	}
	for i, c := range all {
		seen := map[string]int{}
		for _, r := range c.messages() {
			seen[r.payload]++
		}
		var lostPost, missing, dups int
		for _, s := range sent {
			switch n := seen[s.payload]; {
			case n == 0 && strings.HasPrefix(s.payload, "post-"):
				lostPost++
				missing++
			case n == 0:
				missing++
			case n > 1:
				dups += n - 1
			}
		}
		t.Logf("client %d (node %d): received %d distinct of %d published; missing %d (after the restart: %d); duplicates %d",
			i, c.node, len(seen), total, missing, lostPost, dups)
		if lostPost > 0 {
			t.Errorf("client %d (node %d): lost %d of the %d messages published after the restart, want 0", i, c.node, lostPost, post)
		}
		if float64(missing) != dropped {
			t.Errorf("client %d (node %d): missed %d messages but the nodes report wsgate_bus_dropped_total %v in all", i, c.node, missing, dropped)
		}
		if dups > 0 {
			t.Errorf("client %d (node %d): %d duplicate deliveries", i, c.node, dups)
		}
	}
	t.Logf("wsgate_bus_dropped_total over both nodes: %v", dropped)
	flCheckBusRecovered(t, nodes)
}

// The other side of the same contract: node 1 runs with -kafka-buffer 6000 (about 50 small messages),
// the broker is stopped (SIGTERM) for 5 s while node 1 publishes 150: what does not fit is dropped at
// once (not even delivered locally), counted in wsgate_bus_dropped_total, and the clients on both nodes
// miss exactly that many messages; everything else, and everything published once the bus is healthy
// again, reaches every client.
func TestE2EFailureKafkaBufferOverflow(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	dir := t.TempDir()
	broker := startKafkadev(t, "127.0.0.1:0", dir)
	nodes := []*testGateway{
		startGateway(t, "-kafka-brokers", broker.Addr, "-node-id", "n0", "-drain-time", "100ms"),
		startGateway(t, "-kafka-brokers", broker.Addr, "-node-id", "n1", "-drain-time", "100ms", "-kafka-buffer", "6000"),
	}
	waitBusHealthy(t, nodes, 20*time.Second, " at start")
	pub := dialCluster(t, nodes[1], 1, "/ws")
	all := []*clusterClient{pub, dialCluster(t, nodes[1], 1, "/ws"), dialCluster(t, nodes[0], 0, "/ws")}
	var sent []string
	send := func(p string) {
		sent = append(sent, p)
		if err := pub.send(p); err != nil {
			t.Fatalf("publisher on node 1: %v", err)
		}
	}
	for i := range 10 {
		send(fmt.Sprintf("pre-%04d", i))
	}
	waitClients(t, "messages before the outage", 15*time.Second, all, func(c *clusterClient) bool { return c.count() == 10 })

	broker.stop() // SIGTERM
	for i := range 150 {
		send(fmt.Sprintf("out-%04d", i))
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	dropped, _ := scrapeMetrics(t, nodes[1].Admin).get("wsgate_bus_dropped_total", "")
	local := 0
	for _, r := range all[1].messages() {
		if strings.HasPrefix(r.payload, "out-") {
			local++
		}
	}
	t.Logf("outage: node 1 published 150 messages with -kafka-buffer 6000: %d delivered locally, wsgate_bus_dropped_total %v", local, dropped)
	if dropped == 0 || dropped >= 150 {
		t.Errorf("wsgate_bus_dropped_total on node 1 = %v, want some but not all of the 150 outage messages dropped", dropped)
	}
	if float64(local) != 150-dropped {
		t.Errorf("node 1 client got %d outage messages locally, want 150 - dropped (%v)", local, dropped)
	}

	healthyLogs := strings.Count(nodes[1].log.String(), "kafka bus healthy")
	startKafkadev(t, broker.Addr, dir)
	flWaitLog(t, nodes[1], "kafka bus healthy", healthyLogs, 20*time.Second) // node 1 produces again
	for i := range 20 {
		send(fmt.Sprintf("post-%04d", i))
		time.Sleep(20 * time.Millisecond)
	}
	want := len(sent) - int(dropped)
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range all {
		for c.count() < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	var droppedAll float64
	for _, g := range nodes {
		d, _ := scrapeMetrics(t, g.Admin).get("wsgate_bus_dropped_total", "")
		droppedAll += d
	}
	for i, c := range all {
		seen := map[string]int{}
		for _, r := range c.messages() {
			seen[r.payload]++
		}
		var missing, lostPost, dups int
		for _, p := range sent {
			switch n := seen[p]; {
			case n == 0:
				missing++
				if strings.HasPrefix(p, "post-") {
					lostPost++
				}
			case n > 1:
				dups += n - 1
			}
		}
		t.Logf("client %d (node %d): %d of %d distinct messages, missing %d, duplicates %d", i, c.node, len(seen), len(sent), missing, dups)
		if float64(missing) != droppedAll {
			t.Errorf("client %d (node %d): missed %d messages, wsgate_bus_dropped_total is %v over both nodes", i, c.node, missing, droppedAll)
		}
		if lostPost > 0 || dups > 0 {
			t.Errorf("client %d (node %d): %d messages published after the restart lost, %d duplicates", i, c.node, lostPost, dups)
		}
	}
	flCheckBusRecovered(t, nodes)
}

// flCheckBusRecovered: once the broker is back and traffic flows again, /healthz must stop reporting
// the bus degraded (an outer monitor reads it), within 10 s.
func flCheckBusRecovered(t *testing.T, nodes []*testGateway) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i, g := range nodes {
		body, _ := healthz(g)
		for strings.Contains(body, "degraded") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			body, _ = healthz(g)
		}
		if strings.Contains(body, "degraded") {
			t.Errorf("node %d: /healthz still reports the bus degraded after the broker came back and delivery resumed: %q", i, body)
		}
	}
}
