package resume

import (
	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/router/history"
)

// Message is one bus message as the gateway's fan-out shares it between
// its event loops.
type Message interface {
	Topic() string
	// Position is the message's place in its topic's stream; epoch "" is
	// none (delivered locally while the Kafka bus is degraded).
	Position() (offset int64, epoch string)
	Op() ws.OpCode
	Payload() []byte
	// Envelope is the message as a wsgate.v1 envelope frame
	// (AppendEnvelopeFrame, js as scratch), built once for every loop and
	// subscriber.
	Envelope(js *[]byte) []byte
	// Echo marks a message already delivered to plain subscribers without
	// a position while the Kafka bus was degraded: for wsgate.v1 only.
	Echo() bool
	Release() // this loop is done with it
}

// Pass delivers a drained batch (sorted by topic, each topic in bus order)
// to the loop's wsgate.v1 subscribers (l nil: the loop has none), then
// takes the echoes out of it, releasing them. What it returns, in place in
// batch, goes to plain subscribers.
func Pass[M Message](l *Loop, batch []M) []M {
	if l != nil {
		for _, m := range batch {
			l.batch = append(l.batch, m)
		}
		b := l.batch
		for i := 0; i < len(b); {
			j := i + 1
			for j < len(b) && b[j].Topic() == b[i].Topic() {
				j++
			}
			l.deliver(b[i:j])
			i = j
		}
		clear(b)
		l.batch = b[:0]
	}
	k := 0
	for _, m := range batch {
		if m.Echo() {
			m.Release()
		} else {
			batch[k] = m
			k++
		}
	}
	clear(batch[k:])
	return batch[:k]
}

// deliver writes one topic's run of messages (in order) to the loop's
// wsgate.v1 subscribers of it: the shared envelope frames, minus the prefix
// a subscriber already has (a recovery gave it). A subscriber whose Kafka
// catch-up is running gets them later, after the recovered ones (kafka.go).
func (l *Loop) deliver(msgs []Message) {
	grp := l.subs.Lookup(msgs[0].Topic())
	if grp == nil {
		return
	}
	// Writing is capped at the kernel's IOV_MAX per call.
	const iovMax = 1024
	for len(msgs) > iovMax {
		l.deliver(msgs[:iovMax])
		msgs = msgs[iovMax:]
	}
	l.run, l.iov = l.run[:0], l.iov[:0]
	for _, m := range msgs {
		if _, epoch := m.Position(); epoch == "" {
			continue // no position (Kafka degraded): not for wsgate.v1
		}
		l.run = append(l.run, m)
		l.iov = append(l.iov, m.Envelope(&l.js))
	}
	if len(l.run) == 0 {
		return
	}
	maxOut, maxMsgs := l.node.cfg.MaxOutbound, l.node.cfg.MaxMessages
	newest, newestEpoch := l.run[len(l.run)-1].Position()
	var delivered, bytes, writes int
	// Walk backwards: a subscriber whose write fails is closed (and removed
	// by swapping the last member into its slot) inside the write, and the
	// last member has already been visited.
	for i := grp.Len() - 1; i >= 0; i-- {
		if i >= grp.Len() {
			continue
		}
		s := grp.Members()[i]
		c := s.c
		if !c.Open() {
			continue
		}
		if c.Outbound() > maxOut {
			c.Lagging()
			continue
		}
		if s.catching != nil { // a Kafka catch-up runs or a recovery waits: these follow it
			// -max-outbound bounds what the socket's catch-ups buffer together, not
			// each: a socket holds up to -max-topics-per-conn of them.
			room := maxOut - l.buffered(s)
			for _, m := range l.run {
				s.catching.buffer(m, room, maxMsgs)
			}
			continue
		}
		k := 0
		for k < len(l.run) {
			if o, e := l.run[k].Position(); e != s.epoch || o > s.last {
				break
			}
			k++
		}
		if k == len(l.run) {
			continue
		}
		s.last, s.epoch = newest, newestEpoch
		iov := l.iov[k:]
		n := 0
		for _, f := range iov {
			n += len(f)
		}
		if len(iov) == 1 {
			c.Write(iov[0])
		} else {
			l.wv = append(l.wv[:0], iov...)
			c.Writev(l.wv)
		}
		c.Sent(len(iov), n)
		writes++
		delivered += len(iov)
		bytes += n
	}
	grp.Delivered(len(l.run))
	clear(l.run)
	l.env.Delivered(delivered, bytes, writes)
}

