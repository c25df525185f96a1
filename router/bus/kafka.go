package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// DefaultKafkaTopic is the Kafka topic every node writes to and reads from.
const DefaultKafkaTopic = "wsgate.broadcast"

// Record headers. The record value is the raw payload and the key is the
// wsgate topic, so any Kafka producer reaches the clients; the headers are
// only there for records wsgate wrote itself.
const (
	hdrOrigin = "wsgate-origin" // node ID of the publisher
	hdrRun    = "wsgate-run"    // random ID of the publisher's process (its seq restarts at 1)
	hdrSeq    = "wsgate-seq"    // per-process sequence number, decimal
	hdrOp     = "wsgate-op"     // "text" or "binary"; absent means text
)

// Errors returned by Kafka.Publish. The gateway answers 503 to an API caller.
var (
	ErrBufferFull = errors.New("kafka bus: buffer full (-kafka-buffer), message dropped")
	ErrTooLarge   = errors.New("kafka bus: message larger than the largest Kafka record")
)

// KafkaConfig configures the Kafka bus. Zero values take the defaults.
type KafkaConfig struct {
	Brokers []string // bootstrap host:port list; required
	Topic   string   // Kafka topic (default wsgate.broadcast)
	NodeID  string   // this node's name in record headers (default: host name)

	// BufferBytes caps what is accepted but not yet acknowledged by Kafka
	// (payload + key + a fixed overhead per message); beyond it Publish
	// drops and returns ErrBufferFull. Default 64 MiB.
	BufferBytes int
	// Linger is how long the sender waits, when it wakes up idle, for more
	// messages to join the batch (Kafka's linger.ms). Default 0: send at
	// once; whatever arrives while a produce request is in flight forms the
	// next batch anyway, so batching grows with load without a timer.
	Linger time.Duration
	// RequiredAcks: kafka.RequireOne (default) or kafka.RequireAll.
	RequiredAcks kafka.RequiredAcks
	// MaxRecordBytes is the largest record Publish accepts (default 1,000,000:
	// under Kafka's default message.max.bytes of 1 MiB, batch overhead included).
	MaxRecordBytes int
	// ConnectTimeout bounds the first connection attempt inside NewKafka
	// (default 3s); after it NewKafka returns a degraded bus that keeps trying.
	ConnectTimeout time.Duration
	// StallTimeout is how long a produce may go unacknowledged before the bus
	// declares itself degraded and delivers the unacknowledged messages
	// locally (a hung broker: TCP open, no answer). Default 1s; negative
	// disables it (then only a failed write degrades the bus, after the
	// client's own timeouts, ~5s).
	StallTimeout time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
	// Echoes: deliver this node's own publishes again when they come back
	// from Kafka after a degraded period, marked Echo and with their
	// position (kafka_read.go): subscribers that need positions skip the
	// local delivery, which has none, and take the echo instead.
	Echoes bool
}

