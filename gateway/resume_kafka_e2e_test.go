package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// The gap is beyond every node's memory: the client's node is gone and the node it moves to started
// after the gap (an empty history, reading Kafka from its end). The gap is read back from Kafka:
// exactly those 500, in order, recovered:true, then live.
func TestResumeKafkaNewNode(t *testing.T) {
	requireE2E(t, true, false)
	broker := startKafkadev(t, "127.0.0.1:0", "")
	nodes := startCluster(t, broker.Addr, 1, "-history-size", "0")
	// node 0 serves the client and publishes; node 1 starts after the gap (resume-client.js waits
	// for the file --wait-for before it reconnects to --url2).
	r, node1 := resumeOnNewNode(t, broker.Addr, nodes[0], 500, 1, "-history-size", "0")
	s := r.Sample
	if rep := s.Reply.Subscribe; rep == nil || rep.Recovered == nil || !*rep.Recovered || rep.Offset == nil || rep.Epoch == "" {
		t.Fatalf("reply on the new node: %+v", s.Reply)
	}
	if s.Got != 500 || !s.InOrder || s.Dups != 0 || s.First != "m-0" || s.Last != "m-499" || s.Live != 5 || s.Extra != 0 {
		t.Fatalf("on the new node: %d of 500 (first %q last %q), in order %v, %d duplicates, %d live of 5, %d extra",
			s.Got, s.First, s.Last, s.InOrder, s.Dups, s.Live, s.Extra)
	}
	if v := v1Metric(t, node1, `wsgate_resume_total{result="recovered_kafka"}`); v != 1 {
		t.Errorf("node 1: recovered_kafka = %v, want 1", v)
	}
}

// With no memory history at all, every resume is read back from Kafka while messages keep coming:
// the gateway's own wsgate.js, its connection destroyed twice, sees every message once, in order.
func TestResumeKafkaWhileLive(t *testing.T) {
	requireE2E(t, true, false)
	broker := startKafkadev(t, "127.0.0.1:0", "")
	nodes := startCluster(t, broker.Addr, 1, "-history-size", "0")
	var out struct {
		Error     string `json:"error"`
		Seen      int    `json:"seen"`
		InOrder   bool   `json:"inOrder"`
		Kills     int    `json:"kills"`
		Recovered bool   `json:"recovered"`
		Recovers  []struct {
			Recovered bool `json:"recovered"`
			Messages  int  `json:"messages"`
		} `json:"recovers"`
	}
	runNodeJSON(t, 60*time.Second, &out, "resume-client.js", "--mode", "wsgatejs", "--url", nodes[0].wsURL("/ws"),
		"--admin", "http://"+nodes[0].Admin, "--token", clusterToken, "--topic", "chat", "--n", "900", "--timeout", "50000")
	if out.Error != "" {
		t.Fatalf("resume-client.js: %s", out.Error)
	}
	if out.Seen != 900 || !out.InOrder || out.Kills != 2 || len(out.Recovers) != 2 || !out.Recovered {
		t.Fatalf("saw %d of 900, in order %v, %d kills, resumes %+v", out.Seen, out.InOrder, out.Kills, out.Recovers)
	}
	t.Logf("resumes from Kafka while live: %+v", out.Recovers)
	if v := v1Metric(t, nodes[0], `wsgate_resume_total{result="recovered_kafka"}`); v < 1 {
		t.Errorf("recovered_kafka = %v, want >= 1", v)
	}
}

// resumeOnNewNode runs resume-client.js: its clients start on node0, and once the gap is published
// a new node starts (flags) and they resume there.
func resumeOnNewNode(t *testing.T, broker string, node0 *testGateway, n, clients int, flags ...string) (resumeResult, *testGateway) {
	t.Helper()
	gc := startGapClients(t, "node", "resume-client.js", "--url", node0.wsURL("/ws"),
		"--admin", "http://"+node0.Admin, "--token", clusterToken, "--topic", "chat", "--n", strconv.Itoa(n),
		"--clients", strconv.Itoa(clients), "--timeout", "280000")
	node1 := startGateway(t, append([]string{"-kafka-brokers", broker, "-node-id", "n1", "-publish-token", clusterToken}, flags...)...)
	waitBusHealthy(t, []*testGateway{node1}, 15*time.Second, "")
	return gc.resume(t, node1.wsURL("/ws")), node1
}

