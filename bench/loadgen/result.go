package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Result is what one generator process reports: one JSON line on stdout.
type Result struct {
	Scenario   string            `json:"scenario"`
	Label      string            `json:"label,omitempty"`  // what was measured, e.g. "wsgate", "node"
	RunID      string            `json:"run_id,omitempty"` // groups the processes of one run
	Proc       int               `json:"proc"`             // index of this process within the run
	Time       string            `json:"time"`
	URL        string            `json:"url,omitempty"`
	Params     Params            `json:"params"`
	Connect    *ConnectResult    `json:"connect,omitempty"`
	Idle       *IdleResult       `json:"idle,omitempty"`
	Broadcast  *BroadcastResult  `json:"broadcast,omitempty"`
	Echo       *EchoResult       `json:"echo,omitempty"`
	WriteFloor *WriteFloorResult `json:"writefloor,omitempty"`
	Churn      *ChurnResult      `json:"churn,omitempty"`
	// TLS: the generator's handshake counts in TLS mode (-tls, wss://).
	TLS *TLSStats `json:"tls,omitempty"`
	// Metrics: the server's /metrics counters, end minus start of the run
	// (summed over label sets), when -metrics-url was given.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// The generator's own cost, so a reader can tell a gateway limit from a
	// generator limit.
	GeneratorCPUSec float64 `json:"generator_cpu_sec"`
	GeneratorRSSKB  int64   `json:"generator_rss_kb"`
	WallSec         float64 `json:"wall_sec"`
	// LoadAvg is the host's 1-minute load average at the start and the end:
	// the machine is shared, and a load above its 2 cores skews every figure.
	LoadAvg [2]float64     `json:"loadavg"`
	Errors  map[string]int `json:"errors,omitempty"`
}

// Params echoes the knobs of the run.
type Params struct {
	Conns       int     `json:"conns"`
	Loops       int     `json:"loops"`
	Sources     int     `json:"sources"`
	DialRate    float64 `json:"dial_rate"`
	Rate        float64 `json:"rate,omitempty"`
	Size        int     `json:"size,omitempty"`
	DurationSec float64 `json:"duration_sec,omitempty"`
	HoldSec     float64 `json:"hold_sec,omitempty"`
	GatewayPIDs []int   `json:"gateway_pids,omitempty"`
}

// ConnectResult describes the ramp.
type ConnectResult struct {
	Target     int     `json:"target"`
	Opened     int64   `json:"opened"`
	Failed     int64   `json:"failed"`
	Lost       int64   `json:"lost"` // open connections the server or an error closed
	RampSec    float64 `json:"ramp_sec"`
	RatePerSec float64 `json:"rate_per_sec"` // upgrades completed per second over the ramp
	Latency    Latency `json:"latency"`      // dial → 101 received
}

