package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// ReadResults reads the JSON lines of one or more generator runs (lines
// that are not JSON objects, e.g. a crashed run's noise, are skipped).
func ReadResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open results: %w", err)
	}
	defer func() { _ = f.Close() }()
	var out []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	return out, nil
}

// Report is the results file of one bench run.
type Report struct {
	Date   string   `json:"date"`
	Host   HostInfo `json:"host"`
	Note   string   `json:"note,omitempty"`
	Labels []string `json:"labels"`
	Rows   []Row    `json:"table"`
	Runs   []Result `json:"runs"`
}

// HostInfo says where the figures were taken.
type HostInfo struct {
	CPUs   int    `json:"cpus"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// Row is one figure for every label, with the ratio labels[0]/labels[1].
type Row struct {
	Figure string             `json:"figure"`
	Values map[string]float64 `json:"values"`
	Ratio  *float64           `json:"ratio,omitempty"`
	Format string             `json:"-"`
}

type figure struct {
	name   string
	runID  string
	format string
	get    func(rs []Result) (float64, bool)
}

// idleBest is the process of an idle run that saw the most gateway
// connections at the end of its hold (every process samples the whole gateway).
func idleBest(rs []Result) *Result {
	var best *Result
	for i := range rs {
		if rs[i].Idle == nil {
			continue
		}
		if best == nil || rs[i].Idle.Final.GatewayConns > best.Idle.Final.GatewayConns {
			best = &rs[i]
		}
	}
	return best
}

func idleFig(get func(*IdleResult) float64) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		if b := idleBest(rs); b != nil {
			return get(b.Idle), true
		}
		return 0, false
	}
}

func connectSum(get func(*ConnectResult) float64) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		var s float64
		ok := false
		for _, r := range rs {
			if r.Connect != nil {
				s += get(r.Connect)
				ok = true
			}
		}
		return s, ok
	}
}

func bcastFig(get func(*BroadcastResult) float64) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		for _, r := range rs {
			if r.Broadcast != nil {
				return get(r.Broadcast), true
			}
		}
		return 0, false
	}
}

func figures() []figure {
	var fs []figure
	for _, id := range []string{"idle-10k", "idle-19k"} {
		fs = append(fs,
			figure{id + ": connections held (gateway fds over baseline)", id, "%.0f", idleFig(func(i *IdleResult) float64 { return float64(i.Final.GatewayConns) })},
			figure{id + ": connects/s (all generator processes)", id, "%.0f", connectSum(func(c *ConnectResult) float64 { return c.RatePerSec })},
			figure{id + ": connect failures", id, "%.0f", connectSum(func(c *ConnectResult) float64 { return float64(c.Failed + c.Lost) })},
			figure{id + ": server RSS KB", id, "%.0f", idleFig(func(i *IdleResult) float64 { return float64(i.Final.RSSKB) })},
			figure{id + ": KB/conn (RSS / conns)", id, "%.2f", idleFig(func(i *IdleResult) float64 { return i.Final.KBPerConn })},
			figure{id + ": KB/conn over baseline", id, "%.2f", idleFig(func(i *IdleResult) float64 { return i.Final.DeltaKBConn })},
			figure{id + ": host slab KB/conn (both ends)", id, "%.2f", idleFig(func(i *IdleResult) float64 { return i.Final.SlabDeltaKBConn })},
		)
	}
	for _, id := range []string{"broadcast", "saturation"} {
		fs = append(fs,
			figure{id + ": host load (1-min avg) at the end", id, "%.1f", func(rs []Result) (float64, bool) {
				for _, r := range rs {
					if r.Broadcast != nil {
						return r.LoadAvg[1], true
					}
				}
				return 0, false
			}},
			figure{id + ": subscribers", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return float64(b.Subscribers) })},
			figure{id + ": expected deliveries", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return float64(b.Expected) })},
			figure{id + ": received", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return float64(b.Received) })},
			figure{id + ": missing + duplicates", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return float64(b.Missing + b.Duplicates) })},
			figure{id + ": p50 publish→deliver µs", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return b.Latency.P50Us })},
			figure{id + ": p99 publish→deliver µs", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return b.Latency.P99Us })},
			figure{id + ": p99.9 publish→deliver µs", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return b.Latency.P999Us })},
			figure{id + ": max publish→deliver µs", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return b.Latency.MaxUs })},
			figure{id + ": deliveries/s", id, "%.0f", bcastFig(func(b *BroadcastResult) float64 { return b.DeliveriesPerSec })},
			figure{id + ": server CPU µs/delivery", id, "%.2f", bcastFig(func(b *BroadcastResult) float64 { return b.CPUUsPerDelivery })},
			figure{id + ": server CPU s", id, "%.2f", bcastFig(func(b *BroadcastResult) float64 { return b.GatewayCPUSec })},
			figure{id + ": frames per write(2) (wsgate /metrics)", id, "%.2f", func(rs []Result) (float64, bool) {
				for _, r := range rs {
					if w := r.Metrics["wsgate_broadcast_writes_total"]; w > 0 {
						return r.Metrics["wsgate_messages_out_total"] / w, true
					}
				}
				return 0, false
			}},
		)
	}
	return fs
}

// BuildReport groups results by label and run ID and computes the table.
func BuildReport(results []Result, note string) *Report {
	rep := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), Note: note, Runs: results,
		Host: HostInfo{CPUs: runtime.NumCPU(), Kernel: kernelRelease(), Go: runtime.Version()},
	}
	group := map[[2]string][]Result{}
	for _, r := range results {
		if r.Scenario == "writefloor" {
			continue
		}
		if r.Label != "" && !contains(rep.Labels, r.Label) {
			rep.Labels = append(rep.Labels, r.Label)
		}
		k := [2]string{r.Label, r.RunID}
		group[k] = append(group[k], r)
	}
	for _, f := range figures() {
		row := Row{Figure: f.name, Values: map[string]float64{}, Format: f.format}
		for _, lb := range rep.Labels {
			if v, ok := f.get(group[[2]string{lb, f.runID}]); ok {
				row.Values[lb] = v
			}
		}
		if len(row.Values) == 0 {
			continue
		}
		if len(rep.Labels) >= 2 {
			a, okA := row.Values[rep.Labels[0]]
			b, okB := row.Values[rep.Labels[1]]
			if okA && okB && b != 0 {
				r := a / b
				row.Ratio = &r
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// WriteFile writes the report as indented JSON.
func (r *Report) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Markdown renders the comparison table and the write floor.
func (r *Report) Markdown() string {
	var b strings.Builder
	if len(r.Rows) > 0 {
		b.WriteString("| figure |")
		for _, lb := range r.Labels {
			fmt.Fprintf(&b, " %s |", lb)
		}
		if len(r.Labels) >= 2 {
			fmt.Fprintf(&b, " %s/%s |", r.Labels[0], r.Labels[1])
		}
		b.WriteString("\n|---|")
		for range r.Labels {
			b.WriteString("---:|")
		}
		if len(r.Labels) >= 2 {
			b.WriteString("---:|")
		}
		b.WriteByte('\n')
		for _, row := range r.Rows {
			fmt.Fprintf(&b, "| %s |", row.Figure)
			for _, lb := range r.Labels {
				if v, ok := row.Values[lb]; ok {
					fmt.Fprintf(&b, " "+row.Format+" |", v)
				} else {
					b.WriteString(" – |")
				}
			}
			if len(r.Labels) >= 2 {
				if row.Ratio != nil {
					fmt.Fprintf(&b, " %.2f |", *row.Ratio)
				} else {
					b.WriteString(" – |")
				}
			}
			b.WriteByte('\n')
		}
	}
	var floors []*WriteFloorResult
	for i := range r.Runs {
		if w := r.Runs[i].WriteFloor; w != nil {
			floors = append(floors, w)
		}
	}
	if len(floors) > 0 {
		b.WriteString("\n| write floor: sockets | writes | CPU µs/write (user+sys) | sys µs/write | wall µs/write | sink CPU µs/write | 8 frames/write: CPU µs/frame |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, w := range floors {
			fmt.Fprintf(&b, "| %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", w.Sockets, w.Writes, w.CPUUsPerWrite, w.SysUsPerWrite, w.WallUsPerWrite, w.SinkUsPerWrite, w.BatchCPUUsPerFrame)
		}
	}
	return b.String()
}
