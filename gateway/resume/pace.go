package resume

import (
	"sync"
	"time"
)

// Pacing a resume storm (-resume-rate). When a drained node's clients come
// back at once, every recovery is a burst of writes (1,000 missed messages
// are ~80 KB each); served as fast as the loops can write, a storm of them
// keeps every core busy for as long as it lasts, and whatever else the host
// runs (the publish API, the bus, live delivery on other sockets, the
// clients themselves when they share it) waits for a CPU. With a rate, a
// node writes recovered frames at most that fast on average: a recovery
// that finds the node's budget spent waits on its loop, sockets taking
// turns, its subscription marked catching as for a Kafka catch-up (kafka.go)
// but buffering nothing — the bus handler appends every message to the
// history before any loop delivers it — and is read from the history when
// its turn comes: whole, or recovered:false if the history has moved past
// it meanwhile (never partial).

// pacer is a node's token bucket of recovered bytes, shared by its loops.
type pacer struct {
	rate  float64 // bytes per second; > 0
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
	now    func() time.Time // time.Now; a test's clock
}

func newPacer(rate int64, now func() time.Time) *pacer {
	// The bucket holds 20 ms of the rate, at least one recovery of 1,000
	// short messages: a quiet node serves a few resumes at once, a storm
	// is spread over many short bursts, not a few long ones.
	burst := max(float64(rate)/50, 128<<10)
	return &pacer{rate: float64(rate), burst: burst, tokens: burst, last: now(), now: now}
}

// wait is how long until the budget has room (0: now).
func (p *pacer) wait() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refill()
	if p.tokens > 0 {
		return 0
	}
	// At most a second: runWaiting looks again then (a tiny rate's deficit
	// must not make a timer of hours, or overflow a Duration).
	secs := min(-p.tokens/p.rate, 1)
	return max(time.Duration(secs*float64(time.Second)), time.Millisecond)
}

// spend takes n bytes written from the budget (it may go below zero: a
// recovery is written whole).
func (p *pacer) spend(n int) {
	p.mu.Lock()
	p.refill()
	p.tokens -= float64(n)
	p.mu.Unlock()
}

func (p *pacer) refill() {
	now := p.now()
	p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
}

// paced queues a recovery that cannot be written yet: c (its subscription
// marked catching) runs when the budget allows. It reports false when the
// recovery may go now. Once recoveries wait, every later one waits too.
// Sockets take turns, one recovery each (round robin), so one socket
// resuming many topics cannot hold back another's single resume for long.
func (l *Loop) paced(c *catchup) bool {
	p := l.node.pace
	if p == nil || (len(l.turns) == 0 && p.wait() == 0) {
		return false
	}
	vc := l.conns[c.s.c]
	if vc == nil {
		return false // not a socket of this loop any more: catchupDone finds it closed
	}
	c.s.catching = c
	// This socket's entries that no longer wait (unsubscribed meanwhile) go:
	// subscribe/unsubscribe churn cannot grow its queue past its topics.
	k := 0
	for _, w := range vc.waiting {
		if w.s.catching == w {
			vc.waiting[k] = w
			k++
		}
	}
	clear(vc.waiting[k:])
	vc.waiting = vc.waiting[:k]
	// A Kafka catch-up waits with what it fetched: -max-outbound bounds what
	// one socket's waiting catch-ups hold together, as it bounds their
	// buffered live messages (buffered) and as the socket's outbound buffer
	// would have bounded them unpaced. Over it: recovered:false now.
	held := c.bytes
	for _, w := range vc.waiting {
		held += w.bytes
	}
	if c.bytes > 0 && held > int64(l.node.cfg.MaxOutbound) {
		c.overflow = true
		if len(vc.waiting) == 0 {
			vc.waiting = nil
		}
		return false
	}
	vc.waiting = append(vc.waiting, c)
	if !vc.queued {
		if len(l.turns) == cap(l.turns) {
			l.compactTurns()
		}
		vc.queued = true
		l.turns = append(l.turns, vc)
	}
	l.node.paced.Inc()
	l.armPace()
	return true
}

// compactTurns drops the sockets that closed while waiting (amortized O(1):
// called when the queue would grow), so connection churn cannot grow it.
func (l *Loop) compactTurns() {
	k := 0
	for _, vc := range l.turns {
		if len(vc.waiting) > 0 {
			l.turns[k] = vc
			k++
		} else {
			vc.queued = false
		}
	}
	clear(l.turns[k:])
	l.turns = l.turns[:k]
	if k > cap(l.turns)/2 { // few went: grow now, so the next pass is as many appends away
		l.turns = append(make([]*Conn, 0, 2*cap(l.turns)), l.turns...)
	}
}

// armPace asks for runWaiting once the budget has room.
func (l *Loop) armPace() {
	if l.paceArmed {
		return
	}
	l.paceArmed = true
	time.AfterFunc(l.node.pace.wait(), func() { l.env.Post(l.runWaiting) })
}

// runWaiting serves the waiting recoveries while the budget has room: the
// socket first in line gets its oldest one and goes to the back of the line
// if it has more.
func (l *Loop) runWaiting() {
	l.paceArmed = false
	for len(l.turns) > 0 && l.node.pace.wait() == 0 {
		vc := l.turns[0]
		l.turns[0] = nil
		l.turns = l.turns[1:]
		if len(vc.waiting) == 0 { // closed meanwhile
			vc.queued = false
			continue
		}
		c := vc.waiting[0]
		vc.waiting[0] = nil
		if vc.waiting = vc.waiting[1:]; len(vc.waiting) > 0 {
			l.turns = append(l.turns, vc)
		} else {
			vc.waiting, vc.queued = nil, false
		}
		l.catchupDone(c) // a stale entry (unsubscribed) writes nothing
	}
	if len(l.turns) > 0 {
		l.armPace()
	} else {
		l.turns = nil
	}
}
