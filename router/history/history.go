// Package history keeps the last messages of every topic in memory, with
// their positions (offset, epoch), so a client that reconnects with its last
// position can be given exactly what it missed (lossless resume, wsgate.v1).
//
// It is pure: no I/O, time comes from the caller's clock. One History is
// shared by the bus handler (Append, in bus order) and the event loops
// (Range), under one mutex; a range copies entry headers out and shares the
// payloads, which are never written after Append copied them.
package history

import (
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds a History.
type Config struct {
	Size int           // messages kept per topic; 0 keeps none (positions only)
	TTL  time.Duration // entries older than this are dropped; 0 never
	// MaxBytes bounds the memory of all topics together (payload plus
	// entryOverhead per entry): above it the oldest entry of the topic
	// appended to least recently goes, topic after topic (0: no bound).
	// Size alone bounds one topic, not how many topics there are.
	MaxBytes int64
	Now      func() time.Time
	// Floor, when set, tells where a topic's stream starts on this node the
	// first time the topic is seen: the newest offset below which this node
	// cannot know the topic's messages (e.g. the offset its Kafka reader
	// started at, minus one), so a since between it and the first message is
	// still served. Without it a stream starts just below its first message.
	Floor func(topic, epoch string) (int64, bool)
}

// Entry is one message held.
type Entry struct {
	Offset  int64
	Op      byte
	Payload []byte // shared: never modified
	at      int64  // unix ns appended
}

// entryOverhead approximates what an entry costs besides its payload (the
// Entry in the ring and the payload's allocation header), for /metrics.
const entryOverhead = 48

// History is the per-node, per-topic message history.
type History struct {
	cfg     Config
	mu      sync.Mutex
	streams map[string]*stream
	msgs    atomic.Int64
	bytes   atomic.Int64
	evicted atomic.Int64
	// lru links the streams holding entries, least recently appended to
	// first: where MaxBytes evicts from, in O(1) per entry.
	lruHead, lruTail *stream
}

// stream is one topic: its ring of entries and what is known of the gap
// below it. Every message of the topic with an offset above floor (in this
// epoch) is in the ring, or has not been published yet: floor is the offset
// of the last message dropped (evicted or expired), or, for a stream first
// seen mid-way, the offset just before the first message seen.
type stream struct {
	epoch string
	last  int64 // offset of the newest message seen
	floor int64
	ring  []Entry
	head  int // index of the oldest entry
	n     int

	prev, next *stream // History.lru links
	linked     bool
}

// New returns an empty history.
func New(cfg Config) *History {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &History{cfg: cfg, streams: map[string]*stream{}}
}

// Messages is the number of entries held (all topics).
func (h *History) Messages() int64 { return h.msgs.Load() }

// Bytes is the memory the entries hold, approximately (payload + overhead).
func (h *History) Bytes() int64 { return h.bytes.Load() }

// Evicted counts the entries dropped to stay within MaxBytes.
func (h *History) Evicted() int64 { return h.evicted.Load() }

// Append records a message. Positions of one topic must grow within an
// epoch; a message at or below the newest one seen is ignored (a replay), a
// new epoch starts the topic's stream afresh. An empty epoch (a message with
// no position) is not recorded.
func (h *History) Append(topic, epoch string, offset int64, op byte, payload []byte) {
	if epoch == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[topic]
	if s == nil || s.epoch != epoch {
		if s != nil {
			h.dropAll(s)
			h.unlink(s)
		}
		s = &stream{epoch: epoch, floor: offset - 1}
		if h.cfg.Floor != nil {
			if f, ok := h.cfg.Floor(topic, epoch); ok && f < s.floor {
				s.floor = f
			}
		}
		h.streams[topic] = s
	} else if offset <= s.last {
		return
	}
	s.last = offset
	if h.cfg.Size <= 0 {
		s.floor = offset
		return
	}
	now := h.cfg.Now().UnixNano()
	h.expire(s, now)
	if s.n == h.cfg.Size {
		h.dropOldest(s)
	}
	e := Entry{Offset: offset, Op: op, Payload: append([]byte(nil), payload...), at: now}
	if s.n == len(s.ring) {
		// Every slot taken but below Size: grow (memory follows use), in
		// order from the oldest so the ring stays one run.
		if s.head != 0 {
			lin := make([]Entry, s.n, min(2*s.n+1, h.cfg.Size))
			for i := range s.n {
				lin[i] = *s.at(i)
			}
			s.ring, s.head = lin, 0
		}
		s.ring = append(s.ring, e)
	} else {
		s.ring[(s.head+s.n)%len(s.ring)] = e
	}
	s.n++
	h.msgs.Add(1)
	h.bytes.Add(int64(len(e.Payload)) + entryOverhead)
	h.unlink(s)
	h.pushBack(s)
	h.trim()
}

// trim evicts entries, oldest of the least recently appended topic first,
// until the history is within MaxBytes. A stream emptied this way lets its
// ring go; its floor (the last offset dropped) keeps resumes honest.
func (h *History) trim() {
	for h.cfg.MaxBytes > 0 && h.bytes.Load() > h.cfg.MaxBytes && h.lruHead != nil {
		s := h.lruHead
		if s.n > 0 {
			h.dropOldest(s)
			h.evicted.Add(1)
		}
		if s.n == 0 {
			h.unlink(s)
			s.ring, s.head = nil, 0
		}
	}
}

func (h *History) pushBack(s *stream) {
	s.prev, s.next, s.linked = h.lruTail, nil, true
	if h.lruTail != nil {
		h.lruTail.next = s
	} else {
		h.lruHead = s
	}
	h.lruTail = s
}

func (h *History) unlink(s *stream) {
	if !s.linked {
		return
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		h.lruHead = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		h.lruTail = s.prev
	}
	s.prev, s.next, s.linked = nil, nil, false
}

// Position is a topic's newest position (ok false when none was seen).
func (h *History) Position(topic string) (offset int64, epoch string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.streams[topic]; s != nil {
		return s.last, s.epoch, true
	}
	return 0, "", false
}

// Why a range could not be served.
const (
	OK        = ""
	NoStream  = "no position known for this topic on this node"
	Epoch     = "epoch changed"
	Future    = "since is beyond the stream's position"
	TooOld    = "since is older than the history this node holds"
	TooMany   = "more messages missed than -resume-max-messages"
	Truncated = "since is not a position of this stream"
)

// Range appends to dst every entry of topic after since, in order, when
// the whole gap can be served: the epoch matches, since is not in the
// future, nothing after since has been dropped, and at most max entries
// (max <= 0: no limit). Otherwise it appends nothing and reason says why:
// never a partial range. offset and epoch are the stream's newest position
// (when known), which a reply reports either way.
func (h *History) Range(dst []Entry, topic, epoch string, since int64, max int) (out []Entry, offset int64, curEpoch, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[topic]
	if s == nil {
		return dst, 0, "", NoStream
	}
	h.expire(s, h.cfg.Now().UnixNano())
	switch {
	case epoch != s.epoch:
		return dst, s.last, s.epoch, Epoch
	case since > s.last:
		return dst, s.last, s.epoch, Future
	case since == s.last:
		return dst, s.last, s.epoch, OK
	case since < s.floor:
		return dst, s.last, s.epoch, TooOld
	}
	// The entries after since: binary search the ring (offsets grow).
	lo, hi := 0, s.n
	for lo < hi {
		mid := (lo + hi) / 2
		if s.at(mid).Offset <= since {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if max > 0 && s.n-lo > max {
		return dst, s.last, s.epoch, TooMany
	}
	for i := lo; i < s.n; i++ {
		dst = append(dst, *s.at(i))
	}
	return dst, s.last, s.epoch, OK
}

func (s *stream) at(i int) *Entry { return &s.ring[(s.head+i)%len(s.ring)] }

// Sweep drops expired entries of every topic, so a topic that went quiet
// does not hold its memory past the TTL. Call it now and then (every second).
func (h *History) Sweep() {
	if h.cfg.TTL <= 0 {
		return
	}
	now := h.cfg.Now().UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.streams {
		h.expire(s, now)
	}
}

func (h *History) expire(s *stream, now int64) {
	if h.cfg.TTL <= 0 {
		return
	}
	for s.n > 0 && now-s.at(0).at >= int64(h.cfg.TTL) {
		h.dropOldest(s)
	}
}

func (h *History) dropOldest(s *stream) {
	e := s.at(0)
	s.floor = e.Offset
	h.msgs.Add(-1)
	h.bytes.Add(-int64(len(e.Payload)) - entryOverhead)
	*e = Entry{}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
}

func (h *History) dropAll(s *stream) {
	for s.n > 0 {
		h.dropOldest(s)
	}
}

// Covers reports whether a Range from since would be served now (the
// epoch matches and nothing after since has been dropped), without copying.
func (h *History) Covers(topic, epoch string, since int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[topic]
	return s != nil && s.epoch == epoch && since >= s.floor && since <= s.last
}

// Backfill keeps older messages read back from elsewhere (Kafka): entries
// are every message of topic in (after, upTo] of epoch, in order. Those
// below the stream's floor go in front of what it holds, as many as fit
// in Size (the newest of them), and the floor moves down, so the next
// resume into that range is served from memory. It returns how many it
// kept. A stream not seen yet starts at upTo.
func (h *History) Backfill(topic, epoch string, after, upTo int64, entries []Entry) int {
	if h.cfg.Size <= 0 {
		return 0
	}
	now := h.cfg.Now().UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[topic]
	if s == nil {
		s = &stream{epoch: epoch, last: upTo, floor: upTo}
		h.streams[topic] = s
	}
	if s.epoch != epoch || upTo < s.floor || after >= s.floor {
		return 0
	}
	pre := entries
	for len(pre) > 0 && pre[len(pre)-1].Offset > s.floor {
		pre = pre[:len(pre)-1]
	}
	room := h.cfg.Size - s.n
	if room <= 0 {
		return 0
	}
	floor := after
	if len(pre) > room {
		floor = pre[len(pre)-room-1].Offset
		pre = pre[len(pre)-room:]
	}
	lin := make([]Entry, 0, len(pre)+s.n)
	for _, e := range pre {
		e.at = now // kept from now: the TTL counts time in memory
		lin = append(lin, e)
		h.bytes.Add(int64(len(e.Payload)) + entryOverhead)
	}
	for i := range s.n {
		lin = append(lin, *s.at(i))
	}
	h.msgs.Add(int64(len(pre)))
	s.ring, s.head, s.n, s.floor = lin, 0, len(lin), floor
	if !s.linked && s.n > 0 {
		h.pushBack(s)
	}
	h.trim()
	return len(pre)
}
