package loadgen

// The TLS part of bench/compare.sh (issue 12, "Benchmarks"): every client
// speaks TLS (the generator's TLS mode) to wsgate -tls-listen and to HAProxy
// `bind ... ssl crt`, the same throwaway ECDSA P-256 certificate. Labels:
//
//	wsgate           wsgate terminating TLS, tunnels to the Node echo backends
//	haproxy          HAProxy terminating TLS, tunnels to the same backends
//	wsgate-topic     wsgate terminating TLS and WebSocket (topic route)
//	wsgate-topic-ws  the same over plain ws (the wss-vs-ws lines)
//
// Run IDs: tls-idle-9k, tls-churn (full handshakes), tls-churn-resumed
// (-tls-resume: TLS 1.3 tickets), tls-broadcast.

func tlsFigures() []cmpFig {
	var fs []cmpFig
	idle := func(sec, subject, baseline string, per float64) {
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, "tls-idle-9k", subject, baseline, format, better, get})
		}
		add("host load (1-min) at the end", "%.1f", "", first(resOf, loadOf))
		add("client connections held", "%.0f", "", idleFinal(func(i *IdleResult) float64 { return float64(i.Final.GatewayConns) / per }))
		add("server RSS KB", "%.0f", "lower", idleFinal(func(i *IdleResult) float64 { return float64(i.Final.RSSKB) }))
		add("KB per client connection over baseline", "%.2f", "lower", idleFinal(func(i *IdleResult) float64 { return per * i.Final.DeltaKBConn }))
		add("the same after a forced GC + 5 s (wsgate: /debug/pprof/heap?gc=1)", "%.2f", "lower", idleSettled(per, false))
		add("Go heap in use after the GC, KB per client connection (wsgate /metrics)", "%.2f", "lower", idleSettled(per, true))
	}
	idle("tls-idle-9k tunnels (idle wss tunnels to the Node echo backends, TLS terminated by the proxy)", "wsgate", "haproxy", 2)
	idle("tls-idle-9k terminated (wsgate topic route: idle wss vs idle ws, same run)", "wsgate-topic", "wsgate-topic-ws", 1)
	churn := func(sec, id, subject, baseline string) {
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, subject, baseline, format, better, get})
		}
		add("host load (1-min) at the end", "%.1f", "", first(resOf, loadOf))
		add("TLS handshakes + upgrades/s", "%.0f", "higher", first(churnOf, func(c *ChurnResult) float64 { return c.UpgradesPerSec }))
		add("failures", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return float64(c.Failed) }))
		add("resumed / completed handshakes", "%.3f", "", first(resOf, func(r *Result) float64 {
			if r.TLS == nil || r.TLS.Handshakes == 0 {
				return 0
			}
			return float64(r.TLS.Resumed) / float64(r.TLS.Handshakes)
		}))
		add("dial→101 p99 µs", "%.0f", "lower", first(churnOf, func(c *ChurnResult) float64 { return c.Latency.P99Us }))
		add("gateway CPU µs per handshake + upgrade", "%.1f", "lower", first(churnOf, func(c *ChurnResult) float64 { return c.CPUUsPerUpgrade }))
		add("handshakes per gateway CPU-second", "%.0f", "higher", first(churnOf, func(c *ChurnResult) float64 {
			if c.GatewayCPUSec == 0 {
				return 0
			}
			return float64(c.Upgraded) / c.GatewayCPUSec
		}))
	}
	churn("tls-churn (full ECDSA P-256 handshakes: connect + TLS + upgrade + close, through the proxy)", "tls-churn", "wsgate", "haproxy")
	churn("tls-churn terminated (wsgate topic route, full handshakes; HAProxy tunnel as baseline)", "tls-churn", "wsgate-topic", "haproxy")
	churn("tls-churn-resumed (TLS 1.3 resumption, shared client session cache, through the proxy)", "tls-churn-resumed", "wsgate", "haproxy")
	churn("tls-churn-resumed terminated (wsgate topic route; HAProxy tunnel as baseline)", "tls-churn-resumed", "wsgate-topic", "haproxy")
	{
		sec, id := "tls-broadcast (3000 subscribers × 10 msg/s, 64 B, wsgate topic route: wss vs ws, same run)", "tls-broadcast"
		add := func(fig, format, better string, get func([]Result) (float64, bool)) {
			fs = append(fs, cmpFig{sec, fig, id, "wsgate-topic", "wsgate-topic-ws", format, better, get})
		}
		add("host load (1-min) at the end", "%.1f", "", first(resOf, loadOf))
		add("received / expected", "%.4f", "higher", first(bcastOf, func(b *BroadcastResult) float64 {
			if b.Expected == 0 {
				return 0
			}
			return float64(b.Received) / float64(b.Expected)
		}))
		add("p50 publish→deliver µs", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.Latency.P50Us }))
		add("p99 publish→deliver µs", "%.0f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.Latency.P99Us }))
		add("deliveries/s", "%.0f", "higher", first(bcastOf, func(b *BroadcastResult) float64 { return b.DeliveriesPerSec }))
		add("server CPU µs/delivery", "%.2f", "lower", first(bcastOf, func(b *BroadcastResult) float64 { return b.CPUUsPerDelivery }))
	}
	return fs
}

// tlsRSSChart: server RSS vs wss connections held, one line per peer.
func tlsRSSChart(group map[[2]string][]Result) *Chart {
	c := &Chart{Title: "Server RSS vs idle wss connections (TLS terminated by the server)", XLabel: "client connections", YLabel: "RSS MB", YMin0: true}
	for _, s := range []struct {
		lb, name string
		per      int
	}{{"wsgate-topic", "wsgate wss terminated", 1}, {"wsgate", "wsgate wss tunnels", 2}, {"haproxy", "haproxy wss tunnels", 2}} {
		if pts := rssPoints(group[[2]string{s.lb, "tls-idle-9k"}], s.per); pts != nil {
			c.Series = append(c.Series, Series{Name: s.name, Points: pts, Dash: s.per == 1})
		}
	}
	return c
}

// idleSettled is the settled sample's KB over baseline per client connection,
// from the process whose settled sample saw the most connections.
// heap: the Go heap in use instead of RSS.
func idleSettled(per float64, heap bool) func([]Result) (float64, bool) {
	return func(rs []Result) (float64, bool) {
		var best *IdleResult
		for i := range rs {
			if x := rs[i].Idle; x != nil && x.Settled != nil && (best == nil || x.Settled.GatewayConns > best.Settled.GatewayConns) {
				best = x
			}
		}
		switch {
		case best == nil, heap && best.SettledHeapKBConn == 0:
			return 0, false
		case heap:
			return per * best.SettledHeapKBConn, true
		}
		return per * best.Settled.DeltaKBConn, true
	}
}
