package resume

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/history"
)

// Kafka catch-ups: a resume whose gap is older than the in-memory history
// is read back from the Kafka partition of its topic (router/bus
// kafka_fetch.go) by a few workers per node (-resume-kafka-fetches), the
// rest waiting in a queue, each bounded in time (-resume-kafka-timeout,
// queue wait included), in messages (-resume-max-messages) and in bytes
// (-max-outbound: more could not be queued to the client anyway), so a
// resume storm after a drain cannot starve live delivery. Event loops never
// wait: the subscription is marked catching (live delivery buffers its
// messages instead of writing them), a worker fetches (since, target] where
// target was the node's newest position, and the loop then sends the reply,
// the fetched messages and the live ones buffered after target, in order,
// each once — or reads the range from the history when an earlier
// catch-up's backfill holds it. Never partial: any failure answers
// recovered:false.

// catchQueueMax bounds the resumes waiting for a worker; over it a resume
// answers recovered:false at once.
const catchQueueMax = 65536

type fetchQueue struct {
	f        router.BusFetcher
	hist     *history.History
	jobs     chan *catchup
	workers  int
	timeout  time.Duration
	maxBytes int64
	maxMsgs  int    // -resume-max-messages (0: no limit)
	pacer    *pacer // -resume-rate (pace.go); nil: none
	running  atomic.Int64
	queued   atomic.Int64
}

// catchup is one resume read back from Kafka.
type catchup struct {
	l             *Loop
	s             *Sub
	id            int64
	since, target int64 // the fetch reads (since, target]
	epoch         string
	deadline      time.Time
	// The worker's, until it hands the catch-up back to the loop.
	got    []history.Entry
	bytes  int64
	err    error
	memory bool // an earlier catch-up's backfill holds the range now: no fetch
	// reread: a memory recovery waiting for -resume-rate (pace.go), set by
	// the loop: the history will hold every live message that comes
	// meanwhile (the bus handler appends before any loop delivers), so
	// nothing is buffered for it.
	reread bool
	// The loop's: live messages after target, buffered meanwhile.
	live      []history.Entry
	liveBytes int64
	overflow  bool
}

func newFetchQueue(f router.BusFetcher, cfg Config, hist *history.History, reg prometheus.Registerer) *fetchQueue {
	q := &fetchQueue{f: f, hist: hist, jobs: make(chan *catchup, catchQueueMax), workers: cfg.Fetches,
		timeout: cfg.FetchTimeout, maxBytes: int64(cfg.MaxOutbound), maxMsgs: cfg.MaxMessages}
	if q.timeout <= 0 {
		q.timeout = 5 * time.Second
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_resume_kafka_running",
			Help: "resumes being read back from Kafka now"}, func() float64 { return float64(q.running.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_resume_kafka_queued",
			Help: "resumes waiting for a Kafka fetch worker (-resume-kafka-fetches)"}, func() float64 { return float64(q.queued.Load()) }))
	return q
}

func (q *fetchQueue) start(ctx context.Context) {
	for range q.workers {
		go q.work(ctx)
	}
}

func (q *fetchQueue) work(ctx context.Context) {
	for {
		var c *catchup
		select {
		case <-ctx.Done():
			return
		case c = <-q.jobs:
		}
		q.queued.Add(-1)
		// A storm resumes the same topics from nearby positions: the first
		// fetch keeps what it read in the history (Backfill), the rest
		// find it there.
		if c.memory = q.hist.Covers(c.s.topic, c.epoch, c.since); !c.memory {
			// Reading and decoding a fetch costs CPU as writing it does: with
			// -resume-rate, a worker starts one only while the node's budget
			// has room (pace.go).
			q.pace(ctx)
			q.running.Add(1)
			if c.err = q.fetch(ctx, c); c.err == nil {
				q.hist.Backfill(c.s.topic, c.epoch, c.since, c.target, c.got)
			}
			q.running.Add(-1)
		}
		c.l.env.Post(func() { c.l.fetched(c) })
	}
}

