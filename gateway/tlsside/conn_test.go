package tlsside

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"testing"
	"unsafe"
)

func clientConfig(pool *x509.CertPool, vers uint16) *tls.Config {
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: vers, MaxVersion: vers}
}

// A connection through its life: handshake, lines split across records (a
// partial line waits in the plaintext buffer, which is compacted), Writev
// sealed as one write, the cipher cache dropped and rebuilt, close_notify
// both ways; the metrics and the stats page follow.
func TestConnLife(t *testing.T) {
	for _, vers := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(vers), func(t *testing.T) {
			s, pool, _ := newTestSide(t)
			r := newRig(t, s)
			if st := s.Stats(); st.Connections != 1 || st.Listen != "127.0.0.1:8443" || len(st.Certs) != 1 {
				t.Errorf("stats %+v", st)
			}
			if n, err := r.conn.Write([]byte("early")); n != 0 || err == nil {
				t.Errorf("Write before the handshake: %d, %v", n, err)
			}
			if err := r.conn.AsyncWrite([]byte("x"), nil); !errors.Is(err, errAsync) {
				t.Errorf("AsyncWrite: %v", err)
			}
			var got []byte
			idleBuf := false
			err := r.run(func() error {
				tc := tls.Client(r.client(), clientConfig(pool, vers))
				if err := tc.Handshake(); err != nil {
					return err
				}
				br := bufio.NewReader(tc)
				for _, w := range []string{"hel", "lo\nwor", "ld\nidle\n", "again\n"} {
					if _, err := tc.Write([]byte(w)); err != nil {
						return err
					}
				}
				for range 4 {
					line, err := br.ReadString('\n')
					if err != nil {
						return err
					}
					got = append(got, line...)
				}
				// Every line answered: the connection is idle and holds no
				// plaintext buffer (checked on the loop, after its turn).
				r.sock.loop <- func() { idleBuf = r.conn.in != nil }
				if _, err := tc.Write([]byte("bye\n")); err != nil {
					return err
				}
				rest, err := io.ReadAll(br) // ends at our close_notify
				if err != nil {
					return err
				}
				got = append(got, rest...)
				return tc.Close()
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := "HELLO\nWORLD\nIDLE\nAGAIN\nBYE\n"; string(got) != want {
				t.Errorf("client read %q, want %q", got, want)
			}
			if want := "hello\nworld\nidle\nagain\nbye\n"; string(r.host.read) != want {
				t.Errorf("host read %q, want %q", r.host.read, want)
			}
			if r.host.handshaken != 1 {
				t.Errorf("Handshaken called %d times", r.host.handshaken)
			}
			if idleBuf || r.conn.in != nil {
				t.Errorf("an idle connection holds a plaintext buffer (%v at the end)", r.conn.in != nil)
			}
			// The client's close_notify after ours: nothing to answer, End at once.
			if len(r.host.ends) != 1 || r.host.ends[0] {
				t.Errorf("End calls (linger): %v", r.host.ends)
			}
			m := s.metrics
			if ok, open := counter(m.handshakes.WithLabelValues("ok", "")), counter(m.open); ok != 1 || open != 1 {
				t.Errorf("handshakes ok %v, open %v", ok, open)
			}
			r.close(false)
			if failed, open := counter(m.handshakes.WithLabelValues("failed", "closed")), counter(m.open); failed != 0 || open != 0 {
				t.Errorf("after close: failed %v (the handshake was counted once), open %v", failed, open)
			}
			if st := s.Stats(); st.Connections != 0 {
				t.Errorf("stats after close: %d connections", st.Connections)
			}
		})
	}
}

