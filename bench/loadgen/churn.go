package loadgen

import (
	"sync/atomic"
	"time"
)

// ChurnResult is the churn scenario's outcome: connections opened, upgraded
// and closed again as fast as -dial-rate (0: as fast as -max-inflight allows)
// for -duration, and what that did to the server.
type ChurnResult struct {
	DurationSec     float64 `json:"duration_sec"`
	TargetRate      float64 `json:"target_rate"` // dials/s asked for (0: unpaced)
	Dialed          int64   `json:"dialed"`
	Upgraded        int64   `json:"upgraded"` // 101 received (then closed by us) within the window
	Failed          int64   `json:"failed"`
	UpgradesPerSec  float64 `json:"upgrades_per_sec"`
	Latency         Latency `json:"latency"` // dial → 101
	GatewayCPUSec   float64 `json:"gateway_cpu_sec"`
	CPUUsPerUpgrade float64 `json:"gateway_cpu_us_per_upgrade"`
	// Server memory drift: RSS before, peak while churning, right after,
	// and after a settle pause; fds before and after the settle (a leak shows
	// as fds that stay up).
	RSSStartKB   int64        `json:"rss_start_kb"`
	RSSPeakKB    int64        `json:"rss_peak_kb"`
	RSSEndKB     int64        `json:"rss_end_kb"`
	RSSSettledKB int64        `json:"rss_settled_kb"`
	FDsStart     int          `json:"fds_start"`
	FDsSettled   int          `json:"fds_settled"`
	RSSSeries    [][2]float64 `json:"rss_series,omitempty"` // (s, KB) every 0.5 s
}

// churnHandler closes every connection as soon as its upgrade completes:
// a close frame (1000) and close(2), so the server sees the whole
// open → upgrade → close cycle.
type churnHandler struct{ upgraded atomic.Int64 }

func (h *churnHandler) onOpen(l *Loop, c *Conn, _ int64) {
	h.upgraded.Add(1)
	l.wbuf = AppendClientFrame(l.wbuf[:0], OpClose, []byte{0x03, 0xe8}, maskKey())
	l.write(c, l.wbuf)
	if c.state != stClosed {
		l.closeFD(c)
	}
}
func (h *churnHandler) onMessage(*Loop, *Conn, byte, []byte, int64) {}
func (h *churnHandler) onClose(*Loop, *Conn)                        {}
func (h *churnHandler) tick(*Loop, int64) int64                     { return 0 }

func runChurn(cfg *Config, res *Result) error {
	gw := gateway{pids: cfg.GatewayPIDs}
	x := &ChurnResult{TargetRate: cfg.DialRate}
	if len(gw.pids) > 0 {
		x.RSSStartKB, _ = gw.rssKB()
		x.FDsStart, _ = gw.fds()
	}
	e, err := newEngine(cfg)
	if err != nil {
		return err
	}
	h := &churnHandler{}
	// Dial "forever": the window below ends the run. 1<<30 bounds the counter.
	for i := 0; i < cfg.Loops; i++ {
		if _, err := e.addLoop(h, 1<<30, i, cfg.Loops, cfg.DialRate/float64(cfg.Loops), max(cfg.MaxInflight/cfg.Loops, 1)); err != nil {
			return err
		}
	}
	cpu0, _ := gw.cpuSeconds()
	t0 := time.Now()
	e.start()
	end := t0.Add(cfg.Duration)
	x.RSSPeakKB = x.RSSStartKB
	for time.Now().Before(end) {
		time.Sleep(min(500*time.Millisecond, time.Until(end)))
		if len(gw.pids) > 0 {
			if r, err := gw.rssKB(); err == nil {
				x.RSSPeakKB = max(x.RSSPeakKB, r)
				x.RSSSeries = append(x.RSSSeries, [2]float64{time.Since(t0).Seconds(), float64(r)})
			}
		}
	}
	elapsed := time.Since(t0).Seconds()
	x.Upgraded = h.upgraded.Load()
	x.Dialed = e.sum(func(s *LoopStats) int64 { return s.Dialed.Load() })
	cpu1, _ := gw.cpuSeconds()
	stopErr := e.stop()
	x.Failed = e.failed()
	res.Errors = e.errorCounts()
	x.DurationSec = elapsed
	x.UpgradesPerSec = float64(x.Upgraded) / elapsed
	x.Latency = summarize(e.connectHist())
	if len(gw.pids) > 0 {
		x.GatewayCPUSec = cpu1 - cpu0
		if x.Upgraded > 0 {
			x.CPUUsPerUpgrade = x.GatewayCPUSec / float64(x.Upgraded) * 1e6
		}
		x.RSSEndKB, _ = gw.rssKB()
		time.Sleep(3 * time.Second)
		x.RSSSettledKB, _ = gw.rssKB()
		x.FDsSettled, _ = gw.fds()
	}
	res.Churn = x
	return stopErr
}
