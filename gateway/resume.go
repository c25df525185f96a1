package gateway

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/history"
)

// Lossless resume (issue 15): every message on the bus has a position
// (offset, epoch); the gateway keeps the last -history-size messages of each
// topic (router/history) and a wsgate.v1 client that resubscribes with its
// last position gets exactly what it missed, then live messages with no gap
// and no duplicate — or recovered:false, never part of the gap.
//
// Ordering without buffering: the bus handler (deliver) appends a message to
// the history before it hands it to the loops, and a recovery reads the
// history on the subscriber's own loop. So every message is either in the
// history when a recovery reads it, or reaches that loop's inbox after the
// recovery: a subscriber remembers the newest offset it was given (last)
// and live delivery skips what it already has. Memory recovery is
// synchronous on the loop; there is no catch-up window to buffer.

// resume is the gateway's lossless-resume state.
type resume struct {
	hist      *history.History
	pos       atomic.Pointer[positioner] // the bus, once built
	fetch     *fetchQueue                // Kafka catch-ups (resume_kafka.go); nil: memory only
	upgrade   codec.UpgradeOptions       // g.upgrade with wsgate.v1 as the only subprotocol
	script    []byte                     // GET /wsgate.js answer (keep-alive)
	maxTopics int
	maxResume int

	results  *prometheus.CounterVec // wsgate_resume_total{result}
	errors   *prometheus.CounterVec // wsgate_v1_errors_total{code}
	commands prometheus.Counter
}

type positioner struct{ p router.BusPositioner }

func newResume(cfg *Config, up codec.UpgradeOptions, reg prometheus.Registerer) *resume {
	r := &resume{maxTopics: cfg.MaxTopicsPerConn, maxResume: cfg.ResumeMaxMessages}
	if r.maxTopics <= 0 {
		r.maxTopics = DefaultMaxTopicsPerConn // -max-topics-per-conn 0 (grip.go)
	}
	r.hist = history.New(history.Config{Size: cfg.HistorySize, TTL: cfg.HistoryTTL, MaxBytes: cfg.HistoryMaxBytes, Floor: r.floor})
	up.Subprotocols = []string{v1Protocol}
	r.upgrade = up
	r.script = appendScript(nil, false)
	r.results = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_resume_total",
		Help: "wsgate.v1 subscribes with a since position, by result (recovered, not_recovered)"}, []string{"result"})
	r.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_v1_errors_total",
		Help: "wsgate.v1 command error replies, by code"}, []string{"code"})
	r.commands = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_v1_commands_total", Help: "wsgate.v1 commands received"})
	reg.MustRegister(r.results, r.errors, r.commands,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_history_messages",
			Help: "messages held in the in-memory history (-history-size per topic)"}, func() float64 { return float64(r.hist.Messages()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_history_bytes",
			Help: "bytes held by the in-memory history (payloads + per-entry overhead)"}, func() float64 { return float64(r.hist.Bytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wsgate_history_evictions_total",
			Help: "history entries dropped to stay within -history-max-bytes"}, func() float64 { return float64(r.hist.Evicted()) }))
	return r
}

// setBus tells where topic streams start (a bus without positions: none).
func (r *resume) setBus(b router.Bus, cfg *Config, reg prometheus.Registerer) {
	if p, ok := b.(router.BusPositioner); ok {
		r.pos.Store(&positioner{p})
	}
	if f, ok := b.(router.BusFetcher); ok && cfg.ResumeFetches > 0 {
		r.fetch = newFetchQueue(f, cfg, reg)
	}
}

func (r *resume) position(topic string) (epoch string, floor int64, ok bool) {
	if p := r.pos.Load(); p != nil {
		return p.p.Position(topic)
	}
	return "", 0, false
}

func (r *resume) floor(topic, epoch string) (int64, bool) {
	e, f, ok := r.position(topic)
	return f, ok && e == epoch
}