// A client that closes first gets close_notify back before FIN (End with
// linger), and a resumed session is counted as such.
func TestConnPeerCloseAndResumption(t *testing.T) {
	s, pool, _ := newTestSide(t)
	cfg := clientConfig(pool, tls.VersionTLS13)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	for i, result := range []string{"ok", "resumed"} {
		r := newRig(t, s)
		err := r.run(func() error {
			tc := tls.Client(r.client(), cfg)
			if _, err := tc.Write([]byte("ping\n")); err != nil {
				return err
			}
			line, err := bufio.NewReader(tc).ReadString('\n') // reads the ticket too
			if err != nil || line != "PING\n" {
				return errors.Join(err, errors.New("read "+line))
			}
			if err := tc.CloseWrite(); err != nil { // close_notify, the pipe stays open
				return err
			}
			_, err = io.ReadAll(tc) // our close_notify: EOF
			return err
		}, nil)
		if err != nil {
			t.Fatal(i, err)
		}
		if len(r.host.ends) != 1 || !r.host.ends[0] {
			t.Errorf("%d: End calls (linger): %v", i, r.host.ends)
		}
		if n := counter(s.metrics.handshakes.WithLabelValues(result, "")); n != 1 {
			t.Errorf("%d: handshakes %s = %v", i, result, n)
		}
		r.close(false)
	}
}

// Refused handshakes are counted by reason; plain HTTP gets net/http's 400
// in plain text, counted as one of the gateway's responses.
func TestConnRefusedHandshakes(t *testing.T) {
	cases := []struct {
		reason string
		client func(r *rig, pool *x509.CertPool) ([]byte, error)
	}{
		{"http", func(r *rig, _ *x509.CertPool) ([]byte, error) {
			c := r.client()
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
				return nil, err
			}
			return io.ReadAll(c)
		}},
		{"not_tls", func(r *rig, _ *x509.CertPool) ([]byte, error) {
			c := r.client()
			if _, err := c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")); err != nil {
				return nil, err
			}
			return io.ReadAll(c)
		}},
		{"version", handshakeWith(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 })},
		{"cipher", handshakeWith(func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		})},
		{"alpn", handshakeWith(func(c *tls.Config) { c.NextProtos = []string{"h2"} })},
		{"remote_alert", handshakeWith(func(c *tls.Config) { c.RootCAs = nil })}, // the client refuses our certificate
	}
	for _, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			s, pool, gm := newTestSide(t)
			r := newRig(t, s)
			var got []byte
			err := r.run(func() (err error) {
				got, err = c.client(r, pool)
				return err
			}, func() bool { return len(r.host.ends) > 0 })
			if err != nil {
				t.Fatal(err)
			}
			if n := counter(s.metrics.handshakes.WithLabelValues("failed", c.reason)); n != 1 {
				t.Errorf("handshakes failed %s = %v", c.reason, n)
			}
			if len(r.host.ends) != 1 || !r.host.ends[0] {
				t.Errorf("End calls (linger): %v", r.host.ends)
			}
			answered := counter(gm.HTTPResponses.WithLabelValues("400"))
			if c.reason == "http" {
				if !bytes.HasPrefix(got, []byte("HTTP/1.1 400 ")) || !bytes.Contains(got, []byte("HTTP request to an HTTPS server")) {
					t.Errorf("answer %q", got)
				}
				if answered != 1 {
					t.Errorf("400 responses counted: %v", answered)
				}
			} else if answered != 0 {
				t.Errorf("400 responses counted: %v", answered)
			}
			r.close(false)
			if n := counter(s.metrics.handshakes.WithLabelValues("failed", "closed")); n != 0 {
				t.Errorf("counted again at close: %v", n)
			}
		})
	}
}

func handshakeWith(change func(*tls.Config)) func(*rig, *x509.CertPool) ([]byte, error) {
	return func(r *rig, pool *x509.CertPool) ([]byte, error) {
		cfg := clientConfig(pool, 0)
		change(cfg)
		tc := tls.Client(r.client(), cfg)
		if err := tc.Handshake(); err == nil {
			return nil, errors.New("the handshake succeeded")
		}
		return nil, nil
	}
}