func (c *KafkaConfig) defaults() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka bus: no brokers")
	}
	if c.Topic == "" {
		c.Topic = DefaultKafkaTopic
	}
	if c.NodeID == "" {
		c.NodeID, _ = os.Hostname()
		if c.NodeID == "" {
			c.NodeID = "wsgate"
		}
	}
	if c.BufferBytes <= 0 {
		c.BufferBytes = 64 << 20
	}
	if c.Linger < 0 {
		c.Linger = 0
	}
	if c.RequiredAcks == kafka.RequireNone {
		c.RequiredAcks = kafka.RequireOne
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = 1_000_000
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 3 * time.Second
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// msgOverhead is what a queued message costs beyond its payload and topic
// (headers, struct, Kafka record framing), counted against BufferBytes.
const msgOverhead = 96

// outMsg is a message accepted by Publish and not yet acknowledged by Kafka.
type outMsg struct {
	seq     uint64
	topic   string
	op      OpCode
	payload []byte
	size    int
	local   bool // already delivered on this node (published while degraded, or its echo came back before the ack)
}

// Kafka is the bus between gateway nodes. Publish queues the message for a
// single sender goroutine (never blocking the caller); one reader per
// partition delivers what it consumes, this node's own publishes included, so
// every node delivers one order per wsgate topic. While Kafka is unreachable
// publishes are delivered locally at once and kept (up to BufferBytes) until
// it is back; the origin node then recognises them and does not deliver twice.
type Kafka struct {
	cfg     KafkaConfig
	log     *slog.Logger
	handler Handler
	run     string // this process's ID in record headers
	m       *kafkaMetrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	transport *kafka.Transport
	client    *kafka.Client
	balancer  kafka.Murmur2Balancer
	parts     atomic.Pointer[[]int]  // partition IDs, known after bootstrap
	cluster   atomic.Pointer[string] // the brokers' cluster ID (kafka_position.go)

	mu       sync.Mutex
	closed   bool
	seq      uint64
	queue    []*outMsg // FIFO; the sender owns the head, Publish appends
	queued   int       // bytes in queue
	degraded bool
	reason   string
	since    time.Time
	local    map[uint64]time.Time // seqs delivered locally, awaiting their echo; value: when Kafka acked them (zero: not yet)
	// unacked is when the sender started producing the queue's head and got
	// no acknowledgement since (zero: nothing in flight); stallLoop reads it.
	unacked time.Time

	wake chan struct{} // sender: queue grew
	// localQ holds messages to deliver on this node while Kafka is degraded,
	// in publish order; one goroutine (kafka_local.go) delivers them outside
	// mu, so a 64 MiB backlog never holds the lock event loops take in Publish.
	localQ    []*outMsg
	localWake chan struct{}
	ready     chan struct{} // closed once partitions are known and readers started

	readersMu sync.Mutex
	readers   map[int]*partitionReader

	// deliverMu serialises handler calls per wsgate topic (striped by hash)
	// between partition readers and local (degraded) delivery.
	deliverMu [64]sync.Mutex
}

// NewKafka starts a Kafka bus delivering to h. It tries to reach the brokers
// for cfg.ConnectTimeout; if they are down it returns a working, degraded bus
// (local delivery, buffered publishes) that keeps trying in the background.
func NewKafka(cfg KafkaConfig, h Handler) (*Kafka, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	b := &Kafka{
		cfg:       cfg,
		log:       cfg.Logger.With("bus", "kafka", "topic", cfg.Topic),
		handler:   h,
		run:       hex.EncodeToString(nonce[:]),
		local:     map[uint64]time.Time{},
		wake:      make(chan struct{}, 1),
		localWake: make(chan struct{}, 1),
		ready:     make(chan struct{}),
		readers:   map[int]*partitionReader{},
		degraded:  true,
		reason:    "connecting to " + strings.Join(cfg.Brokers, ","),
		since:     time.Now(),
	}
	m, err := newKafkaMetrics(b, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	b.m = m
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.transport = &kafka.Transport{
		DialTimeout: 2 * time.Second,
		IdleTimeout: 5 * time.Minute,
		MetadataTTL: 10 * time.Second,
		ClientID:    "wsgate-" + cfg.NodeID,
	}
	b.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 3 * time.Second, Transport: b.transport}

	ctx, cancel := context.WithTimeout(b.ctx, cfg.ConnectTimeout)
	err = b.bootstrap(ctx)
	cancel()
	if err != nil {
		b.setDegraded("kafka unreachable: " + err.Error())
		b.log.Warn("kafka bus starts degraded: delivering locally, buffering publishes", "brokers", cfg.Brokers, "err", err)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.bootstrapLoop()
		}()
	}
	b.wg.Add(5)
	go func() {
		defer b.wg.Done()
		b.localLoop()
	}()
	go func() {
		defer b.wg.Done()
		b.stallLoop()
	}()
	go func() {
		defer b.wg.Done()
		b.sendLoop()
	}()
	go func() {
		defer b.wg.Done()
		b.readerHealthLoop()
	}()
	go func() {
		defer b.wg.Done()
		b.metadataLoop()
	}()
	return b, nil
}

