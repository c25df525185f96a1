package loadgen

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"time"
)

// MaxConnsPerProcess keeps a generator process under its fd limit with room
// for its own files: 19,500 under the project machines' hard limit of 20,000
// (design.md, "Million connections on one host"); on a host with raised
// limits (LimitNOFILE=2097152) it is that limit minus 500. The Go runtime
// raises the soft limit to the hard one at start, so Getrlimit sees it.
var MaxConnsPerProcess = func() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 20000 {
		return int(min(rl.Cur, 1<<24)) - 500
	}
	return 19500
}()

// Config is one generator run.
type Config struct {
	Scenario string
	// Proto is the protocol spoken after the upgrade: "" (raw WebSocket
	// messages) or ProtoCentrifugo (idle and broadcast only).
	Proto            string
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
	// MetricsURL, when set, is scraped (Prometheus text) before and after the
	// measured window; the deltas of every counter go into the result.
	MetricsURL string
	// StopFile ends an idle ramp or hold early when the file exists (the
	// million-connection runbook stops every generator at once this way).
	StopFile string
	// PauseFile stops an idle ramp (no new dials) when the file exists; the
	// hold goes on with the connections already open.
	PauseFile string
	// HoldUntilStop makes an idle hold last until the stop file exists or Stop
	// is closed (the runbook says when its broadcasts are over), not -hold.
	HoldUntilStop bool
	// Stop, when closed, ends an idle ramp or hold like the stop file: the
	// command closes it on SIGTERM/SIGINT and at the deadline, so the result
	// is still written.
	Stop <-chan struct{}
	// CDF adds latency CDF points to echo/broadcast results (for the charts).
	CDF bool
	// SettleGet: idle: after the hold, GET this URL (a forced GC on the
	// server) and sample once more (IdleResult.Settled).
	SettleGet string
	// PublishURL: broadcast: POST the messages here (PublishFormat, to
	// PublishChannel) instead of sending them on connection 0; every
	// connection is then a subscriber (httppub.go).
	PublishURL, PublishFormat, PublishChannel string
	// TLS: speak TLS to the server (-tls, or a wss:// URL; tlsclient.go).
	TLS TLSOptions
	// engineOut, when set, receives the scenario's engine (Run reads its
	// TLS counts from it).
	engineOut **engine
}

// Validate checks the bounds that keep a run finite and under the fd limit.
func (c *Config) Validate() error {
	if c.Loops < 1 {
		return errors.New("loops must be ≥ 1")
	}
	if c.Deadline <= 0 {
		return errors.New("deadline must be > 0: every run is bounded")
	}
	if strings.HasPrefix(c.URL, "wss://") {
		c.TLS.Enabled = true
	}
	if c.TLS.Enabled && c.Scenario == "writefloor" {
		return errors.New("writefloor has no TLS mode")
	}
	// TLS mode holds three fds per connection (tlsclient.go).
	maxConns := MaxConnsPerProcess / c.TLS.fdsPerConn()
	switch c.Scenario {
	case "idle", "broadcast", "echo":
		if c.Conns < 1 || c.Conns > maxConns {
			return fmt.Errorf("conns %d out of range 1..%d (the fd hard limit is 20,000 per process, 3 fds per TLS connection: run more processes)", c.Conns, maxConns)
		}
	case "churn":
		if c.Duration <= 0 {
			return errors.New("churn: duration must be > 0")
		}
		if c.MaxInflight < 1 || c.MaxInflight > maxConns {
			return fmt.Errorf("churn: max-inflight %d out of range 1..%d", c.MaxInflight, maxConns)
		}
	case "writefloor":
		// Both ends of every pair live in this process.
		if c.Conns < 1 || 2*c.Conns > MaxConnsPerProcess {
			return fmt.Errorf("writefloor conns %d out of range 1..%d (two fds per pair)", c.Conns, MaxConnsPerProcess/2)
		}
	default:
		return fmt.Errorf("unknown scenario %q (idle, broadcast, echo, churn, writefloor)", c.Scenario)
	}
	switch c.Proto {
	case "":
	case ProtoCentrifugo:
		if c.Scenario != "idle" && c.Scenario != "broadcast" && c.Scenario != "churn" {
			return fmt.Errorf("-proto %s: scenario %s not supported (idle, broadcast, churn)", c.Proto, c.Scenario)
		}
	default:
		return fmt.Errorf("unknown -proto %q (empty or %s)", c.Proto, ProtoCentrifugo)
	}
	if c.Scenario == "broadcast" || c.Scenario == "echo" {
		if c.Rate <= 0 || c.Duration <= 0 {
			return errors.New("rate and duration must be > 0")
		}
		if c.Size < payloadHeader {
			return fmt.Errorf("size must be ≥ %d (sequence number and timestamp)", payloadHeader)
		}
	}
	if c.PublishURL != "" && (c.Scenario != "broadcast" || c.Proto != "") {
		return errors.New("-publish-url: broadcast scenario only, without -proto")
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
	var m0 map[string]float64
	if cfg.MetricsURL != "" {
		m0, _ = ScrapeMetrics(cfg.MetricsURL)
	}
	var eng *engine
	cfg.engineOut = &eng
	var err error
	switch cfg.Scenario {
	case "idle":
		err = runIdle(&cfg, res)
	case "broadcast":
		err = runBroadcast(&cfg, res)
	case "echo":
		err = runEcho(&cfg, res)
	case "churn":
		err = runChurn(&cfg, res)
	case "writefloor":
		err = runWriteFloor(&cfg, res)
	}
	if m0 != nil {
		if m1, e := ScrapeMetrics(cfg.MetricsURL); e == nil {
			res.Metrics = MetricsDelta(m0, m1)
		}
	}
	res.TLS = eng.tlsResult()
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