// A handshake that never ends is counted when the connection closes: as a
// timeout when the handshake timeout closed it. It costs only its bytes, and
// after Closed a late end is not acted on.
func TestConnClosedDuringHandshake(t *testing.T) {
	s, _, _ := newTestSide(t)
	for _, timedOut := range []bool{false, true} {
		r := newRig(t, s)
		err := r.run(func() error {
			_, err := r.client().Write([]byte{22, 3, 1, 0, 200, 1, 0}) // a ClientHello cut short
			return err
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.host.handshaken != 0 || r.host.turns != 0 {
			t.Errorf("handshaken %d, plaintext turns %d", r.host.handshaken, r.host.turns)
		}
		r.close(timedOut)
		// Late hooks after Closed (the goroutine was aborted): no second count.
		r.conn.HandshakeWrite([]byte{21, 3, 3, 0, 2, 2, 70})
	}
	m := s.metrics
	if c, to := counter(m.handshakes.WithLabelValues("failed", "closed")), counter(m.handshakes.WithLabelValues("failed", "timeout")); c != 1 || to != 1 {
		t.Errorf("failed closed %v, timeout %v", c, to)
	}
	if n := counter(m.handshakes.WithLabelValues("failed", "version")); n != 0 {
		t.Errorf("counted twice: %v", n)
	}
	if n := counter(m.open); n != 0 {
		t.Errorf("open %v", n)
	}
}

// TestConnSize guards the per-connection cost of TLS beyond the engine's:
// 64 bytes is a size class (the next is 80).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 64 {
		t.Fatalf("Conn is %d bytes, over the 64-byte size class", n)
	}
}

// The plaintext view the state machine reads through.
func TestConnPlaintextBuffer(t *testing.T) {
	s, _, _ := newTestSide(t)
	l := s.NewLoop(&host{})
	c := &Conn{l: l}
	if b, err := c.Peek(-1); len(b) != 0 || err != nil || c.InboundBuffered() != 0 {
		t.Fatalf("empty: %q, %v", b, err)
	}
	if _, err := c.Peek(1); !errors.Is(err, io.ErrShortBuffer) {
		t.Errorf("Peek past the end: %v", err)
	}
	c.in = l.plain.Get()
	c.in.B = append(c.in.B, "abcdef"...)
	if b, _ := c.Peek(3); string(b) != "abc" {
		t.Errorf("Peek(3) %q", b)
	}
	if b, err := c.Peek(7); string(b) != "abcdef" || !errors.Is(err, io.ErrShortBuffer) {
		t.Errorf("Peek(7) %q, %v", b, err)
	}
	if b, err := c.Next(7); b != nil || err == nil {
		t.Errorf("Next(7) %q, %v", b, err)
	}
	if b, _ := c.Next(2); string(b) != "ab" || c.InboundBuffered() != 4 {
		t.Errorf("Next(2) %q, then %d buffered", b, c.InboundBuffered())
	}
	if n, _ := c.Discard(1); n != 1 {
		t.Errorf("Discard(1) %d", n)
	}
	c.settle()
	if c.in == nil {
		t.Fatal("settle gave back a buffer with unread bytes")
	}
	if n, _ := c.Discard(-1); n != 3 || c.InboundBuffered() != 0 {
		t.Errorf("Discard(-1) %d, then %d buffered", n, c.InboundBuffered())
	}
	c.settle()
	if c.in != nil || c.off != 0 {
		t.Error("settle kept a consumed buffer")
	}
}

// The scratch a large write grew is not kept.
func TestLoopTrim(t *testing.T) {
	l := &Loop{sealed: make([]byte, 0, maxScratch+1), gather: make([]byte, 0, maxScratch)}
	l.trim()
	if l.sealed != nil || cap(l.gather) != maxScratch {
		t.Errorf("after trim: sealed cap %d, gather cap %d", cap(l.sealed), cap(l.gather))
	}
}
