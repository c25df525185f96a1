package gateway

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
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
// wait: the subscription is marked catching (live delivery skips it; the
// messages stay in the history), a worker fetches (since, target] where
// target was the node's newest position, and the loop then sends the reply,
// the fetched messages and what came since target from the history — or
// fetches that newer part too (a few rounds) when the history does not
// hold it. Never partial: any failure answers recovered:false.

// catchQueueMax bounds the resumes waiting for a worker; over it a resume
// answers recovered:false at once.
const catchQueueMax = 65536

type fetchQueue struct {
	f        router.BusFetcher
	jobs     chan *catchup
	workers  int
	timeout  time.Duration
	maxBytes int64
	running  atomic.Int64
	queued   atomic.Int64
}

// catchup is one resume read back from Kafka.
type catchup struct {
	l             *loop
	s             *v1Sub
	id            int64
	since, target int64 // the fetch reads (since, target]
	epoch         string
	deadline      time.Time
	// The worker's, until it hands the catch-up back to the loop.
	got    []history.Entry
	bytes  int64
	err    error
	memory bool // an earlier catch-up's backfill holds the range now: no fetch
	// The loop's: live messages after target, buffered meanwhile.
	live      []history.Entry
	liveBytes int64
	overflow  bool
}

func newFetchQueue(f router.BusFetcher, cfg *Config, reg prometheus.Registerer) *fetchQueue {
	q := &fetchQueue{f: f, jobs: make(chan *catchup, catchQueueMax), workers: cfg.ResumeFetches,
		timeout: cfg.ResumeFetchTime, maxBytes: int64(cfg.MaxOutbound)}
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
		if c.memory = c.l.g.resume.hist.Covers(c.s.topic, c.epoch, c.since); !c.memory {
			q.running.Add(1)
			if c.err = q.fetch(ctx, c); c.err == nil {
				c.l.g.resume.hist.Backfill(c.s.topic, c.epoch, c.since, c.target, c.got)
			}
			q.running.Add(-1)
		}
		// The loop finishes it; if the engine is stopping nobody is left to answer.
		_ = c.l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			c.l.catchupDone(c)
			return nil
		}))
	}
}

func (q *fetchQueue) fetch(ctx context.Context, c *catchup) error {
	if time.Now().After(c.deadline) {
		return errors.New("resume from Kafka: waited past -resume-kafka-timeout")
	}
	ctx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()
	maxMsgs := 0 // no limit
	if m := c.l.g.resume.maxResume; m > 0 {
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
func (l *loop) startCatchup(cs *conn, s *v1Sub, id, since, target int64, epoch string) {
	q := l.g.resume.fetch
	c := &catchup{l: l, s: s, id: id, since: since, target: target, epoch: epoch,
		deadline: time.Now().Add(q.timeout)}
	if !q.enqueue(c) {
		l.notRecovered(cs, s, id, target, epoch, "too many resumes waiting for Kafka")
		return
	}
	s.catching = c
}

// buffer keeps a live message for a catching subscription (a copy: the
// message's buffers go back to the pool after delivery).
func (c *catchup) buffer(m *message, maxOut int, maxMsgs int) {
	if c.overflow || m.epoch != c.epoch || m.offset <= c.target {
		return
	}
	p := m.payload()
	c.liveBytes += int64(len(p))
	if c.liveBytes > int64(maxOut) || (maxMsgs > 0 && len(c.live) >= maxMsgs) {
		c.overflow, c.live = true, nil
		return
	}
	c.live = append(c.live, history.Entry{Offset: m.offset, Op: byte(m.op), Payload: append([]byte(nil), p...)})
}

// catchupDone runs on the loop when the fetch has ended.
func (l *loop) catchupDone(c *catchup) {
	l.liveFirst() // resume_slice.go; c.s.catching is still c: live ones go to c.live
	s, r := c.s, l.g.resume
	if s.catching != c || s.cs.state != stateOpen {
		return // unsubscribed or closed meanwhile
	}
	s.catching = nil
	why := ""
	switch {
	case c.err != nil:
		why = "Kafka: " + c.err.Error()
	case c.overflow || (r.maxResume > 0 && len(c.got)+len(c.live) > r.maxResume):
		why = "more messages missed than -resume-max-messages (or -max-outbound bytes)"
	}
	if why != "" {
		cur, epoch := r.current(s.topic)
		l.notRecovered(s.cs, s, c.id, cur, epoch, why)
		return
	}
	got, cur := c.got, c.target
	if c.memory {
		var why string
		v := l.v1
		got, cur, _, why = r.hist.Range(v.entries[:0], s.topic, c.epoch, c.since, r.maxResume)
		defer func() { clear(got); v.entries = got[:0] }()
		if why != history.OK {
			cur, epoch := r.current(s.topic)
			l.notRecovered(s.cs, s, c.id, cur, epoch, why)
			return
		}
	}
	// The live ones buffered after what the fetch (or the history) gave.
	live := c.live
	for len(live) > 0 && live[0].Offset <= cur {
		live = live[1:]
	}
	if n := len(live); n > 0 {
		cur = live[n-1].Offset
	}
	if r.maxResume > 0 && len(got)+len(live) > r.maxResume {
		cur, epoch := r.current(s.topic)
		l.notRecovered(s.cs, s, c.id, cur, epoch, history.TooMany)
		return
	}
	result := "recovered_kafka"
	if c.memory {
		result = "recovered"
	}
	l.sendRecovered(s.cs, s, c.id, c.since, cur, c.epoch, got, live, result)
}