// Latency summarises a histogram, in microseconds.
type Latency struct {
	Count  uint64  `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
	// CDF: (µs, fraction ≤) points, with -cdf (the charts' latency CDF).
	CDF [][2]float64 `json:"cdf,omitempty"`
}

func summarize(h *Histogram) Latency {
	us := func(v int64) float64 { return float64(v) / 1e3 }
	return Latency{
		Count:  h.Count(),
		MeanUs: h.Mean() / 1e3,
		P50Us:  us(h.Quantile(0.50)),
		P90Us:  us(h.Quantile(0.90)),
		P99Us:  us(h.Quantile(0.99)),
		P999Us: us(h.Quantile(0.999)),
		MaxUs:  us(h.Max()),
	}
}

// Sample is the gateway's and the kernel's memory at one moment.
type Sample struct {
	Label        string    `json:"label"`
	AtSec        float64   `json:"at_sec"`
	LocalConns   int64     `json:"local_conns"`   // open in this generator process
	GatewayConns int       `json:"gateway_conns"` // gateway fds now minus at baseline (all generator processes)
	GatewayFDs   int       `json:"gateway_fds"`
	RSSKB        int64     `json:"gateway_rss_kb"`
	KBPerConn    float64   `json:"kb_per_conn"`       // RSS / conns
	DeltaKBConn  float64   `json:"delta_kb_per_conn"` // (RSS - baseline RSS) / conns
	AnonKB       int64     `json:"gateway_anon_kb"`   // RssAnon: RSS without the binary's shared file pages
	AnonKBConn   float64   `json:"anon_kb_per_conn"`  // RssAnon / conns
	Kernel       KernelMem `json:"kernel"`
	// Host-wide slab growth per gateway connection; it covers both ends of
	// each loopback connection (the client socket lives in this host too).
	SlabDeltaKBConn float64 `json:"slab_delta_kb_per_conn"`
}

// IdleResult is the idle scenario's memory picture.
type IdleResult struct {
	Baseline    Sample   `json:"baseline"`
	Checkpoints []Sample `json:"checkpoints,omitempty"`
	Final       Sample   `json:"final"` // at the end of the hold
	// Settled: after the hold, a GET of -settle-get (wsgate's
	// /debug/pprof/heap?gc=1: a forced GC) and a second; nil without it.
	Settled *Sample `json:"settled,omitempty"`
	// SettledHeapKBConn: the server's Go heap in use after a forced GC,
	// settled minus baseline, per connection (with -metrics-url; wsgate).
	SettledHeapKBConn float64 `json:"settled_heap_kb_per_conn,omitempty"`
	// Deliveries: messages received while holding (the runbook broadcasts
	// through the publish API during the hold). Nil when none arrived.
	Deliveries *HoldDeliveries `json:"deliveries,omitempty"`
	StoppedBy  string          `json:"stopped_by,omitempty"` // "stop-file" when ended early
}

// HoldDeliveries counts broadcast messages received by idle connections: the
// payloads carry a sequence number and a monotonic timestamp as elsewhere.
type HoldDeliveries struct {
	Received     int64   `json:"received"`
	MaxSeq       int64   `json:"max_seq"`  // highest sequence number seen + 1
	Expected     int64   `json:"expected"` // MaxSeq × connections open at the end
	Missing      int64   `json:"missing"`
	Duplicates   int64   `json:"duplicates"`
	Foreign      int64   `json:"foreign"`
	Latency      Latency `json:"latency"`
	LastRecvMono int64   `json:"last_recv_mono_ns"`
}

// BroadcastResult is the broadcast (and saturation) scenario's outcome.
type BroadcastResult struct {
	Subscribers      int     `json:"subscribers"` // open when publishing began, publisher included
	TargetRate       float64 `json:"target_rate"` // messages/s the publisher was asked for
	Size             int     `json:"size"`
	Published        int64   `json:"published"`
	PublishRate      float64 `json:"publish_rate"` // achieved
	Expected         int64   `json:"expected"`     // published × subscribers
	Received         int64   `json:"received"`     // unique in-sequence deliveries
	Missing          int64   `json:"missing"`
	Duplicates       int64   `json:"duplicates"`
	Foreign          int64   `json:"foreign"` // messages that were not ours
	Drained          bool    `json:"drained"` // every expected delivery arrived before the drain deadline
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	OfferedPerSec    float64 `json:"offered_per_sec"` // target rate × subscribers
	SpanSec          float64 `json:"span_sec"`        // first publish → last delivery
	// LastAfterPublishMs: last delivery minus last publish.
	LastAfterPublishMs float64 `json:"last_after_publish_ms"`
	Latency            Latency `json:"latency"` // publish → deliver, every delivery
	GatewayCPUSec      float64 `json:"gateway_cpu_sec"`
	CPUUsPerDelivery   float64 `json:"gateway_cpu_us_per_delivery"`
	GeneratorCPUSec    float64 `json:"generator_cpu_sec"` // over the same window
	// The HTTP publisher (-publish-url): where it posted, failed posts.
	PublishURL       string `json:"publish_url,omitempty"`
	PublishErrors    int64  `json:"publish_errors,omitempty"`
	PublishLastError string `json:"publish_last_error,omitempty"`
}

// EchoResult is the echo scenario's outcome.
type EchoResult struct {
	Conns         int     `json:"conns"`
	RatePerConn   float64 `json:"rate_per_conn"`
	Size          int     `json:"size"`
	Sent          int64   `json:"sent"`
	Echoed        int64   `json:"echoed"`
	Foreign       int64   `json:"foreign"`
	MsgsPerSec    float64 `json:"msgs_per_sec"`
	RTT           Latency `json:"rtt"`
	GatewayCPUSec float64 `json:"gateway_cpu_sec"`
	CPUUsPerMsg   float64 `json:"gateway_cpu_us_per_msg"`
}

// WriteJSON writes r as one line.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// Summary is the human-readable form of r.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "== %s", r.Scenario)
	if r.Label != "" {
		fmt.Fprintf(&b, " [%s]", r.Label)
	}
	fmt.Fprintf(&b, " proc %d, %.1fs wall, generator %.2f CPU-s, %d KB RSS, host load %.1f→%.1f\n",
		r.Proc, r.WallSec, r.GeneratorCPUSec, r.GeneratorRSSKB, r.LoadAvg[0], r.LoadAvg[1])
	if c := r.Connect; c != nil {
		fmt.Fprintf(&b, "connect: %d/%d open, %d failed, %d lost, ramp %.2fs (%.0f/s), dial→101 p50 %.2fms p99 %.2fms max %.2fms\n",
			c.Opened, c.Target, c.Failed, c.Lost, c.RampSec, c.RatePerSec, c.Latency.P50Us/1e3, c.Latency.P99Us/1e3, c.Latency.MaxUs/1e3)
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(&b, "gateway baseline: RSS %d KB, %d fds; slab %d KB\n", i.Baseline.RSSKB, i.Baseline.GatewayFDs, i.Baseline.Kernel.SlabKB)
		samples := append(append([]Sample(nil), i.Checkpoints...), i.Final)
		if i.Settled != nil {
			samples = append(samples, *i.Settled)
		}
		for _, s := range samples {
			fmt.Fprintf(&b, "  %-10s %6d gw conns: RSS %7d KB = %.2f KB/conn (%.2f over baseline, %.2f private); slab %d KB (+%.2f KB/conn), tcp inuse %d mem %d pages\n",
				s.Label, s.GatewayConns, s.RSSKB, s.KBPerConn, s.DeltaKBConn, s.AnonKBConn, s.Kernel.SlabKB, s.SlabDeltaKBConn, s.Kernel.TCPInuse, s.Kernel.TCPMemPages)
		}
	}
	if x := r.Broadcast; x != nil {
		fmt.Fprintf(&b, "broadcast: %d subscribers, %d published at %.1f/s of %d B; expected %d received %d missing %d dup %d foreign %d drained %v\n",
			x.Subscribers, x.Published, x.PublishRate, x.Size, x.Expected, x.Received, x.Missing, x.Duplicates, x.Foreign, x.Drained)
		fmt.Fprintf(&b, "  deliveries/s %.0f (offered %.0f), last delivery %.1f ms after last publish\n", x.DeliveriesPerSec, x.OfferedPerSec, x.LastAfterPublishMs)
		fmt.Fprintf(&b, "  latency µs: p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f\n", x.Latency.P50Us, x.Latency.P90Us, x.Latency.P99Us, x.Latency.P999Us, x.Latency.MaxUs)
		fmt.Fprintf(&b, "  gateway CPU %.2f s = %.2f µs/delivery; generator CPU %.2f s\n", x.GatewayCPUSec, x.CPUUsPerDelivery, x.GeneratorCPUSec)
	}
	if x := r.Churn; x != nil {
		fmt.Fprintf(&b, "churn: %.1fs, %d dialed, %d upgraded+closed (%.0f/s), %d failed; dial→101 p50 %.2fms p99 %.2fms\n",
			x.DurationSec, x.Dialed, x.Upgraded, x.UpgradesPerSec, x.Failed, x.Latency.P50Us/1e3, x.Latency.P99Us/1e3)
		fmt.Fprintf(&b, "  gateway CPU %.2f s = %.1f µs/upgrade; RSS %d → %d KB (peak %d, after settle %d); fds %d → %d\n",
			x.GatewayCPUSec, x.CPUUsPerUpgrade, x.RSSStartKB, x.RSSEndKB, x.RSSPeakKB, x.RSSSettledKB, x.FDsStart, x.FDsSettled)
	}
	if d := r.Idle; d != nil && d.Deliveries != nil {
		x := d.Deliveries
		fmt.Fprintf(&b, "hold deliveries: received %d of %d expected (max seq %d), missing %d dup %d foreign %d; latency µs p50 %.0f p99 %.0f max %.0f\n",
			x.Received, x.Expected, x.MaxSeq, x.Missing, x.Duplicates, x.Foreign, x.Latency.P50Us, x.Latency.P99Us, x.Latency.MaxUs)
	}
	if x := r.Echo; x != nil {
		fmt.Fprintf(&b, "echo: %d conns × %.1f/s of %d B: sent %d echoed %d foreign %d, %.0f msgs/s\n", x.Conns, x.RatePerConn, x.Size, x.Sent, x.Echoed, x.Foreign, x.MsgsPerSec)
		fmt.Fprintf(&b, "  RTT µs: p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f; gateway CPU %.2f s = %.2f µs/msg\n",
			x.RTT.P50Us, x.RTT.P90Us, x.RTT.P99Us, x.RTT.P999Us, x.RTT.MaxUs, x.GatewayCPUSec, x.CPUUsPerMsg)
	}
	if w := r.WriteFloor; w != nil {
		fmt.Fprintf(&b, "writefloor: %d sockets, %d writes of %d B: %.2f µs CPU/write (user %.2f sys %.2f), wall %.2f µs/write; batched %d frames/write: %.2f µs CPU/frame\n",
			w.Sockets, w.Writes, w.FrameBytes, w.CPUUsPerWrite, w.UserUsPerWrite, w.SysUsPerWrite, w.WallUsPerWrite, w.BatchFrames, w.BatchCPUUsPerFrame)
	}
	if t := r.TLS; t != nil {
		fmt.Fprintf(&b, "tls: %d handshakes (%d resumed, resumption asked: %v), %d failed; %s %s\n",
			t.Handshakes, t.Resumed, t.Resume, t.Failed, t.Version, t.Cipher)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "errors:")
		for k, v := range r.Errors {
			fmt.Fprintf(&b, " %q×%d", k, v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// DeliveredRatio is received ÷ expected (0 when nothing was expected).
func (b *BroadcastResult) DeliveredRatio() float64 {
	if b.Expected == 0 {
		return 0
	}
	return float64(b.Received) / float64(b.Expected)
}