// run sweeps expired history entries until ctx ends, so a quiet topic's
// memory goes with its TTL.
func (r *resume) run(ctx context.Context) {
	if r.fetch != nil {
		r.fetch.start(ctx)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.hist.Sweep()
		}
	}
}

// current is a topic's newest position on this node: the history's, or
// where the bus says its stream starts when no message was seen yet.
func (r *resume) current(topic string) (offset int64, epoch string) {
	if o, e, ok := r.hist.Position(topic); ok {
		return o, e
	}
	e, f, _ := r.position(topic)
	return f, e
}

// envelope returns the message as a wsgate.v1 envelope frame, built once
// for every loop and subscriber (like deflatedFrame: racers keep the first).
func (m *message) envelope(scratch *[]byte) []byte {
	if b := m.env.Load(); b != nil {
		return b.B
	}
	*scratch = appendEnvelope((*scratch)[:0], m.topic, m.offset, m.epoch, m.op, m.payload())
	b := m.pool.Get()
	b.B = codec.AppendFrame(b.B, ws.OpText, *scratch)
	if !m.env.CompareAndSwap(nil, b) {
		m.pool.Put(b)
		return m.env.Load().B
	}
	return b.B
}

// v1Deliver writes one topic's run of messages (in order) to the loop's
// wsgate.v1 subscribers of it: the shared envelope frames, minus the prefix
// a subscriber already has (a recovery gave it).
func (l *loop) v1Deliver(msgs []*message) {
	v := l.v1
	grp := v.subs.Lookup(msgs[0].topic)
	if grp == nil {
		return
	}
	const iovMax = 1024
	for len(msgs) > iovMax {
		l.v1Deliver(msgs[:iovMax])
		msgs = msgs[iovMax:]
	}
	v.run, v.iov = v.run[:0], v.iov[:0]
	for _, m := range msgs {
		if m.epoch == "" {
			continue // no position (Kafka degraded): not for wsgate.v1
		}
		v.run = append(v.run, m)
		v.iov = append(v.iov, m.envelope(&v.js))
	}
	if len(v.run) == 0 {
		return
	}
	maxOut := l.g.cfg.MaxOutbound
	newest := v.run[len(v.run)-1]
	var delivered, bytes, writes int
	for i := grp.Len() - 1; i >= 0; i-- {
		if i >= grp.Len() {
			continue
		}
		s := grp.Members()[i]
		cs := s.cs
		if cs.state != stateOpen {
			continue
		}
		if cs.c.OutboundBuffered() > maxOut {
			l.slow = append(l.slow, cs)
			continue
		}
		if s.catching != nil { // a Kafka catch-up runs: these follow it (resume_kafka.go)
			for _, m := range v.run {
				s.catching.buffer(m, maxOut, l.g.resume.maxResume)
			}
			continue
		}
		k := 0
		for k < len(v.run) && v.run[k].epoch == s.epoch && v.run[k].offset <= s.last {
			k++
		}
		if k == len(v.run) {
			continue
		}
		s.last, s.epoch = newest.offset, newest.epoch
		iov := v.iov[k:]
		n := 0
		for _, f := range iov {
			n += len(f)
		}
		if len(iov) == 1 {
			_, _ = cs.c.Write(iov[0])
		} else {
			v.wv = append(v.wv[:0], iov...)
			_, _ = cs.c.Writev(v.wv)
		}
		if cs.alog != nil {
			cs.alog.msgsOut += int64(len(iov))
			cs.alog.bytesOut += int64(n)
		}
		writes++
		delivered += len(iov)
		bytes += n
	}
	grp.Delivered(len(v.run))
	for i := range v.run {
		v.run[i] = nil
	}
	m := l.g.metrics
	m.MsgsOut.Add(float64(delivered))
	m.BytesOut.Add(float64(bytes))
	m.Writes.Add(float64(writes))
}

