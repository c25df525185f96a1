package gateway

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/internal/tlsx"
	"github.com/wsgate/wsgate/pool"
)

// tlsConn is a client connection of the TLS listener as the state machine
// sees it: the embedded gnet.Conn is the socket (RemoteAddr, Fd,
// OutboundBuffered, Wake pass through), and the byte-level methods below
// read decrypted input and encrypt what is written. It lives on the loop:
// every method runs on the loop's goroutine except the tlsx.Hooks, which
// only queue AsyncWrites.
type tlsConn struct {
	gnet.Conn
	tc    *tlsx.Conn
	l     *loop
	in    *pool.Buffer // plaintext not yet consumed, from off; nil when none (idle)
	off   int
	since int64 // handshake start, ns since the gateway started
	done  bool  // handshake succeeded (set on the loop)
	// counted: the handshake's outcome is in the metrics. The handshake
	// goroutine counts its result at once, as the peer may close before the
	// loop hears of it; OnClose counts a handshake that never ended. The
	// first to swap it counts.
	counted atomic.Bool
}

// tlsLoop is a loop's TLS scratch: ciphertext for one Write at a time,
// gathered plaintext for Writev.
type tlsLoop struct {
	sealed, gather []byte
	plain          pool.Pool // the connections' plaintext buffers
}

// maxScratch bounds what the loop keeps of a scratch after a large write.
const maxScratch = 64 << 10

func (s *tlsLoop) trim() {
	if cap(s.sealed) > maxScratch {
		s.sealed = nil
	}
	if cap(s.gather) > maxScratch {
		s.gather = nil
	}
}

// sock is cs's gnet socket, for gnet calls that need gnet's own type
// (EventLoop.Close).
func (cs *conn) sock() gnet.Conn {
	if t, ok := cs.c.(*tlsConn); ok {
		return t.Conn
	}
	return cs.c
}

// tlsOpen wraps a connection accepted on the TLS listener.
func (g *Gateway) tlsOpen(cs *conn, c gnet.Conn) {
	t := &tlsConn{Conn: c, l: cs.loop, since: int64(time.Since(g.start))}
	t.tc = g.tls.srv.New(t, c.LocalAddr(), c.RemoteAddr())
	cs.c = t
	g.tls.metrics.open.Inc()
	g.tls.open.Add(1)
}

// HandshakeWrite queues handshake records (from the handshake goroutine). A
// fatal alert among them is counted now: the peer may close as soon as it
// reads it, and once OnClose has aborted the handshake HandshakeDone is not
// called.
func (t *tlsConn) HandshakeWrite(p []byte) {
	if code, ok := plainAlert(p); ok && t.counted.CompareAndSwap(false, true) {
		t.l.g.tls.metrics.handshakes.WithLabelValues("failed", alertReason(code)).Inc()
	}
	_ = t.Conn.AsyncWrite(p, nil)
}

// HandshakeDone counts the handshake and queues its end behind its last
// records (one FIFO: tlsx's doc says why not EventLoop.Execute).
func (t *tlsConn) HandshakeDone(err error) {
	if t.counted.CompareAndSwap(false, true) {
		g := t.l.g
		m := g.tls.metrics
		switch {
		case err != nil:
			m.handshakes.WithLabelValues("failed", handshakeFailure(err)).Inc()
		case t.tc.DidResume():
			m.handshakes.WithLabelValues("resumed", "").Inc()
		default:
			m.handshakes.WithLabelValues("ok", "").Inc()
		}
		if err == nil {
			m.duration.Observe(time.Duration(int64(time.Since(g.start)) - t.since).Seconds())
		}
	}
	_ = t.Conn.AsyncWrite(nil, func(gnet.Conn, error) error {
		t.l.tlsHandshakeDone(t, err)
		return nil
	})
}

