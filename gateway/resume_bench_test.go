package gateway_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// probeLatency publishes timestamped messages to topic probe every 10 ms (for d, or while run
// runs) and returns the p50/p99/max of publish→receive at a plain subscriber.
func probeLatency(t *testing.T, g *testGateway, d time.Duration, run func()) string {
	t.Helper()
	c := dialCluster(t, g, 0, "/probe")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			publish(t, g, "probe", "", "", []byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
		}
	}()
	if run != nil {
		run()
	} else {
		time.Sleep(d)
	}
	close(stop)
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	var lat []time.Duration
	for _, m := range c.messages() {
		if ns, err := strconv.ParseInt(m.payload, 10, 64); err == nil {
			lat = append(lat, m.at.Sub(time.Unix(0, ns)))
		}
	}
	if len(lat) == 0 {
		t.Fatal("probe: no message received")
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("%v/%v/%v (%d messages)", q(0.5), q(0.99), lat[len(lat)-1].Round(10*time.Microsecond), len(lat))
}

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
	mem := startGateway(t, "-route", "/ws=topic:chat", "-route", "/probe=topic:probe", "-history-size", "2000")
	// Live delivery to a plain subscriber of another topic, without and during the storm.
	base := probeLatency(t, mem, 3*time.Second, nil)
	during := probeLatency(t, mem, 0, func() { storm("memory", mem, "") })
	t.Logf("live delivery (publish API -> plain subscriber, 100/s) p50/p99/max: alone %v, during the memory storm %v", base, during)
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
