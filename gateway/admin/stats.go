package admin

import (
	"cmp"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/wsgate/wsgate/router"
)

// Stats is what the stats page shows, and its ?json form.
type Stats struct {
	Node   NodeStats    `json:"node"`
	Routes []RouteStats `json:"routes"`
	Pools  []PoolStats  `json:"pools"`
	Topics []TopicStats `json:"topics"`
	Users  []UserStats  `json:"users,omitempty"` // by token sub, most connections first (auth.go)
	TLS    *TLSStats    `json:"tls,omitempty"`   // nil without -tls-listen
	Grip   *GripStats   `json:"grip,omitempty"`  // GRIP sessions (grip_stats.go); nil: none so far
}

// NodeStats describes this gateway process.
type NodeStats struct {
	Uptime      string `json:"uptime"`
	Connections int64  `json:"connections"`
	Subscribers int64  `json:"subscribers"`
	Goroutines  int    `json:"goroutines"`
	HeapBytes   uint64 `json:"heap_bytes"`
	SysBytes    uint64 `json:"sys_bytes"`
	Bus         string `json:"bus"`
	Draining    bool   `json:"draining"`
}

// RouteStats is one route.
type RouteStats struct {
	Spec   string `json:"spec"`
	Target string `json:"target"`
}

// PoolStats is one backend pool with its servers.
type PoolStats = router.PoolStats

// TopicStats is one topic on this node.
type TopicStats struct {
	Name        string  `json:"name"`
	Subscribers int     `json:"subscribers"`
	Messages    uint64  `json:"messages"`
	PerSecond   float64 `json:"messages_per_second"`
}

// statsRates remembers the previous snapshot to turn counts into rates.
type statsRates struct {
	mu   sync.Mutex
	at   time.Time
	msgs map[string]uint64
}

// snapshot gathers the figures; topic tables are read on their own loops.
func (g *Server) snapshot(ctx context.Context, topN int) Stats {
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	conns, subs := g.gw.Counts()
	st := Stats{Node: NodeStats{
		Uptime:      time.Since(g.start).Round(time.Second).String(),
		Connections: conns,
		Subscribers: subs,
		Goroutines:  runtime.NumGoroutine(),
		HeapBytes:   mem.HeapAlloc,
		SysBytes:    mem.Sys,
		Bus:         "in-process",
		Draining:    g.gw.Draining(),
	}}
	if g.tls != nil {
		st.TLS = g.tls()
	}
	if s, ok := g.bus.(router.BusStatuser); ok {
		if healthy, detail := s.Status(); healthy {
			st.Node.Bus = "ok: " + detail
		} else {
			st.Node.Bus = "DEGRADED: " + detail
		}
	}
	rt := g.router.Current()
	for _, r := range rt.Routes() {
		kind := "topic:"
		if r.Kind == router.TargetBackend {
			kind = "backend:"
		}
		st.Routes = append(st.Routes, RouteStats{Spec: r.Spec, Target: kind + r.Name})
	}
	st.Pools = rt.PoolStats()
	st.Topics = g.topicStats(ctx, topN)
	st.Users = g.gw.Users(topN)
	st.Grip = g.gripStats()
	return st
}

// topicStats turns the gateway's topic counts into the page's rows: the
// topN with the most subscribers, with the message rate since the last look.
func (g *Server) topicStats(ctx context.Context, topN int) []TopicStats {
	merged := g.gw.Topics(ctx)
	g.rates.mu.Lock()
	defer g.rates.mu.Unlock()
	elapsed := time.Since(g.rates.at).Seconds()
	out := make([]TopicStats, 0, len(merged))
	for name, p := range merged {
		t := TopicStats{Name: name, Subscribers: p.Subscribers, Messages: p.Messages}
		if prev, ok := g.rates.msgs[name]; ok && elapsed > 0 && p.Messages >= prev {
			t.PerSecond = float64(p.Messages-prev) / elapsed
		}
		out = append(out, t)
	}
	g.rates.at = time.Now()
	g.rates.msgs = make(map[string]uint64, len(merged))
	for name, p := range merged {
		g.rates.msgs[name] = p.Messages
	}
	slices.SortFunc(out, func(a, b TopicStats) int {
		return cmp.Or(cmp.Compare(b.Subscribers, a.Subscribers), cmp.Compare(a.Name, b.Name))
	})
	if topN > 0 && len(out) > topN {
		out = out[:topN]
	}
	return out
}

//go:embed stats.html
var statsHTML string

var statsPage = template.Must(template.New("stats").Parse(statsHTML))

// statsHandler serves the stats page (HTML, or JSON with ?json), behind
// basic auth when -stats-auth is set.
func (g *Server) statsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.statsAuthorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="wsgate stats"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		st := g.snapshot(ctx, g.cfg.StatsTopics)
		if r.URL.Query().Has("json") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(st)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statsPage.Execute(w, st); err != nil {
			g.log.Warn("stats page", "err", err)
		}
	})
}

func (g *Server) statsAuthorized(r *http.Request) bool {
	if g.cfg.StatsAuth == "" {
		return true
	}
	// The scheme name is case-insensitive (RFC 9110 11.1); user:pass is
	// compared whole, in constant time.
	cred, ok := authCredentials(r, "Basic")
	if !ok {
		return false
	}
	userPass, err := base64.StdEncoding.DecodeString(cred)
	return err == nil && subtle.ConstantTimeCompare(userPass, []byte(g.cfg.StatsAuth)) == 1
}
