// Package resume is wsgate.v1 and lossless resume (issue 15): the opt-in
// protocol of clients that want positions, and everything that gives a
// reconnecting client exactly what it missed.
//
// It owns the wsgate.v1 command grammar and its replies, the envelopes
// delivered messages travel in, each socket's subscriptions and what its
// route and credentials allow it (checked against the router's current
// snapshot), the per-topic positions (router/history in memory, the bus's
// stream floors), the merge of a recovery with the live messages that
// arrive meanwhile, the queue of Kafka catch-ups with its per-node budget,
// the feature's metrics and the bytes of GET /wsgate.js.
//
// The boundary is the socket. The gateway's event loop owns connections,
// their state machine and the fan-out of bus messages; it hands this
// package a socket as a Client (write these bytes, how much is unsent,
// close it as a slow consumer), the loop as an Env (post work back onto
// the loop, publish on the bus, count deliveries, the router's snapshot)
// and a bus message as a Message (its position and its envelope frame,
// built once for every loop). One Loop per event loop holds that loop's
// wsgate.v1 sockets and is only touched from it, so nothing here locks but
// the shared history and the fetch queue. Everything else is decided here,
// and tested here without a socket.
//
// Ordering without buffering: the gateway's bus handler appends a message
// to the history (Node.Append) before it hands the message to the loops,
// and a recovery reads the history on the subscriber's own loop. So every
// message is either in the history when a recovery reads it, or reaches
// that loop after the recovery: a subscriber remembers the newest offset it
// was given and live delivery skips what it already has. A memory recovery
// is synchronous on the loop; only a Kafka catch-up has a window during
// which live messages are buffered and merged (kafka.go).
package resume

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/history"
)

// Config is what the gateway's flags say about resume.
type Config struct {
	HistorySize     int           // -history-size: messages kept per topic; 0 off
	HistoryTTL      time.Duration // -history-ttl: entries expire after this; 0 never
	HistoryMaxBytes int64         // -history-max-bytes: all topics together; 0 no bound
	// MaxTopics is how many topics one socket may hold
	// (-max-topics-per-conn, its default already applied: must be > 0).
	MaxTopics int
	// MaxMessages is -resume-max-messages: a gap of more messages is
	// recovered:false (0: no limit).
	MaxMessages int
	// MaxOutbound is -max-outbound: a socket with more unsent bytes is a
	// slow consumer, and a recovery must fit in what it leaves.
	MaxOutbound int
	// Fetches is -resume-kafka-fetches, the Kafka catch-ups running at once
	// (0: memory only); FetchTimeout bounds each (0: 5s).
	Fetches      int
	FetchTimeout time.Duration
	// Rate is -resume-rate: recovered bytes per second the node writes at
	// most, on average (0: as fast as the loops can; pace.go).
	Rate int64
	// Upgrade is the gateway's handshake options; wsgate.v1 replaces their
	// subprotocols.
	Upgrade codec.UpgradeOptions
}

// Node is one gateway node's resume state, shared by its event loops.
type Node struct {
	cfg     Config
	hist    *history.History
	pos     atomic.Pointer[positioner] // the bus, once built
	fetch   *fetchQueue                // Kafka catch-ups (kafka.go); nil: memory only
	pace    *pacer                     // -resume-rate (pace.go); nil: no pacing
	upgrade codec.UpgradeOptions
	script  []byte // GET /wsgate.js answer (keep-alive)

	results  *prometheus.CounterVec // wsgate_resume_total{result}
	errors   *prometheus.CounterVec // wsgate_v1_errors_total{code}
	commands prometheus.Counter
	paced    prometheus.Counter // wsgate_resume_paced_total
}

type positioner struct{ p router.BusPositioner }

