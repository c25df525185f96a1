package tlsside

import (
	"errors"
	"io"
	"net/http"

	"github.com/wsgate/wsgate/codec"
)

// A Conn's life on its loop: Traffic on every read, handshakeEnded once
// when the handshake goroutine is done, CloseNotify and Idle from the state
// machine, Closed from OnClose.

// Traffic decrypts what arrived on the socket, then has the host run the
// state machine over the plaintext (OnTraffic).
func (t *Conn) Traffic() {
	in, _ := t.Conn.Peek(-1)
	if len(in) > 0 || t.done {
		if !t.feed(in) {
			return
		}
	}
	if t.done && t.l.host.Plaintext(t) && t.InboundBuffered() == 0 {
		// The answer to our keepalive ping: the connection is idle again,
		// its keys alone are kept until it next speaks.
		t.tc.Release()
	}
	t.settle()
}

// feed hands ciphertext to the engine and stores the plaintext. It reports
// whether the connection is still open.
func (t *Conn) feed(in []byte) bool {
	l := t.l
	if t.in == nil {
		t.in = l.plain.Get()
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
		l.side.log.Debug("tls close_notify", "remote", t.RemoteAddr())
	} else {
		l.side.log.Debug("tls error", "remote", t.RemoteAddr(), "err", err)
	}
	t.settle()
	l.host.End(t, len(out) > 0) // our answer (close_notify or the alert) reaches the peer before FIN
	return false
}

// settle gives the plaintext buffer back once it is consumed: an idle
// connection holds none.
func (t *Conn) settle() {
	if t.in != nil && t.off >= len(t.in.B) {
		t.l.plain.Put(t.in)
		t.in, t.off = nil, 0
	}
}

// handshakeEnded runs on the loop when a handshake ends.
func (t *Conn) handshakeEnded(err error) {
	l := t.l
	if !l.host.Handshaken(t) {
		return // closed meanwhile (Closed counted it)
	}
	if err != nil {
		reason := handshakeFailure(err)
		l.side.log.Debug("tls handshake failed", "remote", t.RemoteAddr(), "reason", reason, "err", err)
		if reason == "http" {
			// What net/http answers: the request came in plain text, so
			// does the answer.
			l.sealed = codec.AppendError(l.sealed[:0], http.StatusBadRequest, "HTTP request to an HTTPS server")
			_, _ = t.Conn.Write(l.sealed)
			l.side.responses.HTTPResponse(http.StatusBadRequest)
		}
		l.host.End(t, true) // crypto/tls's alert is out before FIN
		return
	}
	t.done = true
	t.Traffic() // bytes that came with the client's Finished
}

// Closed runs from OnClose. timedOut: the handshake timeout closed it, which
// names a handshake that never ended.
func (t *Conn) Closed(timedOut bool) {
	t.tc.Abort() // a handshake in progress ends its goroutine
	s := t.l.side
	s.metrics.open.Dec()
	s.open.Add(-1)
	if t.counted.CompareAndSwap(false, true) {
		reason := "closed"
		if timedOut {
			reason = "timeout"
		}
		s.metrics.handshakes.WithLabelValues("failed", reason).Inc()
	}
	if t.in != nil {
		t.l.plain.Put(t.in)
		t.in, t.off = nil, 0
	}
}

// CloseNotify sends close_notify when the gateway closes the connection
// gracefully (linger), after its last data.
func (t *Conn) CloseNotify() {
	if !t.done {
		return
	}
	l := t.l
	l.sealed = t.tc.Close(l.sealed[:0])
	if len(l.sealed) > 0 {
		_, _ = t.Conn.Write(l.sealed)
	}
}

// Idle drops the cipher cache of a connection the idle sweep found quiet
// (the ping tick).
func (t *Conn) Idle() {
	if t.done {
		t.tc.Release()
	}
}
