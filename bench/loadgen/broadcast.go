package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// payloadHeader is the part of every generated message the receiver reads:
// a little-endian uint64 sequence number (broadcast) or connection ID and
// sequence (echo), then the sender's CLOCK_MONOTONIC nanoseconds.
const payloadHeader = 16

// bcastLoopCounts are one loop's tallies, touched only by that loop.
type bcastLoopCounts struct {
	gaps, dups, foreign int64
}

type bcastHandler struct {
	size     int
	pubLoop  *Loop
	pub      *Conn // owned by pubLoop
	total    int64 // messages to publish
	interval int64 // ns between publishes
	start    atomic.Int64
	sent     atomic.Int64
	first    atomic.Int64
	last     atomic.Int64
	msg      []byte // publisher scratch, pubLoop only
	counts   []bcastLoopCounts
}

func (h *bcastHandler) onOpen(l *Loop, c *Conn, _ int64) {
	if l == h.pubLoop {
		h.pub = c
	}
}

func (h *bcastHandler) onMessage(l *Loop, c *Conn, _ byte, p []byte, now int64) {
	lc := &h.counts[l.idx]
	if len(p) != h.size {
		lc.foreign++
		return
	}
	seq := binary.LittleEndian.Uint64(p[0:8])
	ts := int64(binary.LittleEndian.Uint64(p[8:16]))
	l.Hist.Record(now - ts)
	switch {
	case seq == c.NextSeq:
		c.NextSeq++
	case seq > c.NextSeq:
		lc.gaps += int64(seq - c.NextSeq)
		c.NextSeq = seq + 1
	default:
		lc.dups++
	}
}

func (h *bcastHandler) onClose(*Loop, *Conn) {}

// tick publishes every message that is due, on the publisher's own loop, so
// the send pacing does not wait behind a subscriber loop's read burst.
func (h *bcastHandler) tick(l *Loop, now int64) int64 {
	if l != h.pubLoop {
		return 0
	}
	start := h.start.Load()
	if start == 0 || h.pub == nil || h.pub.state != stOpen {
		return 0
	}
	sent := h.sent.Load()
	due := min(h.total, (now-start)/h.interval+1)
	// Catch up after a stall, but in bounded bursts.
	for n := 0; sent < due && n < 1000; n++ {
		ts := nanotime()
		if l.centrifugo {
			h.msg = appendCentrifugoPublish(h.msg[:0], uint64(sent)+3, uint64(sent), ts, h.size)
			l.Send(h.pub, OpText, h.msg)
		} else {
			binary.LittleEndian.PutUint64(h.msg[0:8], uint64(sent))
			binary.LittleEndian.PutUint64(h.msg[8:16], uint64(ts))
			l.Send(h.pub, OpBinary, h.msg)
		}
		if sent == 0 {
			h.first.Store(ts)
		}
		h.last.Store(ts)
		sent++
		h.sent.Store(sent)
	}
	if sent >= h.total {
		return 0
	}
	return start + sent*h.interval
}