// recover serves a subscribe with since: the reply, then every message
// after since that s has not had, all in one write — or, for a gap older
// than the memory holds, a catch-up from Kafka (kafka.go) — or
// recovered:false.
func (l *Loop) recover(c Client, s *Sub, id int64, since int64, sinceEpoch string) {
	n := l.node
	entries, cur, curEpoch, why := n.hist.Range(l.entries[:0], s.topic, sinceEpoch, since, n.cfg.MaxMessages)
	if why == history.NoStream {
		// Nothing seen of this topic yet: its stream starts at the bus's floor.
		e, f, ok := n.position(s.topic)
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
		// Over -resume-rate it waits on this loop and is read again from the history then
		// (pace.go); a recovery with nothing new to write never waits.
		if !s.lacks(entries, curEpoch) || !l.paced(&catchup{l: l, s: s, id: id, since: since, target: cur, epoch: curEpoch, memory: true, reread: true}) {
			l.sendRecovered(c, s, id, since, cur, curEpoch, entries, nil, "recovered")
		}
	case why == history.TooOld && n.fetch != nil && sinceEpoch == curEpoch && since < cur:
		l.startCatchup(c, s, id, since, cur, curEpoch)
	default:
		l.notRecovered(c, s, id, cur, curEpoch, why)
	}
	clear(entries)
	l.entries = entries[:0]
}

// had reports whether s has had the message at offset o of epoch's stream:
// (from, last], live before a subscribe; nothing if its stream was unknown
// or replaced.
func (s *Sub) had(o int64, epoch string) bool {
	return s.epoch == epoch && o > s.from && o <= s.last
}

// lacks reports whether any of entries (of epoch's stream) is one s has not
// had.
func (s *Sub) lacks(entries []history.Entry, epoch string) bool {
	for _, e := range entries {
		if !s.had(e.Offset, epoch) {
			return true
		}
	}
	return false
}

// notRecovered answers recovered:false; s goes on live from the position
// the reply gives.
func (l *Loop) notRecovered(c Client, s *Sub, id int64, cur int64, curEpoch, why string) {
	l.node.results.WithLabelValues("not_recovered").Inc()
	l.out = AppendSubscribeReply(l.out[:0], id, false, true, cur, curEpoch, why, -1)
	if curEpoch != s.epoch || cur > s.last {
		s.last, s.epoch = cur, curEpoch
	}
	l.write(c, l.out)
}

// sendRecovered writes the recovered:true reply and the messages after
// since (a then b, in order) that s has not had: s has had (s.from,
// s.last], live, before this subscribe came. The reply says how many
// follow, so a client that got those live ones first can order them.
// Recovered frames that would not fit in what -max-outbound leaves of the
// client's outbound buffer answer recovered:false instead (never part of
// the gap): one write of a whole history must not bypass that bound.
// result labels wsgate_resume_total when the recovery is sent.
func (l *Loop) sendRecovered(c Client, s *Sub, id, since, cur int64, curEpoch string, a, b []history.Entry, result string) {
	had := func(o int64) bool { return s.had(o, curEpoch) }
	room := l.node.cfg.MaxOutbound - c.Outbound()
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
		l.out = AppendSubscribeReply(l.out[:0], id, true, true, cur, curEpoch, "", count)
	build:
		for _, part := range [][]history.Entry{a, b} {
			for _, e := range part {
				if had(e.Offset) {
					continue
				}
				l.out = AppendEnvelopeFrame(l.out, &l.js, s.topic, e.Offset, curEpoch, ws.OpCode(e.Op), e.Payload)
				if len(l.out) > room {
					fits = false // escaping made it bigger than the payloads
					break build
				}
			}
		}
	}
	if !fits {
		l.shrinkScratch()
		l.notRecovered(c, s, id, cur, curEpoch, tooBig)
		return
	}
	l.node.results.WithLabelValues(result).Inc()
	if s.epoch != curEpoch {
		s.from, s.last, s.epoch = since, since, curEpoch
	}
	s.from = min(s.from, since)
	s.last = max(s.last, cur)
	l.recovered += len(l.out) // slice.go
	if p := l.node.pace; p != nil {
		p.spend(len(l.out))
	}
	l.write(c, l.out)
	l.shrinkScratch()
	l.env.Delivered(count, 0, 0)
}

// tooBig is the reason of a recovery over the outbound bound.
const tooBig = "more bytes missed than -max-outbound"

// scratchKeep is the most the loop keeps of its scratch buffers between
// uses: a recovery may have grown them to -max-outbound, which must not
// stay allocated on every loop after the client left. It holds a recovery
// of 1,000 short messages (~80 KB): below that, a resume storm regrew the
// buffer from nothing for every client, and the garbage (~250 KB a
// recovery) kept the collector running and live messages waiting (slice.go).
const scratchKeep = 256 << 10

func (l *Loop) shrinkScratch() {
	if cap(l.out) > scratchKeep {
		l.out = nil
	}
	if cap(l.js) > scratchKeep {
		l.js = nil
	}
}
