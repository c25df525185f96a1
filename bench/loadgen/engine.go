package loadgen

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// engine owns the loops of one scenario run.
type engine struct {
	target    Target
	sources   []netip.Addr
	hsTimeout int64
	loops     []*Loop
	wg        sync.WaitGroup
	errMu     sync.Mutex
	errs      []error
	// pauseDial stops every loop from dialing more; abortWait ends waitRamp.
	pauseDial atomic.Bool
	abortWait atomic.Bool
	// proto and size: -proto centrifugo (centrifugo.go) and the payload size
	// its pushes are unwrapped into.
	proto string
	size  int
	// tls: TLS mode (tlsclient.go); nil for plain ws://.
	tls     *tlsDialer
	tlsOpts TLSOptions
}

func newEngine(cfg *Config) (*engine, error) {
	t, err := ParseTarget(cfg.URL)
	if err != nil {
		return nil, err
	}
	src, err := ParseSources(cfg.Sources)
	if err != nil {
		return nil, err
	}
	e := &engine{target: t, sources: src, hsTimeout: int64(cfg.HandshakeTimeout), proto: cfg.Proto, size: cfg.Size, tlsOpts: cfg.TLS}
	if cfg.TLS.Enabled {
		tc, err := cfg.TLS.clientConfig(t.Addr.Addr().String())
		if err != nil {
			return nil, err
		}
		e.tls = &tlsDialer{cfg: tc, addr: t.Addr.String(), timeout: cfg.HandshakeTimeout}
	}
	if cfg.engineOut != nil {
		*cfg.engineOut = e
	}
	return e, nil
}

// tlsResult is the run's client-side TLS counts (nil in plain mode).
func (e *engine) tlsResult() *TLSStats {
	if e == nil || e.tls == nil {
		return nil
	}
	return e.tls.counts.stats(e.tlsOpts.Resume)
}

// addLoop creates a loop that dials n connections with IDs firstID,
// firstID+stride, ... at rate per second (0: as fast as maxInflight allows).
func (e *engine) addLoop(h handler, n, firstID, stride int, rate float64, maxInflight int) (*Loop, error) {
	l, err := newLoop(e, len(e.loops), h)
	if err != nil {
		e.closeUnstarted()
		return nil, err
	}
	l.toDial, l.firstID, l.idStride = n, firstID, stride
	l.dialRate, l.maxInflight = rate, max(maxInflight, 1)
	e.loops = append(e.loops, l)
	return l, nil
}

func (e *engine) closeUnstarted() {
	for _, l := range e.loops {
		l.closeAll()
	}
}

func (e *engine) start() {
	now := nanotime()
	for _, l := range e.loops {
		l.dialStart = now
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := l.run(); err != nil {
				e.errMu.Lock()
				e.errs = append(e.errs, err)
				e.errMu.Unlock()
			}
		}()
	}
}

// stop asks every loop to close its connections and waits for them.
func (e *engine) stop() error {
	for _, l := range e.loops {
		l.stopFlag.Store(true)
	}
	e.wg.Wait()
	e.errMu.Lock()
	defer e.errMu.Unlock()
	if len(e.errs) > 0 {
		return e.errs[0]
	}
	return nil
}

func (e *engine) sum(f func(*LoopStats) int64) int64 {
	var s int64
	for _, l := range e.loops {
		s += f(&l.Stats)
	}
	return s
}

func (e *engine) maxOf(f func(*LoopStats) int64) int64 {
	var m int64
	for _, l := range e.loops {
		m = max(m, f(&l.Stats))
	}
	return m
}

func (e *engine) opened() int64 { return e.sum(func(s *LoopStats) int64 { return s.Opened.Load() }) }
func (e *engine) failed() int64 { return e.sum(func(s *LoopStats) int64 { return s.Failed.Load() }) }
func (e *engine) lost() int64   { return e.sum(func(s *LoopStats) int64 { return s.Lost.Load() }) }
func (e *engine) received() int64 {
	return e.sum(func(s *LoopStats) int64 { return s.Received.Load() })
}

// waitRamp waits until every dial has succeeded or failed, or timeout.
// sample, when not nil, runs every poll (the idle scenario's checkpoints).
func (e *engine) waitRamp(total int, timeout time.Duration, sample func()) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if sample != nil {
			sample()
		}
		if e.opened()+e.failed() >= int64(total) {
			return true
		}
		if e.abortWait.Load() {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// errors merges the loops' error counts. Only after stop.
func (e *engine) errorCounts() map[string]int {
	m := map[string]int{}
	for _, l := range e.loops {
		for k, v := range l.errs {
			m[k] += v
		}
	}
	return m
}

func (e *engine) connectHist() *Histogram {
	h := NewHistogram()
	for _, l := range e.loops {
		h.Merge(l.ConnectH)
	}
	return h
}

func (e *engine) hist() *Histogram {
	h := NewHistogram()
	for _, l := range e.loops {
		h.Merge(l.Hist)
	}
	return h
}

// ParseSources parses "A-B" IPv4 ranges and single addresses, comma
// separated ("127.0.1.1-127.0.1.32,127.0.2.1"). Empty: let the kernel choose.
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("sources %q: bad IPv4 address %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil || !b.Is4() {
				return nil, fmt.Errorf("sources %q: bad IPv4 address %q", s, hi)
			}
		}
		if b.Less(a) {
			return nil, fmt.Errorf("sources %q: range %s is backwards", s, part)
		}
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if len(out) > 1<<16 {
				return nil, fmt.Errorf("sources %q: more than 65536 addresses", s)
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// ParseInts parses a comma list of integers ("10000,19000").
func ParseInts(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var v int
		if _, err := fmt.Sscanf(part, "%d", &v); err != nil {
			return nil, fmt.Errorf("bad integer %q in %q: %w", part, s, err)
		}
		out = append(out, v)
	}
	sort.Ints(out)
	return out, nil
}
