package gateway_test

// A drained node's clients resuming at once on the other nodes (issue 15, "tests with real peers"):
// wsgate.v1 clients (codec/wstest, the independent RFC 6455 client, thousands in this process) on
// node A of a cluster on the Kafka dev broker; A is a process of its own (the binary, so its
// sockets do not count against this process's 20,000 fds) and drains the real way, on SIGTERM:
// close 1001 to every client, spread over -drain-time. Messages are published while the clients
// are away; then every client reconnects at once to the other nodes (in-process) with its last
// position. The same run is the benchmark's (resume_bench_test.go), with timings and a live probe.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// stormSpec sizes one drain storm.
type stormSpec struct {
	clients int
	before  int // published while the clients are on the node that drains (they learn a position)
	missed  int // published while they are away: what every one must recover
	live    int // published after they resumed (0: none): exactly these follow, once each
	drain   time.Duration
	// The benchmark's live probe: baseline runs just before the clients come back, during from the
	// moment they start until every one has caught up (its argument is closed then). nil: none.
	baseline func()
	during   func(stormDone <-chan struct{})
}

// stormResult counts what the clients saw.
type stormResult struct {
	closed1001 int            // clients the drain closed with 1001
	recovered  int            // recovered:true replies
	exact      int            // clients that got exactly the missed messages, in order, no duplicate (and the live ones)
	reasons    map[string]int // why the others were not recovered (the reply's reason or the client's error)
	caughtUp   time.Duration  // reconnect start → the last client's last missed message
	dialed     time.Duration  // reconnect start → the last 101
	errs       []string       // the first few errors, for the failure message
}

// stormClient is one wsgate.v1 client: its socket and the last position it was given.
type stormClient struct {
	c      *rawConn
	offset int64
	epoch  string
}

var stormEnvPrefix = []byte(`{"topic":"chat","offset":`)

// parseStormEnvelope is the fast parse of a delivered message of topic chat (the benchmark parses
// millions of them: encoding/json would be most of its client CPU).
func parseStormEnvelope(p []byte) (offset int64, epoch, data string, ok bool) {
	rest, found := bytes.CutPrefix(p, stormEnvPrefix)
	if !found {
		return 0, "", "", false
	}
	i := bytes.IndexByte(rest, ',')
	if i < 0 {
		return 0, "", "", false
	}
	off, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, "", "", false
	}
	rest, found = bytes.CutPrefix(rest[i:], []byte(`,"epoch":"`))
	if j := bytes.IndexByte(rest, '"'); found && j >= 0 {
		epoch, rest = string(rest[:j]), rest[j+1:]
	} else {
		return 0, "", "", false
	}
	rest, found = bytes.CutPrefix(rest, []byte(`,"data":"`))
	if !found || !bytes.HasSuffix(rest, []byte(`"}`)) {
		return 0, "", "", false
	}
	return off, epoch, string(rest[:len(rest)-2]), true
}

