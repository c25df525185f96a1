// Command kafkadev is a Kafka-protocol broker for development and tests: it
// wraps franz-go's kfake (an in-memory Kafka implementation, optionally
// persisted to a directory) so that `make run-cluster` and the end-to-end
// tests can run wsgate nodes against a real Kafka client protocol on a machine
// without a JVM or Docker. It is not Apache Kafka: use deploy/compose.yaml for
// production-like runs.
//
//	kafkadev -listen 127.0.0.1:9092                      # one broker
//	kafkadev -listen 127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094 -partitions 10
//
// It prints "ready <addr,...>" on stdout once it accepts connections and
// stops on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kafkadev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9092", "comma-separated broker `addresses` (1 to 3: one broker each; port 0 picks a free port); each is also the address advertised to clients")
	partitions := fs.Int("partitions", 10, "partitions of the seeded topics and of topics created with the default count")
	topics := fs.String("topics", "wsgate.broadcast", "comma-separated `topics` to create at start (empty: none)")
	dataDir := fs.String("data-dir", "", "keep the log in this `directory` so a restart resumes it (empty: in memory)")
	logLevel := fs.String("log-level", "none", "kfake log `level`: none, error, warn, info, debug")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	var addrs []string
	for a := range strings.SplitSeq(*listen, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) < 1 || len(addrs) > 3 {
		fmt.Fprintf(stderr, "kafkadev: -listen wants 1 to 3 addresses, got %d\n", len(addrs))
		return 2
	}
	if *partitions < 1 {
		fmt.Fprintln(stderr, "kafkadev: -partitions must be at least 1")
		return 2
	}
	levels := map[string]kfake.LogLevel{"none": kfake.LogLevelNone, "error": kfake.LogLevelError,
		"warn": kfake.LogLevelWarn, "info": kfake.LogLevelInfo, "debug": kfake.LogLevelDebug}
	level, ok := levels[strings.ToLower(*logLevel)]
	if !ok {
		fmt.Fprintf(stderr, "kafkadev: unknown -log-level %q\n", *logLevel)
		return 2
	}

	// kfake listens on 127.0.0.1:<port> for broker i, in order; listen on the
	// i-th address given instead.
	var mu sync.Mutex
	next := 0
	listenFn := func(network, _ string) (net.Listener, error) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(addrs) {
			return nil, fmt.Errorf("kafkadev: more brokers than addresses")
		}
		a := addrs[next]
		next++
		return net.Listen(network, a)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(len(addrs)),
		kfake.ListenFn(listenFn),
		kfake.DefaultNumPartitions(*partitions),
		kfake.AllowAutoTopicCreation(),
		kfake.ClusterID("kafkadev"),
		kfake.WithLogger(kfake.BasicLogger(stderr, level)),
	}
	var seed []string
	for t := range strings.SplitSeq(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			seed = append(seed, t)
		}
	}
	if len(seed) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), seed...))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(stderr, "kafkadev: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ready %s\n", strings.Join(c.ListenAddrs(), ","))
	s := <-sigs
	fmt.Fprintf(stderr, "kafkadev: %v, stopping\n", s)
	c.Close()
	return 0
}
