package gateway_test

import (
	"testing"
	"time"

	"github.com/wsgate/wsgate/router/bus/kcattest"
)

// Resume across nodes on the Kafka bus: a wsgate.v1 client on node 0 loses its TCP connection,
// 250 messages are published through node 1's publish API and 250 by kcat straight into Kafka,
// and it reconnects to node 1 with the position node 0 gave it: exactly those 500, in order, no
// duplicate, recovered:true — every node gives a record the same offset and epoch.
func TestResumeKafkaOtherNode(t *testing.T) {
	requireE2E(t, true, false)
	kcat := kcattest.Path(t)
	broker := startKafkadev(t, "127.0.0.1:0", "")
	nodes := startCluster(t, broker.Addr, 2, "-history-size", "2000")
	var r resumeResult
	runNodeJSON(t, 90*time.Second, &r, "resume-client.js", "--url", nodes[0].wsURL("/ws"), "--url2", nodes[1].wsURL("/ws"),
		"--admin", "http://"+nodes[1].Admin, "--token", clusterToken, "--topic", "chat", "--n", "500",
		"--kcat", kcat, "--broker", broker.Addr, "--timeout", "80000")
	if r.Error != "" {
		t.Fatalf("resume-client.js: %s", r.Error)
	}
	s := r.Sample
	if rep := s.Reply.Subscribe; rep == nil || rep.Recovered == nil || !*rep.Recovered || rep.Offset == nil || rep.Epoch == "" {
		t.Fatalf("reply on the other node: %+v", s.Reply)
	}
	if s.Got != 500 || !s.InOrder || s.Dups != 0 || s.First != "m-0" || s.Last != "m-499" || s.Live != 5 || s.Extra != 0 {
		t.Fatalf("on the other node: %d of 500 (first %q last %q), in order %v, %d duplicates, %d live of 5, %d extra",
			s.Got, s.First, s.Last, s.InOrder, s.Dups, s.Live, s.Extra)
	}
	t.Logf("resumed on the other node at offset %d, epoch %s", *s.Reply.Subscribe.Offset, s.Reply.Subscribe.Epoch)
	// Both nodes hold the same history: the same messages, counted in /metrics.
	for i, g := range nodes {
		if v := v1Metric(t, g, "wsgate_history_messages"); v != 506 {
			t.Errorf("node %d: wsgate_history_messages = %v, want 506", i, v)
		}
	}
}
