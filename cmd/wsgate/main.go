// Command wsgate is a WebSocket gateway: it parses flags, checks them, and
// starts the gateway with its bus. Everything else lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway"
	"github.com/wsgate/wsgate/gateway/options"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := options.Parse(args, options.EnvLookup)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if o == nil {
		fmt.Fprintf(stderr, "wsgate: %v\n", err) // command-line syntax: flag already printed usage
		return 2
	}
	// Problems in the environment or -config file are configuration errors:
	// report them with everything config() finds, one per line.
	cfg, cerr := o.Config()
	if err = errors.Join(err, cerr); err != nil {
		for _, line := range splitErrors(err) {
			fmt.Fprintf(stderr, "[ALERT] %s\n", line)
		}
		fmt.Fprintln(stderr, "wsgate: configuration is invalid")
		return 1
	}
	if o.Check {
		printPlan(stdout, stderr, cfg, o.BusPlan())
		fmt.Fprintln(stdout, "Configuration is valid")
		return 0
	}
	level, _ := o.Level()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	procs := procs{loops: cfg.EventLoops, def: runtime.GOMAXPROCS(0), clustered: o.Clustered(), tls: cfg.TLS.Enabled(), log: log}
	if procs.loops <= 0 {
		procs.loops = runtime.NumCPU() // gnet's default with multicore
	}
	procs.set(cfg)

	reg := prometheus.NewRegistry()
	gw, err := gateway.New(cfg, o.NewBus(log, reg), log, reg)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal gets Go's default: exit at once
	}()
	go reloadOnHUP(ctx, args, gw, procs, log)
	go reopenOnUSR1(ctx, gw, log)
	if err := gw.Run(ctx); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// reopenOnUSR1 reopens the access log file on SIGUSR1 (logrotate's
// postrotate). The signal is caught even with the access log off, so a USR1
// sent by a rotation script never kills the process (Go's default).
func reopenOnUSR1(ctx context.Context, gw *gateway.Gateway, log *slog.Logger) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-usr1:
		}
		if err := gw.ReopenAccessLog(); err != nil {
			log.Error("access log reopen failed, still writing to the old file", "err", err)
		} else {
			log.Info("access log reopened")
		}
	}
}

// reloadOnHUP re-reads the flags, the environment and -config on SIGHUP and
// hands routes and pools to the gateway; a bad configuration is refused and
// logged, and the running one stays.
func reloadOnHUP(ctx context.Context, args []string, gw *gateway.Gateway, procs procs, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		o, err := options.Parse(args, options.EnvLookup)
		if err == nil {
			var cfg gateway.Config
			if cfg, err = o.Config(); err == nil {
				if err = gw.Reload(cfg); err == nil {
					procs.set(cfg) // the routes may now broadcast, or no longer
				}
			}
		}
		if err != nil {
			for _, line := range splitErrors(err) {
				log.Error("reload refused, keeping the running configuration", "err", line)
			}
		}
	}
}

func printPlan(w, warn io.Writer, cfg gateway.Config, busLine string) {
	fmt.Fprintf(w, "listen %s, admin %q, demo page %q\n", cfg.Listen, cfg.AdminListen, cfg.DemoPath)
	// TLS: what would be served, and what does not stop it but needs a look
	// (a certificate expiring within 14 days): [WARNING] lines, exit 0.
	now := time.Now()
	for _, line := range cfg.TLS.Plan(now) {
		fmt.Fprintln(w, line)
	}
	warnings, _ := cfg.TLS.Check(now)
	for _, line := range warnings {
		fmt.Fprintf(warn, "[WARNING] %s\n", line)
	}
	pools, routes := cfg.Routing.Describe()
	for _, p := range pools {
		fmt.Fprintf(w, "backend %s\n", p)
	}
	for _, r := range routes {
		fmt.Fprintf(w, "route %s\n", r)
	}
	fmt.Fprintln(w, busLine)
}

// splitErrors flattens errors.Join trees into one line per problem.
func splitErrors(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// procs sets GOMAXPROCS for the configuration, at start and after each
// reload, unless GOMAXPROCS is set in the environment.
//
// A node that can broadcast or has other goroutine work gets one P more than
// gnet has event loops. A loop waits in epoll_wait holding its P (a system
// call); with as many loops as Ps, an idle gateway has no P for the Kafka bus
// readers, TLS handshakes, the admin API or the timers until sysmon retakes
// one, up to 10 ms later. That was the cross-node publish→deliver tail (issue
// 16 item 4, bench/README.md: p99 5–8 ms → ≈ 1.3 ms), and sysmon's 20 µs
// polling costs a single node's broadcasts too (100k deliveries/s: 5.56 →
// 4.56 µs each with the spare P; bench/README.md, issue 16 items 2 and 3).
//
// A node that only proxies (no Kafka bus, no TLS listener, no topic route,
// no GRIP pool) gets as many Ps as loops: everything it does runs on them,
// and the spare P only cost it a futex wake-up per loop turn (gnet yields
// after an empty poll, and the yield wakes a thread for the idle P): 9–23 %
// more tunnelled messages per CPU-second without it (issue 16 item 2).
// Routes change on reload, so set runs again then; the bus, the TLS
// listener and the event loops need a restart.
type procs struct {
	loops     int  // gnet's event loops (-event-loops, restart-only)
	def       int  // the runtime's GOMAXPROCS at start (CPUs or the cgroup limit)
	clustered bool // -kafka-brokers set
	tls       bool // -tls-listen set (restart-only, like the bus)
	log       *slog.Logger
}

func (p procs) set(cfg gateway.Config) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	loops := p.loops
	spare := p.clustered || p.tls || cfg.Routing.Broadcasts()
	from := runtime.GOMAXPROCS(0)
	switch {
	case spare && p.def > loops: // the runtime's own value leaves a P beyond the loops
		if from != p.def {
			runtime.SetDefaultGOMAXPROCS()
		}
	case spare:
		runtime.GOMAXPROCS(loops + 1)
	default:
		runtime.GOMAXPROCS(loops)
	}
	p.log.Debug("GOMAXPROCS", "from", from, "to", runtime.GOMAXPROCS(0), "event_loops", loops, "spare_p", spare,
		"kafka", p.clustered, "tls", p.tls, "broadcast_routes", cfg.Routing.Broadcasts())
}
