package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/codec/wstest"
)

// TestGripDetachedRSS (the benchmark; set WSGATE_BENCH_GRIP=N to run it with N sessions,
// 9000 in the issue): N clients whose GRIP backend subscribes and detaches each at once, so the proxy
// holds them alone; the proxy's RSS over its baseline per session, wsgate beside Pushpin 1.36 on the
// same backend. Needs a quiet machine: other processes' load moves the figures.
func TestGripDetachedRSS(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WSGATE_BENCH_GRIP"))
	if n <= 0 {
		t.Skip("set WSGATE_BENCH_GRIP=9000 to measure detached GRIP sessions' memory")
	}
	requireE2E(t, false, false)
	backend := detachingBackend(t)

	g := startGatewayProcess(t, "-backend", "app="+backend+";grip", "-route", "/app=backend:app",
		"-ping-interval", "10m", "-idle-timeout", "20m")
	base, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wsgate baseline: RSS %d KiB (%s; %s)", base>>10, procStatus(g), memStats(g.Admin))
	cpu := procCPU(t, g)
	conns, err := holdClients(g.Addr, "/app", n)
	if err != nil {
		t.Fatalf("wsgate: %d of %d clients: %v", countOpen(conns), n, err)
	}
	waitMetric(t, g.Admin, "wsgate_grip_sessions", `state="detached"`, float64(n))
	time.Sleep(3 * time.Second) // a wave of detaches ends in a reclaim after a second's quiet (grip.go)
	after, _ := g.rss()
	t.Logf("wsgate: gateway CPU for the wave (upgrades, backend dials, detaches, reclaim): %.1f µs per session",
		float64(procCPU(t, g)-cpu)/float64(time.Microsecond)/float64(n))
	t.Logf("wsgate: %d detached GRIP sessions, RSS %d KiB -> %d KiB: %.2f KiB per session (%s; %s)",
		n, base>>10, after>>10, float64(after-base)/float64(n)/1024, procStatus(g), memStats(g.Admin))
	if os.Getenv("WSGATE_BENCH_GRIP_QUICK") == "1" {
		closeAll(conns)
		return // iterating on the first figure alone: no settled figure, no plain subscribers, no Pushpin
	}
	settledRSS(t, g, n, "detached GRIP sessions", base, os.Getenv("WSGATE_BENCH_GRIP_HEAP"))
	closeAll(conns)

	// The same number of plain topic subscribers, for scale: what a held client costs anyway.
	plain := startGatewayProcess(t, "-route", "/app=topic:bench", "-ping-interval", "10m", "-idle-timeout", "20m")
	base, _ = plain.rss()
	cpu = procCPU(t, plain)
	conns, err = holdClients(plain.Addr, "/app", n)
	if err != nil {
		t.Fatalf("plain: %v", err)
	}
	time.Sleep(3 * time.Second)
	after, _ = plain.rss()
	t.Logf("wsgate: gateway CPU for the plain wave (upgrades): %.1f µs per session",
		float64(procCPU(t, plain)-cpu)/float64(time.Microsecond)/float64(n))
	t.Logf("wsgate: %d plain topic subscribers, RSS %d KiB -> %d KiB: %.2f KiB per session (%s; %s)",
		n, base>>10, after>>10, float64(after-base)/float64(n)/1024, procStatus(plain), memStats(plain.Admin))
	plainHeap := os.Getenv("WSGATE_BENCH_GRIP_HEAP")
	if plainHeap != "" {
		plainHeap += ".plain"
	}
	settledRSS(t, plain, n, "plain topic subscribers", base, plainHeap)
	closeAll(conns)

	if os.Getenv("WSGATE_BENCH_GRIP_PUSHPIN") == "0" {
		return // iterating on wsgate's own figures
	}
	pp := startPushpin(t, backend)
	time.Sleep(time.Second)
	ppBase := treeRSS(t, pp.cmd.Process.Pid)
	conns, err = holdClients(pp.HTTP, "/app", n)
	open := countOpen(conns)
	if err != nil {
		t.Logf("Pushpin: %d of %d clients opened (%v)", open, n, err)
	}
	time.Sleep(3 * time.Second) // Pushpin has no count of detached sessions to wait for
	ppAfter := treeRSS(t, pp.cmd.Process.Pid)
	t.Logf("Pushpin 1.36: %d detached GRIP sessions, RSS %d KiB -> %d KiB: %.2f KiB per session",
		open, ppBase>>10, ppAfter>>10, float64(ppAfter-ppBase)/float64(max(open, 1))/1024)
	closeAll(conns)
}

