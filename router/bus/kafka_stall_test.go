package bus

// A hung broker (issue 16, item 5): the broker process is frozen with SIGSTOP,
// so its TCP connections stay open and nothing is refused; produce requests
// just never get an answer (a partition, a long GC pause). The publishing node
// must still deliver to its own subscribers within about a second, then, after
// the thaw, every message crosses to the other node in order and none is
// delivered twice anywhere.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startKafkadevProcess builds cmd/kafkadev into a temporary directory and runs
// it as a child process (kfake in-process cannot be frozen), returning its
// address and process.
func startKafkadevProcess(t *testing.T) (string, *os.Process) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kafkadev")
	build := exec.Command("go", "build", "-o", bin, "github.com/wsgate/wsgate/cmd/kafkadev")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kafkadev: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-partitions", "4", "-topics", testTopic)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kafkadev: %v", err)
	}
	t.Cleanup(func() {
		// Thaw first: a stopped process does not act on SIGTERM.
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- addr
			}
		}
	}()
	select {
	case addr := <-ready:
		return addr, cmd.Process
	case <-time.After(30 * time.Second):
		t.Fatal("kafkadev did not print ready")
	}
	return "", nil
}

// processStopped reports whether every thread of pid is in state T (stopped).
func processStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

func TestKafkaFrozenBrokerDeliversLocallyThenOnceInOrder(t *testing.T) {
	addr, broker := startKafkadevProcess(t)
	ra, rb := newRecorder(), newRecorder()
	stall := func(c *KafkaConfig) { c.StallTimeout = time.Second }
	a := newTestBus(t, "a", []string{addr}, ra.handle, stall)
	b := newTestBus(t, "b", []string{addr}, rb.handle, stall)
	if ok, detail := a.Status(); !ok {
		t.Fatalf("bus a not healthy after start: %s", detail)
	}
	// Warm up: both nodes' readers and a's producer connection are in use.
	if err := a.Publish("room", OpText, []byte("warm")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "warm-up on both nodes", 10*time.Second, func() bool { return ra.has("warm") && rb.has("warm") })

	if err := broker.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP kafkadev: %v", err)
	}
	// The signal is asynchronous: wait until every thread is stopped, or a
	// loaded host lets the broker answer the first publish normally.
	waitFor(t, "kafkadev stopped", 5*time.Second, func() bool { return processStopped(broker.Pid) })
	frozen := time.Now()
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = broker.Signal(syscall.SIGCONT)
		}
	}
	defer thaw()

	// Publish while frozen: the first message must reach a's own subscriber
	// within ~1 s (the stall threshold) plus scheduling slack.
	const n = 30
	want := make([]string, 0, n+1)
	want = append(want, "warm")
	start := time.Now()
	for i := range n {
		p := fmt.Sprintf("m-%02d", i)
		want = append(want, p)
		if err := a.Publish("room", OpText, []byte(p)); err != nil {
			t.Fatalf("publish %s while frozen: %v", p, err)
		}
		if i == 0 {
			waitFor(t, "first local delivery while the broker is frozen", 10*time.Second, func() bool { return ra.has("m-00") })
			first := time.Since(start)
			t.Logf("first local delivery while frozen: %v after publish", first.Round(time.Millisecond))
			if first > 1500*time.Millisecond {
				t.Errorf("first local delivery took %v with the broker frozen, want <= 1.5s", first)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "all local deliveries while frozen", 2*time.Second, func() bool { return ra.len() == n+1 })
	ok, detail := a.Status()
	if ok || !strings.Contains(detail, "kafka produce stalled for") {
		t.Errorf("status while frozen: healthy=%v %q, want unhealthy and \"kafka produce stalled for\"", ok, detail)
	}
	t.Logf("status while frozen: %s", detail)
	if b.isDegraded() || rb.len() != 1 {
		t.Errorf("node b delivered %d messages while the broker was frozen (degraded=%v), want 1 (warm)", rb.len(), b.isDegraded())
	}
	// Stay frozen past the produce client's own timeouts, as a long pause would.
	time.Sleep(time.Until(frozen.Add(5 * time.Second)))

	thaw()
	thawAt := time.Now()
	waitFor(t, "every message on b after the thaw", 15*time.Second, func() bool { return rb.len() >= n+1 })
	t.Logf("all %d messages on b %v after the thaw", n, time.Since(thawAt).Round(time.Millisecond))
	waitFor(t, "a healthy after the thaw", 10*time.Second, func() bool { ok, _ := a.Status(); return ok })
	time.Sleep(time.Second) // let any duplicate (an echo, a retried write) show up
	for name, r := range map[string]*recorder{"a": ra, "b": rb} {
		if d := r.duplicates(); len(d) > 0 {
			t.Errorf("node %s delivered duplicates: %v", name, d)
		}
		got := r.byTopic()["room"]
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("node %s delivered %v, want %v (publish order, once)", name, got, want)
		}
	}
}
