package gateway_test

// Process-level: SIGTERM drains 2k clients with close 1001 spread over -drain-time, then the process
// exits 0. It needs the binary: the signal and the exit code are what is tested.

import (
	"encoding/binary"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

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
	g.signal(t, syscall.SIGTERM)

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