// New builds a node's resume state; reg receives its metrics.
func New(cfg Config, reg prometheus.Registerer) *Node {
	n := &Node{cfg: cfg}
	n.hist = history.New(history.Config{Size: cfg.HistorySize, TTL: cfg.HistoryTTL, MaxBytes: cfg.HistoryMaxBytes, Floor: n.floor})
	n.upgrade = cfg.Upgrade
	n.upgrade.Subprotocols = []string{Protocol}
	n.script = appendScript(nil, false)
	n.results = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_resume_total",
		Help: "wsgate.v1 subscribes with a since position, by result (recovered, not_recovered)"}, []string{"result"})
	n.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_v1_errors_total",
		Help: "wsgate.v1 command error replies, by code"}, []string{"code"})
	n.commands = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_v1_commands_total", Help: "wsgate.v1 commands received"})
	n.paced = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_resume_paced_total",
		Help: "resumes that waited for -resume-rate before they were written"})
	if cfg.Rate > 0 {
		n.pace = newPacer(cfg.Rate, time.Now)
	}
	reg.MustRegister(n.results, n.errors, n.commands, n.paced,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_history_messages",
			Help: "messages held in the in-memory history (-history-size per topic)"}, func() float64 { return float64(n.hist.Messages()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wsgate_history_bytes",
			Help: "bytes held by the in-memory history (payloads + per-entry overhead)"}, func() float64 { return float64(n.hist.Bytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wsgate_history_evictions_total",
			Help: "history entries dropped to stay within -history-max-bytes"}, func() float64 { return float64(n.hist.Evicted()) }))
	return n
}

// SetBus tells where topic streams start (a bus without positions: none)
// and, for a bus that can read its past, starts serving older gaps from it.
// The bus is built after the node, as its handler appends to the history.
func (n *Node) SetBus(b router.Bus, reg prometheus.Registerer) {
	if p, ok := b.(router.BusPositioner); ok {
		n.pos.Store(&positioner{p})
	}
	if f, ok := b.(router.BusFetcher); ok && n.cfg.Fetches > 0 {
		n.fetch = newFetchQueue(f, n.cfg, n.hist, reg)
		n.fetch.pacer = n.pace
	}
}

// Upgrade is the handshake of a client that offered wsgate.v1 on a topic
// route: wsgate.v1 wins over -subprotocols.
func (n *Node) Upgrade() *codec.UpgradeOptions { return &n.upgrade }

// Append records a bus message in the history. The bus handler calls it
// before any loop sees the message (see the package comment).
func (n *Node) Append(m router.BusMessage) {
	n.hist.Append(m.Topic, m.Epoch, m.Offset, byte(m.OpCode), m.Payload)
}

func (n *Node) position(topic string) (epoch string, floor int64, ok bool) {
	if p := n.pos.Load(); p != nil {
		return p.p.Position(topic)
	}
	return "", 0, false
}

func (n *Node) floor(topic, epoch string) (int64, bool) {
	e, f, ok := n.position(topic)
	return f, ok && e == epoch
}

// Run starts the Kafka fetch workers and sweeps expired history entries
// until ctx ends, so a quiet topic's memory goes with its TTL.
func (n *Node) Run(ctx context.Context) {
	if n.fetch != nil {
		n.fetch.start(ctx)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.hist.Sweep()
		}
	}
}

// current is a topic's newest position on this node: the history's, or
// where the bus says its stream starts when no message was seen yet.
func (n *Node) current(topic string) (offset int64, epoch string) {
	if o, e, ok := n.hist.Position(topic); ok {
		return o, e
	}
	e, f, _ := n.position(topic)
	return f, e
}

// Script is the answer to GET or HEAD /wsgate.js, the browser client: the
// prebuilt keep-alive response, or, for a connection that closes after it,
// one built in *scratch with Connection: close. HEAD gets the head alone
// (RFC 9110 9.3.2: Content-Length still the body's; a body here would be
// read as the answer to the next request).
func (n *Node) Script(scratch *[]byte, closing, head bool) []byte {
	out := n.script
	if closing {
		*scratch = appendScript((*scratch)[:0], true)
		out = *scratch
	}
	if head {
		out = out[:len(out)-len(client.Script)]
	}
	return out
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
