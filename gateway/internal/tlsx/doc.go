// Package tlsx is a socket-free server-side TLS engine for the event loops:
// the loop hands it ciphertext as it arrives and gets plaintext back, and it
// hands the loop ciphertext to write. An idle connection holds no buffer and
// no goroutine.
//
// # Design
//
// The handshake is crypto/tls's, run in a short-lived goroutine over an
// in-memory net.Conn (the handshake is not resumable, so it needs a stack of
// its own; Abort unblocks it). The loop's Feed queues bytes for it; its
// writes go to Hooks.HandshakeWrite, its end to Hooks.HandshakeDone. The
// adapter never reads past the end of the current record, so crypto/tls
// stops exactly after the client's Finished and whatever came after it stays
// with us.
//
// After the handshake the tls.Conn is dropped and this package's own record
// layer takes over, keyed from the negotiated secrets that a per-connection
// tls.Config.KeyLogWriter receives (set through GetConfigForClient, so ticket
// keys stay those of the one long-lived config):
//   - TLS 1.3: CLIENT/SERVER_TRAFFIC_SECRET_0. The NewSessionTicket crypto/tls
//     already wrote under the application key is accounted for by opening our
//     own protected handshake output with that key: the records that
//     authenticate are the ones that used write sequence numbers.
//   - TLS 1.2: the CLIENT_RANDOM master secret (for a resumed session, which
//     logs nothing, the secret inside the session ticket, read from the
//     documented tls.SessionState encoding), the randoms from the hello
//     messages, and sequence numbers counted as the records after each
//     ChangeCipherSpec.
//
// Only AEAD suites exist here (Mozilla "intermediate"): TLS 1.3
// AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305; TLS 1.2 ECDHE-ECDSA/RSA with
// AES-GCM and ChaCha20-Poly1305. NewServer restricts the config to them.
// Post-handshake: client KeyUpdate updates the read key and, when requested,
// is answered under the old write key before it changes (RFC 8446 §4.6.3);
// any other handshake message (TLS 1.2 renegotiation included), a
// ChangeCipherSpec, an unprotected record, a record over the size limit
// (record_overflow), or a failed authentication (bad_record_mac) is fatal and
// Feed returns the alert to write. close_notify is answered in kind.
//
// Idle state is the keys, IVs, TLS 1.3 secrets and sequence numbers, plus
// the cipher.AEAD objects as a cache that Release drops (an AES-GCM AEAD is
// ~0.8 KB of expanded key and GHASH table; rebuilding one costs a few hundred
// ns, so the gateway releases from its idle sweep, not after every message).
//
// # Measurements (TestIdleMemory: heap per idle server connection after a
// handshake and one echo, 5,000 connections, ECDSA P-256, Go 1.26, amd64)
//
//	                              TLS 1.2   TLS 1.3
//	(a) crypto/tls, plain          5284 B    7555 B
//	(b) tlsx, AEADs cached         2114 B    2087 B
//	(b) tlsx, after Release         473 B     444 B
//
// (a) is what stays with crypto/tls even over an adapter that holds nothing:
// the tls.Conn, its record-sized rawInput (golang/go#43563), its cipher
// states and handshake leftovers, none of which can be given back from
// outside. (c), lesismal/llib's std/crypto/tls fork, was not adopted: it is a
// copy of an older crypto/tls that lags Go's security fixes, and (b) keeps
// every handshake byte in the standard library while needing only ~330 lines
// of record layer. The per-connection cost of (b) beyond memory: one
// handshake goroutine while it lasts, and Seal encrypts per connection, so
// a broadcast frame shared by N TLS subscribers costs N AEAD seals.
package tlsx