// recover serves a subscribe with since: the reply, then every message
// after since that s has not had, all in one write — or, for a gap older
// than the memory holds, a catch-up from Kafka (resume_kafka.go) — or
// recovered:false.
func (l *loop) recover(cs *conn, s *v1Sub, id int64, since int64, sinceEpoch string) {
	r, v := l.g.resume, l.v1
	entries, cur, curEpoch, why := r.hist.Range(v.entries[:0], s.topic, sinceEpoch, since, r.maxResume)
	if why == history.NoStream {
		// Nothing seen of this topic yet: its stream starts at the bus's floor.
		e, f, ok := r.position(s.topic)
		cur, curEpoch = f, e
		switch {
		case !ok:
		case sinceEpoch != e:
			why = history.Epoch
		case since == f:
			why = history.OK
		case since > f:
			why = history.Future
		default:
			why = history.TooOld
		}
	}
	switch {
	case why == history.OK:
		l.sendRecovered(cs, s, id, since, cur, curEpoch, entries, nil, "recovered")
	case why == history.TooOld && r.fetch != nil && sinceEpoch == curEpoch && since < cur:
		l.startCatchup(cs, s, id, since, cur, curEpoch)
	default:
		l.notRecovered(cs, s, id, cur, curEpoch, why)
	}
	clear(entries)
	v.entries = entries[:0]
}

// notRecovered answers recovered:false; s goes on live from the position
// the reply gives.
func (l *loop) notRecovered(cs *conn, s *v1Sub, id int64, cur int64, curEpoch, why string) {
	v := l.v1
	l.g.resume.results.WithLabelValues("not_recovered").Inc()
	v.out = appendSubscribeReply(v.out[:0], id, false, true, cur, curEpoch, why, -1)
	if curEpoch != s.epoch || cur > s.last {
		s.last, s.epoch = cur, curEpoch
	}
	l.v1Write(cs, v.out)
}

// sendRecovered writes the recovered:true reply and the messages after
// since (a then b, in order) that s has not had: s has had (s.from,
// s.last], live, before this subscribe came. The reply says how many
// follow, so a client that got those live ones first can order them.
// Recovered frames that would not fit in what -max-outbound leaves of the
// client's outbound buffer answer recovered:false instead (never part of
// the gap): one write of a whole history must not bypass that bound.
// result labels wsgate_resume_total when the recovery is sent.
func (l *loop) sendRecovered(cs *conn, s *v1Sub, id, since, cur int64, curEpoch string, a, b []history.Entry, result string) {
	v := l.v1
	from, last := s.from, s.last
	if s.epoch != curEpoch { // the sub's stream was unknown or replaced
		from, last = since, since
	}
	had := func(o int64) bool { return o > from && o <= last }
	room := l.g.cfg.MaxOutbound - cs.c.OutboundBuffered()
	count, raw := 0, 0
	for _, part := range [][]history.Entry{a, b} {
		for _, e := range part {
			if !had(e.Offset) {
				count++
				raw += len(e.Payload)
			}
		}
	}
	fits := raw <= room // a frame is never smaller than its payload
	if fits {
		v.out = appendSubscribeReply(v.out[:0], id, true, true, cur, curEpoch, "", count)
	build:
		for _, part := range [][]history.Entry{a, b} {
			for _, e := range part {
				if had(e.Offset) {
					continue
				}
				v.out = appendEnvelopeFrame(v.out, &v.js, s.topic, e.Offset, curEpoch, ws.OpCode(e.Op), e.Payload)
				if len(v.out) > room {
					fits = false // escaping made it bigger than the payloads
					break build
				}
			}
		}
	}
	if !fits {
		l.v1ShrinkScratch()
		l.notRecovered(cs, s, id, cur, curEpoch, resumeTooBig)
		return
	}
	l.g.resume.results.WithLabelValues(result).Inc()
	if s.epoch != curEpoch {
		s.from, s.last, s.epoch = since, since, curEpoch
	}
	s.from = min(s.from, since)
	s.last = max(s.last, cur)
	v.recoveredBytes += len(v.out) // resume_slice.go
	l.v1Write(cs, v.out)
	l.v1ShrinkScratch()
	l.g.metrics.MsgsOut.Add(float64(count))
}

