package gateway_test

// Failure test suite (issue 6), end to end against the real binary: a backend SIGKILLed mid-session, the
// Kafka broker killed and restarted, a slow consumer, a storm of malformed requests and frames, a SIGHUP
// reload under 2k tunnels, a SIGTERM drain with 2k clients, the stats page, the per-IP limit and -check.
//
// Peers: testdata/failure-echo-server.js (Node `ws`) as backends, cmd/kafkadev as the broker, and raw
// RFC 6455 clients from e2e_helpers_test.go for load (goroutines, no per-client process). Every helper
// here is prefixed "fl" so that it cannot collide with other e2e files of the package.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// ---------------------------------------------------------------------------------------------------
// Helpers

// flEcho is a running testdata/failure-echo-server.js.
type flEcho struct {
	Name, Addr string
	*childProc
}

// startFlEcho starts an echo backend on a free loopback port; it is SIGKILLed (by PID) at the end.
func startFlEcho(t *testing.T, name string) *flEcho {
	t.Helper()
	cmd := exec.Command("node", "failure-echo-server.js", "--port", "0", "--name", name)
	cmd.Dir = "testdata"
	p, err := startChild(t, childSpec{label: "failure-echo-server.js " + name, logMax: 16 << 10, readyLine: nodeReadyLine(0)}, cmd)
	if err != nil {
		t.Fatalf("start failure-echo-server.js: %v", err)
	}
	port, err := p.awaitReady(15 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &flEcho{Name: name, Addr: "127.0.0.1:" + port, childProc: p}
}

// flDialWS opens a WebSocket connection (raw client, small read buffer: thousands of these live in the
// test process) without touching t, so that goroutines may call it. Extra header lines are optional.
func flDialWS(addr, path string, headers ...string) (*rawConn, error) {
	c, _, err := wstest.Upgrade(addr, path, wstest.Options{Headers: headers, Timeout: 10 * time.Second, BufSize: 4096})
	return c, err
}

// flTunnel is a raw client tunneled through the gateway to a failure-echo-server.js.
type flTunnel struct {
	*rawConn
	server string // the backend that said hello
}

// flOpenTunnel upgrades on path (a backend route) and reads the backend's hello.
func flOpenTunnel(addr, path string) (*flTunnel, error) {
	rc, err := flDialWS(addr, path)
	if err != nil {
		return nil, err
	}
	f, err := rc.ReadFrame(time.Now().Add(10 * time.Second))
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	var h struct {
		Hello  bool   `json:"hello"`
		Server string `json:"server"`
	}
	if f.Op != wstest.OpText || json.Unmarshal(f.Payload, &h) != nil || !h.Hello {
		rc.Close()
		return nil, fmt.Errorf("hello: unexpected frame op %d %.80q", f.Op, f.Payload)
	}
	return &flTunnel{rawConn: rc, server: h.Server}, nil
}

// echo sends payload as a text message and expects it back.
func (c *flTunnel) echo(payload string, timeout time.Duration) error {
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(payload)})); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	f, err := c.ReadFrame(time.Now().Add(timeout))
	if err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if f.Op == wstest.OpClose {
		code := 0
		if len(f.Payload) >= 2 {
			code = int(binary.BigEndian.Uint16(f.Payload))
		}
		return fmt.Errorf("closed with %d %q instead of echoing", code, f.Payload[min(2, len(f.Payload)):])
	}
	if f.Op != wstest.OpText || string(f.Payload) != payload {
		return fmt.Errorf("echo: got op %d %.60q, want %.60q", f.Op, f.Payload, payload)
	}
	return nil
}

// flEnd is how a connection ended: kind "close" (a close frame, with its code), "tcp" (EOF or reset
// without a close frame) or "timeout" (still open at the deadline).
type flEnd struct {
	kind string
	code int
	at   time.Time
	err  error
}

func (e flEnd) String() string {
	if e.kind == "close" {
		return fmt.Sprintf("close %d", e.code)
	}
	return fmt.Sprintf("%s (%v)", e.kind, e.err)
}

// flWaitEnd reads (and drops) frames until the connection ends or deadline passes.
func flWaitEnd(c *rawConn, deadline time.Time) flEnd {
	for {
		f, err := c.ReadFrame(deadline)
		if err != nil {
			if isTimeout(err) {
				return flEnd{kind: "timeout", at: time.Now(), err: err}
			}
			return flEnd{kind: "tcp", at: time.Now(), err: err}
		}
		if f.Op == wstest.OpClose {
			e := flEnd{kind: "close", at: time.Now()}
			if len(f.Payload) >= 2 {
				e.code = int(binary.BigEndian.Uint16(f.Payload))
			}
			return e
		}
	}
}

// flParallel runs fn(0..n-1) on a bounded number of goroutines. Once more than maxFail calls have
// returned false it starts no more (so that a broken gateway fails a test in seconds, not after every
// case has waited out its deadline) and returns how many were skipped.
func flParallel(n, workers, maxFail int, fn func(i int) bool) (skipped int) {
	var next, failed, skip atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if failed.Load() > int64(maxFail) {
					skip.Add(1)
					continue
				}
				if !fn(i) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(skip.Load())
}

// flOpenTunnels opens n tunnels on path with a few workers; every one must open.
func flOpenTunnels(t *testing.T, g *testGateway, path string, n int) []*flTunnel {
	t.Helper()
	out := make([]*flTunnel, n)
	errs := make([]error, n)
	skipped := flParallel(n, 32, 10, func(i int) bool {
		out[i], errs[i] = flOpenTunnel(g.Addr, path)
		return errs[i] == nil
	})
	t.Cleanup(func() {
		for _, c := range out {
			if c != nil {
				c.Close()
			}
		}
	})
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("#%d: %v", i, err))
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d tunnels on %s did not open (%d more not tried); first: %v", len(failed), n, path, skipped, failed[:min(5, len(failed))])
	}
	return out
}

