// Package tlscert is the configuration side of wsgate's TLS termination: it
// loads and checks the -tls-cert pairs, picks a certificate by SNI, reloads
// them on SIGHUP, rotates session ticket keys, and builds the *tls.Config the
// TLS listener hands to its record engine. It opens no socket.
package tlscert

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Session ticket keys: a new key encrypts tickets every TicketKeyInterval, and
// the TicketKeysKept-1 before it still decrypt, so a ticket resumes for at
// least TicketKeyInterval*(TicketKeysKept-1) and at most
// TicketKeyInterval*TicketKeysKept. A stolen key exposes at most that window
// of sessions (tickets are not forward secret in TLS 1.2).
const (
	TicketKeyInterval = 12 * time.Hour
	TicketKeysKept    = 3
)

// Store holds the loaded certificates and the ticket keys. Its methods are
// safe for concurrent use: handshakes read the current set with one atomic
// load, Reload swaps it whole.
type Store struct {
	cur    atomic.Pointer[certSet]
	cfg    *tls.Config
	mu     sync.Mutex            // serializes Reload and RotateTicketKeys
	follow func(keys [][32]byte) // FollowTicketKeys
	keys   [][32]byte            // newest first
	keyAge time.Time             // when keys[0] was made
}

// certSet is one load of every pair: immutable once built.
type certSet struct {
	pairs    []*loaded
	byName   map[string][]*tls.Certificate // exact names and "*.example.com", in pair order
	warnings []string
}

// New loads every pair of o and builds the TLS configuration. It returns
// every problem found (Validate's), or a Store whose Warnings may be
// non-empty.
func New(o Options) (*Store, error) {
	minV, err := o.minVersion()
	if err != nil {
		return nil, err
	}
	pairs, err := o.pairs()
	if err != nil {
		return nil, err
	}
	set, err := load(pairs, time.Now())
	if err != nil {
		return nil, err
	}
	s := &Store{}
	s.cur.Store(set)
	s.cfg = &tls.Config{
		GetCertificate: s.GetCertificate,
		MinVersion:     minV,
		// Mozilla "intermediate": ECDHE with AEAD only. It applies to TLS
		// 1.2; Go's TLS 1.3 suites (AES-GCM, ChaCha20) are fixed and are
		// the same list.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
		// Only HTTP/1.1 is spoken. A client offering ALPN without it (h2
		// only) gets the no_application_protocol alert (crypto/tls since
		// Go 1.17); a client offering no ALPN is served.
		NextProtos: []string{"http/1.1"},
		// Renegotiation: crypto/tls has none on the server side; a
		// ClientHello after the handshake gets an unexpected_message
		// alert (TLS 1.2; TLS 1.3 has no renegotiation at all). The
		// Renegotiation field is client-only, so nothing is set here.
	}
	s.RotateTicketKeys(time.Now())
	return s, nil
}

// Config is the server configuration to hand to the TLS record engine. It is
// shared (the ticket keys rotate in it): do not modify it; Clone it to change
// a field, knowing the clone then keeps its own ticket keys unless it follows
// the store's (FollowTicketKeys).
func (s *Store) Config() *tls.Config { return s.cfg }

// GetCertificate picks the certificate for a ClientHello: the pair naming
// the SNI name exactly, else by a wildcard one label deep, else (no SNI) by
// the local IP address, else the first pair. Among pairs naming the same
// host, the first the client can use wins (an ECDSA and an RSA pair for one
// name serve old RSA-only clients too).
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := s.cur.Load()
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name == "" && hello.Conn != nil {
		if a, ok := hello.Conn.LocalAddr().(*net.TCPAddr); ok {
			name = a.IP.String()
		}
	}
	var found []*tls.Certificate
	if name != "" {
		if found = set.byName[name]; found == nil {
			if _, parent, ok := strings.Cut(name, "."); ok && parent != "" {
				found = set.byName["*."+parent]
			}
		}
	}
	for _, c := range found {
		if hello.SupportsCertificate(c) == nil {
			return c, nil
		}
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return set.pairs[0].cert, nil
}

