package tlsside

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/gateway/internal/tlsx"
	"github.com/wsgate/wsgate/pool"
)

// Host is the gateway's event loop as its TLS connections call it back.
// Every method runs on that loop.
type Host interface {
	// Plaintext runs the connection's state machine over the plaintext c
	// holds (c.Peek, c.Discard...), unless the connection is closed. quiet
	// reports that the turn read only the answer to our keepalive ping: the
	// connection is idle again.
	Plaintext(c *Conn) (quiet bool)
	// Handshaken is told that c's handshake has ended (crypto/tls's
	// handshake state is garbage now); it reports false when c has been
	// closed meanwhile, and then nothing more is done with c.
	Handshaken(c *Conn) (open bool)
	// End closes c after a TLS failure or the peer's close_notify. linger:
	// what was just written (our alert, close_notify or 400) must reach the
	// peer before FIN, unless c is already closing.
	End(c *Conn, linger bool)
}

// Loop is one event loop's TLS state: ciphertext for one Write at a time,
// gathered plaintext for Writev, and the connections' plaintext buffers.
// Only its loop touches it.
type Loop struct {
	side           *Side
	host           Host
	sealed, gather []byte
	plain          pool.Pool
}

// NewLoop prepares the TLS state of the loop host (nil without a listener).
func (s *Side) NewLoop(host Host) *Loop {
	if s == nil {
		return nil
	}
	return &Loop{side: s, host: host}
}

// maxScratch bounds what the loop keeps of a scratch after a large write.
const maxScratch = 64 << 10

func (l *Loop) trim() {
	if cap(l.sealed) > maxScratch {
		l.sealed = nil
	}
	if cap(l.gather) > maxScratch {
		l.gather = nil
	}
}

// Conn is a client connection of the TLS listener as the state machine
// sees it: the embedded gnet.Conn is the socket (RemoteAddr, Fd,
// OutboundBuffered, Wake, Context pass through; gnet calls that need gnet's
// own type, such as EventLoop.Close, take Conn.Conn), and the byte-level
// methods below read decrypted input and encrypt what is written. It lives
// on the loop: every method runs on the loop's goroutine except the
// tlsx.Hooks, which only queue AsyncWrites.
//
// Its size is the per-connection cost of TLS beyond the engine's (64 B, a
// size class): a field more belongs in Loop or Side.
type Conn struct {
	gnet.Conn
	tc    *tlsx.Conn
	l     *Loop
	in    *pool.Buffer // plaintext not yet consumed, from off; nil when none (idle)
	off   int
	since int64 // handshake start, ns since Side.start
	done  bool  // handshake succeeded (set on the loop)
	// counted: the handshake's outcome is in the metrics. The handshake
	// goroutine counts its result at once, as the peer may close before the
	// loop hears of it; Closed counts a handshake that never ended. The
	// first to swap it counts.
	counted atomic.Bool
}

// Open wraps a connection accepted on the TLS listener; the state machine
// uses the result as its socket from now on.
func (l *Loop) Open(c gnet.Conn) *Conn {
	s := l.side
	t := &Conn{Conn: c, l: l, since: int64(time.Since(s.start))}
	t.tc = s.srv.New(t, c.LocalAddr(), c.RemoteAddr())
	s.metrics.open.Inc()
	s.open.Add(1)
	return t
}

// HandshakeWrite queues handshake records (tlsx.Hooks, from the handshake
// goroutine). A fatal alert among them is counted now: the peer may close as
// soon as it reads it, and once Closed has aborted the handshake
// HandshakeDone is not called.
func (t *Conn) HandshakeWrite(p []byte) {
	if code, ok := plainAlert(p); ok && t.counted.CompareAndSwap(false, true) {
		t.l.side.metrics.handshakes.WithLabelValues("failed", alertReason(code)).Inc()
	}
	_ = t.Conn.AsyncWrite(p, nil)
}

// HandshakeDone counts the handshake and queues its end behind its last
// records (tlsx.Hooks; one FIFO: tlsx's doc says why not EventLoop.Execute).
func (t *Conn) HandshakeDone(err error) {
	if t.counted.CompareAndSwap(false, true) {
		s := t.l.side
		m := s.metrics
		switch {
		case err != nil:
			m.handshakes.WithLabelValues("failed", handshakeFailure(err)).Inc()
		case t.tc.DidResume():
			m.handshakes.WithLabelValues("resumed", "").Inc()
		default:
			m.handshakes.WithLabelValues("ok", "").Inc()
		}
		if err == nil {
			m.duration.Observe(time.Duration(int64(time.Since(s.start)) - t.since).Seconds())
		}
	}
	_ = t.Conn.AsyncWrite(nil, func(gnet.Conn, error) error {
		t.handshakeEnded(err)
		return nil
	})
}

// Peek returns n bytes of plaintext (all of it for n <= 0).
func (t *Conn) Peek(n int) ([]byte, error) {
	buf := t.buffered()
	if n > len(buf) {
		return buf, io.ErrShortBuffer
	}
	if n > 0 {
		buf = buf[:n]
	}
	return buf, nil
}

// Next returns and consumes n bytes of plaintext (all for n <= 0).
func (t *Conn) Next(n int) ([]byte, error) {
	buf, err := t.Peek(n)
	if err != nil {
		return nil, err
	}
	_, _ = t.Discard(len(buf))
	return buf, nil
}

// Discard consumes n bytes of plaintext (all for n < 0). The bytes stay
// valid until the next input is decrypted (after the state machine's turn),
// like gnet's own; the buffer goes back to the pool at the end of the turn.
func (t *Conn) Discard(n int) (int, error) {
	buf := t.buffered()
	if n < 0 || n > len(buf) {
		n = len(buf)
	}
	t.off += n
	return n, nil
}

// InboundBuffered is the plaintext not yet consumed.
func (t *Conn) InboundBuffered() int { return len(t.buffered()) }

func (t *Conn) buffered() []byte {
	if t.in == nil {
		return nil
	}
	return t.in.B[t.off:]
}

// Write encrypts p and writes the records; gnet keeps what the socket does
// not take. It fails (writing nothing) before the handshake ends and after
// close_notify.
func (t *Conn) Write(p []byte) (int, error) {
	l := t.l
	var err error
	if l.sealed, err = t.tc.Seal(l.sealed[:0], p); err != nil {
		return 0, err
	}
	_, err = t.Conn.Write(l.sealed)
	l.trim()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Writev encrypts the buffers as one run of records (a frame's header and
// payload share a record) and writes them.
func (t *Conn) Writev(bs [][]byte) (int, error) {
	if len(bs) == 1 {
		return t.Write(bs[0])
	}
	l := t.l
	l.gather = l.gather[:0]
	for _, b := range bs {
		l.gather = append(l.gather, b...)
	}
	return t.Write(l.gather)
}

// AsyncWrite and AsyncWritev are not used on client connections by the
// state machine (broadcasts are written on the loop); refuse rather than
// send plaintext on a TLS socket.
func (t *Conn) AsyncWrite([]byte, gnet.AsyncCallback) error { return errAsync }

func (t *Conn) AsyncWritev([][]byte, gnet.AsyncCallback) error { return errAsync }

var errAsync = errors.New("AsyncWrite on a TLS client connection: write from the event loop")
