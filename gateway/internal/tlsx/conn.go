package tlsx

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
)

// aeadSuites12 are the TLS 1.2 suites the record layer implements (Mozilla
// "intermediate": ECDHE with AES-GCM or ChaCha20-Poly1305). TLS 1.3 suites
// are not configurable in crypto/tls and are all AEAD.
var aeadSuites12 = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Server holds the configuration shared by every connection of a listener.
// It is safe for concurrent use.
type Server struct {
	base *tls.Config
}

// NewServer prepares cfg for the engine. cfg is cloned once (so session ticket
// keys that crypto/tls rotates itself are shared by all connections); its
// TLS 1.2 cipher suites are restricted to the AEAD ones the record layer
// implements. cfg.GetConfigForClient, if set, is still honoured.
func NewServer(cfg *tls.Config) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("tlsx: nil tls.Config")
	}
	base := cfg.Clone()
	if base.MaxVersion != 0 && base.MaxVersion < tls.VersionTLS12 {
		return nil, errors.New("tlsx: MaxVersion below TLS 1.2")
	}
	if base.MinVersion < tls.VersionTLS12 {
		base.MinVersion = tls.VersionTLS12 // TLS 1.0/1.1 are refused, whatever cfg says
	}
	suites := aeadSuites12
	if base.CipherSuites != nil {
		suites = slices.DeleteFunc(slices.Clone(base.CipherSuites), func(id uint16) bool {
			return !slices.Contains(aeadSuites12, id)
		})
		if len(suites) == 0 && base.MinVersion < tls.VersionTLS13 {
			return nil, errors.New("tlsx: no AEAD TLS 1.2 cipher suite in CipherSuites")
		}
	}
	base.CipherSuites = suites
	user := base.GetConfigForClient
	base.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		src := base
		if user != nil {
			uc, err := user(chi)
			if err != nil {
				return nil, err
			}
			if uc != nil {
				src = uc
			}
		}
		h, ok := chi.Conn.(*handshake)
		if !ok {
			return nil, errors.New("tlsx: handshake not driven by tlsx")
		}
		// A per-connection shallow copy whose KeyLogWriter hands this
		// connection's secrets to its record layer. Ticket keys still come
		// from base unless src sets its own (crypto/tls's ticketKeys rule).
		pc := src.Clone()
		pc.GetConfigForClient = nil
		pc.KeyLogWriter = (*keyLogWriter)(h)
		// A resumed TLS 1.2 handshake logs no master secret: take it from
		// the session the ticket carries.
		unwrap := pc.UnwrapSession
		pc.UnwrapSession = func(id []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			var ss *tls.SessionState
			var err error
			if unwrap != nil {
				ss, err = unwrap(id, cs)
			} else if ss, err = base.DecryptTicket(id, cs); ss == nil && err == nil && src != base {
				ss, err = pc.DecryptTicket(id, cs) // src set its own ticket keys
			}
			if ss != nil {
				h.noteSession(ss)
			}
			return ss, err
		}
		if user != nil { // a user-supplied config must obey the same limits
			pc.CipherSuites = suites
			pc.MinVersion = max(pc.MinVersion, tls.VersionTLS12)
		}
		return pc, nil
	}
	return &Server{base: base}, nil
}

// SetSessionTicketKeys replaces the session ticket keys of every handshake
// from now on (the first encrypts new tickets, all decrypt). NewServer took a
// clone of the caller's config, and a clone keeps the ticket keys it was made
// with: a caller that rotates its keys must hand each set here too, or the
// listener keeps issuing and accepting tickets under the first key forever.
func (s *Server) SetSessionTicketKeys(keys [][32]byte) { s.base.SetSessionTicketKeys(keys) }

// Conn states.
const (
	stateNew       = iota // ClientHello incomplete: no goroutine yet
	stateHandshake        // handshake goroutine running
	stateOpen             // record layer active, crypto/tls dropped
	stateClosed           // close_notify sent or received
	stateFailed           // handshake or record error, or aborted
)

