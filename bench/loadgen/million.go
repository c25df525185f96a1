package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// PublishResult is what `wsgate-bench publish` prints.
type PublishResult struct {
	URL       string `json:"url"`
	Seq       int64  `json:"seq"`
	Count     int    `json:"count"`
	Accepted  int    `json:"accepted"`
	FirstMono int64  `json:"first_mono_ns"`
	LastMono  int64  `json:"last_mono_ns"`
	Error     string `json:"error,omitempty"`
}

// MillionInput is everything the runbook collected.
type MillionInput struct {
	Series    []WatchSample
	Gens      []Result
	Publishes []PublishResult
	Floor     *WriteFloorResult
	Target    int64
	Nodes     int
	GenProcs  int
	Reason    string
	Note      string
	Bus       string
	Cores     int
}

// MillionCheckpoint is the host at a connection count.
type MillionCheckpoint struct {
	Held            int64   `json:"held"`
	AtSec           float64 `json:"at_sec"`
	GatewayRSSKB    int64   `json:"gateway_rss_kb"`
	KBPerConn       float64 `json:"kb_per_conn"`
	DeltaKBPerConn  float64 `json:"delta_kb_per_conn"`
	GeneratorKBConn float64 `json:"generator_kb_per_conn"`
	SlabKB          int64   `json:"slab_kb"`
	SlabKBPerConn   float64 `json:"slab_delta_kb_per_conn"` // both ends of each loopback connection
	TCPInuse        int64   `json:"tcp_inuse"`
	TCPMemPages     int64   `json:"tcp_mem_pages"`
	MemAvailMB      int64   `json:"mem_available_mb"`
	LoadAvg         float64 `json:"loadavg"`
}

// MillionReport is bench/results/<date>-million.json.
type MillionReport struct {
	Target       int64               `json:"target"`
	Nodes        int                 `json:"gateway_nodes"`
	GenProcs     int                 `json:"generator_procs"`
	Bus          string              `json:"bus"`
	Cores        int                 `json:"cores"`
	Note         string              `json:"note,omitempty"`
	PeakHeld     int64               `json:"peak_held"`
	StoppedBy    string              `json:"stopped_by"`
	Checkpoints  []MillionCheckpoint `json:"checkpoints"`
	Peak         MillionCheckpoint   `json:"peak"`
	NodeConnsMin int64               `json:"node_conns_min"`
	NodeConnsMax int64               `json:"node_conns_max"`
	NodeRSSMinKB int64               `json:"node_rss_min_kb"`
	NodeRSSMaxKB int64               `json:"node_rss_max_kb"`
	// GenReports is how many generator processes wrote a result;
	// MissingGens lists the -proc indexes of those that did not (their
	// connections and deliveries are not in Opened/Received).
	GenReports  int            `json:"generator_reports"`
	MissingGens []int          `json:"missing_generator_reports,omitempty"`
	Opened      int64          `json:"opened"`
	Failed      int64          `json:"failed"`
	Lost        int64          `json:"lost"`
	RampSec     float64        `json:"ramp_sec"`
	ConnectRate float64        `json:"connect_rate"`
	Errors      map[string]int `json:"errors,omitempty"`
	// Broadcast during the hold.
	Published          int64   `json:"published"`
	Received           int64   `json:"received"`
	Expected           int64   `json:"expected"`
	Missing            int64   `json:"missing"`
	Duplicates         int64   `json:"duplicates"`
	P50Us              float64 `json:"p50_us"` // merged over generator processes (from their CDF points)
	P99Us              float64 `json:"p99_us"`
	MaxUs              float64 `json:"max_us"`
	LastAfterPublishMs float64 `json:"last_after_last_publish_ms"` // one broadcast to every connection
	FramesPerWrite     float64 `json:"frames_per_write"`
	MsgsOut            float64 `json:"msgs_out"`
	FloorCPUUsPerWrite float64 `json:"floor_cpu_us_per_write"`
	// FloorMs: held × floor CPU µs per write ÷ cores: the least time one
	// broadcast to every connection can take with one write per delivery.
	FloorMs    float64  `json:"floor_ms"`
	FloorRatio float64  `json:"last_delivery_over_floor"`
	Charts     []string `json:"charts,omitempty"`
}

