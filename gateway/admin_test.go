package gateway_test

// The admin listener from a test's side: /metrics parsed into series, the server states of
// GET/POST /v1/servers, plain GETs with basic auth, and waits on the gateway's log.

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metrics is a parsed Prometheus text exposition: "name{labels}" (labels as printed) → value.
type metrics map[string]float64

// get returns the value of name with (at least) the given label (e.g. `code="400"`), summed over the
// series that match, and whether any did.
func (m metrics) get(name, label string) (float64, bool) {
	var sum float64
	found := false
	for k, v := range m {
		labels, ok := seriesLabels(k, name)
		if !ok || (label != "" && !slices.Contains(labels, label)) {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// byLabel returns name's series summed by the value of one label (key "code": "400" → value).
func (m metrics) byLabel(name, key string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		labels, _ := seriesLabels(k, name)
		for _, l := range labels {
			if c, ok := strings.CutPrefix(l, key+"="); ok {
				out[strings.Trim(c, `"`)] += v
			}
		}
	}
	return out
}

// atLeast fails unless metric name{label} exists and is >= want.
func (m metrics) atLeast(t *testing.T, name, label string, want float64) {
	t.Helper()
	got, ok := m.get(name, label)
	switch {
	case !ok:
		t.Errorf("metric %s{%s} is missing from /metrics", name, label)
	case got < want:
		t.Errorf("metric %s{%s} = %v, want >= %v", name, label, got, want)
	}
}

func scrapeMetrics(t *testing.T, admin string) metrics {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", resp.StatusCode, body)
	}
	m := metrics{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// seriesLabels returns the labels of key ("name{a="1",b="2"}" → `a="1"`, `b="2"`) when its name is name.
func seriesLabels(key, name string) ([]string, bool) {
	base, labels, _ := strings.Cut(key, "{")
	if base != name {
		return nil, false
	}
	parts := strings.Split(strings.TrimSuffix(labels, "}"), ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, true
}

// serverStat is one entry of GET /v1/servers (backend.Stats).
type serverStat struct {
	Pool      string          `json:"pool"`
	Name      string          `json:"name"`
	Addr      string          `json:"addr"`
	State     json.RawMessage `json:"state"` // "UP", "DOWN", "DRAIN", "MAINT" (a number is accepted too)
	Active    int64           `json:"sessions"`
	Total     uint64          `json:"sessions_total"`
	LastCheck string          `json:"last_check"`
}

// state returns the state's name (UP, DOWN, DRAIN, MAINT).
func (s serverStat) state() string {
	var n int
	if err := json.Unmarshal(s.State, &n); err == nil {
		if names := []string{"UP", "DOWN", "DRAIN", "MAINT"}; n >= 0 && n < len(names) {
			return names[n]
		}
		return "State(" + strconv.Itoa(n) + ")"
	}
	var str string
	_ = json.Unmarshal(s.State, &str)
	return strings.ToUpper(str)
}

var adminClient = &http.Client{Timeout: 3 * time.Second}

// serverStats reads GET /v1/servers, keyed "pool/server".
func serverStats(t *testing.T, g *testGateway) map[string]serverStat {
	t.Helper()
	resp, err := adminClient.Get("http://" + g.Admin + "/v1/servers")
	if err != nil {
		t.Fatalf("GET /v1/servers: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/servers: %d %s", resp.StatusCode, body)
	}
	var list []serverStat
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET /v1/servers: %v: %s", err, body)
	}
	out := map[string]serverStat{}
	for _, s := range list {
		if s.Pool == "" || s.Name == "" || len(s.State) == 0 {
			t.Fatalf("GET /v1/servers: entry without pool, name or state (format changed?): %s", body)
		}
		out[s.Pool+"/"+s.Name] = s
	}
	return out
}

// waitServer polls /v1/servers every 20 ms until cond holds for ref, and returns how long it took; it
// fails the test after timeout.
func waitServer(t *testing.T, g *testGateway, ref, what string, timeout time.Duration, cond func(serverStat) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last serverStat
	for {
		st, ok := serverStats(t, g)[ref]
		if !ok {
			t.Fatalf("/v1/servers has no %s", ref)
		}
		if cond(st) {
			return time.Since(start)
		}
		last = st
		if time.Since(start) > timeout {
			t.Fatalf("%s: not %s within %v (last: state %s, active %d, last check %q)", ref, what, timeout, last.state(), last.Active, last.LastCheck)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitState(t *testing.T, g *testGateway, ref, state string, timeout time.Duration) time.Duration {
	t.Helper()
	return waitServer(t, g, ref, state, timeout, func(s serverStat) bool { return s.state() == state })
}

// setServerState is POST /v1/servers/POOL/SERVER?state=...
func setServerState(t *testing.T, g *testGateway, ref, state string) serverStat {
	t.Helper()
	resp, err := adminClient.Post("http://"+g.Admin+"/v1/servers/"+ref+"?state="+state, "", nil)
	if err != nil {
		t.Fatalf("POST /v1/servers/%s?state=%s: %v", ref, state, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/servers/%s?state=%s: %d %s", ref, state, resp.StatusCode, body)
	}
	var st serverStat
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("POST /v1/servers/%s: %v: %s", ref, err, body)
	}
	return st
}

// flGet does a GET with optional basic auth.
func flGet(url, user, pass string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body, err
}

// flWaitLog waits until the gateway's log holds more than `before` occurrences of s.
func flWaitLog(t *testing.T, g *testGateway, s string, before int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(g.log.String(), s) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no new %q in the gateway log within %v", s, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flGrep(log, s string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}
