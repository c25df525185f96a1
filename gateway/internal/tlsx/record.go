package tlsx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record layer limits (RFC 8446 §5.1-5.2, RFC 5246 §6.2).
const (
	recordHeaderLen = 5
	maxPlaintext    = 1 << 14
	// maxCiphertext bounds the record body we accept: TLS 1.3 allows
	// 2^14+256, TLS 1.2 2^14+2048; both are far above what an AEAD adds.
	maxCiphertext13 = maxPlaintext + 256
	maxCiphertext12 = maxPlaintext + 2048
)

// Record content types.
const (
	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23
)

// Alert descriptions we send.
const (
	alertCloseNotify        = 0
	alertUnexpectedMessage  = 10
	alertBadRecordMAC       = 20
	alertRecordOverflow     = 22
	alertDecodeError        = 50
	alertInternalError      = 80
	alertNoRenegotiation    = 100
	alertLevelWarning       = 1
	alertLevelFatal         = 2
	handshakeTypeKeyUpdate  = 24
	keyUpdateNotRequested   = 0
	keyUpdateRequested      = 1
	explicitNonceLenTLS12   = 8
	maxKeyLen, maxSecretLen = 32, 48
)

// halfConn is one direction's record protection state. It holds key material
// only; the cipher.AEAD built from it is a cache that release drops (an AES-GCM
// AEAD is ~0.8 KB of expanded key and GHASH table, more than everything else
// in an idle Conn together).
type halfConn struct {
	aead   cipher.AEAD // cache, rebuilt from key on demand
	seq    uint64
	key    [maxKeyLen]byte
	iv     [12]byte
	secret [maxSecretLen]byte // TLS 1.3 traffic secret, for KeyUpdate
}

// suiteInfo describes the AEAD suites the record layer implements: exactly the
// ones Mozilla "intermediate" allows.
type suiteInfo struct {
	keyLen int
	ivLen  int // TLS 1.2 fixed IV length (4 for GCM, 12 for ChaCha20)
	chacha bool
	sha384 bool // PRF / HKDF hash
}

func lookupSuite(id uint16) (suiteInfo, bool) {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		return suiteInfo{keyLen: 16, ivLen: 4}, true
	case tls.TLS_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return suiteInfo{keyLen: 32, ivLen: 4, sha384: true}, true
	case tls.TLS_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return suiteInfo{keyLen: 32, ivLen: 12, chacha: true}, true
	}
	return suiteInfo{}, false
}

func (s suiteInfo) hash() func() hash.Hash {
	if s.sha384 {
		return sha512.New384
	}
	return sha256.New
}

func (s suiteInfo) hashLen() int {
	if s.sha384 {
		return 48
	}
	return 32
}

