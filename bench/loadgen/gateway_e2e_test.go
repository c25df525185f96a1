package loadgen

// The generator against the real gateway (issue 7, "Tests"): what wsgate-bench
// reports must agree with what wsgate itself counts in /metrics. The gateway
// is built from ./cmd/wsgate into t.TempDir(), started on free loopback ports
// and killed by its PID when the test ends; every phase has a deadline.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// e2eGateway is one wsgate process under test.
type e2eGateway struct {
	addr, admin string
	cmd         *exec.Cmd
	done        chan struct{}
	log         *e2eTail
}

func (g *e2eGateway) metricsURL() string { return "http://" + g.admin + "/metrics" }

// e2eTail keeps the end of the gateway's log for failure messages.
type e2eTail struct {
	mu  sync.Mutex
	buf []byte
}

func (b *e2eTail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 32<<10 {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-32<<10:]...)
	}
	return len(p), nil
}

func (b *e2eTail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func e2eSkip(t *testing.T) {
	t.Helper()
	if os.Getenv("WSGATE_E2E_SKIP") == "1" {
		t.Skip("WSGATE_E2E_SKIP=1")
	}
}

// buildWsgate builds cmd/wsgate into a temporary directory (bounded: 3 min).
func buildWsgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsgate")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/wsgate/wsgate/cmd/wsgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/wsgate: %v\n%s", err, out)
	}
	return bin
}

func e2eFreePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// startWsgate runs bin on fresh loopback ports (three tries: a freed port can
// be taken by a neighbour before wsgate binds it) and kills it by PID at the end.
func startWsgate(t *testing.T, bin string, extra ...string) *e2eGateway {
	t.Helper()
	var lastErr error
	for try := 0; try < 3; try++ {
		g := &e2eGateway{addr: e2eFreePort(t), admin: e2eFreePort(t), done: make(chan struct{}), log: &e2eTail{}}
		args := append([]string{"-listen", g.addr, "-admin-listen", g.admin, "-demo-path", "", "-log-level", "warn"}, extra...)
		g.cmd = exec.Command(bin, args...)
		g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
		if err := g.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = g.cmd.Wait(); close(g.done) }()
		stop := func() {
			_ = g.cmd.Process.Kill() // by PID: only the process this test started
			select {
			case <-g.done:
			case <-time.After(5 * time.Second):
			}
		}
		if lastErr = waitAccept(g, 10*time.Second); lastErr != nil {
			stop()
			continue
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("wsgate %s log (tail):\n%s", strings.Join(args, " "), g.log.String())
			}
		})
		return g
	}
	t.Fatalf("wsgate did not start: %v", lastErr)
	return nil
}

