package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/wsgate/wsgate/bench/loadgen"
)

// publish: POST -count messages to the publish API, each carrying a
// sequence number and the monotonic clock (the generators' idle scenario
// counts them and measures publish→deliver).
func publish(args []string) int {
	fs := flag.NewFlagSet("wsgate-bench publish", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:9090/v1/publish/chat", "publish API URL (binary=1 is added)")
	seq := fs.Int64("seq", 0, "sequence number of the first message")
	count := fs.Int("count", 1, "messages to publish")
	interval := fs.Duration("interval", time.Second, "pause between messages")
	rate := fs.Float64("rate", 0, "messages per second on a fixed schedule (message i is due at start + i/rate, whatever the previous request took); overrides -interval")
	size := fs.Int("size", 64, "payload bytes (≥ 16)")
	token := fs.String("token", "", "bearer token (-publish-token of the gateway)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *size < 16 || *count < 1 || *count > 10000 {
		fmt.Fprintln(os.Stderr, "publish: size ≥ 16 and 1 ≤ count ≤ 10000")
		return 2
	}
	u := *url
	if strings.Contains(u, "?") {
		u += "&binary=1"
	} else {
		u += "?binary=1"
	}
	res := loadgen.PublishResult{URL: *url, Seq: *seq, Count: *count}
	cl := http.Client{Timeout: 10 * time.Second}
	msg := make([]byte, *size)
	start := time.Now()
	for i := 0; i < *count; i++ {
		switch {
		case *rate > 0:
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))))
		case i > 0:
			time.Sleep(*interval)
		}
		binary.LittleEndian.PutUint64(msg[0:8], uint64(*seq+int64(i)))
		ts := loadgen.Monotonic()
		binary.LittleEndian.PutUint64(msg[8:16], uint64(ts))
		req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(msg))
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			res.Error = err.Error()
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			res.Error = resp.Status
			continue
		}
		if res.Accepted == 0 {
			res.FirstMono = ts
		}
		res.LastMono = ts
		res.Accepted++
	}
	b, _ := json.Marshal(&res)
	fmt.Println(string(b))
	if res.Accepted != *count {
		fmt.Fprintln(os.Stderr, "publish:", res.Error)
		return 1
	}
	return 0
}

func watch(args []string) int {
	fs := flag.NewFlagSet("wsgate-bench watch", flag.ContinueOnError)
	var c loadgen.WatchConfig
	fs.StringVar(&c.GatewayPIDsFile, "gateway-pids-file", "", "file of gateway PIDs, one a line (re-read every interval)")
	fs.StringVar(&c.GeneratorPIDsFile, "generator-pids-file", "", "file of generator PIDs")
	fs.StringVar(&c.AdminsFile, "admins-file", "", "file of gateway admin base URLs, same order as the PIDs")
	fs.DurationVar(&c.Interval, "interval", 2*time.Second, "sampling interval")
	fs.Int64Var(&c.MinFreeMB, "min-free-mb", 3072, "abort the run (stop file) when MemAvailable falls below this")
	fs.Int64Var(&c.PauseFreeMB, "pause-free-mb", 4096, "stop the ramp (pause file) when MemAvailable falls below this")
	fs.Int64Var(&c.Target, "target", 0, "stop the ramp when this many connections are held")
	fs.DurationVar(&c.RampDeadline, "ramp-deadline", 5*time.Minute, "stop the ramp after this long")
	fs.DurationVar(&c.Duration, "duration", 15*time.Minute, "hard bound of the watch")
	fs.StringVar(&c.PauseFile, "pause-file", "", "created when a limit stops the ramp")
	fs.StringVar(&c.StopFile, "stop-file", "", "created on abort; the watch ends when it exists")
	fs.StringVar(&c.ReasonFile, "reason-file", "", "the first limit reached is written here")
	fs.StringVar(&c.Out, "out", "watch.jsonl", "JSON lines, one sample each")
	fs.StringVar(&c.Status, "status", "", "latest sample (JSON), rewritten every interval")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := loadgen.RunWatch(c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func compareReport(args []string) int {
	fs := flag.NewFlagSet("wsgate-bench compare-report", flag.ContinueOnError)
	in := fs.String("in", "", "JSON lines of the compare runs")
	out := fs.String("out", "", "results file (JSON)")
	note := fs.String("note", "", "free text stored in the results file")
	charts := fs.String("charts", "", "directory for the SVG charts (empty: none)")
	prefix := fs.String("chart-prefix", "", "prefix of the chart file names")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rs, err := loadgen.ReadResults(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rep, err := loadgen.BuildCompare(rs, *note, *charts, *prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *out != "" {
		if err := rep.WriteFile(*out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Print(rep.Markdown())
	return 0
}

func millionReport(args []string) int {
	fs := flag.NewFlagSet("wsgate-bench million-report", flag.ContinueOnError)
	series := fs.String("series", "", "watch JSON lines")
	gens := fs.String("gens", "", "generator JSON lines")
	pubs := fs.String("publishes", "", "publish JSON lines")
	floor := fs.String("floor", "", "writefloor JSON line (optional)")
	out := fs.String("out", "", "results file (JSON)")
	charts := fs.String("charts", "", "directory for the SVG chart")
	prefix := fs.String("chart-prefix", "", "prefix of the chart file name")
	var in loadgen.MillionInput
	fs.Int64Var(&in.Target, "target", 0, "target connections")
	fs.IntVar(&in.Nodes, "nodes", 0, "gateway nodes")
	fs.IntVar(&in.GenProcs, "gen-procs", 0, "generator processes")
	fs.StringVar(&in.Reason, "reason", "", "what stopped the ramp")
	fs.StringVar(&in.Note, "note", "", "free text")
	fs.StringVar(&in.Bus, "bus", "", "bus used between nodes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	in.Cores = runtime.NumCPU()
	var err error
	if in.Series, err = loadgen.ReadJSONLines[loadgen.WatchSample](*series); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	in.Gens, _ = loadgen.ReadJSONLines[loadgen.Result](*gens)
	if *pubs != "" {
		in.Publishes, _ = loadgen.ReadJSONLines[loadgen.PublishResult](*pubs)
	}
	if *floor != "" {
		if fl, _ := loadgen.ReadJSONLines[loadgen.Result](*floor); len(fl) > 0 {
			in.Floor = fl[0].WriteFloor
		}
	}
	rep, err := loadgen.BuildMillion(in, *charts, *prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *out != "" {
		if err := rep.WriteFile(*out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Print(rep.Markdown())
	return 0
}