// Reload re-reads the files of the given -tls-cert values (nil: the ones
// loaded now) and swaps them in at once: handshakes that start afterwards see
// the new certificates, established connections keep theirs. On any problem
// it keeps the current certificates and returns every problem.
// -tls-min-version and -tls-listen are not reloaded.
func (s *Store) Reload(specs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pairs []Pair
	if specs == nil {
		for _, l := range s.cur.Load().pairs {
			pairs = append(pairs, l.pair)
		}
	} else {
		var err error
		if pairs, err = (Options{Certs: specs}).pairs(); err != nil {
			return err
		}
	}
	set, err := load(pairs, time.Now())
	if err != nil {
		return err
	}
	s.cur.Store(set)
	return nil
}

// Warnings are the problems of the current certificates that do not stop
// them from being served (expiry within ExpiryWarning, a name in two pairs),
// as of their load.
func (s *Store) Warnings() []string { return slices.Clone(s.cur.Load().warnings) }

// CertInfo sums up one pair for the stats page and the expiry metric.
type CertInfo struct {
	Name     string    // the first name of the leaf (see Names), the metric's label
	Names    []string  // the names SNI selects it by
	Files    string    // CERT.pem[,KEY.pem]
	Issuer   string    // issuer of the leaf
	NotAfter time.Time // of the leaf
	Default  bool      // served when no name matches (the first pair)
}

// Certs sums up the current certificates, in -tls-cert order.
func (s *Store) Certs() []CertInfo {
	var out []CertInfo
	for i, l := range s.cur.Load().pairs {
		leaf := l.chain[0]
		name := subject(leaf)
		if len(l.names) > 0 {
			name = l.names[0]
		}
		out = append(out, CertInfo{Name: name, Names: slices.Clone(l.names), Files: l.pair.String(),
			Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter, Default: i == 0})
	}
	return out
}

// RotateTicketKeys makes a new session ticket key when the newest is
// TicketKeyInterval old (or there is none), keeping the TicketKeysKept-1
// previous ones to decrypt tickets already issued. The gateway calls it from
// a ticker (every minute is plenty); it reports whether it rotated.
func (s *Store) RotateTicketKeys(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) > 0 && now.Sub(s.keyAge) < TicketKeyInterval {
		return false
	}
	var k [32]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	s.keys = append([][32]byte{k}, s.keys...)
	if len(s.keys) > TicketKeysKept {
		s.keys = s.keys[:TicketKeysKept]
	}
	s.keyAge = now
	s.cfg.SetSessionTicketKeys(s.keys)
	if s.follow != nil {
		s.follow(slices.Clone(s.keys))
	}
	return true
}

// FollowTicketKeys hands the current session ticket keys to f now and after
// every rotation: a server that cloned Config (tlsx.NewServer does) keeps the
// keys of the clone otherwise, and never rotates.
func (s *Store) FollowTicketKeys(f func(keys [][32]byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.follow = f
	if len(s.keys) > 0 {
		f(slices.Clone(s.keys))
	}
}

// load reads every pair and indexes their names; it fails with every
// problem of every pair.
func load(pairs []Pair, now time.Time) (*certSet, error) {
	set := &certSet{byName: map[string][]*tls.Certificate{}}
	var errs []error
	owner := map[string]*loaded{}
	for _, p := range pairs {
		l, warns, err := loadPair(p, now)
		set.warnings = append(set.warnings, warns...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.pairs = append(set.pairs, l)
		for _, n := range l.names {
			if slices.Contains(set.byName[n], l.cert) {
				continue // a name twice in one certificate
			}
			first, dup := owner[n]
			switch {
			case !dup:
				owner[n] = l
			case first.chain[0].PublicKeyAlgorithm == l.chain[0].PublicKeyAlgorithm:
				// An ECDSA and an RSA pair for one name is a choice; two of one kind is a mistake.
				set.warnings = append(set.warnings, fmt.Sprintf("-tls-cert %q: name %q is also in -tls-cert %q, which comes first and is served instead",
					p.String(), n, first.pair.String()))
			}
			set.byName[n] = append(set.byName[n], l.cert)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(set.pairs) == 0 {
		return nil, errors.New("-tls-cert: no certificate given")
	}
	return set, nil
}