// resumeTooBig is the reason of a recovery over the outbound bound.
const resumeTooBig = "more bytes missed than -max-outbound"

// v1ScratchKeep is the most the loop keeps of its wsgate.v1 scratch
// buffers between uses: a recovery may have grown them to -max-outbound,
// which must not stay allocated on every loop after the client left. It
// holds a recovery of 1,000 short messages (~80 KB): below that, a resume
// storm regrew the buffer from nothing for every client, and the garbage
// (~250 KB a recovery) kept the collector running and live messages
// waiting (resume_slice.go).
const v1ScratchKeep = 256 << 10

func (l *loop) v1ShrinkScratch() {
	v := l.v1
	if cap(v.out) > v1ScratchKeep {
		v.out = nil
	}
	if cap(v.js) > v1ScratchKeep {
		v.js = nil
	}
}

// v1Write writes replies (and recovered frames) to a wsgate.v1 client; one
// that stopped reading is closed like a slow subscriber.
func (l *loop) v1Write(cs *conn, b []byte) {
	if cs.state != stateOpen {
		return
	}
	_, _ = cs.c.Write(b)
	if cs.alog != nil {
		cs.alog.bytesOut += int64(len(b))
	}
	if cs.state == stateOpen && cs.c.OutboundBuffered() > l.g.cfg.MaxOutbound {
		l.g.metrics.SlowConsumers.Inc()
		l.closeWith(cs, ws.StatusPolicyViolation, "slow consumer: outbound buffer full", accesslog.TermSlowConsumer)
	}
}

// serveScript answers GET /wsgate.js (the browser client) on the client
// listener, keeping the connection when the request has no body.
func (l *loop) serveScript(cs *conn, req *codec.Request, n int) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		l.logAnswered(cs, req, "", http.StatusMethodNotAllowed, accesslog.TermDenied, "wsgate.js: not GET")
		l.refuse(cs, http.StatusMethodNotAllowed, "only GET is served here")
		return false
	}
	kind, _, err := codec.RequestBodyOf(req)
	closing := err != nil || kind != codec.BodyNone || req.WantsClose()
	out := l.g.resume.script
	if closing {
		l.scratch = appendScript(l.scratch[:0], true)
		out = l.scratch
	}
	if req.Method == http.MethodHead {
		// RFC 9110 9.3.2: the head alone, Content-Length still the body's;
		// a body here would be read as the answer to the next request.
		out = out[:len(out)-len(client.Script)]
	}
	_, _ = cs.c.Write(out)
	l.g.metrics.HTTPResponse(http.StatusOK)
	l.logAnswered(cs, req, "", http.StatusOK, accesslog.TermNormal, "")
	if closing {
		l.linger(cs)
		return false
	}
	_, _ = cs.c.Discard(n)
	return cs.state == stateHandshake
}

func appendScript(dst []byte, closing bool) []byte {
	hs := []codec.HeaderField{
		{Name: "Content-Type", Value: "text/javascript; charset=utf-8"},
		{Name: "Cache-Control", Value: "no-cache"},
	}
	if closing {
		hs = append(hs, codec.HeaderField{Name: "Connection", Value: "close"})
	}
	return codec.AppendResponse(dst, http.StatusOK, hs, client.Script)
}

// v1Pass delivers a drained batch (sorted by topic) to the loop's wsgate.v1
// subscribers, then takes the echoes out of it (releasing them): a message
// already delivered without a position while the Kafka bus was degraded is
// for wsgate.v1 subscribers only. What it returns goes to plain subscribers.
func (l *loop) v1Pass(batch []*message) []*message {
	if l.v1 != nil {
		for i := 0; i < len(batch); {
			j := i + 1
			for j < len(batch) && batch[j].topic == batch[i].topic {
				j++
			}
			l.v1Deliver(batch[i:j])
			i = j
		}
	}
	k := 0
	for _, m := range batch {
		if m.echo {
			m.release()
		} else {
			batch[k] = m
			k++
		}
	}
	clear(batch[k:])
	return batch[:k]
}