// Conn is one server-side TLS connection driven by an event loop. Feed, Seal,
// Close and Release must be called from one goroutine at a time (the loop);
// Abort may be called from anywhere.
type Conn struct {
	mu        sync.Mutex
	state     uint8
	didResume bool
	vers      uint16
	suiteID   uint16
	suite     suiteInfo
	in, out   halfConn
	pending   []byte // partial record carried between Feeds; nil when idle
	useless   int    // records in a row that carried no data (see uselessRecord)
	alpn      string
	sni       string
	srv       *Server
	hs        *handshake // nil outside the handshake
	hooks     Hooks      // nil after HandshakeDone
	addrs     *[2]net.Addr
}

// Hooks connect the handshake goroutine to the event loop. Both methods are
// called from the handshake goroutine, never concurrently with each other, and
// must not block. The completion must reach the loop after the bytes: with
// gnet, implement both with Conn.AsyncWrite (one FIFO queue), HandshakeDone as
// AsyncWrite(nil, callback) whose callback runs on the loop; mixing in
// EventLoop.Execute (a lower-priority queue) can overtake pending writes.
type Hooks interface {
	// HandshakeWrite delivers ciphertext to write to the peer; p is the
	// callee's to keep.
	HandshakeWrite(p []byte)
	// HandshakeDone is called once when the handshake ends (err == nil on
	// success). The loop should then call Feed(dst, nil): bytes that arrived
	// after the client's Finished are waiting there. It is not called after
	// Abort.
	HandshakeDone(err error)
}

// New returns a connection in its initial state. The handshake goroutine
// starts when the first record is complete, so a connection that never
// speaks, or stalls inside its ClientHello, costs only the Conn and its bytes. local and remote may be nil; they are shown to crypto/tls
// callbacks (GetCertificate etc.) through ClientHelloInfo.Conn.
func (s *Server) New(hooks Hooks, local, remote net.Addr) *Conn {
	c := &Conn{srv: s, hooks: hooks}
	if local != nil || remote != nil {
		c.addrs = &[2]net.Addr{local, remote}
	}
	return c
}

// Feed takes ciphertext as it arrives and appends the plaintext it carries to
// dst. out is ciphertext to write (a KeyUpdate answer, an alert). During the
// handshake Feed only passes the bytes on and returns (dst, nil, nil). err is
// io.EOF after the peer's close_notify, an *AlertError for a fatal alert (sent
// or received; then out holds the alert to write before closing), or another
// error; after an error the connection is dead.
func (c *Conn) Feed(dst, in []byte) (plain, out []byte, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateNew:
		// The goroutine starts only once the first record (the ClientHello)
		// is complete, so a client that stalls in it costs its bytes alone.
		c.pending = append(c.pending, in...)
		if len(c.pending) < recordHeaderLen {
			return dst, nil, nil
		}
		if n := int(binary.BigEndian.Uint16(c.pending[3:5])); c.pending[0] == typeHandshake &&
			n <= maxPlaintext && len(c.pending) < recordHeaderLen+n {
			return dst, nil, nil
		}
		in, c.pending = c.pending, nil // complete, or not TLS: crypto/tls will say why
		c.startHandshake()
		fallthrough
	case stateHandshake:
		return dst, nil, c.hs.feed(in)
	case stateClosed:
		return dst, nil, io.EOF
	case stateFailed:
		return dst, nil, errClosed
	}
	buf := in
	if len(c.pending) > 0 {
		c.pending = append(c.pending, in...)
		buf = c.pending
	}
	for len(buf) >= recordHeaderLen && err == nil {
		n := int(binary.BigEndian.Uint16(buf[3:5]))
		limit := maxCiphertext12
		if c.vers == tls.VersionTLS13 {
			limit = maxCiphertext13
		}
		if n > limit {
			err = c.fail(alertRecordOverflow, "record over the size limit")
			break
		}
		if len(buf) < recordHeaderLen+n {
			break
		}
		dst, out, err = c.record(dst, out, buf[:recordHeaderLen], buf[recordHeaderLen:recordHeaderLen+n])
		buf = buf[recordHeaderLen+n:]
	}
	if err != nil {
		c.pending = nil
		var ae *AlertError
		if errors.As(err, &ae) && !ae.Remote && c.state == stateOpen {
			out, _ = c.seal(out, typeAlert, []byte{alertLevelFatal, ae.Alert})
		}
		if c.state == stateOpen {
			c.state = stateFailed
		}
		c.dropKeys()
		return dst, out, err
	}
	switch {
	case len(buf) == 0:
		c.pending = nil
	case len(c.pending) == 0 || &buf[0] != &c.pending[0]:
		c.pending = append([]byte(nil), buf...) // exact size, caller's in is not ours
	}
	return dst, out, nil
}