// Peek returns n bytes of plaintext (all of it for n <= 0).
func (t *tlsConn) Peek(n int) ([]byte, error) {
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
func (t *tlsConn) Next(n int) ([]byte, error) {
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
func (t *tlsConn) Discard(n int) (int, error) {
	buf := t.buffered()
	if n < 0 || n > len(buf) {
		n = len(buf)
	}
	t.off += n
	return n, nil
}

// InboundBuffered is the plaintext not yet consumed.
func (t *tlsConn) InboundBuffered() int { return len(t.buffered()) }

func (t *tlsConn) buffered() []byte {
	if t.in == nil {
		return nil
	}
	return t.in.B[t.off:]
}

// Write encrypts p and writes the records; gnet keeps what the socket does
// not take. It fails (writing nothing) before the handshake ends and after
// close_notify.
func (t *tlsConn) Write(p []byte) (int, error) {
	s := &t.l.tls
	var err error
	if s.sealed, err = t.tc.Seal(s.sealed[:0], p); err != nil {
		return 0, err
	}
	_, err = t.Conn.Write(s.sealed)
	s.trim()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Writev encrypts the buffers as one run of records (a frame's header and
// payload share a record) and writes them.
func (t *tlsConn) Writev(bs [][]byte) (int, error) {
	if len(bs) == 1 {
		return t.Write(bs[0])
	}
	s := &t.l.tls
	s.gather = s.gather[:0]
	for _, b := range bs {
		s.gather = append(s.gather, b...)
	}
	return t.Write(s.gather)
}

// AsyncWrite and AsyncWritev are not used on client connections by the
// state machine (broadcasts are written on the loop); refuse rather than
// send plaintext on a TLS socket.
func (t *tlsConn) AsyncWrite([]byte, gnet.AsyncCallback) error { return errTLSAsync }

func (t *tlsConn) AsyncWritev([][]byte, gnet.AsyncCallback) error { return errTLSAsync }

var errTLSAsync = errors.New("AsyncWrite on a TLS client connection: write from the event loop")

// tlsTraffic decrypts what arrived on a TLS connection, then runs the state
// machine over the plaintext.
func (l *loop) tlsTraffic(cs *conn, t *tlsConn) {
	in, _ := t.Conn.Peek(-1)
	if len(in) > 0 || t.done {
		if !l.tlsFeed(cs, t, in) {
			return
		}
	}
	if t.done && cs.state != stateClosed {
		wasPinged := cs.pinged
		l.traffic(cs)
		if wasPinged && !cs.pinged && t.InboundBuffered() == 0 {
			// The answer to our keepalive ping: the connection is idle
			// again, its keys alone are kept until it next speaks.
			t.tc.Release()
		}
	}
	t.settle()
}

// tlsFeed hands ciphertext to the engine and stores the plaintext. It
// reports whether the connection is still open.
func (l *loop) tlsFeed(cs *conn, t *tlsConn, in []byte) bool {
	if t.in == nil {
		t.in = l.tls.plain.Get()
	} else if t.off > 0 { // compact: the state machine holds no slice across turns
		t.in.B = append(t.in.B[:0], t.in.B[t.off:]...)
		t.off = 0
	}
	plain, out, err := t.tc.Feed(t.in.B, in)
	t.in.B = plain
	_, _ = t.Conn.Discard(len(in))
	if len(out) > 0 {
		_, _ = t.Conn.Write(out)
	}
	if err == nil {
		return true
	}
	// RemoteAddr is nil once gnet has closed the connection (the Write
	// above closes it when the peer already reset): log it, never .String() it.
	if errors.Is(err, io.EOF) {
		l.g.log.Debug("tls close_notify", "remote", t.RemoteAddr())
	} else {
		l.g.log.Debug("tls error", "remote", t.RemoteAddr(), "err", err)
	}
	t.settle()
	if cs.state < stateClosing && len(out) > 0 {
		l.linger(cs) // our answer (close_notify or the alert) reaches the peer before FIN
		return false
	}
	_ = l.el.Close(t.Conn)
	return false
}

// settle gives the plaintext buffer back once it is consumed: an idle
// connection holds none.
func (t *tlsConn) settle() {
	if t.in != nil && t.off >= len(t.in.B) {
		t.l.tls.plain.Put(t.in)
		t.in, t.off = nil, 0
	}
}

// tlsHandshakeDone runs on the loop when a handshake ends.
func (l *loop) tlsHandshakeDone(t *tlsConn, err error) {
	l.g.guard.wave.add(l.g.now()) // crypto/tls's handshake state is garbage now (wave.go)
	cs, ok := t.Conn.Context().(*conn)
	if !ok || cs.c != t || cs.state == stateClosed {
		return // closed meanwhile (OnClose counted it)
	}
	if err != nil {
		reason := handshakeFailure(err)
		l.g.log.Debug("tls handshake failed", "remote", t.RemoteAddr(), "reason", reason, "err", err)
		if reason == "http" {
			// What net/http answers: the request came in plain text, so
			// does the answer.
			l.scratch = codec.AppendError(l.scratch[:0], http.StatusBadRequest, "HTTP request to an HTTPS server")
			_, _ = t.Conn.Write(l.scratch)
			l.g.metrics.HTTPResponse(http.StatusBadRequest)
		}
		if cs.state == stateHandshake {
			l.linger(cs) // crypto/tls's alert is out before FIN
		}
		return
	}
	t.done = true
	l.tlsTraffic(cs, t) // bytes that came with the client's Finished
}

// tlsClosed runs from OnClose for a TLS connection.
func (g *Gateway) tlsClosed(cs *conn, t *tlsConn) {
	t.tc.Abort() // a handshake in progress ends its goroutine
	m := g.tls.metrics
	m.open.Dec()
	g.tls.open.Add(-1)
	if t.counted.CompareAndSwap(false, true) {
		reason := "closed"
		if cs.loop.wheel.now-cs.lastSeen >= g.handshakeTicks {
			reason = "timeout"
		}
		m.handshakes.WithLabelValues("failed", reason).Inc()
	}
	if t.in != nil {
		cs.loop.tls.plain.Put(t.in)
		t.in, t.off = nil, 0
	}
}

// tlsCloseNotify sends close_notify on a TLS connection the gateway closes
// gracefully (linger), after its last data.
func (l *loop) tlsCloseNotify(cs *conn) {
	if t, ok := cs.c.(*tlsConn); ok && t.done {
		l.tls.sealed = t.tc.Close(l.tls.sealed[:0])
		if len(l.tls.sealed) > 0 {
			_, _ = t.Conn.Write(l.tls.sealed)
		}
	}
}

// tlsIdle drops the cipher cache of a TLS connection its idle sweep found
// quiet (the ping tick).
func (l *loop) tlsIdle(cs *conn) {
	if t, ok := cs.c.(*tlsConn); ok && t.done {
		t.tc.Release()
	}
}
