package loadgen

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// MaxConnsPerProcess keeps a generator process under the machines' hard fd
// limit of 20,000 with room for its own files (design.md, "Million
// connections on one host").
const MaxConnsPerProcess = 19500

// Config is one generator run.
type Config struct {
	Scenario         string
	URL              string
	Conns            int
	Sources          string
	DialRate         float64 // connections per second, whole process; 0 = unpaced
	Loops            int
	MaxInflight      int // dials not yet upgraded, whole process
	HandshakeTimeout time.Duration
	Hold             time.Duration // idle: how long to hold the connections
	Duration         time.Duration // broadcast/echo: how long to send
	Drain            time.Duration // broadcast/echo: max wait for deliveries after the last send
	Settle           time.Duration // pause between the ramp and the first message
	Rate             float64       // broadcast: publisher msgs/s; echo: msgs/s per connection
	Size             int           // message payload bytes
	GatewayPIDs      []int
	Checkpoints      []int // idle: gateway connection counts at which to sample memory
	Label            string
	RunID            string
	Proc             int
	Deadline         time.Duration // hard bound on the whole run
}

// Validate checks the bounds that keep a run finite and under the fd limit.
func (c *Config) Validate() error {
	if c.Loops < 1 {
		return errors.New("loops must be ≥ 1")
	}
	if c.Deadline <= 0 {
		return errors.New("deadline must be > 0: every run is bounded")
	}
	switch c.Scenario {
	case "idle", "broadcast", "echo":
		if c.Conns < 1 || c.Conns > MaxConnsPerProcess {
			return fmt.Errorf("conns %d out of range 1..%d (the fd hard limit is 20,000 per process: run more processes)", c.Conns, MaxConnsPerProcess)
		}
	case "writefloor":
		// Both ends of every pair live in this process.
		if c.Conns < 1 || 2*c.Conns > MaxConnsPerProcess {
			return fmt.Errorf("writefloor conns %d out of range 1..%d (two fds per pair)", c.Conns, MaxConnsPerProcess/2)
		}
	default:
		return fmt.Errorf("unknown scenario %q (idle, broadcast, echo, writefloor)", c.Scenario)
	}
	if c.Scenario == "broadcast" || c.Scenario == "echo" {
		if c.Rate <= 0 || c.Duration <= 0 {
			return errors.New("rate and duration must be > 0")
		}
		if c.Size < payloadHeader {
			return fmt.Errorf("size must be ≥ %d (sequence number and timestamp)", payloadHeader)
		}
	}
	if c.Scenario == "broadcast" && c.Conns < 1 {
		return errors.New("broadcast needs at least the publisher connection")
	}
	return nil
}

// Run runs the configured scenario and returns its report.
func Run(cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &Result{
		Scenario: cfg.Scenario, Label: cfg.Label, RunID: cfg.RunID, Proc: cfg.Proc,
		Time: time.Now().UTC().Format(time.RFC3339),
		Params: Params{
			Conns: cfg.Conns, Loops: cfg.Loops, DialRate: cfg.DialRate, Rate: cfg.Rate, Size: cfg.Size,
			DurationSec: cfg.Duration.Seconds(), HoldSec: cfg.Hold.Seconds(), GatewayPIDs: cfg.GatewayPIDs,
		},
	}
	if cfg.Scenario != "writefloor" {
		res.URL = cfg.URL
		src, err := ParseSources(cfg.Sources)
		if err != nil {
			return nil, err
		}
		res.Params.Sources = len(src)
	}
	start := time.Now()
	res.LoadAvg[0] = LoadAvg1()
	cpu0 := SelfCPUSeconds()
	var err error
	switch cfg.Scenario {
	case "idle":
		err = runIdle(&cfg, res)
	case "broadcast":
		err = runBroadcast(&cfg, res)
	case "echo":
		err = runEcho(&cfg, res)
	case "writefloor":
		err = runWriteFloor(&cfg, res)
	}
	res.WallSec = time.Since(start).Seconds()
	res.GeneratorCPUSec = SelfCPUSeconds() - cpu0
	res.LoadAvg[1] = LoadAvg1()
	if rss, e := ProcRSSKB(os.Getpid()); e == nil {
		res.GeneratorRSSKB = rss
	}
	return res, err
}

// split divides n into k near-equal parts.
func split(n, k, i int) int {
	return n/k + btoi(i < n%k)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rampTimeout bounds the ramp: twice the paced time plus the handshake timeout.
func rampTimeout(cfg *Config, n int) time.Duration {
	t := cfg.HandshakeTimeout + 10*time.Second
	if cfg.DialRate > 0 {
		t += 2 * time.Duration(float64(n)/cfg.DialRate*float64(time.Second))
	} else {
		t += time.Duration(n) * time.Millisecond
	}
	return t
}
