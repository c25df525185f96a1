package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WatchConfig drives `wsgate-bench watch`: the million-connection runbook's
// sampler. It reads the PIDs (and admin URLs) of every gateway node and
// generator process from files the runbook keeps up to date, samples them
// and the host every Interval, and stops the ramp when a limit is reached.
type WatchConfig struct {
	GatewayPIDsFile   string // one PID per line
	GeneratorPIDsFile string
	AdminsFile        string // one base URL per line (http://127.0.0.1:PORT), same order as the gateways
	Interval          time.Duration
	MinFreeMB         int64 // abort (stop file) below this MemAvailable
	PauseFreeMB       int64 // stop the ramp (pause file) below this MemAvailable
	Target            int64 // stop the ramp when this many connections are held
	RampDeadline      time.Duration
	Duration          time.Duration // hard bound of the watch itself
	PauseFile         string
	StopFile          string
	ReasonFile        string // the first limit that stopped the ramp is written here
	Out               string // JSON lines of WatchSample
	Status            string // the latest sample, rewritten each interval (for the runbook's loop)
}

// NodeSample is one gateway node at one moment.
type NodeSample struct {
	PID     int     `json:"pid"`
	RSSKB   int64   `json:"rss_kb"`
	CPUSec  float64 `json:"cpu_sec"`
	Conns   int64   `json:"conns"`           // wsgate_connections_open (−1 if not scraped)
	MsgsOut float64 `json:"msgs_out"`        // wsgate_messages_out_total
	Writes  float64 `json:"writes"`          // wsgate_broadcast_writes_total
	Stale   bool    `json:"stale,omitempty"` // the scrape failed or timed out: the figures are the last good ones
}

// WatchSample is the whole host at one moment.
type WatchSample struct {
	AtSec          float64      `json:"at_sec"`
	Held           int64        `json:"held"`                  // Σ gateway connections (wsgate_connections_open)
	StaleNodes     int          `json:"stale_nodes,omitempty"` // nodes whose scrape failed this time
	SampleMs       float64      `json:"sample_ms"`             // how long taking this sample took
	GatewayRSSKB   int64        `json:"gateway_rss_kb"`
	GatewayCPUSec  float64      `json:"gateway_cpu_sec"`
	GeneratorRSSKB int64        `json:"generator_rss_kb"`
	GeneratorProcs int          `json:"generator_procs"`
	MsgsOut        float64      `json:"msgs_out"`
	Writes         float64      `json:"writes"`
	MemAvailKB     int64        `json:"mem_available_kb"`
	Kernel         KernelMem    `json:"kernel"`
	TCPMemPressure int64        `json:"tcp_mem_pressure_pages"`
	LoadAvg        float64      `json:"loadavg"`
	Nodes          []NodeSample `json:"nodes"`
	Reason         string       `json:"reason,omitempty"` // set on the sample that stopped the ramp
}

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func readPIDs(path string) []int {
	var out []int
	for _, l := range readLines(path) {
		if v, err := strconv.Atoi(l); err == nil {
			out = append(out, v)
		}
	}
	return out
}

func memAvailableKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	v, _ := fieldKB(b, "MemAvailable:")
	return v
}

func tcpMemPressure() int64 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_mem")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.ParseInt(f[1], 10, 64)
	return v
}

func touch(path, content string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err == nil {
		return
	}
	_ = os.WriteFile(path, []byte(content), 0o644)
}

// scrapeTimeout bounds one node's /metrics scrape: a node too busy to
// answer keeps its previous figures (marked stale) rather than delaying the
// whole sample, so every sample is taken within about one interval.
const scrapeTimeout = 1500 * time.Millisecond

// nodeMetrics is what one scrape of a gateway's /metrics gives the watcher.
type nodeMetrics struct {
	conns          int64
	msgsOut, write float64
	ok             bool
}

// scrapeAll scrapes every admin URL concurrently, each bounded by scrapeTimeout.
func scrapeAll(admins []string) []nodeMetrics {
	out := make([]nodeMetrics, len(admins))
	var wg sync.WaitGroup
	for i, a := range admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := scrapeMetricsTimeout(a+"/metrics", scrapeTimeout)
			if err != nil {
				return
			}
			c, ok := m["wsgate_connections_open"]
			out[i] = nodeMetrics{conns: int64(c), msgsOut: m["wsgate_messages_out_total"], write: m["wsgate_broadcast_writes_total"], ok: ok}
		}()
	}
	wg.Wait()
	return out
}

// growthWindow is how far back the watcher looks to tell whether the ramp is
// still growing when the ramp deadline has passed.
const growthWindow = 20 * time.Second

