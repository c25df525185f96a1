package loadgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// idleHandler holds connections; messages that arrive while holding (the
// runbook's broadcasts through the publish API) are counted like the
// broadcast scenario's: sequence number and monotonic timestamp in the
// first 16 bytes of the payload.
type idleHandler struct {
	counts []idleLoopCounts
}

type idleLoopCounts struct {
	received, gaps, dups, foreign, maxSeq int64
}

func (h *idleHandler) onOpen(*Loop, *Conn, int64) {}
func (h *idleHandler) onMessage(l *Loop, c *Conn, _ byte, p []byte, now int64) {
	lc := &h.counts[l.idx]
	if len(p) < payloadHeader {
		lc.foreign++
		return
	}
	seq := binary.LittleEndian.Uint64(p[0:8])
	ts := int64(binary.LittleEndian.Uint64(p[8:16]))
	if seq > 1<<40 || ts <= 0 || ts > now+int64(time.Second) {
		lc.foreign++
		return
	}
	lc.received++
	lc.maxSeq = max(lc.maxSeq, int64(seq)+1)
	l.Hist.Record(now - ts)
	switch {
	case seq == c.NextSeq:
		c.NextSeq++
	case seq > c.NextSeq:
		lc.gaps += int64(seq - c.NextSeq)
		c.NextSeq = seq + 1
	default:
		lc.dups++
	}
}
func (h *idleHandler) onClose(*Loop, *Conn)    {}
func (h *idleHandler) tick(*Loop, int64) int64 { return 0 }

// closed reports whether ch is closed (a nil channel never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func fileExists(p string) bool {
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}

// startLoops spreads n connections (IDs from firstID) over cfg.Loops loops.
func startLoops(e *engine, cfg *Config, h handler, n, firstID int) error {
	for i := 0; i < cfg.Loops; i++ {
		_, err := e.addLoop(h, split(n, cfg.Loops, i), firstID+i, cfg.Loops,
			cfg.DialRate/float64(cfg.Loops), max(cfg.MaxInflight/cfg.Loops, 1))
		if err != nil {
			return err
		}
	}
	return nil
}

func connectResult(e *engine, target int, startMono int64) *ConnectResult {
	// Latency is filled in by finishConnect: the loops still write the histogram.
	c := &ConnectResult{Target: target, Opened: e.opened(), Failed: e.failed(), Lost: e.lost()}
	if last := e.maxOf(func(s *LoopStats) int64 { return s.LastOpen.Load() }); last > startMono {
		c.RampSec = float64(last-startMono) / 1e9
		c.RatePerSec = float64(c.Opened) / c.RampSec
	}
	return c
}

// finishConnect completes the ramp figures once the loops have stopped.
func finishConnect(c *ConnectResult, e *engine) {
	c.Lost = e.lost()
	c.Failed = e.failed()
	c.Latency = summarize(e.connectHist())
}

