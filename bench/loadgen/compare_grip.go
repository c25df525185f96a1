package loadgen

// The GRIP part of bench/compare.sh (issue 16, "Peers"): wsgate with a
// `;grip` pool and Pushpin 1.36 (Debian package) in front of the same GRIP
// backend (gateway/testdata/grip-backend.js --detach-on-connect 1: it
// subscribes each session to channel chat and detaches at once, so the
// proxy holds the sessions alone). Labels:
//
//	wsgate-grip  wsgate, -backend 'grip=…;grip', publishes to POST /publish/ on the admin listener
//	pushpin      Pushpin 1.36, publishes to its handler's POST /publish/ (port 5561 + offset);
//	             server figures are the process tree's (runner, condure, zurl, pushpin-proxy,
//	             pushpin-handler)
//
// Run IDs: grip-held (N detached sessions idle), grip-fanout (an HTTP
// publisher in Pushpin's format, every session a receiver).

func gripFigures() []cmpFig {
	var fs []cmpFig
	{
		sec, id := "grip-held (detached GRIP sessions, idle; wsgate ;grip pool vs Pushpin 1.36, same backend)", "grip-held"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate-grip", "pushpin", format, better, get})
		}
		held := func(get func(r *Result) float64) func([]Result) (float64, bool) {
			return func(rs []Result) (float64, bool) {
				for i := range rs {
					if rs[i].Idle != nil && rs[i].Connect != nil {
						return get(&rs[i]), true
					}
				}
				return 0, false
			}
		}
		sessions := func(r *Result) float64 { return float64(r.Connect.Opened - r.Connect.Lost) }
		add("sessions held (opened − lost)", "%.0f", "higher", held(sessions))
		add("upgrade failures", "%.0f", "lower", held(func(r *Result) float64 { return float64(r.Connect.Failed) }))
		add("server RSS KB (process tree)", "%.0f", "lower", held(func(r *Result) float64 { return float64(r.Idle.Final.RSSKB) }))
		add("KB per session over baseline (RSS Δ / sessions)", "%.2f", "lower", held(func(r *Result) float64 {
			if n := sessions(r); n > 0 {
				return float64(r.Idle.Final.RSSKB-r.Idle.Baseline.RSSKB) / n
			}
			return 0
		}))
		add("server fds over baseline per session", "%.2f", "", held(func(r *Result) float64 {
			if n := sessions(r); n > 0 {
				return float64(r.Idle.Final.GatewayFDs-r.Idle.Baseline.GatewayFDs) / n
			}
			return 0
		}))
	}
	{
		sec, id := "grip-fanout (HTTP publisher, Pushpin's POST /publish/ format, every detached session a receiver, 64 B)", "grip-fanout"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate-grip", "pushpin", format, better, get})
		}
		add("host load (1-min) at the end", "%.1f", "", first(resOf, loadOf))
		add("receivers", "%.0f", "", first(bcastOf, func(b *BroadcastResult) float64 { return float64(b.Subscribers) }))
		add("publishes accepted / sent", "%.4f", "higher", first(bcastOf, func(b *BroadcastResult) float64 {
			if b.Published == 0 {
				return 0
			}
			return float64(b.Published-b.PublishErrors) / float64(b.Published)
		}))
		add("received / expected", "%.4f", "higher", first(bcastOf, (*BroadcastResult).DeliveredRatio))
		add("missing (gaps) + duplicates", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return float64(b.Missing + b.Duplicates) }))
		add("p50 publish→deliver µs", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.Latency.P50Us }))
		add("p99 publish→deliver µs", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.Latency.P99Us }))
		add("deliveries/s", "%.0f", "higher", first(bcastOf, func(b *BroadcastResult) float64 { return b.DeliveriesPerSec }))
		add("server CPU s (process tree)", "%.2f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.GatewayCPUSec }))
		add("server CPU µs/delivery", "%.2f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.CPUUsPerDelivery }))
	}
	return fs
}

// gripCharts: RSS vs detached sessions held, and the fan-out's
// publish→deliver CDF, every GRIP peer a line.
func gripCharts(group map[[2]string][]Result) []namedChart {
	peers := []struct{ lb, name string }{{"wsgate-grip", "wsgate ;grip"}, {"pushpin", "pushpin 1.36"}}
	rss := &Chart{Title: "Server RSS vs detached GRIP sessions held (same backend)", XLabel: "sessions (server fds over baseline)", YLabel: "RSS MB", YMin0: true}
	cdf := &Chart{Title: "GRIP publish fan-out: POST /publish/ → deliver CDF", XLabel: "publish→deliver µs (log)", YLabel: "fraction ≤", LogX: true, YMin0: true}
	for _, p := range peers {
		if pts := rssPoints(group[[2]string{p.lb, "grip-held"}], 1); pts != nil {
			rss.Series = append(rss.Series, Series{Name: p.name, Points: pts})
		}
		for _, r := range group[[2]string{p.lb, "grip-fanout"}] {
			if r.Broadcast != nil && len(r.Broadcast.Latency.CDF) > 0 {
				cdf.Series = append(cdf.Series, Series{Name: p.name, Points: r.Broadcast.Latency.CDF})
			}
		}
	}
	return []namedChart{{"grip-rss-vs-sessions.svg", rss}, {"grip-fanout-cdf.svg", cdf}}
}

type namedChart struct {
	name string
	c    *Chart
}