// RunWatch samples until the stop file appears or Duration passes. Samples
// are cheap (a few /proc files per process, no walk of /proc/<pid>/fd: with
// 17,000 fds per node and 59 nodes that walk alone took seconds under load)
// and the connection count is what the gateways report on /metrics, scraped
// concurrently with a timeout.
func RunWatch(cfg WatchConfig) error {
	out, err := os.Create(cfg.Out)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer func() { _ = out.Close() }()
	enc := json.NewEncoder(out)
	t0 := time.Now()
	reason := ""
	pauseKB := cfg.PauseFreeMB << 10
	minKB := cfg.MinFreeMB << 10
	prev := map[int]NodeSample{} // last good scrape per PID
	var history []WatchSample    // held over the last growthWindow
	for time.Since(t0) < cfg.Duration {
		began := time.Now()
		s := WatchSample{AtSec: time.Since(t0).Seconds(), LoadAvg: LoadAvg1(), MemAvailKB: memAvailableKB(), TCPMemPressure: tcpMemPressure()}
		s.Kernel, _ = ReadKernelMem()
		admins := readLines(cfg.AdminsFile)
		pids := readPIDs(cfg.GatewayPIDsFile)
		scrapes := scrapeAll(admins[:min(len(admins), len(pids))])
		for i, pid := range pids {
			n := NodeSample{PID: pid, Conns: -1}
			n.RSSKB, _ = ProcRSSKB(pid)
			n.CPUSec, _ = ProcCPUSeconds(pid)
			if i < len(scrapes) && scrapes[i].ok {
				n.Conns, n.MsgsOut, n.Writes = scrapes[i].conns, scrapes[i].msgsOut, scrapes[i].write
				prev[pid] = n
			} else if p, ok := prev[pid]; ok {
				n.Conns, n.MsgsOut, n.Writes, n.Stale = p.Conns, p.MsgsOut, p.Writes, true
				s.StaleNodes++
			} else {
				s.StaleNodes++
			}
			s.Nodes = append(s.Nodes, n)
			s.GatewayRSSKB += n.RSSKB
			s.GatewayCPUSec += n.CPUSec
			s.MsgsOut += n.MsgsOut
			s.Writes += n.Writes
			s.Held += max(n.Conns, 0)
		}
		for _, pid := range readPIDs(cfg.GeneratorPIDsFile) {
			if r, err := ProcRSSKB(pid); err == nil {
				s.GeneratorRSSKB += r
				s.GeneratorProcs++
			}
		}
		history = append(history, s)
		for len(history) > 1 && s.AtSec-history[1].AtSec >= growthWindow.Seconds() {
			history = history[1:]
		}
		if reason == "" {
			grew := s.Held - history[0].Held
			switch {
			case s.MemAvailKB > 0 && s.MemAvailKB < pauseKB:
				reason = fmt.Sprintf("memory: MemAvailable %d MB < %d MB", s.MemAvailKB>>10, cfg.PauseFreeMB)
			case s.TCPMemPressure > 0 && s.Kernel.TCPMemPages >= s.TCPMemPressure:
				reason = fmt.Sprintf("kernel socket memory: sockstat TCP mem %d pages ≥ tcp_mem pressure %d", s.Kernel.TCPMemPages, s.TCPMemPressure)
			case cfg.Target > 0 && s.Held >= cfg.Target:
				reason = fmt.Sprintf("target: %d connections held", s.Held)
			// Past the ramp deadline the ramp ends only once the gateways'
			// count stops growing (< 1% over the window): a ramp still
			// landing connections is not cut short.
			case cfg.RampDeadline > 0 && time.Since(t0) > cfg.RampDeadline && s.StaleNodes == 0 &&
				s.AtSec-history[0].AtSec >= growthWindow.Seconds()/2 && float64(grew) < 0.01*float64(max(s.Held, 1)):
				reason = fmt.Sprintf("time: ramp deadline %s passed and the count grew %d in the last %.0f s", cfg.RampDeadline, grew, s.AtSec-history[0].AtSec)
			}
			if reason != "" {
				s.Reason = reason
				touch(cfg.ReasonFile, reason+"\n")
				touch(cfg.PauseFile, reason+"\n")
			}
		}
		if s.MemAvailKB > 0 && s.MemAvailKB < minKB {
			s.Reason = fmt.Sprintf("abort: MemAvailable %d MB < %d MB", s.MemAvailKB>>10, cfg.MinFreeMB)
			touch(cfg.ReasonFile, s.Reason+"\n")
			touch(cfg.PauseFile, s.Reason+"\n")
			touch(cfg.StopFile, s.Reason+"\n")
		}
		s.SampleMs = float64(time.Since(began).Microseconds()) / 1e3
		if err := enc.Encode(&s); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		if cfg.Status != "" {
			b, _ := json.Marshal(&s)
			tmp := cfg.Status + ".tmp"
			if os.WriteFile(tmp, b, 0o644) == nil {
				_ = os.Rename(tmp, cfg.Status)
			}
		}
		if fileExists(cfg.StopFile) {
			return nil
		}
		// The next sample starts one interval after this one began.
		time.Sleep(max(cfg.Interval-time.Since(began), 50*time.Millisecond))
	}
	return nil
}
