package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	FDs     int     `json:"fds"`
	CPUSec  float64 `json:"cpu_sec"`
	Conns   int64   `json:"conns"`    // wsgate_connections_open (−1 if not scraped)
	MsgsOut float64 `json:"msgs_out"` // wsgate_messages_out_total
	Writes  float64 `json:"writes"`   // wsgate_broadcast_writes_total
}

// WatchSample is the whole host at one moment.
type WatchSample struct {
	AtSec          float64      `json:"at_sec"`
	Held           int64        `json:"held"` // Σ gateway connections (metrics, else fds over baseline)
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

// RunWatch samples until the stop file appears or Duration passes.
func RunWatch(cfg WatchConfig) error {
	out, err := os.Create(cfg.Out)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer func() { _ = out.Close() }()
	enc := json.NewEncoder(out)
	t0 := time.Now()
	baseFDs := map[int]int{}
	reason := ""
	pauseKB := cfg.PauseFreeMB << 10
	minKB := cfg.MinFreeMB << 10
	for time.Since(t0) < cfg.Duration {
		s := WatchSample{AtSec: time.Since(t0).Seconds(), LoadAvg: LoadAvg1(), MemAvailKB: memAvailableKB(), TCPMemPressure: tcpMemPressure()}
		s.Kernel, _ = ReadKernelMem()
		admins := readLines(cfg.AdminsFile)
		scraped := true
		for i, pid := range readPIDs(cfg.GatewayPIDsFile) {
			n := NodeSample{PID: pid, Conns: -1}
			n.RSSKB, _ = ProcRSSKB(pid)
			n.FDs, _ = ProcFDs(pid)
			n.CPUSec, _ = ProcCPUSeconds(pid)
			if _, ok := baseFDs[pid]; !ok {
				baseFDs[pid] = n.FDs
			}
			if i < len(admins) {
				if m, err := ScrapeMetrics(admins[i] + "/metrics"); err == nil {
					n.Conns = int64(m["wsgate_connections_open"])
					n.MsgsOut = m["wsgate_messages_out_total"]
					n.Writes = m["wsgate_broadcast_writes_total"]
				}
			}
			if n.Conns < 0 {
				scraped = false
			}
			s.Nodes = append(s.Nodes, n)
			s.GatewayRSSKB += n.RSSKB
			s.GatewayCPUSec += n.CPUSec
			s.MsgsOut += n.MsgsOut
			s.Writes += n.Writes
		}
		for _, n := range s.Nodes {
			if scraped {
				s.Held += n.Conns
			} else {
				s.Held += int64(max(n.FDs-baseFDs[n.PID], 0))
			}
		}
		for _, pid := range readPIDs(cfg.GeneratorPIDsFile) {
			if r, err := ProcRSSKB(pid); err == nil {
				s.GeneratorRSSKB += r
				s.GeneratorProcs++
			}
		}
		if reason == "" {
			switch {
			case s.MemAvailKB > 0 && s.MemAvailKB < pauseKB:
				reason = fmt.Sprintf("memory: MemAvailable %d MB < %d MB", s.MemAvailKB>>10, cfg.PauseFreeMB)
			case s.TCPMemPressure > 0 && s.Kernel.TCPMemPages >= s.TCPMemPressure:
				reason = fmt.Sprintf("kernel socket memory: sockstat TCP mem %d pages ≥ tcp_mem pressure %d", s.Kernel.TCPMemPages, s.TCPMemPressure)
			case cfg.Target > 0 && s.Held >= cfg.Target:
				reason = fmt.Sprintf("target: %d connections held", s.Held)
			case cfg.RampDeadline > 0 && time.Since(t0) > cfg.RampDeadline:
				reason = fmt.Sprintf("time: ramp deadline %s", cfg.RampDeadline)
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
		time.Sleep(cfg.Interval)
	}
	return nil
}
