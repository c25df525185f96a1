package gateway_test

// Failure suite (issue 6): a backend SIGKILLed mid-session. The other failure tests are grouped by
// concern: failure_bus_e2e_test.go (Kafka broker), fuzz_e2e_test.go (malformed storm),
// limits_e2e_test.go (stats page, per-IP limit), and the process-level ones: rss_process_test.go (slow
// consumer), reload_process_test.go (SIGHUP, -check), drain_process_test.go (SIGTERM).

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Pool A has a1 and a2, pool B has b1 (all Node `ws` echo servers). a1 is SIGKILLed while its tunnels
// are open: each of them ends within 1 s (close 1001/1011 or a TCP close), a2's and pool B's tunnels
// still echo, and new sessions on A all go to a2.
func TestE2EFailureBackendKilled(t *testing.T) {
	requireE2E(t, true, false)
	a1, a2, b1 := startFlEcho(t, "a1"), startFlEcho(t, "a2"), startFlEcho(t, "b1")
	g := startGateway(t, "-route", "/a=backend:A", "-route", "/b=backend:B",
		"-backend", "A=a1@"+a1.Addr+",a2@"+a2.Addr+";check=tcp;inter=500ms;fall=2;rise=1",
		"-backend", "B=b1@"+b1.Addr+";check=tcp;inter=500ms",
		"-drain-time", "100ms")

	poolA := flOpenTunnels(t, g, "/a", 20)
	poolB := flOpenTunnels(t, g, "/b", 10)
	byServer := countServers(poolA)
	t.Logf("pool A tunnels per server: %v; pool B: %v", byServer, countServers(poolB))
	if byServer["a1"] == 0 || byServer["a2"] == 0 || countServers(poolB)["b1"] != 10 {
		t.Fatalf("tunnels not spread as configured: A %v, B %v", byServer, countServers(poolB))
	}
	if f := flEchoAll(append(slices.Clone(poolA), poolB...), "before"); len(f) > 0 {
		t.Fatalf("echo before the kill: %v", f)
	}

	var onA1, survivors []*tunnel
	for _, c := range poolA {
		if c.hello.Server == "a1" {
			onA1 = append(onA1, c)
		} else {
			survivors = append(survivors, c)
		}
	}
	survivors = append(survivors, poolB...)

	killed := time.Now()
	a1.kill()
	ends := make([]flEnd, len(onA1))
	var wg sync.WaitGroup
	for i, c := range onA1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ends[i] = flWaitEnd(c.rawConn, killed.Add(5*time.Second))
		}()
	}
	wg.Wait()
	var worst time.Duration
	kinds := map[string]int{}
	for i, e := range ends {
		kinds[e.String()]++
		took := e.at.Sub(killed)
		worst = max(worst, took)
		switch {
		case e.kind == "timeout":
			t.Errorf("a1 tunnel %d: still open 5s after a1 was killed", i)
		case e.kind == "close" && e.code != 1001 && e.code != 1011:
			t.Errorf("a1 tunnel %d: close %d, want 1001 or 1011 (or a TCP close)", i, e.code)
		case took > time.Second:
			t.Errorf("a1 tunnel %d: ended %v after the kill, want within 1s (%v)", i, took.Round(time.Millisecond), e)
		}
	}
	t.Logf("%d tunnels on the killed a1 ended %v; slowest %v after SIGKILL", len(onA1), kinds, worst.Round(time.Millisecond))

	if f := flEchoAll(survivors, "after"); len(f) > 0 {
		t.Errorf("tunnels on a2 and pool B after a1's death: %d failed: %v", len(f), f[:min(5, len(f))])
	}
	fresh := flOpenTunnels(t, g, "/a", 10)
	if got := countServers(fresh); got["a2"] != 10 {
		t.Errorf("new sessions on pool A after a1's death went to %v, want all 10 on a2", got)
	}
	if f := flEchoAll(fresh, "fresh"); len(f) > 0 {
		t.Errorf("new pool A sessions: %v", f)
	}
	if got := countServers(flOpenTunnels(t, g, "/b", 3)); got["b1"] != 3 {
		t.Errorf("new pool B sessions went to %v", got)
	}
	m := scrapeMetrics(t, g.Admin)
	if kinds["close 1001"] > 0 {
		m.atLeast(t, "wsgate_closes_total", `code="1001"`, float64(kinds["close 1001"]))
	}
	if g.exited() {
		t.Errorf("gateway exited")
	}
}
