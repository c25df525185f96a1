package loadgen

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// echoLoop is one loop's sending schedule: the loop sends to its open
// connections round-robin so each gets the per-connection rate on average,
// without a timer per connection.
type echoLoop struct {
	conns   []*Conn
	next    int64
	rr      int
	foreign int64
	sent    atomic.Int64
	msg     []byte
}

type echoHandler struct {
	size  int
	rate  float64 // per connection
	start atomic.Int64
	end   atomic.Int64
	loops []*echoLoop
}

func (h *echoHandler) onOpen(l *Loop, c *Conn, _ int64) {
	el := h.loops[l.idx]
	el.conns = append(el.conns, c)
}

func (h *echoHandler) onMessage(l *Loop, c *Conn, _ byte, p []byte, now int64) {
	if len(p) != h.size || int(binary.LittleEndian.Uint32(p[0:4])) != c.ID {
		h.loops[l.idx].foreign++
		return
	}
	l.Hist.Record(now - int64(binary.LittleEndian.Uint64(p[8:16])))
}

func (h *echoHandler) onClose(*Loop, *Conn) {}

func (h *echoHandler) tick(l *Loop, now int64) int64 {
	start, end := h.start.Load(), h.end.Load()
	el := h.loops[l.idx]
	if start == 0 || now >= end || len(el.conns) == 0 {
		return 0
	}
	if el.next == 0 {
		el.next = start
	}
	interval := int64(float64(time.Second) / (h.rate * float64(len(el.conns))))
	for n := 0; now >= el.next && n < 1000; n++ {
		c := el.conns[el.rr%len(el.conns)]
		el.rr++
		el.next += interval
		if c.state != stOpen {
			continue
		}
		binary.LittleEndian.PutUint32(el.msg[0:4], uint32(c.ID))
		binary.LittleEndian.PutUint32(el.msg[4:8], uint32(c.Sent))
		binary.LittleEndian.PutUint64(el.msg[8:16], uint64(nanotime()))
		c.Sent++
		el.sent.Add(1)
		l.Send(c, OpBinary, el.msg)
	}
	return el.next
}

// runEcho needs a server that sends each message back to its sender only,
// e.g. wsgate with `-route /echo/=topic:*` and `-url ws://HOST/echo/{i}`
// (one topic per connection).
func runEcho(cfg *Config, res *Result) error {
	gw := gateway{pids: cfg.GatewayPIDs}
	h := &echoHandler{size: cfg.Size, rate: cfg.Rate}
	for i := 0; i < cfg.Loops; i++ {
		h.loops = append(h.loops, &echoLoop{msg: make([]byte, cfg.Size)})
	}
	e, err := newEngine(cfg)
	if err != nil {
		return err
	}
	if err := startLoops(e, cfg, h, cfg.Conns, 0); err != nil {
		return err
	}
	startMono := nanotime()
	e.start()
	e.waitRamp(cfg.Conns, rampTimeout(cfg, cfg.Conns), nil)
	res.Connect = connectResult(e, cfg.Conns, startMono)
	time.Sleep(cfg.Settle)

	gw0, err := gw.cpuSeconds()
	if err != nil {
		_ = e.stop()
		return err
	}
	t0 := nanotime()
	h.end.Store(t0 + int64(cfg.Duration))
	h.start.Store(t0)
	time.Sleep(cfg.Duration)
	sentTotal := func() int64 {
		var s int64
		for _, el := range h.loops {
			s += el.sent.Load()
		}
		return s
	}
	drainEnd := time.Now().Add(cfg.Drain)
	for time.Now().Before(drainEnd) && e.received() < sentTotal() {
		time.Sleep(10 * time.Millisecond)
	}
	gw1, err := gw.cpuSeconds()
	stopErr := e.stop()
	res.Errors = e.errorCounts()
	finishConnect(res.Connect, e)
	if err != nil {
		return err
	}
	x := &EchoResult{Conns: int(res.Connect.Opened), RatePerConn: cfg.Rate, Size: cfg.Size, Sent: sentTotal(), RTT: summarize(e.hist()), GatewayCPUSec: gw1 - gw0}
	for _, el := range h.loops {
		x.Foreign += el.foreign
	}
	x.Echoed = int64(x.RTT.Count)
	if last := e.maxOf(func(s *LoopStats) int64 { return s.LastRecv.Load() }); last > t0 {
		x.MsgsPerSec = float64(x.Echoed) / (float64(last-t0) / 1e9)
	}
	if x.Echoed > 0 && len(gw.pids) > 0 {
		x.CPUUsPerMsg = x.GatewayCPUSec / float64(x.Echoed) * 1e6
	}
	if cfg.CDF {
		x.RTT.CDF = CDFPoints(e.hist())
	}
	res.Echo = x
	return stopErr
}
