package tlsside

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
)

// The reasons of wsgate_tls_handshakes_total{result="failed"}: a bounded
// label set. handshakeFailure and alertReason name a failure by crypto/tls's
// error or by the alert we sent; Closed adds "timeout" and "closed".

// handshakeFailure sorts a failed handshake into a metric reason (a bounded
// label set, so the strings of crypto/tls's errors are matched here).
func handshakeFailure(err error) string {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		if looksLikeHTTP(rh.RecordHeader[:]) {
			return "http"
		}
		return "not_tls"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return "remote_alert"
	}
	switch s := err.Error(); {
	case strings.Contains(s, "version"):
		return "version"
	case strings.Contains(s, "cipher"):
		return "cipher"
	case strings.Contains(s, "application protocol"):
		return "alpn"
	default:
		return "other"
	}
}

// looksLikeHTTP reports whether the first bytes of a connection are an HTTP
// method, as net/http's server checks before it answers 400.
func looksLikeHTTP(hdr []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE"} {
		if string(hdr) == m {
			return true
		}
	}
	return false
}

// plainAlert finds an unencrypted fatal alert record among the records of p
// (what crypto/tls sends when it refuses a ClientHello) and returns its
// description.
func plainAlert(p []byte) (uint8, bool) {
	for len(p) >= 5 {
		n := int(p[3])<<8 | int(p[4])
		if len(p) < 5+n {
			return 0, false
		}
		if p[0] == 21 && n == 2 && p[5] == 2 { // alert, level fatal
			return p[6], true
		}
		p = p[5+n:]
	}
	return 0, false
}

// alertReason names a failed handshake by the alert we sent, in the
// vocabulary of handshakeFailure.
func alertReason(code uint8) string {
	switch code {
	case 70: // protocol_version
		return "version"
	case 40, 71: // handshake_failure (no common suite, group or signature), insufficient_security
		return "cipher"
	case 120: // no_application_protocol
		return "alpn"
	default:
		return "other"
	}
}