func flCountServers(cs []*flTunnel) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		m[c.server]++
	}
	return m
}

// flEchoAll runs one echo on each tunnel (bounded workers) and returns the failures; after 20 of them
// the remaining tunnels are not tried and count as one more entry.
func flEchoAll(cs []*flTunnel, tag string) []string {
	var mu sync.Mutex
	var failed []string
	skipped := flParallel(len(cs), 64, 20, func(i int) bool {
		err := cs[i].echo(fmt.Sprintf("%s-%d", tag, i), 10*time.Second)
		if err != nil {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("tunnel %d (server %s): %v", i, cs[i].server, err))
			mu.Unlock()
		}
		return err == nil
	})
	if skipped > 0 {
		failed = append(failed, fmt.Sprintf("%d more tunnels not tried after these failures", skipped))
	}
	return failed
}

// flGet does a GET with optional basic auth.
func flGet(url, user, pass string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body, err
}

// flWaitLog waits until the gateway's log holds more than `before` occurrences of s.
func flWaitLog(t *testing.T, g *testGateway, s string, before int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(g.log.String(), s) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no new %q in the gateway log within %v", s, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------------------
// 1. Backend killed mid-session

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
	byServer := flCountServers(poolA)
	t.Logf("pool A tunnels per server: %v; pool B: %v", byServer, flCountServers(poolB))
	if byServer["a1"] == 0 || byServer["a2"] == 0 || flCountServers(poolB)["b1"] != 10 {
		t.Fatalf("tunnels not spread as configured: A %v, B %v", byServer, flCountServers(poolB))
	}
	if f := flEchoAll(append(slices.Clone(poolA), poolB...), "before"); len(f) > 0 {
		t.Fatalf("echo before the kill: %v", f)
	}

	var onA1, survivors []*flTunnel
	for _, c := range poolA {
		if c.server == "a1" {
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
	if got := flCountServers(fresh); got["a2"] != 10 {
		t.Errorf("new sessions on pool A after a1's death went to %v, want all 10 on a2", got)
	}
	if f := flEchoAll(fresh, "fresh"); len(f) > 0 {
		t.Errorf("new pool A sessions: %v", f)
	}
	if got := flCountServers(flOpenTunnels(t, g, "/b", 3)); got["b1"] != 3 {
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

// ---------------------------------------------------------------------------------------------------
// 2. Kafka broker killed and restarted

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

// ---------------------------------------------------------------------------------------------------
// 3. Slow consumer

// flSubscriber reads binary messages "[4-byte index][pattern]" and records when each index arrived.
type flSubscriber struct {
	mu      sync.Mutex
	at      []time.Time // by index; zero: not (yet) received
	got     int
	bad     []string
	end     error
	done    chan struct{}
	conn    *rawConn
	msgSize int
}

func flPattern(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < size; j++ {
		b[j] = byte(i*7 + j)
	}
	return b
}

func newFlSubscriber(c *rawConn, n, size int) *flSubscriber {
	s := &flSubscriber{at: make([]time.Time, n), done: make(chan struct{}), conn: c, msgSize: size}
	go func() {
		defer close(s.done)
		for {
			f, err := c.ReadFrame(time.Now().Add(2 * time.Minute))
			if err != nil {
				s.mu.Lock()
				s.end = err
				s.mu.Unlock()
				return
			}
			if f.Op == wstest.OpClose {
				s.mu.Lock()
				s.end = fmt.Errorf("close frame %x", f.Payload[:min(2, len(f.Payload))])
				s.mu.Unlock()
				return
			}
			if f.Op != wstest.OpBinary {
				continue
			}
			s.mu.Lock()
			switch i := int(binary.BigEndian.Uint32(f.Payload)); {
			case len(f.Payload) != s.msgSize || i >= len(s.at) || !bytes.Equal(f.Payload, flPattern(i, s.msgSize)):
				s.bad = append(s.bad, fmt.Sprintf("message of %d bytes, index %d, not the one sent", len(f.Payload), i))
			case !s.at[i].IsZero():
				s.bad = append(s.bad, fmt.Sprintf("message %d twice", i))
			default:
				if i != s.got {
					s.bad = append(s.bad, fmt.Sprintf("message %d arrived as number %d (order)", i, s.got))
				}
				s.at[i] = time.Now()
				s.got++
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *flSubscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

// Subscribers that never read, -max-outbound 256 KiB, and 1000 binary messages of 64 KiB from a
// WebSocket publisher: the slow ones are closed (1008 or a TCP close) and counted, gateway RSS stays
// under 200 MB, and a normal subscriber (and the publisher, which is subscribed too) gets every message.
func TestE2EFailureSlowConsumer(t *testing.T) {
	requireE2E(t, false, false)
	const n, size = 1000, 64 << 10
	g := startGatewayProcess(t, "-max-outbound", "262144", "-max-message-bytes", "131072", "-drain-time", "100ms")
	base, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	// Four subscribers that never read: without the cap each would hold its own copy of the 64 MiB
	// stream in the gateway's outbound buffers, far over the RSS bound.
	const slowN = 4
	var slow []*rawConn
	for range slowN {
		slow = append(slow, upgradeRaw(t, g.Addr, "/ws", 0)) // never read from
	}
	normal := newFlSubscriber(upgradeRaw(t, g.Addr, "/ws", 0), n, size)
	pubConn := upgradeRaw(t, g.Addr, "/ws", 0)
	self := newFlSubscriber(pubConn, n, size)

	var peak atomic.Int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			if r, err := g.rss(); err == nil && r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stopRSS:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	sentAt := make([]time.Time, n)
	start := time.Now()
	for i := range n {
		// Publish at the pace of the normal subscriber (at most 8 messages ahead of it).
		for wait := time.Now().Add(30 * time.Second); normal.count() < i-8; {
			if time.Now().After(wait) {
				t.Fatalf("normal subscriber stuck at %d of %d messages (end: %v)", normal.count(), i, normal.end)
			}
			time.Sleep(200 * time.Microsecond)
		}
		sentAt[i] = time.Now()
		writeFrames(t, pubConn, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: flPattern(i, size)})
	}
	for wait := time.Now().Add(30 * time.Second); (normal.count() < n || self.count() < n) && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	close(stopRSS)
	<-rssDone

	for name, s := range map[string]*flSubscriber{"normal subscriber": normal, "publisher (subscribed)": self} {
		s.mu.Lock()
		if s.got != n {
			t.Errorf("%s: received %d of %d messages (ended: %v)", name, s.got, n, s.end)
		}
		if len(s.bad) > 0 {
			t.Errorf("%s: %d bad deliveries, first %v", name, len(s.bad), s.bad[:min(3, len(s.bad))])
		}
		s.mu.Unlock()
	}
	var lat []time.Duration
	normal.mu.Lock()
	for i, at := range normal.at {
		if !at.IsZero() {
			lat = append(lat, at.Sub(sentAt[i]))
		}
	}
	normal.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		t.Logf("normal subscriber: %d messages of 64 KiB in %v; latency p50 %v p99 %v max %v", len(lat), elapsed.Round(time.Millisecond),
			q(0.5).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	}
	t.Logf("gateway RSS: %.1f MiB at start, peak %.1f MiB while %d × 64 KiB went out", float64(base)/(1<<20), float64(peak.Load())/(1<<20), n)
	if p := peak.Load(); p >= 200<<20 {
		t.Errorf("gateway RSS peaked at %.1f MiB, want < 200 MiB", float64(p)/(1<<20))
	}

	m := scrapeMetrics(t, g.Admin)
	if got, _ := m.get("wsgate_slow_consumer_closes_total", ""); got != slowN {
		t.Errorf("wsgate_slow_consumer_closes_total = %v, want %d (the subscribers that never read)", got, slowN)
	}
	// The slow clients now read what the kernel holds: the end is a close 1008 or a TCP close.
	ends := map[string]int{}
	slowEnds := make([]flEnd, len(slow))
	var wg sync.WaitGroup
	for i, c := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slowEnds[i] = flWaitEnd(c, time.Now().Add(15*time.Second))
		}()
	}
	wg.Wait()
	for i, e := range slowEnds {
		ends[e.String()]++
		switch {
		case e.kind == "timeout":
			t.Errorf("slow subscriber %d: connection still open after the publish run", i)
		case e.kind == "close" && e.code != 1008:
			t.Errorf("slow subscriber %d: close %d, want 1008 (or a TCP close)", i, e.code)
		}
	}
	t.Logf("slow subscribers ended with %v", ends)
	if g.exited() {
		t.Errorf("gateway exited")
	}
}

// ---------------------------------------------------------------------------------------------------
// 4. Malformed request/frame storm

// flSeeds reads the codec fuzz corpus files of one target: the first []byte("...") value of each.
func flSeeds(t *testing.T, target string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "codec", "testdata", "fuzz", target, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz corpus for %s (%v)", target, err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if lit, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				out = append(out, []byte(s))
				break
			}
		}
	}
	return out
}

// flMutate applies 1–4 random mutations: bit flips, byte sets, truncation, insertions, deletions,
// repeated ranges (which can push a head over -max-header-bytes), splices and delimiter bytes.
func flMutate(r *rand.Rand, b []byte, seeds [][]byte) []byte {
	b = bytes.Clone(b)
	special := []byte{'\r', '\n', ':', ' ', '\t', 0, 0x7f, 0x80, 0xff, ',', ';', '='}
	for k := 1 + r.IntN(4); k > 0; k-- {
		if len(b) == 0 {
			b = append(b, byte(r.IntN(256)))
		}
		i := r.IntN(len(b))
		switch r.IntN(9) {
		case 0:
			b[i] ^= 1 << r.IntN(8)
		case 1:
			b[i] = byte(r.IntN(256))
		case 2:
			b = b[:i]
		case 3:
			ins := make([]byte, 1+r.IntN(16))
			for j := range ins {
				ins[j] = byte(r.IntN(256))
			}
			b = slices.Insert(b, i, ins...)
		case 4:
			b = slices.Delete(b, i, i+r.IntN(len(b)-i)+1)
		case 5:
			j := i + 1 + r.IntN(min(64, len(b)-i))
			part := bytes.Repeat(b[i:j], 1+r.IntN(600))
			b = slices.Insert(b, j, part...)
		case 6:
			o := seeds[r.IntN(len(seeds))]
			b = append(b[:i], o[r.IntN(len(o)+1):]...)
		case 7, 8:
			b[i] = special[r.IntN(len(special))]
		}
	}
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	return b
}

// flRandomFrames builds 1–4 client frames, most of them invalid in some way.
func flRandomFrames(r *rand.Rand) []byte {
	ops := []byte{wstest.OpCont, wstest.OpText, wstest.OpBinary, 3, 7, wstest.OpClose, wstest.OpPing, wstest.OpPong, 0xB, 0xF}
	var out []byte
	for k := 1 + r.IntN(4); k > 0; k-- {
		f := wstest.Frame{Fin: r.IntN(4) != 0, Op: ops[r.IntN(len(ops))], Unmasked: r.IntN(8) == 0}
		if r.IntN(6) == 0 {
			f.RSV = byte(1 + r.IntN(7))
		}
		switch r.IntN(6) {
		case 0:
			f.Payload = []byte("ok \xff\xfe \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80")[r.IntN(4):]
		case 1:
			f.Payload = bytes.Repeat([]byte{'x'}, 126+r.IntN(300))
		case 2:
			f.Payload, f.DeclaredLen = []byte("big"), 65537+r.IntN(1<<24)
		case 3:
			codes := []uint16{0, 999, 1000, 1004, 1005, 1006, 1015, 1016, 2999, 3000, 4999, 5000, 65535}
			f.Op = wstest.OpClose
			f.Payload = binary.BigEndian.AppendUint16(nil, codes[r.IntN(len(codes))])
			if r.IntN(2) == 0 {
				f.Payload = append(f.Payload, "reason \xff"[:r.IntN(9)]...)
			}
		default:
			f.Payload = []byte(fmt.Sprintf("storm %d", r.IntN(1e6)))
		}
		out = append(out, wstest.Encode(f)...)
	}
	return out
}

// flStormResult is what one malformed case got.
type flStormResult struct {
	status    int  // HTTP status received (0: none)
	closeCode int  // close code received (0: none)
	upgraded  bool // the case went past the handshake
	timeout   bool // neither an answer nor an end within the read deadline
	dialErr   error
	ran       bool
}

// 10k malformed cases (fuzz corpus + mutations + generated frames; half HTTP heads, half frames after a
// valid upgrade, with and without permessage-deflate) over 32 concurrent connections: the gateway stays
// up (/healthz 200 throughout), counts at least every refusal the clients saw (per status and close
// code), and a subscriber + publisher pair on another topic keeps getting messages during the storm.
func TestE2EFailureMalformedStorm(t *testing.T) {
	requireE2E(t, false, false)
	const cases, workers = 10000, 32
	headSeeds := flSeeds(t, "FuzzParseRequestHead")
	frameSeeds := flSeeds(t, "FuzzParserNext")
	g := startGateway(t, "-route", "/ws=topic:chat", "-route", "/fz=topic:fuzz", "-compression",
		"-max-message-bytes", "65536", "-handshake-timeout", "2s", "-drain-time", "100ms")
	host := g.Addr
	for _, p := range []string{"/fz", "/ws", "/", "/nope", "/fz/x?y=1"} {
		headSeeds = append(headSeeds, []byte(wstest.UpgradeRequest(host, p, wstest.NewKey())))
	}
	headSeeds = append(headSeeds,
		[]byte(strings.Replace(wstest.UpgradeRequest(host, "/fz", wstest.NewKey()), "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)),
		[]byte("GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n"),
		[]byte("POST /fz HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		[]byte("GET /fz HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\nUpgrade: websocket\r\n\r\n"))
	seed := uint64(time.Now().UnixNano())
	t.Logf("storm seed %d (cases are a function of the seed and their index)", seed)

	// The good pair, on topic chat.
	sub := dialCluster(t, g, 0, "/ws")
	goodPub := dialCluster(t, g, 0, "/ws")
	before := scrapeMetrics(t, g.Admin)

	stop := make(chan struct{})
	var bg sync.WaitGroup
	var goodSent []time.Time
	bg.Add(2)
	go func() { // publisher: one message every 20 ms while the storm runs
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			goodSent = append(goodSent, time.Now())
			if err := goodPub.send(fmt.Sprintf("good-%05d", i)); err != nil {
				goodSent = goodSent[:len(goodSent)-1]
				t.Errorf("good publisher: %v", err)
				return
			}
		}
	}()
	var healthBad []string
	var healthChecks int
	go func() { // /healthz every 200 ms
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			healthChecks++
			if body, code := healthz(g); code != http.StatusOK {
				healthBad = append(healthBad, fmt.Sprintf("%d %q", code, body))
			}
		}
	}()

	results := make([]flStormResult, cases)
	stormStart := time.Now()
	runCase := func(i int) {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		res := &results[i]
		res.ran = true
		if i%2 == 0 {
			data := flMutate(r, headSeeds[r.IntN(len(headSeeds))], headSeeds)
			c, err := net.DialTimeout("tcp", g.Addr, 5*time.Second)
			if err != nil {
				res.dialErr = err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(6 * time.Second))
			_, _ = c.Write(data)
			if !bytes.Contains(data, []byte("\r\n\r\n")) && !bytes.Contains(data, []byte("\n\n")) {
				_ = c.(*net.TCPConn).CloseWrite() // an incomplete head: tell the gateway nothing more comes
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				res.timeout = isTimeout(err)
				return
			}
			res.status = resp.StatusCode
			res.upgraded = resp.StatusCode == http.StatusSwitchingProtocols
			return
		}
		var hdr []string
		if r.IntN(2) == 0 {
			hdr = append(hdr, "Sec-WebSocket-Extensions: permessage-deflate")
		}
		c, err := flDialWS(g.Addr, "/fz", hdr...)
		if err != nil {
			res.dialErr = err
			return
		}
		defer c.Close()
		res.upgraded = true
		var data []byte
		switch r.IntN(3) {
		case 0:
			data = flMutate(r, frameSeeds[r.IntN(len(frameSeeds))], frameSeeds)
		case 1:
			data = flRandomFrames(r)
		default:
			data = flMutate(r, flRandomFrames(r), frameSeeds)
		}
		data = append(data, wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: []byte{0x03, 0xe8}})...)
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(data)
		_ = c.Conn.(*net.TCPConn).CloseWrite()
		e := flWaitEnd(c, time.Now().Add(6*time.Second))
		res.timeout = e.kind == "timeout"
		if e.kind == "close" {
			res.closeCode = e.code
		}
	}
	skipped := flParallel(cases, workers, 100, func(i int) bool {
		runCase(i)
		return results[i].dialErr == nil && !results[i].timeout
	})
	stormTime := time.Since(stormStart)
	if skipped > 0 {
		t.Errorf("%d cases not run: over 100 cases could not connect or hung", skipped)
	}
	close(stop)
	bg.Wait()

	// Tally what the clients saw.
	observed := map[string]int{} // "400" or "close 1002" → cases
	statuses := map[int]int{}
	closeCodes := map[int]int{}
	var upgraded, timeouts, noAnswer int
	var dialErrs []string
	for i, res := range results {
		switch {
		case !res.ran:
			continue
		case res.dialErr != nil:
			dialErrs = append(dialErrs, fmt.Sprintf("case %d: %v", i, res.dialErr))
			continue
		case res.timeout:
			timeouts++
		}
		if res.upgraded {
			upgraded++
		}
		if res.status != 0 {
			statuses[res.status]++
			if res.status >= 400 && res.status < 500 {
				observed[strconv.Itoa(res.status)]++
			}
		} else if i%2 == 0 && !res.timeout {
			noAnswer++
		}
		if res.closeCode != 0 {
			closeCodes[res.closeCode]++
			if res.closeCode == 1002 || res.closeCode == 1007 || res.closeCode == 1009 {
				observed["close "+strconv.Itoa(res.closeCode)]++
			}
		}
	}
	totalObserved := 0
	for _, n := range observed {
		totalObserved += n
	}
	t.Logf("storm: %d cases in %v over %d connections at a time; HTTP statuses %v; close codes %v; %d upgraded; "+
		"%d heads got no answer (connection ended); %d read timeouts; %d dial/upgrade failures",
		cases, stormTime.Round(time.Millisecond), workers, statuses, closeCodes, upgraded, noAnswer, timeouts, len(dialErrs))
	if len(dialErrs) > cases/100 {
		t.Errorf("%d cases could not connect/upgrade; first %v", len(dialErrs), dialErrs[:min(5, len(dialErrs))])
	}
	if timeouts > 0 {
		t.Errorf("%d cases got neither an answer nor an end within 6s (the gateway kept them hanging)", timeouts)
	}

	if g.exited() {
		t.Fatalf("the gateway died during the storm")
	}
	if body, code := healthz(g); code != http.StatusOK {
		t.Errorf("/healthz after the storm: %d %q", code, body)
	}
	if len(healthBad) > 0 {
		t.Errorf("/healthz during the storm: %d of %d checks failed: %v", len(healthBad), healthChecks, healthBad[:min(5, len(healthBad))])
	}

	// Counted refusals: per status and close code, the gateway counted at least what the clients saw.
	after := scrapeMetrics(t, g.Admin)
	counted := map[string]int{}
	hb, ha := before.byLabel("wsgate_http_responses_total", "code"), after.byLabel("wsgate_http_responses_total", "code")
	for code, v := range ha {
		if c, _ := strconv.Atoi(code); c >= 400 && c < 500 {
			counted[code] = int(v - hb[code])
		}
	}
	cb, ca := before.byLabel("wsgate_closes_total", "code"), after.byLabel("wsgate_closes_total", "code")
	for _, code := range []string{"1002", "1007", "1009"} {
		counted["close "+code] = int(ca[code] - cb[code])
	}
	totalCounted := 0
	for k, v := range counted {
		totalCounted += v
		if v < observed[k] {
			t.Errorf("refusal %s: clients saw %d, the gateway counted %d", k, observed[k], v)
		}
	}
	for k, v := range observed {
		if _, ok := counted[k]; !ok {
			t.Errorf("refusal %s: clients saw %d, /metrics has no such series", k, v)
		}
	}
	t.Logf("refusals seen by clients %d %v; counted by the gateway %d %v", totalObserved, observed, totalCounted, counted)
	if totalCounted < totalObserved {
		t.Errorf("the gateway counted %d refusals, clients saw %d", totalCounted, totalObserved)
	}
	if totalCounted > cases {
		t.Errorf("the gateway counted %d refusals for %d cases (at most one per connection)", totalCounted, cases)
	}

	// The good pair was served throughout.
	want := len(goodSent)
	waitClients(t, "the good subscriber's messages", 15*time.Second, []*clusterClient{sub}, func(c *clusterClient) bool {
		n := 0
		for _, r := range c.messages() {
			if strings.HasPrefix(r.payload, "good-") {
				n++
			}
		}
		return n >= want
	})
	var quarters [4]int
	var worst time.Duration
	got := map[string]bool{}
	for _, r := range sub.messages() {
		idx, err := strconv.Atoi(strings.TrimPrefix(r.payload, "good-"))
		if err != nil || !strings.HasPrefix(r.payload, "good-") || idx >= want {
			continue
		}
		got[r.payload] = true
		worst = max(worst, r.at.Sub(goodSent[idx]))
		if q := int(4 * r.at.Sub(stormStart) / stormTime); q >= 0 && q < 4 {
			quarters[q]++
		}
	}
	if len(got) != want {
		t.Errorf("good subscriber: %d of %d messages", len(got), want)
	}
	for q, n := range quarters {
		if n == 0 {
			t.Errorf("good subscriber: no message delivered in quarter %d of the storm", q+1)
		}
	}
	t.Logf("good pair: %d messages during the storm, received per storm quarter %v, slowest delivery %v",
		want, quarters, worst.Round(time.Millisecond))
}

// ---------------------------------------------------------------------------------------------------
// 5. Reload under load

// 2000 tunnels through -config FILE's pool (s1, s2: Node `ws` echo servers) while echo traffic runs;
// SIGHUP with a file that removes s1, adds s3 and changes weights: no tunnel is dropped (all 2000 still
// echo, those on the removed s1 too), new sessions use the new pool (s3 gets some, s1 none); then a bad
// file + SIGHUP is refused with a log line and the previous pool stays.
func TestE2EFailureReloadUnderLoad(t *testing.T) {
	requireE2E(t, true, false)
	const n = 2000
	s1, s2, s3 := startFlEcho(t, "s1"), startFlEcho(t, "s2"), startFlEcho(t, "s3")
	cfg := filepath.Join(t.TempDir(), "wsgate.conf")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# failure suite: reload under load\nroute /ws=backend:app\nbackend app=s1@" + s1.Addr + ",s2@" + s2.Addr + ";check=tcp;inter=1s\n")
	g := startGatewayProcess(t, "-config", cfg, "-drain-time", "100ms")

	tunnels := flOpenTunnels(t, g, "/ws", n)
	before := flCountServers(tunnels)
	t.Logf("%d tunnels: %v", n, before)
	if before["s1"] == 0 || before["s2"] == 0 || before["s1"]+before["s2"] != n {
		t.Fatalf("tunnels per server %v, want them on s1 and s2", before)
	}

	// Load: 8 workers cycle echoes over all tunnels until told to stop.
	stop := make(chan struct{})
	var echoes, echoErrs atomic.Int64
	var errMu sync.Mutex
	var firstErrs []string
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				for i := w; i < n; i += 8 {
					select {
					case <-stop:
						return
					default:
					}
					if err := tunnels[i].echo(fmt.Sprintf("load-%d-%d", i, round), 10*time.Second); err != nil {
						echoErrs.Add(1)
						errMu.Lock()
						if len(firstErrs) < 5 {
							firstErrs = append(firstErrs, fmt.Sprintf("tunnel %d (%s): %v", i, tunnels[i].server, err))
						}
						errMu.Unlock()
						continue
					}
					echoes.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)

	// A good reload: s1 removed, s3 added, weights changed.
	write("route /ws=backend:app\nbackend app=s2@" + s2.Addr + "*1,s3@" + s3.Addr + "*3;check=tcp;inter=1s\n")
	reloads := strings.Count(g.log.String(), "configuration reloaded")
	atReload := echoes.Load()
	if err := g.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	flWaitLog(t, g, "configuration reloaded", reloads, 10*time.Second)
	fresh := flOpenTunnels(t, g, "/ws", 40)
	afterReload := flCountServers(fresh)
	t.Logf("40 new sessions after the reload: %v", afterReload)
	if afterReload["s1"] != 0 || afterReload["s3"] == 0 || afterReload["s2"]+afterReload["s3"] != 40 {
		t.Errorf("new sessions after the reload went to %v, want s2 and s3 only, s3 included", afterReload)
	}
	if afterReload["s3"] <= afterReload["s2"] {
		t.Errorf("new sessions after the reload: %v, want s3 (weight 3) to get more than s2 (weight 1)", afterReload)
	}
	time.Sleep(time.Second)

	// A bad file: refused, logged, the running pool stays.
	write("route /ws=backend:app\nbackend app=s2@" + s2.Addr + ",s3@127.0.0.1:notaport;check=tcp\n")
	refusals := strings.Count(g.log.String(), "reload refused")
	if err := g.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	flWaitLog(t, g, "reload refused", refusals, 10*time.Second)
	fresh2 := flOpenTunnels(t, g, "/ws", 20)
	afterBad := flCountServers(fresh2)
	if afterBad["s1"] != 0 || afterBad["s3"] == 0 || afterBad["s2"]+afterBad["s3"] != 20 {
		t.Errorf("new sessions after the refused reload went to %v, want the previous pool (s2, s3)", afterBad)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("echo load: %d round trips in all (%d after the first SIGHUP), %d errors", echoes.Load(), echoes.Load()-atReload, echoErrs.Load())
	if echoErrs.Load() > 0 {
		t.Errorf("%d echoes failed during the reloads: %v", echoErrs.Load(), firstErrs)
	}
	if f := flEchoAll(tunnels, "final"); len(f) > 0 {
		t.Errorf("%d of the %d original tunnels dropped: %v", len(f), n, f[:min(5, len(f))])
	}
	if f := flEchoAll(append(fresh, fresh2...), "final"); len(f) > 0 {
		t.Errorf("new tunnels: %v", f[:min(5, len(f))])
	}

	code, _, body, err := flGet("http://"+g.Admin+"/stats?json", "", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /stats?json: %d %v", code, err)
	}
	var st flStats
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("stats JSON: %v", err)
	}
	servers := map[string]int{}
	for _, p := range st.Pools {
		for _, s := range p.Servers {
			servers[s.Name] = s.Weight
		}
	}
	if len(st.Pools) != 1 || len(servers) != 2 || servers["s2"] != 1 || servers["s3"] != 3 {
		t.Errorf("running pool after the refused reload: %s, want app = s2*1, s3*3", body)
	}
	t.Logf("log lines: %q", flGrep(g.log.String(), "reload"))
}

func flGrep(log, s string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------------
// 6. Drain

// SIGTERM with 2000 WebSocket clients and -drain-time 3s: every client gets close 1001 (spread over the
// drain time), /healthz answers 503 meanwhile, a new connection is not served, and the process exits 0
// within 5 s of the signal.
func TestE2EFailureDrain(t *testing.T) {
	requireE2E(t, false, false)
	const n, drainTime = 2000, 3 * time.Second
	g := startGatewayProcess(t, "-drain-time", drainTime.String())
	clients := make([]*rawConn, n)
	errs := make([]error, n)
	flParallel(n, 32, 10, func(i int) bool {
		clients[i], errs[i] = flDialWS(g.Addr, "/ws")
		return errs[i] == nil
	})
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	})
	for i, err := range errs {
		if err != nil || clients[i] == nil {
			t.Fatalf("client %d did not open: %v", i, err)
		}
	}
	if got, _ := scrapeMetrics(t, g.Admin).get("wsgate_connections_open", ""); got != n {
		t.Fatalf("wsgate_connections_open = %v, want %d", got, n)
	}

	ends := make([]flEnd, n)
	var wg sync.WaitGroup
	readDeadline := time.Now().Add(20 * time.Second)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ends[i] = flWaitEnd(c, readDeadline)
			if ends[i].kind == "close" { // answer the close as a well-behaved client does
				_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				_, _ = c.Write(wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: binary.BigEndian.AppendUint16(nil, uint16(ends[i].code))}))
			}
			c.Close()
		}()
	}
	signalled := time.Now()
	if err := g.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	health := map[int]int{}
	newConn := ""
	exited := false
	for deadline := signalled.Add(drainTime + 2*time.Second); time.Now().Before(deadline); {
		if g.exited() {
			exited = true
			break
		}
		// The signal is asynchronous: count /healthz answers from the moment the gateway logs its drain.
		if strings.Contains(g.log.String(), "msg=draining") {
			if _, code := healthz(g); code != 0 {
				health[code]++
			}
		}
		if newConn == "" && time.Since(signalled) > 500*time.Millisecond {
			if c, err := flDialWS(g.Addr, "/ws"); err == nil {
				newConn = "upgraded (101)"
				c.Close()
			} else {
				newConn = "refused: " + err.Error()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !exited {
		select {
		case <-g.done:
			exited = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	took := time.Since(signalled)
	wg.Wait()

	if !exited {
		t.Errorf("the gateway had not exited %v after SIGTERM (-drain-time %v + 2s)", took.Round(time.Millisecond), drainTime)
	} else if code := g.proc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if health[http.StatusServiceUnavailable] == 0 {
		t.Errorf("/healthz during the drain answered %v, want 503", health)
	}
	if health[http.StatusOK] > 0 {
		t.Errorf("/healthz answered 200 %d times after SIGTERM", health[http.StatusOK])
	}
	if strings.HasPrefix(newConn, "upgraded") {
		t.Errorf("a new connection during the drain was upgraded")
	}
	kinds := map[string]int{}
	var first, last time.Duration
	for i, e := range ends {
		kinds[e.String()]++
		d := e.at.Sub(signalled)
		if e.kind != "close" || e.code != 1001 {
			if kinds[e.String()] <= 3 {
				t.Errorf("client %d: ended with %v, want close 1001", i, e)
			}
			continue
		}
		if first == 0 || d < first {
			first = d
		}
		last = max(last, d)
	}
	t.Logf("drain: clients ended %v; closes from %v to %v after SIGTERM; /healthz %v; new connection %s; exit after %v",
		kinds, first.Round(time.Millisecond), last.Round(time.Millisecond), health, newConn, took.Round(time.Millisecond))
	if kinds["close 1001"] != n {
		t.Errorf("%d of %d clients got close 1001", kinds["close 1001"], n)
	}
	if spread := last - first; kinds["close 1001"] == n && spread < drainTime/3 {
		t.Errorf("closes came within %v, want them spread over -drain-time %v", spread.Round(time.Millisecond), drainTime)
	}
}

// ---------------------------------------------------------------------------------------------------
// 7. Stats page, per-IP limit, -check

// flStats mirrors the stats page's JSON.
type flStats struct {
	Node struct {
		Connections int64  `json:"connections"`
		Subscribers int64  `json:"subscribers"`
		Goroutines  int    `json:"goroutines"`
		Uptime      string `json:"uptime"`
		Bus         string `json:"bus"`
	} `json:"node"`
	Routes []struct {
		Spec   string `json:"spec"`
		Target string `json:"target"`
	} `json:"routes"`
	Pools []struct {
		Name    string `json:"name"`
		Up      int    `json:"up"`
		Servers []struct {
			Name   string `json:"name"`
			Addr   string `json:"addr"`
			State  string `json:"state"`
			Weight int    `json:"weight"`
		} `json:"servers"`
	} `json:"pools"`
	Topics []struct {
		Name        string `json:"name"`
		Subscribers int    `json:"subscribers"`
		Messages    uint64 `json:"messages"`
	} `json:"topics"`
}

// -stats-auth: 401 without (or with wrong) credentials; ?json lists node, routes, pools (alpha UP, bravo
// DOWN: nothing listens there) and topics with their subscriber counts; the HTML names servers and states.
func TestE2EFailureStatsPage(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // "alpha": accepts (TCP checks pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // "bravo": nothing listens
	g := startGateway(t, "-stats-auth", "admin:s3cr3t", "-drain-time", "100ms",
		"-route", "/ws=topic:chat", "-route", "/rooms/=topic:*", "-route", "/app=backend:app",
		"-backend", "app=alpha@"+ln.Addr().String()+",bravo@"+dead+";check=tcp;inter=200ms;rise=1;fall=1")
	url := "http://" + g.Admin + "/stats"

	for _, c := range []struct{ user, pass, q string }{{"", "", ""}, {"", "", "?json"}, {"admin", "wrong", "?json"}, {"root", "s3cr3t", ""}} {
		code, hdr, _, err := flGet(url+c.q, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("GET /stats%s as %q:%q: %d (WWW-Authenticate %q), want 401 with a Basic challenge", c.q, c.user, c.pass, code, hdr.Get("WWW-Authenticate"))
		}
	}

	chat := []*rawConn{upgradeRaw(t, g.Addr, "/ws", 0), upgradeRaw(t, g.Addr, "/ws", 0), upgradeRaw(t, g.Addr, "/ws", 0)}
	upgradeRaw(t, g.Addr, "/rooms/lobby", 0)
	upgradeRaw(t, g.Addr, "/rooms/lobby", 0)
	upgradeRaw(t, g.Addr, "/rooms/kitchen", 0)
	for i := range 5 {
		writeFrames(t, chat[0], wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("m" + strconv.Itoa(i))})
	}
	wantTopics := map[string]int{"chat": 3, "lobby": 2, "kitchen": 1}

	var st flStats
	var body []byte
	ok := func() bool {
		topics := map[string]int{}
		for _, tp := range st.Topics {
			topics[tp.Name] = tp.Subscribers
		}
		states := map[string]string{}
		for _, p := range st.Pools {
			for _, s := range p.Servers {
				states[s.Name] = s.State
			}
		}
		chatMsgs := uint64(0)
		for _, tp := range st.Topics {
			if tp.Name == "chat" {
				chatMsgs = tp.Messages
			}
		}
		return fmt.Sprint(topics) == fmt.Sprint(wantTopics) && states["alpha"] == "UP" && states["bravo"] == "DOWN" && chatMsgs == 5
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var code int
		code, _, body, err = flGet(url+"?json", "admin", "s3cr3t")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /stats?json with credentials: %d %v %s", code, err, body)
		}
		st = flStats{}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("stats JSON: %v\n%s", err, body)
		}
		if ok() || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ok() {
		t.Errorf("stats ?json never showed topics %v (chat with 5 messages), alpha UP and bravo DOWN:\n%s", wantTopics, body)
	}
	if st.Node.Connections != 6 || st.Node.Subscribers != 6 {
		t.Errorf("node: %d connections, %d subscribers, want 6 and 6", st.Node.Connections, st.Node.Subscribers)
	}
	var routes []string
	for _, r := range st.Routes {
		routes = append(routes, r.Spec+" → "+r.Target)
	}
	slices.Sort(routes)
	if want := []string{"/app=backend:app → backend:app", "/rooms/=topic:* → topic:*", "/ws=topic:chat → topic:chat"}; !slices.Equal(routes, want) {
		t.Errorf("routes %q, want %q", routes, want)
	}
	if len(st.Pools) != 1 || st.Pools[0].Name != "app" || st.Pools[0].Up != 1 || len(st.Pools[0].Servers) != 2 {
		t.Errorf("pools: %s", body)
	}

	code, _, html, err := flGet(url, "admin", "s3cr3t")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /stats: %d %v", code, err)
	}
	for _, s := range []string{"alpha", "bravo", ">UP<", ">DOWN<", ln.Addr().String(), dead, "chat", "lobby", "kitchen", "/rooms/=topic:*"} {
		if !bytes.Contains(html, []byte(s)) {
			t.Errorf("stats HTML lacks %q", s)
		}
	}
}

// -max-conns-per-ip 3: the 4th connection from one address gets 503 and is counted under
// wsgate_refused_connections_total{limit="max-conns-per-ip"}; once one of the three closes, a new one
// is served again.
func TestE2EFailureMaxConnsPerIP(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-max-conns-per-ip", "3", "-drain-time", "100ms")
	var held []*rawConn
	for range 3 {
		held = append(held, upgradeRaw(t, g.Addr, "/ws", 0))
	}
	c := dialRaw(t, g.Addr)
	resp := readResponse(t, c, 5*time.Second) // the gateway answers at accept, before any request
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("4th connection: status %d, want 503", resp.StatusCode)
	}
	if !c.WaitEOF(3 * time.Second) {
		t.Errorf("4th connection: still open after the 503")
	}
	m := scrapeMetrics(t, g.Admin)
	if got, _ := m.get("wsgate_refused_connections_total", `limit="max-conns-per-ip"`); got != 1 {
		t.Errorf(`wsgate_refused_connections_total{limit="max-conns-per-ip"} = %v, want 1`, got)
	}
	m.atLeast(t, "wsgate_http_responses_total", `code="503"`, 1)

	held[0].Close()
	refusedMore := 0
	for deadline := time.Now().Add(5 * time.Second); ; {
		rc, err := flDialWS(g.Addr, "/ws")
		if err == nil {
			rc.Close()
			break
		}
		refusedMore++
		if time.Now().After(deadline) {
			t.Fatalf("no connection served within 5s after one of the three closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, _ := scrapeMetrics(t, g.Admin).get("wsgate_refused_connections_total", `limit="max-conns-per-ip"`); got != float64(1+refusedMore) {
		t.Errorf("refused connections counted %v, want %d", got, 1+refusedMore)
	}
}

// wsgate -check with -config FILE: a good file exits 0 and prints the plan; a bad one exits 1 with one
// [ALERT] line per problem (issue 6: "prints every error with its flag and exits 1, like haproxy -c"),
// whether the problem is a bad value of a known setting or a line the file format itself rejects.
func TestE2EFailureCheckConfig(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	bin := env.binary(t)
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (int, string) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	good := file("good.conf", "# ok\nroute /ws=topic:chat\nroute /app=backend:app\nbackend app=127.0.0.1:3001,127.0.0.1:3002*2;check=tcp\n")
	if code, out := run("-check", "-config", good); code != 0 || !strings.Contains(out, "Configuration is valid") || !strings.Contains(out, "route /app=backend:app") {
		t.Errorf("-check -config good.conf: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		name, body string
		alerts     int      // problems in the file
		want       []string // each must appear in the output
	}{
		{"bad-values.conf", "route /ws=topic:chat\nroute nope\nbackend app=127.0.0.1:notaport\n",
			2, []string{"nope", "notaport"}},
		{"bad-lines.conf", "route /ws=topic:chat\nbackend app=127.0.0.1:notaport\nno-such-setting 1\nmax-conns lots\n",
			3, []string{"notaport", "bad-lines.conf:3", "no-such-setting", "bad-lines.conf:4", "max-conns"}},
	} {
		code, out := run("-check", "-config", file(c.name, c.body))
		alerts := strings.Count(out, "[ALERT]")
		var missing []string
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				missing = append(missing, w)
			}
		}
		if code != 1 || alerts != c.alerts || len(missing) > 0 {
			t.Errorf("-check -config %s: exit %d with %d [ALERT] lines, not reported: %q; want exit 1 and %d [ALERT] lines (one per problem):\n%s",
				c.name, code, alerts, missing, c.alerts, out)
		}
	}
}
