package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// The side-by-side runner (bench/compare.sh) labels its runs:
//
//	wsgate        wsgate in front of the Node echo backends (-backend, tunnels)
//	haproxy       HAProxy (mode http, timeout tunnel) in front of the same backends
//	node-direct   the generator straight to one Node echo backend (no proxy)
//	wsgate-topic  wsgate terminating WebSocket itself (topic routes)
//	node          the Node `ws` broadcast server (the seeds' pattern)
//	centrifugo    Centrifugo v6 (JSON protocol, -proto centrifugo)
//	wsgate-grip, pushpin  the GRIP part (compare_grip.go)
//
// and its run IDs: echo-1k, echo-5k, tunnels-9k, churn, broadcast, idle-18k.

// CompareRow is one figure of the side-by-side table.
type CompareRow struct {
	Section  string   `json:"section"`
	Figure   string   `json:"figure"`
	Subject  string   `json:"subject"`  // label of the measured side (wsgate or wsgate-topic)
	Baseline string   `json:"baseline"` // haproxy or node
	Value    *float64 `json:"value,omitempty"`
	Base     *float64 `json:"base,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`  // value / base
	Better   string   `json:"better,omitempty"` // "higher" or "lower": which way is better
	Format   string   `json:"-"`
}

// CompareReport is bench/results/<date>-compare.json.
type CompareReport struct {
	Date   string       `json:"date"`
	Host   HostInfo     `json:"host"`
	Note   string       `json:"note,omitempty"`
	Rows   []CompareRow `json:"table"`
	Charts []string     `json:"charts,omitempty"`
	Runs   []Result     `json:"runs"`
}

type cmpFig struct {
	section, figure, runID, subject, baseline, format, better string
	get                                                       func([]Result) (float64, bool)
}

func first[T any](pick func(*Result) *T, get func(*T) float64) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		for i := range rs {
			if p := pick(&rs[i]); p != nil {
				return get(p), true
			}
		}
		return 0, false
	}
}

func echoOf(r *Result) *EchoResult       { return r.Echo }
func churnOf(r *Result) *ChurnResult     { return r.Churn }
func bcastOf(r *Result) *BroadcastResult { return r.Broadcast }
func resOf(r *Result) *Result            { return r }
func loadOf(r *Result) float64           { return r.LoadAvg[1] }
func metric(name string) func(*Result) float64 {
	return func(r *Result) float64 { return r.Metrics[name] }
}

// idleFinal picks the process that saw the most gateway connections.
func idleFinal(get func(*IdleResult) float64) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		if b := idleBest(rs); b != nil {
			return get(b.Idle), true
		}
		return 0, false
	}
}

