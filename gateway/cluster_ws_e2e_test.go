package gateway_test

// Cross-node broadcast with real Node `ws` clients (issue 5, first test): the kafkadev broker and three
// in-process gateways with -kafka-brokers (cluster_e2e_test.go's helpers), and 30 clients from
// testdata/broadcast-clients.js spread round-robin over the nodes, each sending text and binary
// messages on the one default topic. The script's summary is checked with checkBroadcast (topic_e2e_test.go):
// every message reaches every client exactly once, same opcode and payload, one identical order.
//
// A control run against three nodes WITHOUT -kafka-brokers (independent local buses) shows the
// same checks fail when the nodes do not share a bus: each client then gets only its own node's third.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	clusterWSClients  = 30
	clusterWSTexts    = 20
	clusterWSBinaries = 5
)

// clusterWSSummary is what the Go side reads of broadcast-clients.js's summary beyond broadcastSummary:
// the URLs it was given and the one each client connected to.
type clusterWSSummary struct {
	URL       string   `json:"url"`
	URLs      []string `json:"urls"`
	PerClient []struct {
		Index int    `json:"index"`
		URL   string `json:"url"`
	} `json:"perClient"`
}

// runClusterWSClients runs broadcast-clients.js with one --urls list covering nodes and decodes both
// views of its summary.
func runClusterWSClients(t *testing.T, nodes []*testGateway, timeoutMs int) (*broadcastSummary, *clusterWSSummary) {
	t.Helper()
	urls := make([]string, len(nodes))
	for i, g := range nodes {
		urls[i] = g.wsURL("/ws")
	}
	var raw json.RawMessage
	runNodeJSON(t, time.Duration(timeoutMs)*time.Millisecond+25*time.Second, &raw, "broadcast-clients.js",
		"--urls", strings.Join(urls, ","), "--clients", strconv.Itoa(clusterWSClients),
		"--text", strconv.Itoa(clusterWSTexts), "--binary", strconv.Itoa(clusterWSBinaries),
		"--open-timeout", "10000", "--timeout", strconv.Itoa(timeoutMs), "--grace", "500")
	var s broadcastSummary
	var cs clusterWSSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("decode summary: %v", err)
	}
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatalf("decode summary URLs: %v", err)
	}
	if want := clusterWSClients * (clusterWSTexts + clusterWSBinaries); s.ExpectedPerClient != want {
		t.Fatalf("script expected %d messages per client, want %d", s.ExpectedPerClient, want)
	}
	// The clients really are spread over the nodes: client i on node i%3, as many on each node.
	if strings.Join(cs.URLs, ",") != strings.Join(urls, ",") {
		t.Fatalf("script used URLs %v, want %v", cs.URLs, urls)
	}
	if len(cs.PerClient) != clusterWSClients {
		t.Fatalf("summary has %d clients, want %d", len(cs.PerClient), clusterWSClients)
	}
	perNode := make([]int, len(nodes))
	for _, c := range cs.PerClient {
		if want := urls[c.Index%len(urls)]; c.URL != want {
			t.Fatalf("client %d connected to %s, want %s (round-robin)", c.Index, c.URL, want)
		}
		perNode[c.Index%len(urls)]++
	}
	t.Logf("%d clients over %d nodes %v, %d msgs each, open %d ms, total %d ms, order %s",
		s.Clients, len(nodes), perNode, s.ExpectedPerClient, s.OpenMs, s.ElapsedMs, s.OrderSha)
	return &s, &cs
}

func TestE2EClusterNodeWSClients(t *testing.T) {
	requireE2E(t, true, false)

	t.Run("kafka", func(t *testing.T) {
		broker := startKafkadev(t, "127.0.0.1:0", "")
		nodes := startCluster(t, broker.Addr, 3)
		s, _ := runClusterWSClients(t, nodes, 20000)
		checkBroadcast(t, s, clusterWSClients)
		for i, g := range nodes {
			if g.exited() {
				t.Errorf("node %d exited during the broadcast", i)
			}
		}

		// The messages crossed nodes through the broker: every client message was published to Kafka
		// exactly once (by the node its sender is on), and every node delivered all of them from it.
		total := float64(clusterWSClients * (clusterWSTexts + clusterWSBinaries))
		var published float64
		for i, g := range nodes {
			m := scrapeMetrics(t, g.Admin)
			p, ok := m.get("wsgate_bus_published_total", "")
			if !ok {
				t.Errorf("node %d: wsgate_bus_published_total missing from /metrics", i)
			}
			if want := total / 3; p != want {
				t.Errorf("node %d: wsgate_bus_published_total %v, want %v (its 10 clients' messages)", i, p, want)
			}
			published += p
			m.atLeast(t, "wsgate_bus_delivered_total", "", total)
			m.atLeast(t, "wsgate_messages_out_total", "", total*clusterWSClients/3)
			if d, _ := m.get("wsgate_bus_dropped_total", ""); d != 0 {
				t.Errorf("node %d: wsgate_bus_dropped_total %v, want 0", i, d)
			}
		}
		if published != total {
			t.Errorf("nodes published %v messages in all, want %v", published, total)
		}
	})

	// Control: three independent nodes (no -kafka-brokers). The same clients and summary must show what
	// checkBroadcast rejects — here, each client receives only the messages of the senders on its own
	// node, so every client misses two thirds of the stream. If this ever passes, the checks above (or
	// the script) cannot tell a cluster from three separate gateways.
	t.Run("control-without-kafka", func(t *testing.T) {
		var nodes []*testGateway
		for i := range 3 {
			nodes = append(nodes, startGateway(t, "-node-id", fmt.Sprintf("solo%d", i)))
		}
		// Short timeout: the script waits for the full stream, which never comes here.
		s, _ := runClusterWSClients(t, nodes, 2000)
		if s.Opened != clusterWSClients || !s.AllOpenInTime {
			t.Fatalf("%d of %d clients opened (errors: %v)", s.Opened, clusterWSClients, s.Errors)
		}
		own := s.ExpectedPerClient / 3
		for _, c := range s.PerClient {
			// checkBroadcast fails a client on received != expected or missing != 0.
			if c.Received == s.ExpectedPerClient || c.Missing == 0 {
				t.Errorf("client %d: received %d of %d, missing %d: independent nodes look like one cluster",
					c.Index, c.Received, s.ExpectedPerClient, c.Missing)
				continue
			}
			if c.Received != own || c.Missing != s.ExpectedPerClient-own || c.Duplicates != 0 {
				t.Errorf("client %d: received %d, missing %d, duplicates %d; want exactly its own node's %d",
					c.Index, c.Received, c.Missing, c.Duplicates, own)
			}
		}
		if s.Totals.Missing != clusterWSClients*(s.ExpectedPerClient-own) {
			t.Errorf("control: %d messages missing in all, want %d", s.Totals.Missing, clusterWSClients*(s.ExpectedPerClient-own))
		}
		t.Logf("control: each client got %d of %d (its own node's senders); %d clients saw another order than client 0",
			own, s.ExpectedPerClient, s.Totals.ClientsWithOtherOrder)
	})
}