// ReadJSONLines decodes every JSON object line of path into T values.
func ReadJSONLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var v T
		if json.Unmarshal([]byte(line), &v) == nil {
			out = append(out, v)
		}
	}
	return out, sc.Err()
}

func checkpointOf(s, base *WatchSample) MillionCheckpoint {
	c := MillionCheckpoint{Held: s.Held, AtSec: s.AtSec, GatewayRSSKB: s.GatewayRSSKB, SlabKB: s.Kernel.SlabKB,
		TCPInuse: s.Kernel.TCPInuse, TCPMemPages: s.Kernel.TCPMemPages, MemAvailMB: s.MemAvailKB >> 10, LoadAvg: s.LoadAvg}
	if s.Held > 0 {
		n := float64(s.Held)
		c.KBPerConn = float64(s.GatewayRSSKB) / n
		c.DeltaKBPerConn = float64(s.GatewayRSSKB-base.GatewayRSSKB) / n
		c.GeneratorKBConn = float64(s.GeneratorRSSKB) / n
		c.SlabKBPerConn = float64(s.Kernel.SlabKB-base.Kernel.SlabKB) / n
	}
	return c
}

// mergeQuantile approximates quantile q over several processes' CDF points,
// each weighted by its count.
func mergeQuantile(cdfs [][][2]float64, counts []uint64, q float64) float64 {
	type wv struct{ v, w float64 }
	var all []wv
	var total float64
	for i, c := range cdfs {
		if len(c) < 2 || counts[i] == 0 {
			continue
		}
		for j := 1; j < len(c); j++ {
			w := (c[j][1] - c[j-1][1]) * float64(counts[i])
			all = append(all, wv{c[j][0], w})
			total += w
		}
	}
	if total == 0 {
		return 0
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	acc := 0.0
	for _, x := range all {
		acc += x.w
		if acc >= q*total {
			return x.v
		}
	}
	return all[len(all)-1].v
}

// BuildMillion sums what every process reported.
func BuildMillion(in MillionInput, chartDir, chartPrefix string) (*MillionReport, error) {
	r := &MillionReport{Cores: in.Cores, Target: in.Target, Nodes: in.Nodes, GenProcs: in.GenProcs, Bus: in.Bus, Note: in.Note, StoppedBy: in.Reason, Errors: map[string]int{}}
	if len(in.Series) == 0 {
		return r, fmt.Errorf("no watch samples")
	}
	base := &in.Series[0]
	peakIdx := 0
	for i := range in.Series {
		if in.Series[i].Held > in.Series[peakIdx].Held {
			peakIdx = i
		}
	}
	peak := &in.Series[peakIdx]
	r.PeakHeld = peak.Held
	r.Peak = checkpointOf(peak, base)
	seen := map[int]bool{peakIdx: true}
	for _, c := range []int64{10000, 19000, 100000, 200000, 300000, 500000, 750000, 1000000} {
		for i := range in.Series {
			if in.Series[i].Held >= c {
				if !seen[i] {
					seen[i] = true
					r.Checkpoints = append(r.Checkpoints, checkpointOf(&in.Series[i], base))
				}
				break
			}
		}
	}
	if len(peak.Nodes) > 0 {
		r.NodeConnsMin, r.NodeRSSMinKB = 1<<62, 1<<62
		for _, n := range peak.Nodes {
			r.NodeConnsMin, r.NodeConnsMax = min(r.NodeConnsMin, n.Conns), max(r.NodeConnsMax, n.Conns)
			r.NodeRSSMinKB, r.NodeRSSMaxKB = min(r.NodeRSSMinKB, n.RSSKB), max(r.NodeRSSMaxKB, n.RSSKB)
		}
	}
	var cdfs [][][2]float64
	var counts []uint64
	var lastRecv int64
	got := map[int]bool{}
	for _, g := range in.Gens {
		got[g.Proc] = true
	}
	r.GenReports = len(got)
	for i := 0; i < in.GenProcs; i++ {
		if !got[i] {
			r.MissingGens = append(r.MissingGens, i)
		}
	}
	for _, g := range in.Gens {
		if c := g.Connect; c != nil {
			r.Opened += c.Opened
			r.Failed += c.Failed
			r.Lost += c.Lost
			r.RampSec = max(r.RampSec, c.RampSec)
		}
		for k, v := range g.Errors {
			r.Errors[k] += v
		}
		if g.Idle != nil && g.Idle.Deliveries != nil {
			d := g.Idle.Deliveries
			r.Received += d.Received
			r.Expected += d.Expected
			r.Missing += d.Missing
			r.Duplicates += d.Duplicates
			r.MaxUs = max(r.MaxUs, d.Latency.MaxUs)
			cdfs = append(cdfs, d.Latency.CDF)
			counts = append(counts, d.Latency.Count)
			lastRecv = max(lastRecv, d.LastRecvMono)
		}
	}
	if r.RampSec > 0 {
		r.ConnectRate = float64(r.Opened) / r.RampSec
	}
	r.P50Us = mergeQuantile(cdfs, counts, 0.50)
	r.P99Us = mergeQuantile(cdfs, counts, 0.99)
	var lastPub int64
	for _, p := range in.Publishes {
		r.Published += int64(p.Accepted)
		lastPub = max(lastPub, p.LastMono)
	}
	if lastPub > 0 && lastRecv > lastPub {
		r.LastAfterPublishMs = float64(lastRecv-lastPub) / 1e6
	}
	// Broadcast counters: last sample minus the peak-time sample (before the broadcast).
	last := &in.Series[len(in.Series)-1]
	pre := in.Series[0]
	for i := range in.Series {
		if in.Series[i].MsgsOut <= base.MsgsOut {
			pre = in.Series[i]
		}
	}
	if w := last.Writes - pre.Writes; w > 0 {
		r.FramesPerWrite = (last.MsgsOut - pre.MsgsOut) / w
	}
	r.MsgsOut = last.MsgsOut - pre.MsgsOut
	if in.Floor != nil && in.Cores > 0 {
		r.FloorCPUUsPerWrite = in.Floor.CPUUsPerWrite
		r.FloorMs = float64(r.PeakHeld) * in.Floor.CPUUsPerWrite / float64(in.Cores) / 1e3
		if r.FloorMs > 0 && r.LastAfterPublishMs > 0 {
			r.FloorRatio = r.LastAfterPublishMs / r.FloorMs
		}
	}
	if chartDir != "" {
		ch := &Chart{Title: fmt.Sprintf("Million runbook: memory vs connections held (%d nodes)", in.Nodes), XLabel: "connections held (Σ nodes)", YLabel: "MB", YMin0: true}
		var rss, slab, gen [][2]float64
		maxHeld := int64(-1)
		for _, s := range in.Series {
			if s.Held <= maxHeld {
				continue
			}
			maxHeld = s.Held
			x := float64(s.Held)
			rss = append(rss, [2]float64{x, float64(s.GatewayRSSKB) / 1024})
			slab = append(slab, [2]float64{x, float64(s.Kernel.SlabKB-base.Kernel.SlabKB) / 1024})
			gen = append(gen, [2]float64{x, float64(s.GeneratorRSSKB) / 1024})
		}
		ch.Series = []Series{{Name: "gateway RSS Σ", Points: rss}, {Name: "kernel slab Δ", Points: slab, Dash: true}, {Name: "generator RSS Σ", Points: gen}}
		name := chartPrefix + "million-mem.svg"
		if err := ch.WriteSVG(chartDir + "/" + name); err != nil {
			return r, err
		}
		r.Charts = append(r.Charts, name)
	}
	return r, nil
}

// Markdown renders the runbook's summary.
func (r *MillionReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Target %d; %d gateway node(s), %d generator process(es); bus: %s.\n\n", r.Target, r.Nodes, r.GenProcs, r.Bus)
	fmt.Fprintf(&b, "**Highest count held: %d** (gateways' wsgate_connections_open; ramp stopped by: %s). ", r.PeakHeld, r.StoppedBy)
	switch {
	case r.GenReports == 0:
		fmt.Fprintf(&b, "No generator report came back (0 of %d): opened/failed counts and deliveries unknown.\n\n", r.GenProcs)
	default:
		if len(r.MissingGens) > 0 {
			fmt.Fprintf(&b, "Generator reports: %d of %d (missing: proc %s; their counts are not below). ", r.GenReports, r.GenProcs, joinInts(r.MissingGens, 12))
		}
		fmt.Fprintf(&b, "Opened %d, failed %d, lost %d; ramp %.0f s at %.0f conn/s.\n\n", r.Opened, r.Failed, r.Lost, r.RampSec, r.ConnectRate)
	}
	b.WriteString("| held | gateway RSS MB (Σ) | KB/conn | KB/conn over baseline | generator KB/conn | slab Δ KB/conn (both ends) | slab MB | TCP inuse | TCP mem pages | MemAvailable MB | load |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	rows := append(append([]MillionCheckpoint(nil), r.Checkpoints...), r.Peak)
	for _, c := range rows {
		fmt.Fprintf(&b, "| %d | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %d | %d | %d | %.1f |\n", c.Held, float64(c.GatewayRSSKB)/1024, c.KBPerConn, c.DeltaKBPerConn,
			c.GeneratorKBConn, c.SlabKBPerConn, c.SlabKB>>10, c.TCPInuse, c.TCPMemPages, c.MemAvailMB, c.LoadAvg)
	}
	fmt.Fprintf(&b, "\nPer node at the peak: %d–%d connections, RSS %.1f–%.1f MB.\n", r.NodeConnsMin, r.NodeConnsMax, float64(r.NodeRSSMinKB)/1024, float64(r.NodeRSSMaxKB)/1024)
	if r.GenReports == 0 {
		fmt.Fprintf(&b, "\nBroadcast during the hold: %d messages published; the gateways counted %.0f messages out, frames per write(2) %.2f; deliveries unknown (no generator report).\n",
			r.Published, r.MsgsOut, r.FramesPerWrite)
	} else {
		fmt.Fprintf(&b, "\nBroadcast during the hold: %d messages published, %d of %d deliveries received (by the %d generators that reported), %d missing, %d duplicates; publish→deliver p50 %.0f ms, p99 %.0f ms, max %.0f ms (merged over generator processes); gateways: %.0f messages out, frames per write(2) %.2f.\n",
			r.Published, r.Received, r.Expected, r.GenReports, r.Missing, r.Duplicates, r.P50Us/1e3, r.P99Us/1e3, r.MaxUs/1e3, r.MsgsOut, r.FramesPerWrite)
	}
	switch {
	case r.LastAfterPublishMs > 0 && r.FloorMs > 0:
		fmt.Fprintf(&b, "\n**Broadcast to %d connections: last delivery %.0f ms after the last publish; write floor %.0f ms** (%d writes × %.2f µs CPU per bare write(2) in the same run ÷ %d cores) → **%.2f× the floor** (goal ≤ 1.3).\n",
			r.PeakHeld, r.LastAfterPublishMs, r.FloorMs, r.PeakHeld, r.FloorCPUUsPerWrite, r.Cores, r.FloorRatio)
	case r.FloorMs > 0:
		fmt.Fprintf(&b, "\nBroadcast to %d connections: last delivery unknown (no generator delivery report); write floor %.0f ms (%.2f µs per write ÷ %d cores).\n",
			r.PeakHeld, r.FloorMs, r.FloorCPUUsPerWrite, r.Cores)
	}
	if len(r.Errors) > 0 {
		type kv struct {
			k string
			v int
		}
		var es []kv
		for k, v := range r.Errors {
			es = append(es, kv{k, v})
		}
		sort.Slice(es, func(i, j int) bool { return es[i].v > es[j].v })
		b.WriteString("\nGenerator errors:")
		for i, e := range es {
			if i == 8 {
				break
			}
			fmt.Fprintf(&b, " %q×%d", e.k, e.v)
		}
		b.WriteByte('\n')
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "\n%s\n", r.Note)
	}
	return b.String()
}

// joinInts prints at most n values, then "… (k more)".
func joinInts(v []int, n int) string {
	var b strings.Builder
	for i, x := range v {
		if i == n {
			fmt.Fprintf(&b, " … (%d more)", len(v)-n)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, x)
	}
	return b.String()
}

// WriteFile writes the report as indented JSON.
func (r *MillionReport) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
