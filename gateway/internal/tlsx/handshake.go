package tlsx

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// maxHandshakeInput bounds what a client may send before its handshake ends
// (a ClientHello is at most 64 KB + record framing; client certificates are
// not requested). Beyond it the connection is refused.
const maxHandshakeInput = 128 << 10

var errAborted = errors.New("tlsx: handshake aborted")

// handshake is the transient state of a handshake: the net.Conn crypto/tls
// runs over (bytes fed by the loop in, HandshakeWrite out), the record
// framing trackers that let the engine take over exactly where crypto/tls
// stops, and the secrets captured through KeyLogWriter. All of it is dropped
// when the handshake ends.
type handshake struct {
	c       *Conn
	cond    sync.Cond // on c.mu: input arrived or aborted
	in      []byte    // fed, not yet read by crypto/tls
	aborted bool

	// Input framing: Read never returns bytes past the current record, so
	// crypto/tls cannot swallow the first application record.
	inHdr     [recordHeaderLen]byte
	inHdrN    int
	inLeft    int
	inCCS     bool
	inPostCCS int      // records after the client's ChangeCipherSpec (TLS 1.2 read seq)
	inHello   [38]byte // ClientHello's first bytes: the random is [6:38]
	inHelloN  int

	// Output framing (goroutine only).
	outHdr     [recordHeaderLen]byte
	outHdrN    int
	outLeft    int
	outTotal   int
	outCCS     bool
	outPostCCS int      // records after our ChangeCipherSpec (TLS 1.2 write seq)
	outRecs    [][]byte // TLS 1.3 protected records we wrote (for the write seq)
	serverRand [32]byte

	// Secrets from KeyLogWriter.
	master, clientTraffic, serverTraffic []byte
	resumeMaster                         []byte // TLS 1.2 session's master secret
}

// noteSession keeps a TLS 1.2 session's master secret, read from the
// documented SessionState encoding (version u16, type u8, cipher_suite u16,
// created_at u64, secret<1..255>).
func (h *handshake) noteSession(ss *tls.SessionState) {
	b, err := ss.Bytes()
	if err != nil || len(b) < 14 || binary.BigEndian.Uint16(b) != tls.VersionTLS12 || len(b) < 14+int(b[13]) {
		return
	}
	h.resumeMaster = bytes.Clone(b[14 : 14+int(b[13])])
}

// startHandshake launches the handshake goroutine (c.mu held).
func (c *Conn) startHandshake() {
	h := &handshake{c: c}
	h.cond.L = &c.mu
	c.hs = h
	c.state = stateHandshake
	go h.run()
}

// feed queues ciphertext for crypto/tls (c.mu held).
func (h *handshake) feed(in []byte) error {
	if len(h.in)+len(in) > maxHandshakeInput {
		h.c.abortLocked()
		return errors.New("tlsx: too much data during the handshake")
	}
	h.in = append(h.in, in...)
	h.cond.Signal()
	return nil
}

// run is the handshake goroutine.
func (h *handshake) run() {
	c := h.c
	tc := tls.Server(h, c.srv.base)
	err := tc.Handshake()
	var st tls.ConnectionState
	if err == nil {
		st = tc.ConnectionState()
	}
	c.mu.Lock()
	if err == nil && h.aborted {
		err = errAborted
	}
	if err == nil {
		err = h.install(st)
	}
	aborted, hooks := h.aborted, c.hooks
	if err == nil {
		c.state = stateOpen
		if len(h.in) > 0 { // arrived after the client's Finished
			c.pending = append([]byte(nil), h.in...)
		}
	} else {
		c.state = stateFailed
		c.dropKeys()
	}
	c.hs, c.hooks, c.addrs = nil, nil, nil
	c.mu.Unlock()
	if !aborted {
		hooks.HandshakeDone(err)
	}
}

// install sets up the record layer from the captured secrets (c.mu held).
func (h *handshake) install(st tls.ConnectionState) error {
	c := h.c
	s, ok := lookupSuite(st.CipherSuite)
	if !ok {
		return fmt.Errorf("tlsx: negotiated %s, which the record layer does not implement", tls.CipherSuiteName(st.CipherSuite))
	}
	c.vers, c.suiteID, c.suite = st.Version, st.CipherSuite, s
	c.alpn, c.sni, c.didResume = st.NegotiatedProtocol, st.ServerName, st.DidResume
	switch st.Version {
	case tls.VersionTLS13:
		if len(h.clientTraffic) != s.hashLen() || len(h.serverTraffic) != s.hashLen() {
			return errors.New("tlsx: TLS 1.3 traffic secrets not captured")
		}
		c.in.setSecret13(s, h.clientTraffic)
		c.out.setSecret13(s, h.serverTraffic)
		// crypto/tls may already have written records under the application
		// keys (NewSessionTicket); the protected records we wrote are
		// handshake-key ones followed by those, so count the suffix that
		// opens with the application key.
		for _, rec := range h.outRecs {
			if trialOpen(c, rec) {
				c.out.seq++
			}
		}
		c.out.aead = nil
	case tls.VersionTLS12:
		master := h.master
		if st.DidResume {
			master = h.resumeMaster
		}
		if len(master) != 48 || h.outTotal < 43 || h.inHelloN < len(h.inHello) {
			return errors.New("tlsx: TLS 1.2 master secret not captured")
		}
		keys12(s, master, h.inHello[6:], h.serverRand[:], &c.in, &c.out)
		// Finished is the first record under the new keys in each direction;
		// count every record after ChangeCipherSpec.
		c.in.seq, c.out.seq = uint64(h.inPostCCS), uint64(h.outPostCCS)
	default:
		return fmt.Errorf("tlsx: unsupported version %#x", st.Version)
	}
	return nil
}