// cipherFor returns the half connection's AEAD, building it if released.
func (h *halfConn) cipherFor(s suiteInfo) (cipher.AEAD, error) {
	if h.aead != nil {
		return h.aead, nil
	}
	var err error
	if s.chacha {
		h.aead, err = chacha20poly1305.New(h.key[:32])
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(h.key[:s.keyLen]); err == nil {
			h.aead, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("tlsx: building AEAD: %w", err)
	}
	return h.aead, nil
}

// nonce computes the per-record nonce: IV xor seq (TLS 1.3 and TLS 1.2
// ChaCha20), or fixed IV || explicit seq (TLS 1.2 AES-GCM).
func (h *halfConn) nonce(s suiteInfo, vers uint16, out *[12]byte) {
	if vers == tls.VersionTLS12 && !s.chacha {
		copy(out[:4], h.iv[:4])
		binary.BigEndian.PutUint64(out[4:], h.seq)
		return
	}
	*out = h.iv
	for i := 0; i < 8; i++ {
		out[4+i] ^= byte(h.seq >> (56 - 8*i))
	}
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context.
func expandLabel(s suiteInfo, secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	out, err := hkdf.Expand(s.hash(), secret, string(info), n)
	if err != nil { // only for absurd lengths, never ours
		panic("tlsx: HKDF-Expand-Label: " + err.Error())
	}
	return out
}

// setSecret13 installs a TLS 1.3 traffic secret (RFC 8446 §7.3).
func (h *halfConn) setSecret13(s suiteInfo, secret []byte) {
	h.aead = nil
	h.seq = 0
	copy(h.secret[:], secret)
	copy(h.key[:], expandLabel(s, secret, "key", s.keyLen))
	copy(h.iv[:], expandLabel(s, secret, "iv", 12))
}

// update13 moves to the next traffic secret (KeyUpdate, RFC 8446 §7.2).
func (h *halfConn) update13(s suiteInfo) {
	h.setSecret13(s, expandLabel(s, h.secret[:s.hashLen()], "traffic upd", s.hashLen()))
}

// prf12 is the TLS 1.2 PRF (RFC 5246 §5).
func prf12(s suiteInfo, secret []byte, label string, seed []byte, n int) []byte {
	ls := append([]byte(label), seed...)
	mac := hmac.New(s.hash(), secret)
	mac.Write(ls)
	a := mac.Sum(nil)
	out := make([]byte, 0, n+64)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

// keys12 derives both directions' keys from a TLS 1.2 master secret
// (RFC 5246 §6.3; AEAD suites have no MAC keys).
func keys12(s suiteInfo, master, clientRandom, serverRandom []byte, in, out *halfConn) {
	seed := append(append([]byte{}, serverRandom...), clientRandom...)
	kb := prf12(s, master, "key expansion", seed, 2*s.keyLen+2*s.ivLen)
	copy(in.key[:], kb[:s.keyLen])
	copy(out.key[:], kb[s.keyLen:2*s.keyLen])
	kb = kb[2*s.keyLen:]
	copy(in.iv[:], kb[:s.ivLen])
	copy(out.iv[:], kb[s.ivLen:2*s.ivLen])
}

// errClosed is returned after close_notify was sent or received.
var errClosed = errors.New("tlsx: connection closed")

// AlertError is returned by Feed when the peer sent a fatal alert or when the
// record layer refused input (then the alert we send is in Feed's output).
type AlertError struct {
	Alert  uint8 // alert description (RFC 8446 §6)
	Remote bool  // true if the peer sent it
	Reason string
}

func (e *AlertError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	return fmt.Sprintf("tlsx: %s alert %d: %s", who, e.Alert, e.Reason)
}

// seal appends one protected record of type typ carrying payload (at most
// maxPlaintext bytes) to dst.
func (c *Conn) seal(dst []byte, typ uint8, payload []byte) ([]byte, error) {
	h := &c.out
	aead, err := h.cipherFor(c.suite)
	if err != nil {
		return dst, err
	}
	if h.seq == ^uint64(0) {
		return dst, errors.New("tlsx: write sequence number exhausted")
	}
	outer, inner := typ, 0
	explicit := 0
	if c.vers == tls.VersionTLS13 {
		outer, inner = typeApplicationData, 1
	} else if !c.suite.chacha {
		explicit = explicitNonceLenTLS12
	}
	n := explicit + len(payload) + inner + aead.Overhead()
	start := len(dst)
	dst, nonce, aad12 := scratch(dst, recordHeaderLen+n)
	h.nonce(c.suite, c.vers, nonce)
	dst = append(dst, outer, 3, 3, byte(n>>8), byte(n))
	if explicit > 0 {
		dst = binary.BigEndian.AppendUint64(dst, h.seq)
	}
	body := len(dst)
	dst = append(dst, payload...)
	if inner > 0 {
		dst = append(dst, typ)
	}
	var aad []byte
	if c.vers == tls.VersionTLS13 {
		aad = dst[start : start+recordHeaderLen]
	} else {
		binary.BigEndian.PutUint64(aad12, h.seq)
		aad12[8], aad12[9], aad12[10] = typ, 3, 3
		binary.BigEndian.PutUint16(aad12[11:], uint16(len(payload)))
		aad = aad12
	}
	dst = aead.Seal(dst[:body], nonce[:], dst[body:], aad)
	h.seq++
	return dst, nil
}

// scratch makes room in dst for n more bytes and returns a nonce and a
// TLS 1.2 AAD buffer placed in the spare capacity after them: locals would
// escape through the cipher.AEAD interface and cost two allocations per
// record.
func scratch(dst []byte, n int) ([]byte, *[12]byte, []byte) {
	dst = slices.Grow(dst, n+25)
	s := dst[len(dst)+n : len(dst)+n+25]
	return dst, (*[12]byte)(s[:12]), s[12:]
}

// open decrypts one record (header hdr, body) and appends its content to dst,
// returning dst and the (inner) content type.
func (c *Conn) open(dst []byte, hdr, body []byte) ([]byte, uint8, error) {
	h := &c.in
	aead, err := h.cipherFor(c.suite)
	if err != nil {
		return dst, 0, err
	}
	dst, nonce, aad12 := scratch(dst, len(body))
	typ := hdr[0]
	var aad []byte
	if c.vers == tls.VersionTLS13 {
		aad = hdr
	} else {
		if !c.suite.chacha {
			if len(body) < explicitNonceLenTLS12 {
				return dst, 0, c.fail(alertBadRecordMAC, "short record")
			}
			copy(nonce[:4], h.iv[:4])
			copy(nonce[4:], body[:explicitNonceLenTLS12])
			body = body[explicitNonceLenTLS12:]
		} else {
			h.nonce(c.suite, c.vers, nonce)
		}
		n := len(body) - aead.Overhead()
		if n < 0 {
			return dst, 0, c.fail(alertBadRecordMAC, "short record")
		}
		binary.BigEndian.PutUint64(aad12, h.seq)
		aad12[8], aad12[9], aad12[10] = typ, 3, 3
		binary.BigEndian.PutUint16(aad12[11:], uint16(n))
		aad = aad12
	}
	if c.vers == tls.VersionTLS13 {
		h.nonce(c.suite, c.vers, nonce)
	}
	start := len(dst)
	dst, err = aead.Open(dst, nonce[:], body, aad)
	if err != nil {
		return dst[:start], 0, c.fail(alertBadRecordMAC, "record authentication failed")
	}
	h.seq++
	if c.vers == tls.VersionTLS13 {
		// Strip zero padding and the inner content type (RFC 8446 §5.4).
		i := len(dst) - 1
		for i >= start && dst[i] == 0 {
			i--
		}
		if i < start {
			return dst[:start], 0, c.fail(alertUnexpectedMessage, "record with no content type")
		}
		typ = dst[i]
		dst = dst[:i]
	}
	if len(dst)-start > maxPlaintext {
		return dst[:start], 0, c.fail(alertRecordOverflow, "plaintext over 2^14 bytes")
	}
	return dst, typ, nil
}