func runBroadcast(cfg *Config, res *Result) error {
	gw := gateway{pids: cfg.GatewayPIDs}
	h := &bcastHandler{
		size:     cfg.Size,
		total:    max(int64(cfg.Rate*cfg.Duration.Seconds()+0.5), 1),
		interval: int64(float64(time.Second) / cfg.Rate),
		msg:      make([]byte, cfg.Size),
		counts:   make([]bcastLoopCounts, cfg.Loops+1),
	}
	e, err := newEngine(cfg)
	if err != nil {
		return err
	}
	// Loop 0 holds the publisher (connection 0) alone; subscribers 1..N-1 go
	// to the other loops. With -publish-url every connection subscribes and
	// an HTTP publisher (httppub.go) posts the messages.
	var hp *httpPublisher
	firstSub := 1
	if cfg.PublishURL != "" {
		if hp, err = newHTTPPublisher(cfg); err != nil {
			return err
		}
		firstSub = 0
	} else if h.pubLoop, err = e.addLoop(h, 1, 0, 1, 0, 1); err != nil {
		return err
	}
	subs := cfg.Conns - firstSub
	for i := 0; i < cfg.Loops; i++ {
		_, err := e.addLoop(h, split(subs, cfg.Loops, i), firstSub+i, cfg.Loops,
			cfg.DialRate/float64(cfg.Loops), max(cfg.MaxInflight/cfg.Loops, 1))
		if err != nil {
			return err
		}
	}
	startMono := nanotime()
	e.start()
	e.waitRamp(cfg.Conns, rampTimeout(cfg, cfg.Conns), nil)
	res.Connect = connectResult(e, cfg.Conns, startMono)
	if hp == nil && h.pubLoop.Stats.Opened.Load() == 0 {
		_ = e.stop()
		finishConnect(res.Connect, e)
		res.Errors = e.errorCounts()
		return errors.New("broadcast: the publisher connection did not open")
	}
	time.Sleep(cfg.Settle)

	subscribers := e.opened() - e.lost()
	gw0, err := gw.cpuSeconds()
	if err != nil {
		_ = e.stop()
		return err
	}
	self0 := SelfCPUSeconds()
	// What arrived before the first publish (a GRIP backend's hello) is not
	// a delivery: the HTTP mode's drain counts from here.
	var recv0 int64
	pubDone := make(chan struct{})
	h.start.Store(nanotime())
	if hp != nil {
		recv0 = e.received()
		go hp.run(h, pubDone)
	}

	// Publishing, then the drain: both bounded.
	sendEnd := time.Now().Add(cfg.Duration + 5*time.Second)
	for h.sent.Load() < h.total && time.Now().Before(sendEnd) && (hp != nil || h.pubLoop.Stats.Lost.Load() == 0) {
		time.Sleep(20 * time.Millisecond)
	}
	close(pubDone)
	drainEnd := time.Now().Add(cfg.Drain)
	drained := false
	for time.Now().Before(drainEnd) {
		if e.received()-recv0 >= h.sent.Load()*(e.opened()-e.lost()) {
			drained = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	gw1, err := gw.cpuSeconds()
	self1 := SelfCPUSeconds()
	stopErr := e.stop()
	res.Errors = e.errorCounts()
	finishConnect(res.Connect, e)
	if err != nil {
		return err
	}

	sent := h.sent.Load()
	b := &BroadcastResult{
		Subscribers: int(subscribers), TargetRate: cfg.Rate, Size: cfg.Size,
		Published: sent, Expected: sent * subscribers,
		OfferedPerSec: cfg.Rate * float64(subscribers),
		Latency:       summarize(e.hist()), GatewayCPUSec: gw1 - gw0, GeneratorCPUSec: self1 - self0,
		Drained: drained,
	}
	var gaps, dups, foreign, tail int64
	for _, c := range h.counts {
		gaps += c.gaps
		dups += c.dups
		foreign += c.foreign
	}
	for _, l := range e.loops {
		l.everOpened(func(c *Conn) {
			if int64(c.NextSeq) < sent {
				tail += sent - int64(c.NextSeq)
			}
		})
	}
	b.Missing, b.Duplicates, b.Foreign = gaps+tail, dups, foreign
	b.Received = e.received() - dups - foreign
	first, last := h.first.Load(), h.last.Load()
	if sent > 1 && last > first {
		b.PublishRate = float64(sent-1) / (float64(last-first) / 1e9)
	}
	lastRecv := e.maxOf(func(s *LoopStats) int64 { return s.LastRecv.Load() })
	if lastRecv > first {
		b.SpanSec = float64(lastRecv-first) / 1e9
		b.DeliveriesPerSec = float64(b.Received) / b.SpanSec
		b.LastAfterPublishMs = float64(lastRecv-last) / 1e6
	}
	if b.Received > 0 && len(gw.pids) > 0 {
		b.CPUUsPerDelivery = b.GatewayCPUSec / float64(b.Received) * 1e6
	}
	if cfg.CDF {
		b.Latency.CDF = CDFPoints(e.hist())
	}
	res.Broadcast = b
	if hp != nil {
		b.PublishURL, b.PublishErrors = cfg.PublishURL, hp.errors.Load()
		if msg, _ := hp.lastErr.Load().(string); msg != "" {
			b.PublishLastError = msg
		}
		return stopErr
	}
	if h.pubLoop.Stats.Lost.Load() != 0 {
		return fmt.Errorf("broadcast: the publisher connection was lost after %d messages", sent)
	}
	return stopErr
}
