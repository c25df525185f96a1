package loadgen

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ScrapeMetrics reads a Prometheus text exposition and sums every sample by
// metric name (label sets folded together): enough for counter deltas such
// as wsgate_messages_out_total / wsgate_broadcast_writes_total.
func ScrapeMetrics(url string) (map[string]float64, error) {
	return scrapeMetricsTimeout(url, 5*time.Second)
}

func scrapeMetricsTimeout(url string, timeout time.Duration) (map[string]float64, error) {
	cl := http.Client{Timeout: timeout}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, v, ok := parseSample(line)
		if ok {
			out[name] += v
		}
	}
	return out, sc.Err()
}

func parseSample(line string) (string, float64, bool) {
	name := line
	rest := ""
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		name = line[:i]
		rest = line[i:]
	}
	if strings.HasPrefix(rest, "{") {
		j := strings.LastIndexByte(rest, '}')
		if j < 0 {
			return "", 0, false
		}
		rest = rest[j+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", 0, false
	}
	return name, v, true
}

// MetricsDelta is b − a for every name in b (gauges come out as their change).
func MetricsDelta(a, b map[string]float64) map[string]float64 {
	d := make(map[string]float64, len(b))
	for k, v := range b {
		if strings.HasPrefix(k, "go_") || strings.HasPrefix(k, "process_") || strings.HasPrefix(k, "promhttp_") {
			continue
		}
		d[k] = v - a[k]
	}
	return d
}