// pace waits, if the node paces resumes, until its budget has room.
func (q *fetchQueue) pace(ctx context.Context) {
	for q.pacer != nil {
		d := q.pacer.wait()
		if d == 0 {
			return
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (q *fetchQueue) fetch(ctx context.Context, c *catchup) error {
	if time.Now().After(c.deadline) {
		return errors.New("resume from Kafka: waited past -resume-kafka-timeout")
	}
	ctx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()
	maxMsgs := 0 // no limit
	if m := q.maxMsgs; m > 0 {
		if maxMsgs = m - len(c.got); maxMsgs <= 0 {
			maxMsgs = -1 // the budget is spent: any message is one too many
		}
	}
	return q.f.Fetch(ctx, c.s.topic, c.epoch, c.since, c.target, q.maxBytes-c.bytes, maxMsgs, func(m router.BusMessage) {
		c.got = append(c.got, history.Entry{Offset: m.Offset, Op: byte(m.OpCode), Payload: m.Payload})
		c.bytes += int64(len(m.Payload))
	})
}

func (q *fetchQueue) enqueue(c *catchup) bool {
	select {
	case q.jobs <- c:
		q.queued.Add(1)
		return true
	default:
		return false
	}
}

// startCatchup sends a resume whose gap the history does not hold to Kafka.
func (l *Loop) startCatchup(c Client, s *Sub, id, since, target int64, epoch string) {
	q := l.node.fetch
	cu := &catchup{l: l, s: s, id: id, since: since, target: target, epoch: epoch,
		deadline: time.Now().Add(q.timeout)}
	if !q.enqueue(cu) {
		l.notRecovered(c, s, id, target, epoch, "too many resumes waiting for Kafka")
		return
	}
	s.catching = cu
}

// buffer keeps a live message for a catching subscription (a copy: the
// message's buffers go back to the pool after delivery).
func (c *catchup) buffer(m Message, maxOut int, maxMsgs int) {
	offset, epoch := m.Position()
	if c.reread || c.overflow || epoch != c.epoch || offset <= c.target {
		return
	}
	if n := len(c.live); n > 0 && offset <= c.live[n-1].Offset {
		return // a replay of one buffered already: the merge must not repeat it
	}
	p := m.Payload()
	c.liveBytes += int64(len(p))
	if c.liveBytes > int64(maxOut) || (maxMsgs > 0 && len(c.live) >= maxMsgs) {
		// Nothing is held any more: the socket's other catch-ups must not count it (buffered).
		c.overflow, c.live, c.liveBytes = true, nil, 0
		return
	}
	c.live = append(c.live, history.Entry{Offset: offset, Op: byte(m.Op()), Payload: append([]byte(nil), p...)})
}

// fetched runs on the loop when the fetch has ended: the catch-up is
// written now, or when -resume-rate allows (pace.go).
func (l *Loop) fetched(c *catchup) {
	if c.s.catching != c {
		return // unsubscribed or closed meanwhile: paced must not mark the dead Sub catching again
	}
	if c.memory {
		// An earlier backfill holds the range: read from the history at its
		// turn, which holds the live messages too; nothing stays buffered.
		c.reread, c.live, c.liveBytes, c.overflow = true, nil, 0, false
	}
	if c.err != nil || !l.paced(c) { // a failed fetch answers recovered:false at once
		l.catchupDone(c)
	}
}

// buffered is the live bytes buffered by the other catch-ups of s's socket.
func (l *Loop) buffered(s *Sub) int {
	n := 0
	if vc := l.conns[s.c]; vc != nil {
		for _, o := range vc.subs {
			if o != s && o.catching != nil {
				n += int(o.catching.liveBytes)
			}
		}
	}
	return n
}

// catchupDone runs on the loop when the fetch has ended: the reply, the
// recovered messages, then the live ones buffered after them.
func (l *Loop) catchupDone(c *catchup) {
	l.liveFirst() // slice.go; c.s.catching is still c: live ones go to c.live
	s, n := c.s, l.node
	if s.catching != c || !s.c.Open() {
		return // unsubscribed or closed meanwhile
	}
	s.catching = nil
	maxMsgs := n.cfg.MaxMessages
	why := ""
	switch {
	case c.err != nil:
		why = "Kafka: " + c.err.Error()
	case c.overflow || (maxMsgs > 0 && len(c.got)+len(c.live) > maxMsgs):
		why = "more messages missed than -resume-max-messages (or -max-outbound bytes)"
	}
	if why != "" {
		cur, epoch := n.current(s.topic)
		l.notRecovered(s.c, s, c.id, cur, epoch, why)
		return
	}
	got, cur := c.got, c.target
	if c.memory {
		var why string
		got, cur, _, why = n.hist.Range(l.entries[:0], s.topic, c.epoch, c.since, maxMsgs)
		defer func() { clear(got); l.entries = got[:0] }()
		if why != history.OK {
			cur, epoch := n.current(s.topic)
			l.notRecovered(s.c, s, c.id, cur, epoch, why)
			return
		}
	}
	live := mergeLive(c.live, cur)
	if k := len(live); k > 0 {
		cur = live[k-1].Offset
	}
	if maxMsgs > 0 && len(got)+len(live) > maxMsgs {
		cur, epoch := n.current(s.topic)
		l.notRecovered(s.c, s, c.id, cur, epoch, history.TooMany)
		return
	}
	result := "recovered_kafka"
	if c.memory {
		result = "recovered"
	}
	l.sendRecovered(s.c, s, c.id, c.since, cur, c.epoch, got, live, result)
}

// mergeLive is what of the live messages buffered during a catch-up
// follows a recovery that ends at cur: those after it (the buffer holds
// only messages after the fetch's target, but a recovery read from the
// history may reach further).
func mergeLive(live []history.Entry, cur int64) []history.Entry {
	for len(live) > 0 && live[0].Offset <= cur {
		live = live[1:]
	}
	return live
}
