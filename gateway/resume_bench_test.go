package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// probeLatencyToken publishes timestamped messages to topic probe every 10 ms (for d, or while run
// runs; with the publish API's bearer token, if any) and returns the p50/p99/max of
// publish→receive at a plain subscriber.
func probeLatencyToken(t *testing.T, g *testGateway, token string, d time.Duration, run func()) string {
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
			publish(t, g, "probe", token, "", []byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
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
// behind, resume at once on a wsgate process (the real binary, its own GOMAXPROCS) — from the
// memory history, and (history off) from Kafka. The Node process parsing 1M JSON envelopes is part
// of what is timed. The live probe (a plain subscriber of another topic, fed every 10 ms through the
// publish API, in this process) is measured for 3 s once the clients are away and the gap is
// published (alone), then from the reconnect until every client has caught up (storm): same node,
// same run. The clients run at nice 0 and at nice 19 (standing for clients on other hosts: every
// process here shares the same 2 cores).
func TestResumeBenchStorm(t *testing.T) {
	if os.Getenv("WSGATE_RESUME_BENCH") != "1" {
		t.Skip("WSGATE_RESUME_BENCH=1 runs the resume storm")
	}
	requireE2E(t, true, false)
	// -resume-rate for the paced cases (WSGATE_STORM_RATE, bytes per second; default 16 MiB/s).
	rate := "16777216"
	if v := os.Getenv("WSGATE_STORM_RATE"); v != "" {
		rate = v
	}
	extra := strings.Fields(os.Getenv("WSGATE_STORM_FLAGS"))
	cases := []struct {
		nice int
		rate string
	}{{0, "0"}, {19, "0"}, {19, rate}}
	for _, c := range cases {
		mem := startGatewayProcess(t, append([]string{"-route", "/ws=topic:chat", "-route", "/probe=topic:probe", "-history-size", "2000",
			"-resume-rate", c.rate}, extra...)...)
		stormWindows(t, fmt.Sprintf("memory, -resume-rate %s, clients at nice %d", c.rate, c.nice), mem, "", c.nice)
	}
	broker := startKafkadev(t, "127.0.0.1:0", "")
	for i, r := range []string{"0", rate} {
		kafka := startGatewayProcess(t, append([]string{"-kafka-brokers", broker.Addr, "-node-id", fmt.Sprintf("k%d", i), "-publish-token", clusterToken,
			"-route", "/ws=topic:chat", "-route", "/probe=topic:probe", "-history-size", "0", "-resume-kafka-timeout", "60s", "-resume-rate", r}, extra...)...)
		waitBusHealthy(t, []*testGateway{kafka}, 15*time.Second, "")
		stormWindows(t, fmt.Sprintf("kafka only (history off), -resume-rate %s, clients at nice 19", r), kafka, clusterToken, 19)
	}
	// The clients move to a node started after the gap: the first fetch keeps what it read
	// (-history-size 2000), the rest are served from memory.
	r, node1 := resumeOnNewNode(t, broker.Addr, startCluster(t, broker.Addr, 1)[0], 1000, 1000, "-history-size", "2000")
	if !r.AllRecovered || r.Bad != 0 || r.Clients != 1000 {
		t.Fatalf("new node: %+v", r)
	}
	t.Logf("new node (Kafka, then its backfill): 1000 clients x 1000 messages: all recovered, caught up in %d ms; %v from Kafka, %v from memory",
		r.CaughtUpMs, v1Metric(t, node1, `wsgate_resume_total{result="recovered_kafka"}`), v1Metric(t, node1, `wsgate_resume_total{result="recovered"}`))
}

// stormWindows runs resume-client.js (1,000 clients x 1,000 messages) against g at the given
// nice value, holding the reconnect until the probe has measured 3 s alone, then measures the
// probe until the clients report, and logs both.
func stormWindows(t *testing.T, name string, g *testGateway, token string, nice int) {
	t.Helper()
	args := []string{"-n", strconv.Itoa(nice), "node", "resume-client.js", "--url", g.wsURL("/ws"),
		"--admin", "http://" + g.Admin, "--topic", "chat", "--n", "1000", "--clients", "1000", "--timeout", "280000"}
	if token != "" {
		args = append(args, "--token", token)
	}
	gc := startGapClients(t, "nice", args...)
	alone := probeLatencyToken(t, g, token, 3*time.Second, nil)
	var r resumeResult
	storm := probeLatencyToken(t, g, token, 0, func() { r = gc.resume(t, g.wsURL("/ws")) })
	if !r.AllRecovered || r.Bad != 0 || r.Clients != 1000 {
		t.Fatalf("%s: %+v", name, r)
	}
	t.Logf("%s: 1000 clients x 1000 messages: all recovered, whole and in order, caught up in %d ms; history %v messages, %v bytes",
		name, r.CaughtUpMs, v1Metric(t, g, "wsgate_history_messages"), v1Metric(t, g, "wsgate_history_bytes"))
	t.Logf("%s: live delivery (publish API -> plain subscriber, 100/s) p50/p99/max: alone %s, during the storm %s", name, alone, storm)
}

// The drain storm's figures (WSGATE_RESUME_BENCH=1; WSGATE_STORM_CLIENTS, WSGATE_STORM_MISSED to
// resize): the clients of a drained node (TestResumeDrainStorm's run: a 3-node cluster on the Kafka
// dev broker, node A draining on SIGTERM) resume at once on B and C, each that many messages
// behind — from B's and C's memory history, then (a fresh cluster, history off) from Kafka alone.
// Every node is a process of its own and so is the live probe (TestStormProbeChild: a plain
// subscriber of another topic on B, fed through B's publish API at 100/s), measured for 3 s just
// before the storm and during it, same run: the 5,000 clients' goroutines and garbage stay in
// this process, out of the gateways' and the probe's way.
func TestResumeBenchDrainStorm(t *testing.T) {
	if os.Getenv("WSGATE_RESUME_BENCH") != "1" {
		t.Skip("WSGATE_RESUME_BENCH=1 runs the resume storm")
	}
	requireE2E(t, false, false)
	envInt := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	clients, missed := envInt("WSGATE_STORM_CLIENTS", 5000), envInt("WSGATE_STORM_MISSED", 1000)
	run := func(name string, nice int, flags ...string) {
		sp := stormSpec{clients: clients, before: 1, missed: missed, drain: time.Second}
		a, targets := startStormCluster(t, 2, sp.drain, true, append([]string{"-route", "/ws=topic:chat", "-route", "/probe=topic:probe"}, flags...)...)
		probe := startProbeChild(t, targets[0])
		sp.baseline = func() { probe.command("on alone"); time.Sleep(3 * time.Second); probe.command("off") }
		sp.during = func(done <-chan struct{}) {
			// The clients (this process) at a lower priority stand for clients on other hosts:
			// every process here shares the same 2 cores. Set back before anything else starts
			// (children inherit it).
			niceThreads(t, nice)
			defer niceThreads(t, 0)
			probe.command("on storm")
			if dir := os.Getenv("WSGATE_STORM_PROFILE"); dir != "" {
				// A CPU profile and an execution trace of node B during the storm (go tool pprof
				// FILE.pprof; go tool trace -pprof=sched FILE.trace: where goroutines waited).
				file := filepath.Join(dir, fmt.Sprintf("%s-%d-nice%d", strings.Fields(name)[0], len(name), nice))
				go saveURL(t, "http://"+targets[0].Admin+"/debug/pprof/profile?seconds=2", file+".pprof")
				go saveURL(t, "http://"+targets[0].Admin+"/debug/pprof/trace?seconds=1.5", file+".trace")
				go saveURL(t, "http://"+targets[0].Admin+"/debug/pprof/trace?seconds=1.5",
					filepath.Join(dir, fmt.Sprintf("%s-nice%d.trace", strings.Fields(name)[0], nice)))
			}
			<-done
			probe.command("off")
		}
		res := drainStorm(t, a, targets, sp)
		if res.closed1001 != clients || res.recovered != clients || res.exact != clients {
			t.Fatalf("%s: %d closed with 1001, %d recovered, %d exact of %d; the others: %v; first errors: %v",
				name, res.closed1001, res.recovered, res.exact, clients, res.reasons, res.errs)
		}
		var mem, kafka float64
		for _, g := range targets {
			mem += resumeCount(t, g, "recovered")
			kafka += resumeCount(t, g, "recovered_kafka")
		}
		name = fmt.Sprintf("%s, clients at nice %d", name, nice)
		t.Logf("%s: %d clients x %d messages: all recovered, whole and in order; all caught up %v after the reconnect began (last 101 at %v); %v from memory, %v from Kafka",
			name, clients, missed, res.caughtUp.Round(time.Millisecond), res.dialed.Round(time.Millisecond), mem, kafka)
		lat := probe.results(t)
		t.Logf("%s: live delivery (publish API -> plain subscriber on B, 100/s) p50/p99/max: alone %s, during the storm %s", name, lat["alone"], lat["storm"])
	}
	// Each case on a fresh cluster. nice 19: the clients (this process) yield the 2 shared cores to
	// the gateways, as clients on other hosts would. From Kafka with the default 4 fetch workers
	// per node and with 1 (-resume-kafka-fetches).
	hist := strconv.Itoa(missed + 100)
	kafka := []string{"-history-size", "0", "-resume-kafka-timeout", "120s"}
	run("memory", 0, "-history-size", hist)
	run("memory", 19, "-history-size", hist)
	rate := "33554432" // 32 MiB/s per node: B and C together serve the 5,000 at 64 MiB/s
	if v := os.Getenv("WSGATE_STORM_RATE"); v != "" {
		rate = v
	}
	run("memory, -resume-rate "+rate, 19, "-history-size", hist, "-resume-rate", rate)
	run("kafka only (history off), 4 fetches", 19, kafka...)
	run("kafka only (history off), 1 fetch", 19, append(kafka, "-resume-kafka-fetches", "1")...)
}

// niceThreads sets the nice value of every thread of this process (on Linux it is per thread;
// a thread made later inherits its creator's). Lowering it again needs CAP_SYS_NICE (root here).
func niceThreads(t *testing.T, nice int) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Logf("nice: %v", err)
		return
	}
	for _, e := range tasks {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
				t.Logf("nice %d thread %d: %v", nice, tid, err)
			}
		}
	}
}