func runIdle(cfg *Config, res *Result) error {
	gw := gateway{pids: cfg.GatewayPIDs}
	t0 := time.Now()
	sample := func(label string, base *Sample, local int64) (Sample, error) {
		s := Sample{Label: label, AtSec: time.Since(t0).Seconds(), LocalConns: local}
		k, err := ReadKernelMem()
		if err != nil {
			return s, err
		}
		s.Kernel = k
		if len(gw.pids) == 0 {
			return s, nil
		}
		if s.RSSKB, err = gw.rssKB(); err != nil {
			return s, err
		}
		if s.AnonKB, err = gw.anonKB(); err != nil {
			return s, err
		}
		if s.GatewayFDs, err = gw.fds(); err != nil {
			return s, err
		}
		if base != nil {
			s.GatewayConns = s.GatewayFDs - base.GatewayFDs
			if s.GatewayConns > 0 {
				n := float64(s.GatewayConns)
				s.KBPerConn = float64(s.RSSKB) / n
				s.DeltaKBConn = float64(s.RSSKB-base.RSSKB) / n
				s.AnonKBConn = float64(s.AnonKB) / n
				s.SlabDeltaKBConn = float64(s.Kernel.SlabKB-base.Kernel.SlabKB) / n
			}
		}
		return s, nil
	}
	// With -settle-get and -metrics-url, the server's Go heap in use after a
	// forced GC, at baseline and settled: live bytes, apart from the freed
	// pages RSS still counts until the runtime returns them.
	heap0 := -1.0
	if cfg.SettleGet != "" && cfg.MetricsURL != "" {
		heap0 = heapAfterGC(cfg.SettleGet, cfg.MetricsURL)
	}
	base, err := sample("baseline", nil, 0)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	idle := &IdleResult{Baseline: base}
	res.Idle = idle

	e, err := newEngine(cfg)
	if err != nil {
		return err
	}
	ih := &idleHandler{counts: make([]idleLoopCounts, cfg.Loops)}
	if err := startLoops(e, cfg, ih, cfg.Conns, 0); err != nil {
		return err
	}
	startMono := nanotime()
	e.start()

	// Checkpoints follow the gateway's connection count, not this process's,
	// so with several generator processes each one samples the same totals.
	next := 0
	var lastCheck time.Time
	var sampleErr error
	check := func() {
		if next >= len(cfg.Checkpoints) || len(gw.pids) == 0 || time.Since(lastCheck) < 200*time.Millisecond {
			return
		}
		lastCheck = time.Now()
		fds, err := gw.fds()
		if err != nil {
			sampleErr = err
			return
		}
		if fds-base.GatewayFDs < cfg.Checkpoints[next] {
			return
		}
		s, err := sample("", &base, e.opened())
		if err != nil {
			sampleErr = err
			return
		}
		for next < len(cfg.Checkpoints) && s.GatewayConns >= cfg.Checkpoints[next] {
			s.Label = fmt.Sprintf("≥%d", cfg.Checkpoints[next])
			next++
		}
		idle.Checkpoints = append(idle.Checkpoints, s)
	}
	// The runbook can end a generator early: the stop file ends the ramp and
	// the hold at once; the pause file ends the ramp only (no new dials) and
	// the hold goes on at the count reached.
	var lastStat time.Time
	stopped := false
	checkFiles := func() {
		if time.Since(lastStat) < 200*time.Millisecond {
			return
		}
		lastStat = time.Now()
		if fileExists(cfg.StopFile) || closed(cfg.Stop) {
			stopped = true
			e.pauseDial.Store(true)
			e.abortWait.Store(true)
		}
		if fileExists(cfg.PauseFile) {
			e.pauseDial.Store(true)
			e.abortWait.Store(true)
		}
	}
	e.waitRamp(cfg.Conns, rampTimeout(cfg, cfg.Conns), func() { check(); checkFiles() })
	res.Connect = connectResult(e, cfg.Conns, startMono)
	holdEnd := time.Now().Add(cfg.Hold)
	for (cfg.HoldUntilStop || time.Now().Before(holdEnd)) && !stopped {
		check()
		checkFiles()
		nap := 250 * time.Millisecond
		if !cfg.HoldUntilStop {
			nap = min(nap, time.Until(holdEnd))
		}
		time.Sleep(nap)
	}
	if stopped {
		idle.StoppedBy = "stop-file"
	}
	final, err := sample("hold-end", &base, e.opened()-e.lost())
	idle.Final = final
	if cfg.SettleGet != "" && err == nil {
		idle.Settled = settledSample(cfg.SettleGet, func() (Sample, error) { return sample("settled", &base, e.opened()-e.lost()) })
		if heap0 >= 0 && idle.Settled != nil && idle.Settled.GatewayConns > 0 {
			if h := heapAfterGC(cfg.SettleGet, cfg.MetricsURL); h >= 0 {
				idle.SettledHeapKBConn = (h - heap0) / 1024 / float64(idle.Settled.GatewayConns)
			}
		}
	}
	stopErr := e.stop()
	var d HoldDeliveries
	for _, lc := range ih.counts {
		d.Received += lc.received
		d.Duplicates += lc.dups
		d.Foreign += lc.foreign
		d.Missing += lc.gaps
		d.MaxSeq = max(d.MaxSeq, lc.maxSeq)
	}
	if d.Received > 0 || d.Foreign > 0 {
		var open int64
		for _, l := range e.loops {
			l.everOpened(func(c *Conn) {
				open++
				if int64(c.NextSeq) < d.MaxSeq {
					d.Missing += d.MaxSeq - int64(c.NextSeq)
				}
			})
		}
		d.Expected = d.MaxSeq * open
		d.Latency = summarize(e.hist())
		if cfg.CDF {
			d.Latency.CDF = CDFPoints(e.hist())
		}
		d.LastRecvMono = e.maxOf(func(s *LoopStats) int64 { return s.LastRecv.Load() })
		idle.Deliveries = &d
	}
	finishConnect(res.Connect, e)
	res.Errors = e.errorCounts()
	if err != nil {
		return fmt.Errorf("final sample: %w", err)
	}
	if sampleErr != nil {
		return fmt.Errorf("checkpoint sample: %w", sampleErr)
	}
	return stopErr
}

// settledSample GETs url (errors ignored: the sample says what it found),
// waits settleWait and samples: the idle figure after a forced GC, as
// gateway's TestTLSIdleMemoryBench measures it.
func settledSample(url string, sample func() (Sample, error)) *Sample {
	cl := http.Client{Timeout: 10 * time.Second}
	if resp, err := cl.Get(url); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	time.Sleep(settleWait)
	s, err := sample()
	if err != nil {
		return nil
	}
	return &s
}

// settleWait lets the runtime's scavenger return some of the freed pages
// after the forced GC (it does so gradually, in the background).
const settleWait = 5 * time.Second

// heapAfterGC GETs gcURL (a forced GC) and returns the server's
// go_memstats_heap_inuse_bytes from metricsURL; -1 when unknown.
func heapAfterGC(gcURL, metricsURL string) float64 {
	cl := http.Client{Timeout: 10 * time.Second}
	if resp, err := cl.Get(gcURL); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	m, err := ScrapeMetrics(metricsURL)
	if err != nil {
		return -1
	}
	h, ok := m["go_memstats_heap_inuse_bytes"]
	if !ok {
		return -1
	}
	return h
}
