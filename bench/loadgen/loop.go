package loadgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

type connState uint8

const (
	stConnecting connState = iota
	stHandshake
	stOpen
	stClosed
)

// Conn is the generator's side of one WebSocket connection. It lives in
// exactly one loop and is only touched by that loop's goroutine.
type Conn struct {
	fd      int
	ID      int // global index across loops of this process
	state   connState
	key     [16]byte
	started int64  // monotonic ns when the dial started
	in      []byte // unparsed bytes carried between reads (nil when none)
	out     []byte // bytes the kernel did not take yet (nil when none)
	frag    []byte // fragmented message in progress
	fragOp  byte

	// Scenario bookkeeping, owned by the loop like the rest.
	NextSeq uint64 // broadcast: next sequence number expected
	Sent    uint64 // echo: messages sent
}

// handler is what a scenario plugs into the loops.
type handler interface {
	onOpen(l *Loop, c *Conn, now int64)
	onMessage(l *Loop, c *Conn, op byte, payload []byte, now int64)
	onClose(l *Loop, c *Conn)
	// tick runs after every poll (epoll_wait); it returns the monotonic time it
	// wants to run again (0: no wish).
	tick(l *Loop, now int64) int64
}

// LoopStats are a loop's counters, written by the loop, read by anyone.
type LoopStats struct {
	Dialed    atomic.Int64
	Opened    atomic.Int64
	Failed    atomic.Int64 // dial or handshake failures
	Lost      atomic.Int64 // open connections closed by the peer or an error
	Received  atomic.Int64 // data messages received
	LastOpen  atomic.Int64 // monotonic ns of the latest successful handshake
	LastRecv  atomic.Int64 // monotonic ns of the latest data message
	FirstRecv atomic.Int64
}

// Loop is one reactor goroutine (epoll: Linux only, see loop_linux.go).
type Loop struct {
	poller // the OS's readiness API: epoll (loop_linux.go)
	idx    int
	conns  map[int]*Conn
	rbuf   []byte
	wbuf   []byte
	h      handler
	eng    *engine

	// Dialing: this loop opens toDial connections at dialRate per second,
	// with at most maxInflight not yet upgraded.
	toDial      int
	firstID     int
	idStride    int
	dialRate    float64
	dialStart   int64
	dialed      int
	inflight    int
	maxInflight int
	nextSweep   int64

	Stats    LoopStats
	Hist     *Histogram // scenario latency (publish→deliver, RTT)
	ConnectH *Histogram // dial → 101 received
	errs     map[string]int
	// retired holds connections that were open and are closed now (lost, or
	// closed at the end): their scenario bookkeeping still counts.
	retired  []*Conn
	stopFlag atomic.Bool
	// centrifugo: speak Centrifugo's JSON protocol (-proto centrifugo, centrifugo.go).
	centrifugo bool
	pushBuf    []byte
}

func (l *Loop) countErr(what string) { l.errs[what]++ }

func fillKey(k *[16]byte) {
	for i := 0; i < 16; i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8; j++ {
			k[i+j] = byte(v >> (8 * j))
		}
	}
}

func (l *Loop) process(c *Conn, data []byte, now int64) {
	buf := data
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		buf = c.in
	}
	off := 0
	for off < len(buf) && (c.state == stHandshake || c.state == stOpen) {
		if c.state == stHandshake {
			n, err := parseUpgradeResponse(buf[off:], &c.key)
			if err != nil {
				l.fail(c, err)
				return
			}
			if n == 0 {
				break
			}
			off += n
			c.state = stOpen
			l.inflight--
			l.Stats.Opened.Add(1)
			l.Stats.LastOpen.Store(now)
			l.ConnectH.Record(now - c.started)
			if l.centrifugo {
				l.centrifugoOpen(c)
			}
			l.h.onOpen(l, c, now)
			continue
		}
		f, n, err := ParseFrame(buf[off:])
		if err != nil {
			l.lose(c, fmt.Errorf("frame: %w", err))
			return
		}
		if n == 0 {
			break
		}
		off += n
		l.frame(c, f, now)
	}
	if c.state == stClosed {
		return
	}
	rest := buf[off:]
	switch {
	case len(rest) == 0:
		c.in = nil
	case len(c.in) > 0:
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append([]byte(nil), rest...)
	}
}