// Publish queues a message for Kafka; it never blocks on the network. While
// Kafka is unreachable the message is also delivered locally at once. It
// returns ErrBufferFull (and drops the message) when BufferBytes are already
// waiting for Kafka.
func (b *Kafka) Publish(topic string, op OpCode, payload []byte) error {
	size := len(payload) + len(topic) + msgOverhead
	if size > b.cfg.MaxRecordBytes {
		b.m.dropped.Inc()
		return ErrTooLarge
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.queued+size > b.cfg.BufferBytes {
		b.mu.Unlock()
		b.m.dropped.Inc()
		return ErrBufferFull
	}
	b.seq++
	m := &outMsg{seq: b.seq, topic: topic, op: op, payload: append([]byte(nil), payload...), size: size}
	b.queue = append(b.queue, m)
	b.queued += size
	if b.degraded {
		b.deliverOwnLocked(m)
	}
	b.mu.Unlock()
	b.wakeLocal()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// deliverOwnLocked hands a queued message to the local deliverer (in queue
// order) and remembers it so that its echo from Kafka is skipped. b.mu is held;
// the caller wakes the deliverer after unlocking.
func (b *Kafka) deliverOwnLocked(m *outMsg) {
	m.local = true
	b.local[m.seq] = time.Time{}
	b.localQ = append(b.localQ, m)
}

// deliver calls the handler, one call at a time per topic stripe.
func (b *Kafka) deliver(msg Message) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(msg.Topic))
	mu := &b.deliverMu[h.Sum32()%uint32(len(b.deliverMu))]
	mu.Lock()
	b.handler(msg)
	mu.Unlock()
	b.m.delivered.Inc()
}

// setDegraded records that Kafka is unreachable: from now on publishes are
// delivered locally at once, and so is everything already queued that was
// not (in queue order, before any later publish).
func (b *Kafka) setDegraded(reason string) {
	defer b.wakeLocal()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reason = reason
	if !b.degraded {
		b.degraded = true
		b.since = time.Now()
		b.log.Warn("kafka bus degraded: delivering locally, buffering publishes", "reason", reason)
	}
	for _, m := range b.queue {
		if !m.local {
			b.deliverOwnLocked(m)
		}
	}
}

func (b *Kafka) setHealthy() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.degraded && !strings.HasPrefix(b.reason, "connecting") {
		b.log.Info("kafka bus healthy", "after", time.Since(b.since).Round(time.Millisecond), "buffered_bytes", b.queued)
	}
	b.degraded = false
	b.reason = ""
}

// Status reports whether Kafka is reachable (implements Statuser).
func (b *Kafka) Status() (bool, string) {
	failing, total := b.readersFailing()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.degraded {
		return false, fmt.Sprintf("%s (since %s, %d messages / %d bytes buffered)",
			b.stallReasonLocked(), b.since.UTC().Format(time.RFC3339), len(b.queue), b.queued)
	}
	if failing > 0 {
		return false, fmt.Sprintf("kafka: %d of %d partition readers cannot fetch (they retry)", failing, total)
	}
	return true, fmt.Sprintf("kafka %s topic %s, %d partitions", strings.Join(b.cfg.Brokers, ","), b.cfg.Topic, total)
}

// Close flushes what is queued (for up to 2s), then stops the readers.
func (b *Kafka) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		n, degraded := len(b.queue), b.degraded
		b.mu.Unlock()
		if n == 0 || degraded {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.cancel()
	b.wg.Wait()
	b.readersMu.Lock()
	for _, r := range b.readers {
		_ = r.r.Close()
	}
	b.readersMu.Unlock()
	b.transport.CloseIdleConnections()
	return nil
}

// partitionIDs returns the topic's partitions (Murmur2 on the key picks one:
// the Java client's and librdkafka's murmur2_random choice, so outside
// producers that key by topic join the same partition and order).
func (b *Kafka) partitionIDs() []int {
	if p := b.parts.Load(); p != nil {
		return *p
	}
	return []int{0}
}

// ownEcho reports whether a record this process wrote was already delivered
// locally (and forgets it). Otherwise the record is delivered now, and if it
// is still queued (its echo came back before the ack, e.g. the broker froze
// between the two) it is marked local so a stall declared now does not
// deliver it a second time.
func (b *Kafka) ownEcho(seq uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.local[seq]; ok {
		delete(b.local, seq)
		return true
	}
	b.markEchoedLocked(seq)
	return false
}