func compareFigures() []cmpFig {
	var fs []cmpFig
	for _, id := range []string{"echo-1k", "echo-5k"} {
		sec := id + " (tunnels to 2 Node ws echo backends, 20 msg/s per conn, 64 B)"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate", "haproxy", format, better, get})
		}
		add("host load (1-min) at the end", "%.1f", "", first(resOf, loadOf))
		add("connections open", "%.0f", "", first(echoOf, func(e *EchoResult) float64 { return float64(e.Conns) }))
		add("messages sent", "%.0f", "", first(echoOf, func(e *EchoResult) float64 { return float64(e.Sent) }))
		add("messages echoed", "%.0f", "higher", first(echoOf, func(e *EchoResult) float64 { return float64(e.Echoed) }))
		add("echoed msgs/s", "%.0f", "higher", first(echoOf, func(e *EchoResult) float64 { return e.MsgsPerSec }))
		add("RTT p50 µs", "%.0f", "lower", first(echoOf, func(e *EchoResult) float64 { return e.RTT.P50Us }))
		add("RTT p99 µs", "%.0f", "lower", first(echoOf, func(e *EchoResult) float64 { return e.RTT.P99Us }))
		add("RTT p99.9 µs", "%.0f", "lower", first(echoOf, func(e *EchoResult) float64 { return e.RTT.P999Us }))
		add("gateway CPU s", "%.2f", "lower", first(echoOf, func(e *EchoResult) float64 { return e.GatewayCPUSec }))
		add("messages per gateway CPU-second", "%.0f", "higher", first(echoOf, func(e *EchoResult) float64 {
			if e.GatewayCPUSec == 0 {
				return 0
			}
			return float64(e.Echoed) / e.GatewayCPUSec
		}))
		add("gateway CPU µs per echoed message", "%.2f", "lower", first(echoOf, func(e *EchoResult) float64 { return e.CPUUsPerMsg }))
	}
	{
		sec, id := "tunnels-9k (idle tunnels: 9k client + 9k backend sockets in the gateway)", "tunnels-9k"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate", "haproxy", format, better, get})
		}
		add("tunnels held (gateway fds over baseline ÷ 2)", "%.0f", "", idleFinal(func(i *IdleResult) float64 { return float64(i.Final.GatewayConns) / 2 }))
		add("gateway RSS KB", "%.0f", "lower", idleFinal(func(i *IdleResult) float64 { return float64(i.Final.RSSKB) }))
		add("KB per tunnel (RSS / tunnels)", "%.2f", "lower", idleFinal(func(i *IdleResult) float64 { return 2 * i.Final.KBPerConn }))
		add("KB per tunnel over baseline", "%.2f", "lower", idleFinal(func(i *IdleResult) float64 { return 2 * i.Final.DeltaKBConn }))
		add("host slab KB per tunnel (4 sockets)", "%.2f", "", idleFinal(func(i *IdleResult) float64 { return 2 * i.Final.SlabDeltaKBConn }))
	}
	{
		sec, id := "churn (connect + upgrade + close through the proxy, max rate)", "churn"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate", "haproxy", format, better, get})
		}
		add("host load (1-min) at the end", "%.1f", "", first(resOf, loadOf))
		add("upgrades/s (101 relayed from the backend)", "%.0f", "higher", first(churnOf, func(c *ChurnResult) float64 { return c.UpgradesPerSec }))
		add("failures", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return float64(c.Failed) }))
		add("dial→101 p99 µs", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return c.Latency.P99Us }))
		add("gateway CPU µs per upgrade", "%.1f", "lower", first(churnOf, func(c *ChurnResult) float64 { return c.CPUUsPerUpgrade }))
		add("upgrades per gateway CPU-second", "%.0f", "higher", first(churnOf, func(c *ChurnResult) float64 {
			if c.GatewayCPUSec == 0 {
				return 0
			}
			return float64(c.Upgraded) / c.GatewayCPUSec
		}))
		add("RSS drift KB (settled − start)", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return float64(c.RSSSettledKB - c.RSSStartKB) }))
		add("fds left over after settle", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return float64(c.FDsSettled - c.FDsStart) }))
	}
	{
		sec, id := "churn-topic (wsgate terminating the upgrade itself; Node ws server as baseline)", "churn-topic"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate-topic", "node", format, better, get})
		}
		add("upgrades/s", "%.0f", "higher", first(churnOf, func(c *ChurnResult) float64 { return c.UpgradesPerSec }))
		add("failures", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return float64(c.Failed) }))
		add("server CPU µs per upgrade", "%.1f", "lower", first(churnOf, func(c *ChurnResult) float64 { return c.CPUUsPerUpgrade }))
		add("RSS drift KB (settled − start)", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return float64(c.RSSSettledKB - c.RSSStartKB) }))
	}
	// The terminated-WebSocket sections, once per peer: Node `ws` and Centrifugo v6.
	for _, peer := range []struct{ label, name string }{{"node", "Node ws"}, {"centrifugo", "Centrifugo v6"}} {
		fs = append(fs, topicFigures(peer.label, peer.name)...)
	}
	fs = append(fs, gripFigures()...)
	return append(fs, tlsFigures()...)
}