// record handles one complete record after the handshake.
func (c *Conn) record(dst, out, hdr, body []byte) ([]byte, []byte, error) {
	switch typ := hdr[0]; {
	case typ == typeChangeCipherSpec:
		return dst, out, c.fail(alertUnexpectedMessage, "change_cipher_spec after the handshake")
	case c.vers == tls.VersionTLS13 && typ != typeApplicationData:
		return dst, out, c.fail(alertUnexpectedMessage, "unprotected record after the handshake")
	case typ != typeApplicationData && typ != typeAlert && typ != typeHandshake:
		return dst, out, c.fail(alertUnexpectedMessage, "unknown record type")
	}
	start := len(dst)
	dst, typ, err := c.open(dst, hdr, body)
	if err != nil {
		return dst, out, err
	}
	if typ == typeApplicationData {
		if len(dst) > start {
			c.useless = 0
			return dst, out, nil
		}
		return dst, out, c.uselessRecord()
	}
	msg := dst[start:]
	dst = dst[:start] // msg stays readable: nothing appends to dst below
	switch typ {
	case typeAlert:
		if len(msg) != 2 {
			return dst, out, c.fail(alertDecodeError, "malformed alert")
		}
		if msg[1] == alertCloseNotify { // answer in kind (RFC 8446 §6.1)
			out, _ = c.seal(out, typeAlert, []byte{alertLevelWarning, alertCloseNotify})
			c.state = stateClosed
			c.dropKeys()
			return dst, out, io.EOF
		}
		if c.vers == tls.VersionTLS12 && msg[0] == alertLevelWarning {
			return dst, out, c.uselessRecord() // e.g. no_renegotiation, user_canceled: ignored
		}
		return dst, out, &AlertError{Alert: msg[1], Remote: true, Reason: "peer alert"}
	case typeHandshake:
		if c.vers == tls.VersionTLS12 {
			return dst, out, c.fail(alertNoRenegotiation, "renegotiation refused")
		}
		return c.postHandshake(dst, out, msg)
	}
	return dst, out, c.fail(alertUnexpectedMessage, "unexpected content type")
}

// postHandshake handles TLS 1.3 handshake messages after the handshake. Only
// KeyUpdate may come from a client (no post-handshake auth is requested); a
// message split over records is refused (KeyUpdate is 5 bytes and must end
// its record anyway, RFC 8446 §5.1).
func (c *Conn) postHandshake(dst, out, msg []byte) ([]byte, []byte, error) {
	for len(msg) > 0 {
		if len(msg) < 4 {
			return dst, out, c.fail(alertUnexpectedMessage, "handshake message split across records")
		}
		n := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
		if msg[0] != handshakeTypeKeyUpdate {
			return dst, out, c.fail(alertUnexpectedMessage, fmt.Sprintf("post-handshake message type %d", msg[0]))
		}
		if n != 1 || len(msg) != 5 {
			return dst, out, c.fail(alertUnexpectedMessage, "malformed KeyUpdate or not last in record")
		}
		req := msg[4]
		if req > keyUpdateRequested {
			return dst, out, c.fail(47 /* illegal_parameter */, "bad KeyUpdate request")
		}
		if err := c.uselessRecord(); err != nil {
			return dst, out, err
		}
		c.in.update13(c.suite)
		if req == keyUpdateRequested { // answer under the old keys, then switch (§4.6.3)
			var err error
			if out, err = c.seal(out, typeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, keyUpdateNotRequested}); err != nil {
				return dst, out, err
			}
			c.out.update13(c.suite)
		}
		msg = msg[5:]
	}
	return dst, out, nil
}