// settledRSS logs the gateway's RSS per session once a GC has run (a heap profile with gc=1, saved to
// heapFile when set) and 15 s have passed: gnet's worker pool has let its idle goroutines go (their
// stacks), the scavenger has had time, and the garbage of the sessions' short-lived backend connections
// no longer counts, only what the held clients keep.
func settledRSS(t *testing.T, g *testGateway, n int, what string, base int64, heapFile string) {
	t.Helper()
	resp, err := http.Get("http://" + g.Admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Logf("heap profile: %v", err)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if heapFile != "" {
		_ = os.WriteFile(heapFile, b, 0o644)
	}
	time.Sleep(25 * time.Second) // gnet's worker pool, which ran the backend dials' enrolment, lets its idle goroutines go after 10-20 s
	after, _ := g.rss()
	t.Logf("wsgate: %d %s after a GC: RSS %d KiB: %.2f KiB per session (%s; %s)", n, what, after>>10,
		float64(after-base)/float64(n)/1024, procStatus(g), memStats(g.Admin))
}

// memStats is the runtime's view of the gateway's memory, from the heap profile's debug page: where
// RSS over the live heap goes (idle spans not yet returned, stacks, fragmentation).
func memStats(admin string) string {
	resp, err := http.Get("http://" + admin + "/debug/pprof/heap?debug=1")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, k := range []string{"Sys", "HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "Stack", "MSpan", "GCSys", "OtherSys", "NumGC"} {
			v, ok := strings.CutPrefix(line, "# "+k+" = ")
			if !ok {
				continue
			}
			if k != "NumGC" {
				f := strings.Fields(v) // "N" or "inuse / sys"
				n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
				v = strconv.FormatInt(n>>10, 10) + "K"
			}
			out = append(out, k+" "+v)
		}
	}
	if resp, err := http.Get("http://" + admin + "/debug/pprof/goroutine?debug=1"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		first, _, _ := strings.Cut(string(b), "\n")
		if v, ok := strings.CutPrefix(first, "goroutine profile: total "); ok {
			out = append(out, "goroutines "+v)
		}
	}
	return strings.Join(out, ", ")
}

// procStatus is the kernel's split of the gateway's RSS (anonymous memory, mapped files: the
// binary's pages that have been run or read, its code and its pclntab, which stack growth, GC stack
// scans and profiling read) and its thread count, from /proc/PID/status and smaps.
func procStatus(g *testGateway) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.proc.cmd.Process.Pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "RssAnon" || k == "RssFile" || k == "Threads" {
			out = append(out, k+" "+strings.Join(strings.Fields(v), ""))
		}
	}
	if sm, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", g.proc.cmd.Process.Pid)); err == nil {
		var perm string
		for _, line := range strings.Split(string(sm), "\n") {
			f := strings.Fields(line)
			if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
				perm = f[1]
				if len(f) < 6 || !strings.Contains(f[5], "wsgate") {
					perm = ""
				}
				continue
			}
			if label := map[string]string{"r-xp": "binary text", "r--p": "binary rodata+pclntab"}[perm]; label != "" && len(f) >= 2 && f[0] == "Rss:" {
				out = append(out, label+" "+f[1]+"kB")
			}
		}
	}
	return strings.Join(out, ", ")
}

func countOpen(conns []*wstest.Conn) int {
	n := 0
	for _, c := range conns {
		if c != nil {
			n++
		}
	}
	return n
}

// detachingBackend is a minimal GRIP backend: it accepts grip, subscribes the session to "bench" and
// detaches at once.
func detachingBackend(t *testing.T) string { return gripBackend(t, true) }

// gripBackend is a minimal GRIP backend: it accepts grip and subscribes the session to "bench"; with
// detach it detaches at once, else it holds the session open (attached) until the proxy closes it.
func gripBackend(t *testing.T, detach bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	frame := func(s string) []byte { return codec.AppendFrame(nil, ws.OpText, []byte(s)) } // server frames: unmasked
	msgs := frame(`c:{"type":"subscribe","channel":"bench"}`)
	idle := time.Hour
	if detach {
		msgs = append(msgs, frame(`c:{"type":"detach"}`)...)
		idle = 30 * time.Second
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
					"Sec-WebSocket-Accept: " + wstest.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" +
					"Sec-WebSocket-Extensions: grip\r\n\r\n"))
				_, _ = c.Write(msgs)
				_ = c.SetReadDeadline(time.Now().Add(idle))
				var b [512]byte
				for {
					if _, err := c.Read(b[:]); err != nil {
						return // the proxy closed it (detach)
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// holdClients opens n WebSocket clients to addr's path, 64 at a time; a failed one stays nil.
func holdClients(addr, path string, n int) ([]*wstest.Conn, error) {
	conns := make([]*wstest.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, _, err := wstest.Upgrade(addr, path, wstest.Options{Timeout: 20 * time.Second, BufSize: 512})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	return conns, firstErr
}

func closeAll(conns []*wstest.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// waitMetric waits until name{label} reaches want.
func waitMetric(t *testing.T, admin, name, label string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, _ := scrapeMetrics(t, admin).get(name, label)
		if v >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} = %v, want %v", name, label, v, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// treeRSS is the RSS of pid and its children (Pushpin's runner starts condure, zurl, the proxy and
// the handler).
func treeRSS(t *testing.T, pid int) int64 {
	t.Helper()
	total := procRSS(pid)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			total += procRSS(c)
		}
	}
	return total
}

func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
