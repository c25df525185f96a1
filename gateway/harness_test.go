package gateway_test

// The in-process harness: most tests run the gateway inside the test process, configured exactly as the
// binary configures it (gateway/options parses the same flag strings, then gateway.New and Run), on
// loopback ports, and stopped by the test. Tests that need a process of their own (signals, the
// binary's flags, several processes on one port, the process's RSS) use startGatewayProcess instead
// (process_test.go); both return a *testGateway, so helpers work with either.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec/wstest"
	"github.com/wsgate/wsgate/gateway"
	"github.com/wsgate/wsgate/gateway/options"
)

// testGateway is one gateway under test on loopback, in this process or in a child process.
type testGateway struct {
	Addr  string        // client listener host:port
	Admin string        // admin listener host:port
	log   *tailBuffer   // the gateway's log (tests wait for lines in it)
	done  chan struct{} // closed once Run has returned (in process) or the process has been reaped
	proc  *childProc    // the child process; nil for an in-process gateway
}

func (g *testGateway) wsURL(path string) string { return "ws://" + g.Addr + path }

// exited reports whether the gateway has stopped (a crash or a failed Run is a test failure of its own).
func (g *testGateway) exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// rss is the gateway process's resident set size; only a process gateway has one of its own.
func (g *testGateway) rss() (int64, error) {
	if g.proc == nil {
		return 0, errors.New("an in-process gateway has no RSS of its own: start it with startGatewayProcess")
	}
	return g.proc.rss()
}

// signal sends sig to the gateway process (by PID).
func (g *testGateway) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if g.proc == nil {
		t.Fatalf("signal %v: an in-process gateway has no process: start it with startGatewayProcess", sig)
	}
	if err := g.proc.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to wsgate: %v", sig, err)
	}
}

// harnessDrainTime bounds the drain that stopping an in-process gateway runs at the end of a test
// (the binary's default is 10 s; a process gateway was SIGKILLed 3 s after its SIGTERM). A test's own
// -drain-time comes later on the command line and wins.
const harnessDrainTime = "1s"

// runStopWait bounds the wait for Run to return once the test's context is cancelled: the drain
// (harnessDrainTime + 2 s at most) plus the engine's 5 s stop.
const runStopWait = 15 * time.Second

// freePort asks the kernel for a free loopback port. The port is released before the gateway binds it,
// so a race with another test is possible: startGateway retries when the listener cannot bind.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGateway runs a gateway in this process with the given flags (as wsgate's command line) on fresh
// loopback ports, waits until both listeners accept, and stops it when the test ends: the cleanup
// cancels Run's context and waits for Run to return. Its log is printed on failure.
func startGateway(t *testing.T, flags ...string) *testGateway {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		g, err := tryStartGateway(t, flags)
		if err == nil {
			return g
		}
		lastErr = err
	}
	t.Fatalf("gateway did not start: %v", lastErr)
	return nil
}

func tryStartGateway(t *testing.T, flags []string) (*testGateway, error) {
	t.Helper()
	g := &testGateway{
		Addr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		log:   &tailBuffer{max: 1 << 20},
		done:  make(chan struct{}),
	}
	args := append([]string{"-listen", g.Addr, "-admin-listen", g.Admin, "-drain-time", harnessDrainTime}, flags...)
	// As cmd/wsgate does: flags, then the environment; a bad configuration is the test's own bug.
	o, err := options.Parse(args, options.EnvLookup)
	if o == nil {
		t.Fatalf("wsgate %q: %v", args, err)
	}
	cfg, cerr := o.Config()
	if err = errors.Join(err, cerr); err != nil {
		t.Fatalf("wsgate %q: invalid configuration: %v", args, err)
	}
	level, _ := o.Level()
	log := slog.New(slog.NewTextHandler(g.log, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(cfg, o.NewBus(log, reg), log, reg)
	if err != nil {
		t.Fatalf("wsgate %q: %v", args, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	go func() {
		defer close(g.done)
		runErr = gw.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-g.done:
		case <-time.After(runStopWait):
			t.Errorf("in-process gateway: Run did not return within %v of the cancel", runStopWait)
		}
		if t.Failed() {
			t.Logf("in-process wsgate %q log (tail):\n%s", args, tail(g.log.String(), 64<<10))
		}
	})
	if err := g.awaitListening(10 * time.Second); err != nil {
		cancel()
		<-g.done
		return nil, fmt.Errorf("%w (Run: %v)\n%s", err, runErr, g.log.String())
	}
	return g, nil
}

// awaitListening waits up to timeout until both listeners accept a TCP connection (polling every
// 50 ms), or the gateway stops.
func (g *testGateway) awaitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range []string{g.Addr, g.Admin} {
		for {
			if g.exited() {
				return errors.New("the gateway stopped before it listened")
			}
			c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the gateway did not accept on %s within %v: %w", addr, timeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// tail is the last max bytes of s.
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[len(s)-max:]
}

// The harness itself: a gateway started in a subtest serves a WebSocket client, and once the subtest
// has ended its Run has returned and both listeners are closed; a client left open to the end got
// close 1001 from the drain. Nothing is left behind for the next test.
func TestHarnessStopsTheGateway(t *testing.T) {
	var g *testGateway
	var client *rawConn
	t.Run("serve", func(t *testing.T) {
		g = startGateway(t)
		c, err := wstest.Dial(g.Addr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Handshake("/ws", wstest.Options{Host: g.Addr}); err != nil {
			t.Fatal(err)
		}
		client = c // outlives the subtest: the gateway's cleanup must drain it
	})
	defer client.Close()
	if !g.exited() {
		t.Fatal("the gateway's Run had not returned when its test ended")
	}
	for _, addr := range []string{g.Addr, g.Admin} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after the test ended", addr)
		}
	}
	if r := client.ReadUntilClose(3 * time.Second); !r.GotClose || r.Code != 1001 {
		t.Errorf("a client still open at the end: %v, want close 1001 from the drain", r)
	}
}