// stormReply is a command's answer.
type stormReply struct {
	ID        *int64 `json:"id"`
	Subscribe *struct {
		Recovered *bool  `json:"recovered"`
		Offset    int64  `json:"offset"`
		Epoch     string `json:"epoch"`
		Reason    string `json:"reason"`
		Messages  *int   `json:"messages"`
	} `json:"subscribe"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// stormUpgrade opens a wsgate.v1 socket on /ws (topic chat), with a small read buffer.
func stormUpgrade(addr string, timeout time.Duration) (*rawConn, error) {
	c, _, err := wstest.Upgrade(addr, "/ws", wstest.Options{Headers: []string{"Sec-WebSocket-Protocol: wsgate.v1"},
		Timeout: timeout, BufSize: 8 << 10})
	return c, err
}

// readStormFrame reads the next data frame, answering pings on the way (a Kafka catch-up in a
// storm may keep a client waiting longer than -ping-interval).
func readStormFrame(c *rawConn, deadline time.Time) (wstest.Received, error) {
	for {
		f, err := c.ReadFrame(deadline)
		if err != nil || f.Op != wstest.OpPing {
			return f, err
		}
		if err := c.WriteFrames(wstest.Frame{Fin: true, Op: wstest.OpPong, Payload: f.Payload}); err != nil {
			return f, err
		}
	}
}

// readStormEnvelope reads one data frame: a message of chat.
func readStormEnvelope(c *rawConn, deadline time.Time) (offset int64, epoch, data string, err error) {
	f, err := readStormFrame(c, deadline)
	if err != nil {
		return 0, "", "", err
	}
	if f.Op != wstest.OpText {
		return 0, "", "", fmt.Errorf("frame op %d (%q)", f.Op, f.Payload)
	}
	if off, ep, d, ok := parseStormEnvelope(f.Payload); ok {
		return off, ep, d, nil
	}
	return 0, "", "", fmt.Errorf("not a message of chat: %.200q", f.Payload)
}

// parallel runs fn(i) for i in [0, n) on n goroutines, after all have started, and returns the
// errors (nil where fn succeeded).
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// firstErrors is the count of non-nil errors and the first few of them.
func firstErrors(errs []error) (int, []string) {
	n, out := 0, []string(nil)
	for i, err := range errs {
		if err != nil {
			n++
			if len(out) < 5 {
				out = append(out, fmt.Sprintf("client %d: %v", i, err))
			}
		}
	}
	return n, out
}

// publishMany publishes body(k) for k in [0, n) to chat through g's publish API, in order.
func publishMany(t *testing.T, g *testGateway, n int, body func(k int) string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	for k := range n {
		req, err := http.NewRequest(http.MethodPost, "http://"+g.Admin+"/v1/publish/chat", bytes.NewReader([]byte(body(k))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+clusterToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("publish %d: %v", k, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("publish %d: status %d", k, resp.StatusCode)
		}
	}
}

// drainStorm runs one storm: sp.clients on the process node a, which drains; they resume at once on
// targets (round robin). watchers are plain subscribers of chat on each target: the missed messages
// are published only once each target has delivered (so holds) everything before them, and the
// clients come back only once each target has delivered the missed ones too (a node that has not
// read a position yet answers recovered:false, by design).
func drainStorm(t *testing.T, a *testGateway, targets []*testGateway, sp stormSpec) stormResult {
	t.Helper()
	var watchers []*clusterClient
	for i, g := range targets {
		watchers = append(watchers, dialCluster(t, g, i, "/ws"))
	}
	clients := make([]*stormClient, sp.clients)
	// 1. Every client connects to a: 32 dialers.
	var next atomic.Int64
	errs := make([]error, 32)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < sp.clients; i = int(next.Add(1)) - 1 {
				c, err := stormUpgrade(a.Addr, 30*time.Second)
				if err != nil {
					errs[w] = err
					return
				}
				clients[i] = &stormClient{c: c}
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.c.Close()
			}
		}
	})
	if n, first := firstErrors(errs); n > 0 {
		t.Fatalf("connecting %d clients to the node that drains: %v", sp.clients, first)
	}
	// 2. Published while they are connected: each learns its position from the last one.
	publishMany(t, targets[0], sp.before, func(k int) string { return "before-" + strconv.Itoa(k) })
	if n, first := firstErrors(parallel(sp.clients, func(i int) error {
		c := clients[i]
		for k := range sp.before {
			off, ep, d, err := readStormEnvelope(c.c, time.Now().Add(60*time.Second))
			if err != nil {
				return fmt.Errorf("message before-%d: %w", k, err)
			}
			if d != "before-"+strconv.Itoa(k) {
				return fmt.Errorf("got %q, want before-%d", d, k)
			}
			c.offset, c.epoch = off, ep
		}
		return nil
	})); n > 0 {
		t.Fatalf("%d clients did not get the %d messages before the drain: %v", n, sp.before, first)
	}
	waitClients(t, "the targets' watchers to get the messages before the drain", 30*time.Second, watchers,
		func(c *clusterClient) bool { return c.count() == sp.before })
	// 3. The drain: SIGTERM, close 1001 to every client over -drain-time.
	var res stormResult
	res.reasons = map[string]int{}
	a.signal(t, syscall.SIGTERM)
	var closed atomic.Int64
	parallel(sp.clients, func(i int) error {
		r := clients[i].c.ReadUntilClose(sp.drain + 20*time.Second)
		clients[i].c.Close()
		if r.GotClose && r.Code == 1001 && len(r.Others) == 0 {
			closed.Add(1)
		}
		return nil
	})
	res.closed1001 = int(closed.Load())
	// 4. Published while they are away.
	publishMany(t, targets[0], sp.missed, func(k int) string { return "m-" + strconv.Itoa(k) })
	waitClients(t, "the targets' watchers to get the missed messages", 60*time.Second, watchers,
		func(c *clusterClient) bool { return c.count() == sp.before+sp.missed })
	// 5. Every client reconnects at once, to the other nodes, with its last position.
	var lastDial, lastCaught atomic.Int64
	if sp.baseline != nil {
		sp.baseline()
	}
	probeDone, stormDone := make(chan struct{}), make(chan struct{})
	if sp.during != nil {
		go func() { defer close(probeDone); sp.during(stormDone) }()
		time.Sleep(100 * time.Millisecond) // the probe's first messages go out before the storm
	} else {
		close(probeDone)
	}
	var recovered atomic.Int64
	t0 := time.Now()
	socks := make([]*rawConn, sp.clients)
	last := make([]int64, sp.clients)
	errs = parallel(sp.clients, func(i int) error {
		c := clients[i]
		ws, err := stormUpgrade(targets[i%len(targets)].Addr, 60*time.Second)
		if err != nil {
			return err
		}
		socks[i] = ws
		atomicMax(&lastDial, int64(time.Since(t0)))
		cmd := fmt.Sprintf(`{"id":7,"subscribe":{"topic":"chat","since":{"offset":%d,"epoch":%q}}}`, c.offset, c.epoch)
		if err := ws.WriteFrames(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(cmd)}); err != nil {
			return err
		}
		deadline := time.Now().Add(180 * time.Second)
		f, err := readStormFrame(ws, deadline)
		if err != nil {
			return fmt.Errorf("subscribe reply: %w", err)
		}
		var rep stormReply
		if err := json.Unmarshal(f.Payload, &rep); err != nil || rep.ID == nil || *rep.ID != 7 || rep.Subscribe == nil || rep.Subscribe.Recovered == nil {
			// Nothing is published to chat meanwhile: no live message may come before the reply.
			return fmt.Errorf("not the subscribe reply: %.200q", f.Payload)
		}
		if !*rep.Subscribe.Recovered {
			return fmt.Errorf("recovered:false (%s)", rep.Subscribe.Reason)
		}
		recovered.Add(1)
		if rep.Subscribe.Messages == nil || *rep.Subscribe.Messages != sp.missed {
			return fmt.Errorf("reply says %v messages follow, want %d", rep.Subscribe.Messages, sp.missed)
		}
		prev := c.offset
		for k := range sp.missed {
			off, ep, d, err := readStormEnvelope(ws, deadline)
			if err != nil {
				return fmt.Errorf("missed message %d: %w", k, err)
			}
			if d != "m-"+strconv.Itoa(k) || off <= prev || ep != c.epoch {
				return fmt.Errorf("missed message %d: %q at %d (epoch %s) after %d: want m-%d, in order, epoch %s", k, d, off, ep, prev, k, c.epoch)
			}
			prev = off
		}
		last[i] = prev
		atomicMax(&lastCaught, int64(time.Since(t0)))
		return nil
	})
	close(stormDone)
	<-probeDone
	res.recovered = int(recovered.Load())
	res.caughtUp, res.dialed = time.Duration(lastCaught.Load()), time.Duration(lastDial.Load())
	// 6. Live after the catch-up: exactly the next messages, once each, and nothing more.
	if sp.live > 0 {
		publishMany(t, targets[len(targets)-1], sp.live, func(k int) string { return "live-" + strconv.Itoa(k) })
		live := parallel(sp.clients, func(i int) error {
			if errs[i] != nil {
				return errs[i]
			}
			prev := last[i]
			for k := range sp.live {
				off, _, d, err := readStormEnvelope(socks[i], time.Now().Add(60*time.Second))
				if err != nil {
					return fmt.Errorf("live message %d: %w", k, err)
				}
				if d != "live-"+strconv.Itoa(k) || off <= prev {
					return fmt.Errorf("live message %d: %q at %d after %d", k, d, off, prev)
				}
				prev = off
			}
			if f, err := readStormFrame(socks[i], time.Now().Add(300*time.Millisecond)); err == nil {
				return fmt.Errorf("a frame after the live ones: %.200q", f.Payload)
			}
			return nil
		})
		errs = live
	}
	for i, err := range errs {
		if err == nil {
			res.exact++
			continue
		}
		key := err.Error()
		if j := bytes.IndexAny([]byte(key), ":0123456789"); j > 0 {
			key = key[:j]
		}
		res.reasons[key]++
		if len(res.errs) < 5 {
			res.errs = append(res.errs, fmt.Sprintf("client %d: %v", i, err))
		}
	}
	for _, s := range socks {
		if s != nil {
			s.Close()
		}
	}
	return res
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// startStormCluster starts the broker, the node that drains (a process) and the targets with
// targetFlags: in this process, or (processes) each a process of its own, so that the clients'
// goroutines and garbage in this process do not stand in their loops' way (the benchmark).
func startStormCluster(t *testing.T, targets int, drain time.Duration, processes bool, targetFlags ...string) (*testGateway, []*testGateway) {
	t.Helper()
	broker := startKafkadev(t, "127.0.0.1:0", "")
	var nodes []*testGateway
	if processes {
		for i := range targets {
			nodes = append(nodes, startGatewayProcess(t, append([]string{"-kafka-brokers", broker.Addr, "-node-id", fmt.Sprintf("n%d", i),
				"-publish-token", clusterToken, "-drain-time", "100ms"}, targetFlags...)...))
		}
		waitBusHealthy(t, nodes, 15*time.Second, "")
	} else {
		nodes = startCluster(t, broker.Addr, targets, targetFlags...)
	}
	a := startGatewayProcess(t, "-kafka-brokers", broker.Addr, "-node-id", "drained", "-publish-token", clusterToken,
		"-drain-time", drain.String())
	waitBusHealthy(t, []*testGateway{a}, 15*time.Second, "")
	return a, nodes
}

// 5,000 wsgate.v1 clients of node A (a process) on a 3-node cluster on the Kafka dev broker: 3
// messages while they are connected, A drains (SIGTERM), 100 published while they are away, every
// client reconnects at once to B or C with its last position → every one recovered:true with
// exactly the 100 in order, no duplicate, then exactly the 2 live ones. Counts, not timings (the
// benchmark, resume_bench_test.go, runs the same storm and times it, with a live probe). This
// process holds 5,000 client sockets while they are on A, then 10,000 (clients and B's and C's
// ends) when they are back: under its 20,000 fds.
func TestResumeDrainStorm(t *testing.T) {
	requireE2E(t, false, false)
	sp := stormSpec{clients: 5000, before: 3, missed: 100, live: 2, drain: time.Second}
	a, targets := startStormCluster(t, 2, sp.drain, false, "-history-size", "200")
	res := drainStorm(t, a, targets, sp)
	if res.closed1001 != sp.clients {
		t.Errorf("the drain closed %d of %d clients with 1001", res.closed1001, sp.clients)
	}
	if res.recovered != sp.clients || res.exact != sp.clients {
		t.Fatalf("%d of %d recovered, %d exact; the others: %v; first errors: %v", res.recovered, sp.clients, res.exact, res.reasons, res.errs)
	}
	var fromMemory float64
	for _, g := range targets {
		fromMemory += v1Metric(t, g, `wsgate_resume_total{result="recovered"}`)
	}
	if fromMemory != float64(sp.clients) {
		t.Errorf("wsgate_resume_total{result=\"recovered\"} over the targets = %v, want %d", fromMemory, sp.clients)
	}
	t.Logf("%d clients drained (1001) and resumed at once on %d nodes: all recovered, %d messages each, in order; caught up in %v (last 101 after %v)",
		sp.clients, len(targets), sp.missed, res.caughtUp.Round(time.Millisecond), res.dialed.Round(time.Millisecond))
}