func (l *Loop) frame(c *Conn, f Frame, now int64) {
	switch f.Op {
	case OpText, OpBinary:
		if !f.Fin {
			c.frag = append(c.frag[:0], f.Payload...)
			c.fragOp = f.Op
			return
		}
		l.data(c, f.Op, f.Payload, now)
	case OpContinuation:
		c.frag = append(c.frag, f.Payload...)
		if f.Fin {
			p := c.frag
			c.frag = nil
			l.data(c, c.fragOp, p, now)
		}
	case OpPing:
		l.wbuf = AppendClientFrame(l.wbuf[:0], OpPong, f.Payload, maskKey())
		l.write(c, l.wbuf)
	case OpPong:
	case OpClose:
		// Echo the code (RFC 6455 §5.5.1) and drop the connection.
		var body []byte
		if len(f.Payload) >= 2 {
			body = f.Payload[:2]
		}
		l.wbuf = AppendClientFrame(l.wbuf[:0], OpClose, body, maskKey())
		l.write(c, l.wbuf)
		code := 0
		if len(body) == 2 {
			code = int(body[0])<<8 | int(body[1])
		}
		l.lose(c, fmt.Errorf("close frame %d from server", code))
	default:
		l.lose(c, fmt.Errorf("unknown opcode %d from server", f.Op))
	}
}

// data handles one complete data message from the server.
func (l *Loop) data(c *Conn, op byte, p []byte, now int64) {
	if l.centrifugo {
		l.centrifugoDeliver(c, p, now)
		return
	}
	l.deliver(c, op, p, now)
}

func (l *Loop) deliver(c *Conn, op byte, p []byte, now int64) {
	l.Stats.Received.Add(1)
	if l.Stats.FirstRecv.Load() == 0 {
		l.Stats.FirstRecv.Store(now)
	}
	l.Stats.LastRecv.Store(now)
	l.h.onMessage(l, c, op, p, now)
}

func maskKey() [4]byte {
	v := rand.Uint32()
	return [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

// Send writes one masked client frame to c.
func (l *Loop) Send(c *Conn, op byte, payload []byte) {
	if c.state != stOpen {
		return
	}
	l.wbuf = AppendClientFrame(l.wbuf[:0], op, payload, maskKey())
	l.write(c, l.wbuf)
}

// write sends b, keeping what the kernel does not take in c.out (EPOLLOUT
// with EPOLLET tells when to try again).
func (l *Loop) write(c *Conn, b []byte) {
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return
	}
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				c.out = append(c.out, b...)
				return
			}
			l.lose(c, fmt.Errorf("write: %w", err))
			return
		}
		b = b[n:]
	}
}

func (l *Loop) flush(c *Conn) {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				return
			}
			l.lose(c, fmt.Errorf("write: %w", err))
			return
		}
		c.out = c.out[n:]
	}
	c.out = nil
}

// fail ends a connection that never got to open.
func (l *Loop) fail(c *Conn, err error) {
	if c.state == stOpen {
		l.lose(c, err)
		return
	}
	l.Stats.Failed.Add(1)
	l.countErr(errorKind(err))
	l.inflight--
	l.closeFD(c)
}

// lose ends an open connection (or a failing handshake, routed to fail).
func (l *Loop) lose(c *Conn, err error) {
	switch c.state {
	case stClosed:
		return
	case stOpen:
		l.Stats.Lost.Add(1)
		l.countErr("lost: " + errorKind(err))
		l.closeFD(c)
		l.retired = append(l.retired, c)
		l.h.onClose(l, c)
	default:
		l.fail(c, err)
	}
}

func (l *Loop) closeFD(c *Conn) {
	delete(l.conns, c.fd)
	_ = unix.Close(c.fd)
	c.state = stClosed
	c.in, c.out, c.frag = nil, nil, nil
}

// errorKind trims an error to a stable key for counting.
func errorKind(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// sweep fails connections stuck in connect or handshake past the timeout.
func (l *Loop) sweep(now int64) {
	if l.inflight == 0 {
		return
	}
	for _, c := range l.conns {
		if (c.state == stConnecting || c.state == stHandshake) && now-c.started > l.eng.hsTimeout {
			l.fail(c, errors.New("handshake timeout"))
		}
	}
}

func (l *Loop) closeAll() {
	for _, c := range l.conns {
		switch c.state {
		case stConnecting, stHandshake:
			l.inflight--
		case stOpen:
			l.retired = append(l.retired, c)
		}
		l.closeFD(c)
	}
}

// everOpened calls fn for every connection of the loop that completed its
// handshake. Only for use after the loop goroutine has returned.
func (l *Loop) everOpened(fn func(c *Conn)) {
	for _, c := range l.retired {
		fn(c)
	}
}
