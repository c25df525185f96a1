package loadgen

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

func TestChurnUpgradesAndCloses(t *testing.T) {
	s := startLossyServer(t)
	res, err := Run(Config{
		Scenario: "churn", URL: "ws://" + s.ln.Addr().String() + "/ws", Conns: 1,
		Sources: "127.0.1.1-127.0.1.4", Loops: 2, MaxInflight: 20, HandshakeTimeout: 5 * time.Second,
		DialRate: 300, Duration: time.Second, Deadline: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Churn
	if c == nil || c.Upgraded < 100 || c.Failed != 0 {
		t.Fatalf("churn result %+v errors %v: want ≥ 100 upgrades at 300/s for 1 s, 0 failures", c, res.Errors)
	}
	if c.Upgraded > c.Dialed || c.UpgradesPerSec <= 0 {
		t.Fatalf("inconsistent churn result %+v", c)
	}
}

// The idle scenario counts what arrives while holding (the runbook's
// broadcasts through the publish API), with the same sequence bookkeeping.
func TestIdleCountsHoldDeliveries(t *testing.T) {
	s := startLossyServer(t)
	const conns = 6
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(Config{
			Scenario: "idle", URL: "ws://" + s.ln.Addr().String() + "/ws", Conns: conns,
			Sources: "127.0.1.1-127.0.1.4", Loops: 2, MaxInflight: 100, HandshakeTimeout: 5 * time.Second,
			DialRate: 1000, Hold: 2 * time.Second, Deadline: 30 * time.Second, CDF: true,
		})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.clients)
		s.mu.Unlock()
		if n >= conns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("generator connections did not arrive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The publisher is the shared test client (codec/wstest), not this package's encoder: an
	// independent oracle for the generator's decoder.
	pub, _, err := wstest.Upgrade(s.ln.Addr().String(), "/ws", wstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pub.Close() }()
	for seq := uint64(0); seq < 3; seq++ {
		p := make([]byte, 32)
		binary.LittleEndian.PutUint64(p[0:8], seq)
		binary.LittleEndian.PutUint64(p[8:16], uint64(Monotonic()))
		if err := pub.WriteFrames(wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	res := <-done
	d := res.Idle.Deliveries
	if d == nil || d.Received != 3*conns || d.Expected != 3*conns || d.Missing != 0 || d.Duplicates != 0 || len(d.Latency.CDF) == 0 {
		t.Fatalf("hold deliveries %+v, want %d received and expected, none missing", d, 3*conns)
	}
}

func TestScrapeMetricsSumsLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP x y\n# TYPE wsgate_closes_total counter\nwsgate_closes_total{code=\"1000\"} 3\nwsgate_closes_total{code=\"1008\"} 2\nwsgate_messages_out_total 1.5e+06\n")
	}))
	defer srv.Close()
	m, err := ScrapeMetrics(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if m["wsgate_closes_total"] != 5 || m["wsgate_messages_out_total"] != 1.5e6 {
		t.Fatalf("scraped %v", m)
	}
	d := MetricsDelta(map[string]float64{"wsgate_closes_total": 1}, m)
	if d["wsgate_closes_total"] != 4 {
		t.Fatalf("delta %v", d)
	}
}

func TestChartSVG(t *testing.T) {
	c := &Chart{Title: "t <x>", XLabel: "µs", YLabel: "f", LogX: true, YMin0: true,
		Series: []Series{{Name: "a", Points: [][2]float64{{10, 0}, {100, 0.5}, {1000, 1}}}, {Name: "b", Dash: true, Points: [][2]float64{{20, 0}, {2000, 1}}}}}
	s := c.SVG()
	if !strings.HasPrefix(s, "<svg") || strings.Count(s, "<polyline") != 2 || !strings.Contains(s, "t &lt;x&gt;") {
		t.Fatalf("unexpected SVG:\n%s", s)
	}
}

func TestMergeQuantile(t *testing.T) {
	a := [][2]float64{{0, 0}, {10, 0.5}, {20, 1}}
	b := [][2]float64{{0, 0}, {100, 0.5}, {200, 1}}
	if q := mergeQuantile([][][2]float64{a, b}, []uint64{100, 100}, 0.5); q != 20 {
		t.Fatalf("median %v, want 20", q)
	}
	if q := mergeQuantile([][][2]float64{a, b}, []uint64{100, 100}, 0.99); q != 200 {
		t.Fatalf("p99 %v, want 200", q)
	}
}
