package gateway_test

import (
	"os"
	"testing"
	"time"
)

// The resume storm figures (WSGATE_RESUME_BENCH=1): 1,000 Node ws clients, each 1,000 messages
// behind, resume at once — from the memory history, and (history off) from Kafka. The Node
// process parsing 1M JSON envelopes is part of what is timed.
func TestResumeBenchStorm(t *testing.T) {
	if os.Getenv("WSGATE_RESUME_BENCH") != "1" {
		t.Skip("WSGATE_RESUME_BENCH=1 runs the resume storm")
	}
	requireE2E(t, true, false)
	storm := func(name string, g *testGateway, token string) {
		var r resumeResult
		args := []string{"--url", g.wsURL("/ws"), "--admin", "http://" + g.Admin, "--topic", "chat",
			"--n", "1000", "--clients", "1000", "--timeout", "280000"}
		if token != "" {
			args = append(args, "--token", token)
		}
		runNodeJSON(t, 300*time.Second, &r, "resume-client.js", args...)
		if r.Error != "" || !r.AllRecovered || r.Bad != 0 || r.Clients != 1000 {
			t.Fatalf("%s: %+v", name, r)
		}
		t.Logf("%s: 1000 clients x 1000 messages: all recovered, whole and in order, caught up in %d ms; history %v messages, %v bytes",
			name, r.CaughtUpMs, v1Metric(t, g, "wsgate_history_messages"), v1Metric(t, g, "wsgate_history_bytes"))
	}
	storm("memory", startGateway(t, "-route", "/ws=topic:chat", "-history-size", "2000"), "")
	broker := startKafkadev(t, "127.0.0.1:0", "")
	storm("kafka only (history off)", startCluster(t, broker.Addr, 1, "-history-size", "0", "-resume-kafka-timeout", "60s")[0], clusterToken)
	// The clients move to a node started after the gap: the first fetch keeps what it read
	// (-history-size 2000), the rest are served from memory.
	r, node1 := resumeOnNewNode(t, broker.Addr, startCluster(t, broker.Addr, 1)[0], 1000, 1000, "-history-size", "2000")
	if !r.AllRecovered || r.Bad != 0 || r.Clients != 1000 {
		t.Fatalf("new node: %+v", r)
	}
	t.Logf("new node (Kafka, then its backfill): 1000 clients x 1000 messages: all recovered, caught up in %d ms; %v from Kafka, %v from memory",
		r.CaughtUpMs, v1Metric(t, node1, `wsgate_resume_total{result="recovered_kafka"}`), v1Metric(t, node1, `wsgate_resume_total{result="recovered"}`))
}