// topicFigures are the broadcast and idle-18k rows of wsgate-topic against one
// peer that terminates WebSocket itself.
func topicFigures(peer, peerName string) []cmpFig {
	var fs []cmpFig
	{
		sec, id := "broadcast (3000 subscribers × 10 msg/s, 64 B; wsgate topic vs "+peerName+")", "broadcast"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate-topic", peer, format, better, get})
		}
		add("host load (1-min) at the end", "%.1f", "", first(resOf, loadOf))
		add("received / expected", "%.4f", "higher", first(bcastOf, (*BroadcastResult).DeliveredRatio))
		add("missing + duplicates", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return float64(b.Missing + b.Duplicates) }))
		add("p50 publish→deliver µs", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.Latency.P50Us }))
		add("p99 publish→deliver µs", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.Latency.P99Us }))
		add("deliveries/s", "%.0f", "higher", first(bcastOf, func(b *BroadcastResult) float64 { return b.DeliveriesPerSec }))
		add("server CPU µs/delivery", "%.2f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.CPUUsPerDelivery }))
		add("frames per write(2) (wsgate /metrics)", "%.2f", "higher", func(rs []Result) (float64, bool) {
			for i := range rs {
				if w := metric("wsgate_broadcast_writes_total")(&rs[i]); w > 0 {
					return metric("wsgate_messages_out_total")(&rs[i]) / w, true
				}
			}
			return 0, false
		})
	}
	{
		sec, id := "idle-18k (terminated WebSocket, 2 generator processes; vs "+peerName+")", "idle-18k"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate-topic", peer, format, better, get})
		}
		add("connections held", "%.0f", "", idleFinal(func(i *IdleResult) float64 { return float64(i.Final.GatewayConns) }))
		add("server RSS KB", "%.0f", "lower", idleFinal(func(i *IdleResult) float64 { return float64(i.Final.RSSKB) }))
		add("KB/conn (RSS / conns)", "%.2f", "lower", idleFinal(func(i *IdleResult) float64 { return i.Final.KBPerConn }))
		add("KB/conn over baseline", "%.2f", "lower", idleFinal(func(i *IdleResult) float64 { return i.Final.DeltaKBConn }))
	}
	return fs
}

// BuildCompare computes the side-by-side table and writes the charts into
// chartDir (relative names are recorded in the report).
func BuildCompare(results []Result, note, chartDir, chartPrefix string) (*CompareReport, error) {
	rep := &CompareReport{
		Date: time.Now().UTC().Format(time.RFC3339), Note: note, Runs: results,
		Host: HostInfo{CPUs: runtime.NumCPU(), Kernel: kernelRelease(), Go: runtime.Version()},
	}
	group := map[[2]string][]Result{}
	for _, r := range results {
		k := [2]string{r.Label, r.RunID}
		group[k] = append(group[k], r)
	}
	for _, f := range compareFigures() {
		row := CompareRow{Section: f.section, Figure: f.figure, Subject: f.subject, Baseline: f.baseline, Better: f.better, Format: f.format}
		if v, ok := f.get(group[[2]string{f.subject, f.runID}]); ok {
			row.Value = &v
		}
		if v, ok := f.get(group[[2]string{f.baseline, f.runID}]); ok {
			row.Base = &v
		}
		if row.Value == nil && row.Base == nil {
			continue
		}
		if row.Value != nil && row.Base != nil && *row.Base != 0 {
			r := *row.Value / *row.Base
			row.Ratio = &r
		}
		rep.Rows = append(rep.Rows, row)
	}
	if chartDir != "" {
		charts, err := compareCharts(group, chartDir, chartPrefix)
		if err != nil {
			return rep, err
		}
		rep.Charts = charts
	}
	return rep, nil
}