// gapClients is resume-client.js run with --url2 @FILE: its clients learn their positions, lose
// their connections and the gap is published (FILE.gap appears); they come back when resume names
// the URL to come back to.
type gapClients struct {
	ready string
	res   chan gapRun
}

type gapRun struct {
	out []byte
	err error
}

// startGapClients starts the command (name args..., in testdata) and waits until the gap is
// published.
func startGapClients(t *testing.T, name string, args ...string) *gapClients {
	t.Helper()
	gc := &gapClients{ready: filepath.Join(t.TempDir(), "ready"), res: make(chan gapRun, 1)}
	cmd := exec.Command(name, append(args, "--url2", "@"+gc.ready)...)
	cmd.Dir = "testdata"
	go func() { // no t.Fatal off the test goroutine: the result comes back on res
		out, err := cmd.Output()
		gc.res <- gapRun{out, err}
	}()
	deadline := time.Now().Add(240 * time.Second)
	for !fileExists(gc.ready + ".gap") {
		if time.Now().After(deadline) {
			t.Fatal("resume-client.js did not reach the gap")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return gc
}

// resume sends the clients to url and returns their summary.
func (gc *gapClients) resume(t *testing.T, url string) resumeResult {
	t.Helper()
	writeFile(t, gc.ready, url)
	run := <-gc.res
	var r resumeResult
	if err := json.Unmarshal(bytes.TrimSpace(run.out), &r); run.err != nil || err != nil {
		t.Fatalf("resume-client.js: %v %v: %s", run.err, err, run.out)
	}
	if r.Error != "" {
		t.Fatalf("resume-client.js: %s", r.Error)
	}
	return r
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p+".tmp", []byte(s), 0o600); err != nil {
		t.Error(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Error(err)
	}
}

// While the Kafka bus is degraded a node delivers its own publishes to plain clients at once, with no
// position; wsgate.v1 clients get them when they come back from Kafka with their offsets — never a
// position skipped or repeated, and plain clients get no duplicate.
func TestResumeKafkaDegradedEchoes(t *testing.T) {
	requireE2E(t, false, false)
	dir := t.TempDir()
	broker := startKafkadev(t, "127.0.0.1:0", dir)
	nodes := startCluster(t, broker.Addr, 1, "-history-size", "100")
	plain := dialCluster(t, nodes[0], 0, "/ws")
	v1, resp := authRequest(t, nodes[0].Addr, "/ws", "Sec-WebSocket-Protocol: wsgate.v1")
	if resp.StatusCode != 101 {
		t.Fatalf("v1 upgrade: %d", resp.StatusCode)
	}
	broker.stop()
	for i := range 5 {
		if code := publish(t, nodes[0], "chat", clusterToken, "", []byte(fmt.Sprintf("d%d", i))); code != 202 {
			t.Fatalf("publish while degraded: %d", code)
		}
	}
	waitClients(t, "local delivery while degraded", 10*time.Second, []*clusterClient{plain}, func(c *clusterClient) bool { return c.count() == 5 })
	if f, err := v1.ReadFrame(time.Now().Add(300 * time.Millisecond)); err == nil {
		t.Fatalf("wsgate.v1 client got a message with no position: %q", f.Payload)
	}
	startKafkadev(t, broker.Addr, dir)
	var prev int64 = -1
	for i := range 5 {
		f, err := v1.ReadFrame(time.Now().Add(30 * time.Second))
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		var e struct {
			Topic  string `json:"topic"`
			Offset int64  `json:"offset"`
			Epoch  string `json:"epoch"`
			Data   string `json:"data"`
		}
		if err := json.Unmarshal(f.Payload, &e); err != nil || e.Topic != "chat" || e.Data != fmt.Sprintf("d%d", i) || e.Offset <= prev || e.Epoch == "" {
			t.Fatalf("echo %d: %s (%v)", i, f.Payload, err)
		}
		prev = e.Offset
	}
	time.Sleep(300 * time.Millisecond)
	if n := plain.count(); n != 5 {
		t.Fatalf("plain client: %d messages, want 5 (no duplicate from the echoes)", n)
	}
}
