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
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway"
	"github.com/wsgate/wsgate/router/bus"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, envLookup)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgate: %v\n", err)
		return 2
	}
	cfg, err := o.config()
	if err != nil {
		for _, line := range splitErrors(err) {
			fmt.Fprintf(stderr, "[ALERT] %s\n", line)
		}
		fmt.Fprintln(stderr, "wsgate: configuration is invalid")
		return 1
	}
	if o.check {
		printPlan(stdout, cfg)
		fmt.Fprintln(stdout, "Configuration is valid")
		return 0
	}
	level, _ := o.level()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	reg := prometheus.NewRegistry()
	gw, err := gateway.New(cfg, func(h bus.Handler) (bus.Bus, error) { return bus.NewLocal(h), nil }, log, reg)
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
	if err := gw.Run(ctx); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func printPlan(w io.Writer, cfg gateway.Config) {
	fmt.Fprintf(w, "listen %s, admin %q, demo page %q\n", cfg.Listen, cfg.AdminListen, cfg.DemoPath)
	for _, p := range cfg.Backends {
		fmt.Fprintf(w, "backend %s\n", p)
	}
	for _, r := range cfg.Routes {
		fmt.Fprintf(w, "route %s\n", r.Spec)
	}
	fmt.Fprintln(w, "bus: in-process (single node)")
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
