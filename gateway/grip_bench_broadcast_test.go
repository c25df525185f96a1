package gateway_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGripBroadcastCPU (issue 14's second benchmark; WSGATE_BENCH_GRIP_BROADCAST=N runs it with N
// sessions, 3000 in the issue): a publisher posts 10 messages a second in Pushpin's format to the
// admin listener's POST /publish/, and the gateway's CPU time per delivery is compared between N
// detached GRIP sessions (subscribed by their backend), N attached ones (the backend stays; the
// publishes go through the proxy session) and N plain topic subscribers of the same channel, each
// phase a fresh gateway process in the same run. WSGATE_BENCH_GRIP_SECONDS sets the measured
// window (default 20 s).
func TestGripBroadcastCPU(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WSGATE_BENCH_GRIP_BROADCAST"))
	if n <= 0 {
		t.Skip("set WSGATE_BENCH_GRIP_BROADCAST=3000 to measure the CPU of broadcasts to GRIP sessions")
	}
	requireE2E(t, false, false)
	window := 20 * time.Second
	if s, _ := strconv.Atoi(os.Getenv("WSGATE_BENCH_GRIP_SECONDS")); s > 0 {
		window = time.Duration(s) * time.Second
	}
	common := []string{"-ping-interval", "10m", "-idle-timeout", "20m"}
	phases := []struct {
		name string
		args []string
	}{
		{"plain topic subscribers", []string{"-route", "/app=topic:bench"}},
		// Issue 13: a read-only route fed by the publish API costs the same per delivery.
		{"plain subscribers, publish=none route", []string{"-route", "/app=topic:bench;publish=none"}},
		{"detached GRIP sessions", []string{"-backend", "app=" + gripBackend(t, true) + ";grip", "-route", "/app=backend:app"}},
		{"attached GRIP sessions", []string{"-backend", "app=" + gripBackend(t, false) + ";grip", "-route", "/app=backend:app"}},
	}
	var plainCPU float64
	for _, ph := range phases {
		g := startGatewayProcess(t, append(ph.args, common...)...)
		r := broadcastPhase(t, g, n, window)
		if plainCPU == 0 {
			plainCPU = r.cpuPerDelivery
		}
		t.Logf("%d %s, 10 msg/s via POST /publish/ for %v: %d deliveries (%d expected, %d gaps), gateway CPU %.2f s "+
			"(%.0f%%): %.2f µs per delivery, %.2f× plain; latency p50 %v p99 %v",
			n, ph.name, window, r.deliveries, r.published*int64(n), r.gaps, r.cpu, 100*r.cpu/window.Seconds(),
			r.cpuPerDelivery*1e6, r.cpuPerDelivery/plainCPU, r.p50, r.p99)
	}
}

type broadcastResult struct {
	published, deliveries, gaps int64
	cpu, cpuPerDelivery         float64 // seconds
	p50, p99                    time.Duration
}

// broadcastPhase holds n clients on g's /app (subscribed to "bench" by the route or their backend),
// publishes 10 msg/s to "bench" through /publish/ and measures g's CPU over window, after 3 s of
// warm-up. Payloads are bench/loadgen's broadcast format: little-endian uint64 sequence, then the
// sender's clock in nanoseconds (wall clock here: publisher and receivers share the host), padded to
// 64 bytes.
func broadcastPhase(t *testing.T, g *testGateway, n int, window time.Duration) broadcastResult {
	t.Helper()
	conns, err := holdClients(g.Addr, "/app", n)
	if err != nil {
		t.Fatalf("%d of %d clients: %v", countOpen(conns), n, err)
	}
	defer closeAll(conns)
	if strings.Contains(strings.Join(g.proc.cmd.Args, " "), "grip") {
		waitMetric(t, g.Admin, "wsgate_grip_subscriptions", "", float64(n))
	}
	var counting atomic.Bool
	var deliveries, gaps atomic.Int64
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := uint64(0)
			for {
				f, err := c.ReadFrame(time.Now().Add(time.Minute))
				if err != nil || len(f.Payload) < 16 {
					return
				}
				seq := binary.LittleEndian.Uint64(f.Payload)
				if next != 0 && seq > next {
					gaps.Add(int64(seq - next))
				}
				next = seq + 1
				if counting.Load() {
					deliveries.Add(1)
					if i%10 == 0 { // a sample is enough for the percentiles
						lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(f.Payload[8:]))))
					}
				}
			}
		}()
	}

	stop := make(chan struct{})
	var published atomic.Int64
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		client := &http.Client{Timeout: 5 * time.Second}
		payload := make([]byte, 64)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			binary.LittleEndian.PutUint64(payload, seq)
			binary.LittleEndian.PutUint64(payload[8:], uint64(time.Now().UnixNano()))
			body := fmt.Sprintf(`{"items":[{"channel":"bench","formats":{"ws-message":{"content-bin":%q}}}]}`,
				base64.StdEncoding.EncodeToString(payload))
			resp, err := client.Post("http://"+g.Admin+"/publish/", "application/json", strings.NewReader(body))
			if err != nil {
				t.Errorf("POST /publish/: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("POST /publish/: %s", resp.Status)
				return
			}
			if counting.Load() {
				published.Add(1)
			}
		}
	}()

	time.Sleep(3 * time.Second) // warm-up: every client has had messages
	cpu0 := procCPU(t, g)       // tls_process_test.go
	counting.Store(true)
	time.Sleep(window)
	counting.Store(false)
	cpu1 := procCPU(t, g)
	close(stop)
	<-pubDone
	time.Sleep(200 * time.Millisecond) // the last publishes' deliveries (not counted: the window closed)
	closeAll(conns)
	wg.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r := broadcastResult{published: published.Load(), deliveries: deliveries.Load(), gaps: gaps.Load(), cpu: (cpu1 - cpu0).Seconds()}
	r.cpuPerDelivery = r.cpu / float64(max(r.deliveries, 1))
	r.p50, r.p99 = percentile(all, 0.50), percentile(all, 0.99)
	return r
}

// percentile is the q-quantile of d (0 when empty); it sorts d.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}