// trialOpen reports whether rec (header+body) authenticates under c.out at
// its current sequence number.
func trialOpen(c *Conn, rec []byte) bool {
	aead, err := c.out.cipherFor(c.suite)
	if err != nil {
		return false
	}
	var nonce [12]byte
	c.out.nonce(c.suite, c.vers, &nonce)
	_, err = aead.Open(nil, nonce[:], rec[recordHeaderLen:], rec[:recordHeaderLen])
	return err == nil
}

// Read gives crypto/tls fed bytes, never past the end of the current record.
func (h *handshake) Read(p []byte) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	for len(h.in) == 0 && !h.aborted {
		h.cond.Wait()
	}
	if h.aborted {
		return 0, errAborted
	}
	n := min(len(p), len(h.in))
	if h.inLeft > 0 {
		n = min(n, h.inLeft)
		h.inLeft -= n
		if h.inHdr[0] == typeHandshake && !h.inCCS && h.inHelloN < len(h.inHello) {
			h.inHelloN += copy(h.inHello[h.inHelloN:], h.in[:n])
		}
	} else {
		n = min(n, recordHeaderLen-h.inHdrN)
		copy(h.inHdr[h.inHdrN:], h.in[:n])
		if h.inHdrN += n; h.inHdrN == recordHeaderLen {
			h.inHdrN = 0 // inHdr keeps the current record's header
			h.inLeft = int(binary.BigEndian.Uint16(h.inHdr[3:]))
			if h.inCCS {
				h.inPostCCS++
			}
			if h.inHdr[0] == typeChangeCipherSpec {
				h.inCCS = true
			}
		}
	}
	copy(p, h.in[:n])
	h.in = h.in[n:]
	if len(h.in) == 0 {
		h.in = nil
	}
	return n, nil
}

// Write passes crypto/tls's output to the loop, noting its record framing.
func (h *handshake) Write(p []byte) (int, error) {
	h.c.mu.Lock()
	aborted, hooks := h.aborted, h.c.hooks
	h.c.mu.Unlock()
	if aborted {
		return 0, errAborted
	}
	h.track(p)
	hooks.HandshakeWrite(bytes.Clone(p))
	return len(p), nil
}

// track parses the record framing of our own output.
func (h *handshake) track(p []byte) {
	if h.outTotal < 43 { // TLS 1.2: ServerHello's random is bytes 11..43 of our output
		for i := range p {
			if j := h.outTotal + i; j >= 11 && j < 43 {
				h.serverRand[j-11] = p[i]
			}
		}
	}
	h.outTotal += len(p)
	for len(p) > 0 {
		if h.outLeft > 0 {
			n := min(len(p), h.outLeft)
			if last := len(h.outRecs) - 1; last >= 0 && len(h.outRecs[last]) < cap(h.outRecs[last]) {
				h.outRecs[last] = append(h.outRecs[last], p[:n]...)
			}
			h.outLeft -= n
			p = p[n:]
			continue
		}
		n := copy(h.outHdr[h.outHdrN:], p)
		p = p[n:]
		if h.outHdrN += n; h.outHdrN < recordHeaderLen {
			continue
		}
		h.outHdrN = 0
		h.outLeft = int(binary.BigEndian.Uint16(h.outHdr[3:]))
		if h.outCCS {
			h.outPostCCS++
		}
		switch h.outHdr[0] {
		case typeChangeCipherSpec:
			h.outCCS = true
		case typeApplicationData: // TLS 1.3 protected record: keep for install
			rec := make([]byte, recordHeaderLen, recordHeaderLen+h.outLeft)
			copy(rec, h.outHdr[:])
			h.outRecs = append(h.outRecs, rec)
		}
	}
}

// keyLogWriter receives crypto/tls's NSS key log lines for one connection.
type keyLogWriter handshake

func (k *keyLogWriter) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 {
		return 0, errors.New("tlsx: malformed key log line")
	}
	// f[1] is the client random; install takes it from the ClientHello
	// instead, since a resumed TLS 1.2 handshake logs nothing.
	secret, err := hex.DecodeString(string(f[2]))
	if err != nil {
		return 0, fmt.Errorf("tlsx: key log line: %w", err)
	}
	switch string(f[0]) {
	case "CLIENT_RANDOM":
		k.master = secret
	case "CLIENT_TRAFFIC_SECRET_0":
		k.clientTraffic = secret
	case "SERVER_TRAFFIC_SECRET_0":
		k.serverTraffic = secret
	}
	return len(line), nil
}

// net.Conn plumbing for crypto/tls; deadlines are the gateway's (Abort).

func (h *handshake) Close() error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.abortLocked()
	return nil
}

func (h *handshake) LocalAddr() net.Addr  { return h.addr(0) }
func (h *handshake) RemoteAddr() net.Addr { return h.addr(1) }

func (h *handshake) addr(i int) net.Addr {
	if a := h.c.addrs; a != nil && a[i] != nil {
		return a[i]
	}
	return &net.TCPAddr{}
}

func (h *handshake) SetDeadline(time.Time) error      { return nil }
func (h *handshake) SetReadDeadline(time.Time) error  { return nil }
func (h *handshake) SetWriteDeadline(time.Time) error { return nil }