func compareCharts(group map[[2]string][]Result, dir, prefix string) ([]string, error) {
	var written []string
	// Latency CDFs.
	cdf := &Chart{Title: "Echo RTT CDF (20 msg/s per connection, 64 B, via 2 Node ws backends)", XLabel: "round trip µs (log)", YLabel: "fraction ≤", LogX: true, YMin0: true}
	for _, id := range []string{"echo-1k", "echo-5k"} {
		for _, lb := range []string{"wsgate", "haproxy", "node-direct"} {
			for _, r := range group[[2]string{lb, id}] {
				if r.Echo != nil && len(r.Echo.RTT.CDF) > 0 {
					cdf.Series = append(cdf.Series, Series{Name: lb + " " + strings.TrimPrefix(id, "echo-"), Points: r.Echo.RTT.CDF, Dash: id == "echo-5k"})
				}
			}
		}
	}
	bc := &Chart{Title: "Broadcast publish→deliver CDF (3000 subscribers × 10 msg/s)", XLabel: "publish→deliver µs (log)", YLabel: "fraction ≤", LogX: true, YMin0: true}
	for _, lb := range []string{"wsgate-topic", "node", "centrifugo"} {
		for _, r := range group[[2]string{lb, "broadcast"}] {
			if r.Broadcast != nil && len(r.Broadcast.Latency.CDF) > 0 {
				bc.Series = append(bc.Series, Series{Name: lb, Points: r.Broadcast.Latency.CDF})
			}
		}
	}
	// RSS vs connections, from the idle checkpoints.
	rss := &Chart{Title: "Server RSS vs connections held", XLabel: "client connections", YLabel: "RSS MB", YMin0: true}
	for _, c := range []struct {
		lb, id, name string
		per          int
	}{
		{"wsgate", "tunnels-9k", "wsgate tunnels", 2},
		{"haproxy", "tunnels-9k", "haproxy tunnels", 2},
		{"wsgate-topic", "idle-18k", "wsgate terminated", 1},
		{"node", "idle-18k", "node ws terminated", 1},
		{"centrifugo", "idle-18k", "centrifugo v6 terminated", 1},
	} {
		if pts := rssPoints(group[[2]string{c.lb, c.id}], c.per); pts != nil {
			rss.Series = append(rss.Series, Series{Name: c.name, Points: pts, Dash: c.per == 1})
		}
	}
	charts := []namedChart{{"echo-rtt-cdf.svg", cdf}, {"broadcast-cdf.svg", bc}, {"rss-vs-conns.svg", rss}, {"tls-rss-vs-conns.svg", tlsRSSChart(group)}}
	for _, ch := range append(charts, gripCharts(group)...) {
		if len(ch.c.Series) == 0 {
			continue
		}
		name := prefix + ch.name
		if err := ch.c.WriteSVG(filepath.Join(dir, name)); err != nil {
			return written, err
		}
		written = append(written, name)
	}
	return written, nil
}

// rssPoints is an idle run's (connections, RSS MB) curve from its
// checkpoints; per: gateway sockets per client connection. nil: no run.
func rssPoints(rs []Result, per int) [][2]float64 {
	b := idleBest(rs)
	if b == nil {
		return nil
	}
	pts := [][2]float64{{0, float64(b.Idle.Baseline.RSSKB) / 1024}}
	var samples []Sample
	for _, r := range rs {
		if r.Idle != nil {
			samples = append(samples, r.Idle.Checkpoints...)
		}
	}
	samples = append(samples, b.Idle.Final)
	sort.Slice(samples, func(i, j int) bool { return samples[i].GatewayConns < samples[j].GatewayConns })
	last := -1
	for _, s := range samples {
		n := s.GatewayConns / per
		if n <= last || n <= 0 {
			continue
		}
		last = n
		pts = append(pts, [2]float64{float64(n), float64(s.RSSKB) / 1024})
	}
	return pts
}

// WriteFile writes the report as indented JSON.
func (r *CompareReport) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Markdown renders the table, one section after the other.
func (r *CompareReport) Markdown() string {
	var b strings.Builder
	sec := ""
	for _, row := range r.Rows {
		if row.Section != sec {
			sec = row.Section
			fmt.Fprintf(&b, "\n**%s**\n\n| figure | %s | %s | %s/%s | better |\n|---|---:|---:|---:|---|\n", sec, row.Subject, row.Baseline, row.Subject, row.Baseline)
		}
		val := func(p *float64) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprintf(row.Format, *p)
		}
		ratio := "–"
		if row.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *row.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.Figure, val(row.Value), val(row.Base), ratio, row.Better)
	}
	var floors []*WriteFloorResult
	for i := range r.Runs {
		if w := r.Runs[i].WriteFloor; w != nil {
			floors = append(floors, w)
		}
	}
	if len(floors) > 0 {
		b.WriteString("\n| write floor: sockets | CPU µs/write | wall µs/write | 8 frames/write: CPU µs/frame |\n|---:|---:|---:|---:|\n")
		for _, w := range floors {
			fmt.Fprintf(&b, "| %d | %.2f | %.2f | %.2f |\n", w.Sockets, w.CPUUsPerWrite, w.WallUsPerWrite, w.BatchCPUUsPerFrame)
		}
	}
	if len(r.Charts) > 0 {
		b.WriteString("\nCharts:")
		for _, c := range r.Charts {
			fmt.Fprintf(&b, " `%s`", c)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