// probeChild is TestStormProbeChild running as a child process (this test binary again).
type probeChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

func startProbeChild(t *testing.T, g *testGateway) *probeChild {
	t.Helper()
	p := &probeChild{cmd: exec.Command(os.Args[0], "-test.run", "^TestStormProbeChild$", "-test.count", "1")}
	p.cmd.Env = append(os.Environ(), "WSGATE_PROBE_ADDR="+g.Addr, "WSGATE_PROBE_ADMIN="+g.Admin, "WSGATE_PROBE_TOKEN="+clusterToken)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("probe process: %v", err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

func (p *probeChild) command(c string) { _, _ = io.WriteString(p.stdin, c+"\n") }

// results ends the probe and returns its p50/p99/max by label.
func (p *probeChild) results(t *testing.T) map[string]string {
	t.Helper()
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("probe process: %v\n%s", err, p.out.String())
	}
	for line := range strings.SplitSeq(p.out.String(), "\n") {
		if js, ok := strings.CutPrefix(line, "PROBE "); ok {
			var r map[string]string
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				t.Fatalf("probe output %q: %v", js, err)
			}
			return r
		}
	}
	t.Fatalf("probe process printed no result:\n%s", p.out.String())
	return nil
}

// TestStormProbeChild is the live probe of TestResumeBenchDrainStorm, run by it as a child process
// (WSGATE_PROBE_ADDR set): a plain subscriber of topic probe, and every 10 ms a publish of the time
// through the publish API while a label is on. Stdin: "on LABEL", "off"; at its end the probe
// prints "PROBE " and, per label, publish→receive p50/p99/max and the count.
func TestStormProbeChild(t *testing.T) {
	addr := os.Getenv("WSGATE_PROBE_ADDR")
	if addr == "" {
		t.Skip("the drain storm benchmark's probe process (TestResumeBenchDrainStorm starts it)")
	}
	admin, token := os.Getenv("WSGATE_PROBE_ADMIN"), os.Getenv("WSGATE_PROBE_TOKEN")
	c := upgradeRaw(t, addr, "/probe", 0)
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	go func() {
		for {
			f, err := c.ReadFrame(time.Now().Add(10 * time.Minute))
			if err != nil {
				return
			}
			at := time.Now()
			label, ns, ok := strings.Cut(string(f.Payload), " ")
			if n, err := strconv.ParseInt(ns, 10, 64); ok && err == nil {
				mu.Lock()
				lat[label] = append(lat[label], at.Sub(time.Unix(0, n)))
				mu.Unlock()
			}
		}
	}()
	var label atomic.Pointer[string]
	go func() {
		hc := &http.Client{Timeout: 10 * time.Second}
		for range time.Tick(10 * time.Millisecond) {
			l := label.Load()
			if l == nil {
				continue
			}
			req, _ := http.NewRequest(http.MethodPost, "http://"+admin+"/v1/publish/probe",
				strings.NewReader(*l+" "+strconv.FormatInt(time.Now().UnixNano(), 10)))
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if l, ok := strings.CutPrefix(sc.Text(), "on "); ok {
			label.Store(&l)
		} else {
			label.Store(nil)
		}
	}
	label.Store(nil)
	time.Sleep(500 * time.Millisecond) // the last ones arrive
	mu.Lock()
	defer mu.Unlock()
	out := map[string]string{}
	for l, d := range lat {
		slices.Sort(d)
		q := func(p float64) time.Duration {
			return d[min(len(d)-1, int(p*float64(len(d))))].Round(10 * time.Microsecond)
		}
		out[l] = fmt.Sprintf("%v/%v/%v (%d messages)", q(0.5), q(0.99), d[len(d)-1].Round(10*time.Microsecond), len(d))
	}
	js, _ := json.Marshal(out)
	fmt.Printf("\nPROBE %s\n", js)
}

// resumeCount is wsgate_resume_total{result}, 0 when the series has not appeared yet.
func resumeCount(t *testing.T, g *testGateway, result string) float64 {
	t.Helper()
	v, _ := metricSample(t, g, `wsgate_resume_total{result="`+result+`"}`)
	return v
}

// saveURL writes the answer of a GET to file (a failure is logged, not fatal: it runs off the test
// goroutine).
func saveURL(t *testing.T, url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Logf("GET %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		t.Logf("save %s: %v", file, err)
	}
}