// maxUselessRecords is how many records without data (empty application
// data, ignored warning alerts, KeyUpdates) may come in a row, as in
// crypto/tls: each costs work (and a KeyUpdate with update_requested an
// answer record queued), so an endless run is refused, not served.
const maxUselessRecords = 16

// uselessRecord counts a record that carried no data; over
// maxUselessRecords in a row it is an unexpected_message.
func (c *Conn) uselessRecord() error {
	c.useless++
	if c.useless > maxUselessRecords {
		return c.fail(alertUnexpectedMessage, "too many records without data in a row")
	}
	return nil
}

// fail builds the local fatal alert error for a refused record.
func (c *Conn) fail(alert uint8, reason string) error {
	return &AlertError{Alert: alert, Reason: reason}
}

// Seal appends plaintext to dst as application-data records (one per 16 KB).
// Each call encrypts, so a frame broadcast to N TLS subscribers costs N
// encryptions (AES-GCM ~1 GB/s per core on AES-NI, ChaCha20 ~0.5-1 GB/s).
func (c *Conn) Seal(dst, plaintext []byte) ([]byte, error) {
	c.mu.Lock() // uncontended after the handshake; keeps misuse race-free
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return dst, errors.New("tlsx: Seal before the handshake or after close")
	}
	for len(plaintext) > 0 {
		n := min(len(plaintext), maxPlaintext)
		var err error
		if dst, err = c.seal(dst, typeApplicationData, plaintext[:n]); err != nil {
			return dst, err
		}
		plaintext = plaintext[n:]
	}
	return dst, nil
}

// Close appends a close_notify alert to dst (if the connection is open) and
// marks the connection closed; the caller writes dst and closes the socket.
// During the handshake it acts as Abort.
func (c *Conn) Close(dst []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateOpen:
		dst, _ = c.seal(dst, typeAlert, []byte{alertLevelWarning, alertCloseNotify})
		c.state = stateClosed
	case stateNew, stateHandshake:
		c.abortLocked()
	}
	c.dropKeys()
	return dst
}

// Abort ends a handshake in progress (timeout, socket closed): the handshake
// goroutine returns promptly and HandshakeDone is not called. Safe from any
// goroutine, idempotent.
func (c *Conn) Abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abortLocked()
}

func (c *Conn) abortLocked() {
	if c.hs != nil {
		c.hs.aborted = true
		c.hs.cond.Broadcast()
	}
	if c.state == stateNew || c.state == stateHandshake {
		c.state = stateFailed
		c.pending = nil
	}
}

// Release drops the AEAD objects (rebuilt from the stored keys at the next
// Feed or Seal). The gateway calls it when a connection goes idle: an
// AES-GCM AEAD pair is ~1.5 KB, the rest of an idle Conn a few hundred bytes.
func (c *Conn) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in.aead, c.out.aead = nil, nil
}

func (c *Conn) dropKeys() {
	c.in, c.out = halfConn{}, halfConn{}
	c.pending = nil
}

// HandshakeDone reports whether the record layer is active.
func (c *Conn) HandshakeDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateOpen || c.state == stateClosed
}

// ALPN returns the negotiated application protocol ("" if none).
func (c *Conn) ALPN() string { return c.alpn }

// ServerName returns the SNI name the client sent.
func (c *Conn) ServerName() string { return c.sni }

// Version returns the negotiated TLS version (tls.VersionTLS12/13).
func (c *Conn) Version() uint16 { return c.vers }

// CipherSuite returns the negotiated cipher suite ID.
func (c *Conn) CipherSuite() uint16 { return c.suiteID }

// DidResume reports whether the handshake resumed a session.
func (c *Conn) DidResume() bool { return c.didResume }