func waitAccept(g *e2eGateway, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range []string{g.addr, g.admin} {
		for {
			select {
			case <-g.done:
				return fmt.Errorf("exited early: %s", g.log.String())
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
			if err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no listener on %s after %s", addr, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// idleMismatches compares the idle run's own figures with the gateway's:
// held is what the generator says it held at the end of the hold, gaugeHeld
// the value wsgate_connections_open sat at during the hold.
func idleMismatches(res *Result, gaugeHeld float64) []string {
	var bad []string
	c := res.Connect
	held := res.Idle.Final.LocalConns
	if float64(held) != gaugeHeld {
		bad = append(bad, fmt.Sprintf("generator held %d, wsgate_connections_open %v", held, gaugeHeld))
	}
	if up := res.Metrics["wsgate_upgrades_total"]; float64(c.Opened) != up {
		bad = append(bad, fmt.Sprintf("generator opened %d, wsgate_upgrades_total delta %v", c.Opened, up))
	}
	// A third view, independent of both counters: the gateway's open fds
	// (read from /proc by the generator) minus its baseline. The admin
	// scrapes' keep-alive sockets (one or two, opened or closed between the
	// two readings) are the slack.
	if d := res.Idle.Final.GatewayConns - int(held); d < -2 || d > 2 {
		bad = append(bad, fmt.Sprintf("generator held %d, gateway fds over baseline %d", held, res.Idle.Final.GatewayConns))
	}
	return bad
}

// broadcastMismatches compares a broadcast run's figures with the gateway's
// counter deltas over the same run.
func broadcastMismatches(res *Result) []string {
	var bad []string
	b, m := res.Broadcast, res.Metrics
	eq := func(what string, gen int64, gw float64) {
		if float64(gen) != gw {
			bad = append(bad, fmt.Sprintf("%s: generator %d, gateway %v", what, gen, gw))
		}
	}
	eq("published vs wsgate_messages_in_total", b.Published, m["wsgate_messages_in_total"])
	eq("published bytes vs wsgate_bytes_in_total", b.Published*int64(b.Size), m["wsgate_bytes_in_total"])
	// Every frame the subscribers read, duplicates and foreign ones included,
	// was written by the gateway once.
	frames := b.Received + b.Duplicates + b.Foreign
	eq("deliveries read vs wsgate_messages_out_total", frames, m["wsgate_messages_out_total"])
	hdr := int64(2) // server frame header for payloads < 126 bytes
	if b.Size >= 126 {
		hdr = 4
	}
	eq("delivered bytes vs wsgate_bytes_out_total", frames*(int64(b.Size)+hdr), m["wsgate_bytes_out_total"])
	eq("subscribers vs wsgate_upgrades_total", int64(b.Subscribers), m["wsgate_upgrades_total"])
	if b.Missing != 0 || b.Duplicates != 0 || b.Foreign != 0 {
		bad = append(bad, fmt.Sprintf("missing %d duplicates %d foreign %d, want 0", b.Missing, b.Duplicates, b.Foreign))
	}
	if b.Expected != b.Published*int64(b.Subscribers) || b.Received != b.Expected || !b.Drained {
		bad = append(bad, fmt.Sprintf("received %d of %d expected (%d published × %d subscribers), drained %v",
			b.Received, b.Expected, b.Published, b.Subscribers, b.Drained))
	}
	return bad
}

func gauge(t *testing.T, url, name string) float64 {
	t.Helper()
	m, err := ScrapeMetrics(url)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := m[name]
	if !ok {
		t.Fatalf("%s not in %s", name, url)
	}
	return v
}

// waitGauge waits (bounded) until the gateway's metric name equals want.
func waitGauge(t *testing.T, url, name string, want float64, timeout time.Duration, when string) {
	t.Helper()
	for end := time.Now().Add(timeout); ; {
		v := gauge(t, url, name)
		if v == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s is %v, want %v, %s after %s", name, v, want, when, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGeneratorAgreesWithGateway: 2,000 idle connections, then a broadcast of
// 1,000 subscribers × 20 msgs/s for 5 s, against the real wsgate binary.
func TestGeneratorAgreesWithGateway(t *testing.T) {
	e2eSkip(t)
	bin := buildWsgate(t)
	g := startWsgate(t, bin, "-ping-interval", "5m", "-idle-timeout", "10m", "-event-loops", "2")
	url := "ws://" + g.addr + "/ws"
	waitGauge(t, g.metricsURL(), "wsgate_connections_open", 0, 10*time.Second,
		"before the first dial (startWsgate's own probe connection must be gone)")

	// Idle: the generator runs in this process; this goroutine samples the
	// gateway's gauge meanwhile.
	const idleConns = 2000
	type idleOut struct {
		res *Result
		err error
	}
	done := make(chan idleOut, 1)
	go func() {
		res, err := Run(Config{
			Scenario: "idle", URL: url, Conns: idleConns, Sources: "127.0.1.1-127.0.1.8", Loops: 2,
			DialRate: 4000, MaxInflight: 400, HandshakeTimeout: 10 * time.Second, Hold: 3 * time.Second,
			GatewayPIDs: []int{g.cmd.Process.Pid}, MetricsURL: g.metricsURL(), Deadline: 60 * time.Second,
		})
		done <- idleOut{res, err}
	}()
	var (
		out        idleOut
		plateau    float64 // highest value of the gauge
		since      time.Time
		plateauFor time.Duration // longest time the gauge sat at plateau
	)
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
poll:
	for {
		select {
		case out = <-done:
			break poll
		case <-deadline:
			t.Fatal("idle run did not end within 60 s")
		case <-tick.C:
			m, err := ScrapeMetrics(g.metricsURL())
			if err != nil {
				continue
			}
			v := m["wsgate_connections_open"]
			switch {
			case v > plateau:
				plateau, since = v, time.Now()
			case v == plateau && !since.IsZero():
				plateauFor = max(plateauFor, time.Since(since))
			default:
				since = time.Time{}
			}
		}
	}
	tick.Stop()
	if out.err != nil {
		t.Fatalf("idle run: %v", out.err)
	}
	res := out.res
	t.Logf("idle: opened %d failed %d lost %d, held %d; gauge plateau %v for %s; upgrades Δ %v; gateway fds over baseline %d",
		res.Connect.Opened, res.Connect.Failed, res.Connect.Lost, res.Idle.Final.LocalConns, plateau,
		plateauFor.Round(time.Millisecond), res.Metrics["wsgate_upgrades_total"], res.Idle.Final.GatewayConns)
	if bad := idleMismatches(res, plateau); len(bad) > 0 {
		t.Fatalf("idle: generator and gateway disagree:\n  %s", strings.Join(bad, "\n  "))
	}
	if res.Connect.Opened != idleConns || res.Connect.Failed != 0 || res.Connect.Lost != 0 {
		t.Fatalf("idle: opened %d failed %d lost %d, want %d, 0, 0 (errors %v)",
			res.Connect.Opened, res.Connect.Failed, res.Connect.Lost, idleConns, res.Errors)
	}
	if plateauFor < time.Second {
		t.Fatalf("wsgate_connections_open stayed at its peak %v for %s only: the 3 s hold should show ≥ 1 s", plateau, plateauFor)
	}
	// The generator closed everything: the gauge must come back to 0.
	waitGauge(t, g.metricsURL(), "wsgate_connections_open", 0, 10*time.Second, "after the generator closed every connection")

	// Broadcast: connection 0 publishes, every connection (it included) subscribes.
	const subs, rate, dur, size = 1000, 20, 5 * time.Second, 64
	res, err := Run(Config{
		Scenario: "broadcast", URL: url, Conns: subs, Sources: "127.0.1.1-127.0.1.8", Loops: 2,
		DialRate: 4000, MaxInflight: 400, HandshakeTimeout: 10 * time.Second, Settle: 500 * time.Millisecond,
		Rate: rate, Size: size, Duration: dur, Drain: 10 * time.Second,
		GatewayPIDs: []int{g.cmd.Process.Pid}, MetricsURL: g.metricsURL(), Deadline: 60 * time.Second,
	})
	if err != nil {
		t.Fatalf("broadcast run: %v", err)
	}
	b := res.Broadcast
	t.Logf("broadcast: %d subscribers, %d published, received %d of %d, missing %d dup %d; gateway Δ in %v out %v bytes_out %v; p99 %.1f ms",
		b.Subscribers, b.Published, b.Received, b.Expected, b.Missing, b.Duplicates,
		res.Metrics["wsgate_messages_in_total"], res.Metrics["wsgate_messages_out_total"], res.Metrics["wsgate_bytes_out_total"], b.Latency.P99Us/1e3)
	if b.Subscribers != subs || b.Published != int64(rate*dur.Seconds()) {
		t.Fatalf("broadcast: %d subscribers, %d published; want %d and %d", b.Subscribers, b.Published, subs, int64(rate*dur.Seconds()))
	}
	if bad := broadcastMismatches(res); len(bad) > 0 {
		t.Fatalf("broadcast: generator and gateway disagree:\n  %s", strings.Join(bad, "\n  "))
	}
}

// The comparisons above must be able to fail: a generator that double-counted
// (or a gateway that did) is caught. This feeds them a consistent result, then
// the same result with one figure doubled.
func TestGatewayComparisonsCatchDoubleCounting(t *testing.T) {
	good := func() *Result {
		const subs, pub, size = 100, 50, 64
		return &Result{
			Connect: &ConnectResult{Opened: subs},
			Broadcast: &BroadcastResult{Subscribers: subs, Size: size, Published: pub, Expected: pub * subs,
				Received: pub * subs, Drained: true},
			Idle: &IdleResult{Final: Sample{LocalConns: subs, GatewayConns: subs}},
			Metrics: map[string]float64{
				"wsgate_messages_in_total": pub, "wsgate_bytes_in_total": pub * size,
				"wsgate_messages_out_total": pub * subs, "wsgate_bytes_out_total": pub * subs * (size + 2),
				"wsgate_upgrades_total": subs,
			},
		}
	}
	if bad := broadcastMismatches(good()); len(bad) != 0 {
		t.Fatalf("consistent broadcast result flagged: %v", bad)
	}
	if bad := idleMismatches(good(), 100); len(bad) != 0 {
		t.Fatalf("consistent idle result flagged: %v", bad)
	}
	cases := map[string]func(r *Result) []string{
		"received counted twice": func(r *Result) []string {
			r.Broadcast.Received *= 2
			r.Broadcast.Expected *= 2 // even if expected were inflated the same way
			return broadcastMismatches(r)
		},
		"published counted twice": func(r *Result) []string { r.Broadcast.Published *= 2; return broadcastMismatches(r) },
		"a duplicate delivery": func(r *Result) []string {
			r.Broadcast.Duplicates = 1
			r.Metrics["wsgate_messages_out_total"]++
			r.Metrics["wsgate_bytes_out_total"] += 66
			return broadcastMismatches(r)
		},
		"a missing delivery": func(r *Result) []string {
			r.Broadcast.Missing, r.Broadcast.Received = 1, r.Broadcast.Received-1
			r.Metrics["wsgate_messages_out_total"]--
			r.Metrics["wsgate_bytes_out_total"] -= 66
			return broadcastMismatches(r)
		},
		"gateway counted a delivery twice": func(r *Result) []string {
			r.Metrics["wsgate_messages_out_total"] *= 2
			return broadcastMismatches(r)
		},
		"held counted twice":   func(r *Result) []string { r.Idle.Final.LocalConns *= 2; return idleMismatches(r, 100) },
		"opened counted twice": func(r *Result) []string { r.Connect.Opened *= 2; return idleMismatches(r, 100) },
		"gauge off by one":     func(r *Result) []string { return idleMismatches(r, 101) },
	}
	for name, f := range cases {
		if bad := f(good()); len(bad) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
}

// The soak (bench/soak.sh) counts missing and duplicate deliveries with the
// idle scenario's hold bookkeeping. loop_test.go injects a drop and a
// duplicate into the broadcast scenario only; this injects both into what
// idle connections receive: lossyServer drops sequence 3 for the client that
// registered second and doubles sequence 5 for the third. The first client is
// this test's publisher, so those are two of the generator's connections.
func TestIdleHoldCountsDroppedAndDuplicated(t *testing.T) {
	s := startLossyServer(t)
	pub, _, err := wstest.Upgrade(s.ln.Addr().String(), "/ws", wstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pub.Close() }()
	_ = pub.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { _, _ = pub.R.WriteTo(discard{}) }() // the publisher gets its own messages back

	const conns, msgs = 8, 10
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(Config{
			Scenario: "idle", URL: "ws://" + s.ln.Addr().String() + "/ws", Conns: conns,
			Sources: "127.0.1.1-127.0.1.4", Loops: 2, MaxInflight: 100, HandshakeTimeout: 5 * time.Second,
			DialRate: 1000, Hold: 1500 * time.Millisecond, Deadline: 30 * time.Second,
		})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.mu.Lock()
		n := len(s.clients)
		s.mu.Unlock()
		if n >= conns+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("generator connections did not arrive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for seq := uint64(0); seq < msgs; seq++ {
		p := make([]byte, 32)
		binary.LittleEndian.PutUint64(p[0:8], seq)
		binary.LittleEndian.PutUint64(p[8:16], uint64(Monotonic()))
		if err := pub.WriteFrames(wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	var res *Result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("idle run did not end")
	}
	if res == nil || res.Idle == nil || res.Idle.Deliveries == nil {
		t.Fatalf("no hold deliveries in %+v", res)
	}
	d := res.Idle.Deliveries
	want := int64(msgs * conns)
	if d.Missing != 1 || d.Duplicates != 1 || d.Expected != want || d.Received != want || d.Foreign != 0 {
		// Received counts every in-range frame: want − 1 dropped + 1 duplicate.
		t.Fatalf("hold deliveries %+v: want missing 1, duplicates 1, expected %d, received %d (one dropped, one doubled)", d, want, want)
	}
	if math.Abs(float64(d.Latency.Count)-float64(want)) > 0 {
		t.Fatalf("latency samples %d, want %d (every frame read)", d.Latency.Count, want)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
