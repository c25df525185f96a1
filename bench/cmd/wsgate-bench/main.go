// Command wsgate-bench is wsgate's load generator: an epoll reactor (a few
// loops, no goroutine per connection) that opens WebSocket connections from
// many loopback source addresses and runs the idle, broadcast, echo and
// writefloor scenarios. It prints one JSON line on stdout and a summary on
// stderr. `wsgate-bench report` turns the JSON lines of a bench run into the
// results file and a markdown table.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/wsgate/wsgate/bench/loadgen"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "report":
			os.Exit(report(os.Args[2:]))
		case "compare-report":
			os.Exit(compareReport(os.Args[2:]))
		case "million-report":
			os.Exit(millionReport(os.Args[2:]))
		case "publish":
			os.Exit(publish(os.Args[2:]))
		case "watch":
			os.Exit(watch(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:]))
}

// deadlineGrace is how long a run may take to stop and write its result
// after -deadline (closing ~19,000 sockets and summing takes well under it).
const deadlineGrace = 15 * time.Second

func run(args []string) int {
	fs := flag.NewFlagSet("wsgate-bench", flag.ContinueOnError)
	var cfg loadgen.Config
	var pids, checkpoints string
	fs.StringVar(&cfg.Scenario, "scenario", "idle", "idle | broadcast | echo | churn | writefloor (saturation = broadcast with a higher -rate and -conns)")
	fs.StringVar(&cfg.Proto, "proto", "", "protocol after the upgrade: empty (raw messages: wsgate, Node ws) or centrifugo (JSON protocol: connect + subscribe to \"chat\", publish commands, pushes unwrapped; idle, broadcast)")
	fs.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8080/ws", "server URL (IPv4 literal); \"{i}\" in the path becomes the connection index")
	fs.IntVar(&cfg.Conns, "conns", 1000, fmt.Sprintf("connections from this process (≤ %d here: fd limit − 500); writefloor: socket pairs; churn: unused (see -max-inflight)", loadgen.MaxConnsPerProcess))
	fs.StringVar(&cfg.Sources, "sources", "127.0.1.1-127.0.1.32", "source IPv4 addresses to bind before connect (ranges A-B, comma list; empty: kernel's choice)")
	fs.Float64Var(&cfg.DialRate, "dial-rate", 5000, "new connections per second (0: as fast as -max-inflight allows); churn: connect+upgrade+close cycles per second")
	fs.IntVar(&cfg.Loops, "loops", 2, "epoll loops (goroutines) carrying the connections")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", 1000, "dials not yet upgraded, at most")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", 10*time.Second, "a dial not upgraded by then counts as failed")
	fs.DurationVar(&cfg.Hold, "hold", 10*time.Second, "idle: how long to hold the connections after the ramp")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "broadcast/echo: how long to send; churn: how long to churn")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "broadcast/echo: max wait for outstanding deliveries after the last send")
	fs.DurationVar(&cfg.Settle, "settle", time.Second, "pause between the ramp and the first message (subscriptions settle)")
	fs.Float64Var(&cfg.Rate, "rate", 10, "broadcast: publisher messages per second; echo: messages per second per connection")
	fs.IntVar(&cfg.Size, "size", 64, "message payload bytes (≥ 16: sequence + timestamp)")
	fs.StringVar(&pids, "gateway-pids", "", "comma list of the server's PIDs: RSS, fds and CPU are read from /proc")
	fs.StringVar(&checkpoints, "checkpoints", "10000,19000", "idle: server connection counts at which to sample its memory")
	fs.StringVar(&cfg.Label, "label", "", "what is measured (e.g. wsgate, node): copied into the JSON")
	fs.StringVar(&cfg.RunID, "run-id", "", "groups the processes of one run: copied into the JSON")
	fs.IntVar(&cfg.Proc, "proc", 0, "index of this process within the run: copied into the JSON")
	fs.StringVar(&cfg.MetricsURL, "metrics-url", "", "server's Prometheus /metrics URL: counter deltas over the run go into the JSON (frames per write = wsgate_messages_out_total / wsgate_broadcast_writes_total)")
	fs.StringVar(&cfg.StopFile, "stop-file", "", "idle: end the ramp and the hold as soon as this file exists")
	fs.StringVar(&cfg.PauseFile, "pause-file", "", "idle: stop dialing when this file exists (the hold goes on)")
	fs.BoolVar(&cfg.HoldUntilStop, "hold-until-stop", false, "idle: hold until -stop-file exists or SIGTERM (bounded by -deadline), not for -hold")
	fs.BoolVar(&cfg.CDF, "cdf", false, "echo/broadcast/idle deliveries: add latency CDF points to the JSON (charts)")
	fs.StringVar(&cfg.SettleGet, "settle-get", "", "idle: after the hold, GET this URL (e.g. wsgate's http://ADMIN/debug/pprof/heap?gc=1, a forced GC), wait 1 s and sample the server again (\"settled\")")
	fs.StringVar(&cfg.PublishURL, "publish-url", "", "broadcast: POST the messages to this URL (e.g. http://ADMIN/publish/ of wsgate, http://127.0.0.1:5561/publish/ of Pushpin) instead of sending them on connection 0; every connection subscribes")
	fs.StringVar(&cfg.PublishFormat, "publish-format", "pushpin", "with -publish-url: pushpin ({\"items\":[{\"channel\":C,\"formats\":{\"ws-message\":{\"content-bin\":…}}}]}, 200 expected) or wsgate (raw body, ?binary=1)")
	fs.StringVar(&cfg.PublishChannel, "publish-channel", "chat", "with -publish-format pushpin: the channel published to")
	fs.BoolVar(&cfg.TLS.Enabled, "tls", false, "speak TLS to the server (implied by a wss:// URL): goroutine-per-connection crypto/tls clients bridged to the epoll loops, 3 fds per connection")
	fs.StringVar(&cfg.TLS.CAFile, "tls-ca", "", "TLS: PEM CA file the server's certificate must verify against (default: the system roots)")
	fs.BoolVar(&cfg.TLS.Insecure, "tls-insecure", false, "TLS: do not verify the server's certificate (throwaway bench certificates)")
	fs.StringVar(&cfg.TLS.ServerName, "tls-servername", "", "TLS: SNI and verification name (default: the URL's host)")
	fs.BoolVar(&cfg.TLS.Resume, "tls-resume", false, "TLS: share one session cache, so connections resume (TLS 1.3 tickets) after the first full handshake")
	fs.DurationVar(&cfg.Deadline, "deadline", 5*time.Minute, "hard bound: the process exits (status 3) if the run is not over by then")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if cfg.GatewayPIDs, err = loadgen.ParseInts(pids); err != nil {
		fmt.Fprintln(os.Stderr, "wsgate-bench: -gateway-pids:", err)
		return 2
	}
	if cfg.Checkpoints, err = loadgen.ParseInts(checkpoints); err != nil {
		fmt.Fprintln(os.Stderr, "wsgate-bench: -checkpoints:", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "wsgate-bench:", err)
		return 2
	}
	// SIGTERM/SIGINT and the deadline first end an idle run like the stop
	// file, so its result (what the million runbook sums) is still written;
	// a run that does not end within deadlineGrace after that exits anyway:
	// every run ends by itself, even if a phase hangs (exiting closes every socket).
	stop := make(chan struct{})
	var stopOnce sync.Once
	cfg.Stop = stop
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "wsgate-bench: %v: stopping, writing the result\n", s)
		stopOnce.Do(func() { close(stop) })
		<-sigs // a second signal: leave now
		os.Exit(130)
	}()
	time.AfterFunc(cfg.Deadline, func() {
		fmt.Fprintf(os.Stderr, "wsgate-bench: deadline %s reached, stopping\n", cfg.Deadline)
		stopOnce.Do(func() { close(stop) })
		time.AfterFunc(deadlineGrace, func() {
			fmt.Fprintf(os.Stderr, "wsgate-bench: still running %s after the deadline, exiting\n", deadlineGrace)
			os.Exit(3)
		})
	})
	res, runErr := loadgen.Run(cfg)
	if res != nil {
		fmt.Fprint(os.Stderr, res.Summary())
		if err := res.WriteJSON(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "wsgate-bench:", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "wsgate-bench:", runErr)
		return 1
	}
	return 0
}

func report(args []string) int {
	fs := flag.NewFlagSet("wsgate-bench report", flag.ContinueOnError)
	in := fs.String("in", "", "file of JSON lines written by wsgate-bench runs")
	out := fs.String("out", "", "results file to write (JSON); empty: none")
	note := fs.String("note", "", "free text stored in the results file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	results, err := loadgen.ReadResults(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsgate-bench report:", err)
		return 1
	}
	rep := loadgen.BuildReport(results, *note)
	if *out != "" {
		if err := rep.WriteFile(*out); err != nil {
			fmt.Fprintln(os.Stderr, "wsgate-bench report:", err)
			return 1
		}
	}
	fmt.Print(rep.Markdown())
	return 0
}
