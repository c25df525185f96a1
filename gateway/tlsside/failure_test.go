package tlsside

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"testing"
)

func TestHandshakeFailureReason(t *testing.T) {
	hdr := func(s string) error {
		var rh tls.RecordHeaderError
		copy(rh.RecordHeader[:], s)
		return rh
	}
	cases := []struct {
		err  error
		want string
	}{
		{hdr("GET /"), "http"},
		{fmt.Errorf("handshake: %w", hdr("POST ")), "http"}, // wrapped
		{hdr("CONNE"), "http"},
		{hdr("get /"), "not_tls"}, // methods are case-sensitive, as in net/http
		{hdr("SSH-2"), "not_tls"},
		{hdr("\x80\x2e\x01\x00\x02"), "not_tls"}, // an SSLv2 ClientHello
		{&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, "remote_alert"},
		{&net.OpError{Op: "local error", Err: errors.New("tls: unexpected message")}, "other"},
		{errors.New("tls: client offered only unsupported versions: [302 301]"), "version"},
		{errors.New("tls: no cipher suite supported by both client and server"), "cipher"},
		{errors.New("tls: client requested unsupported application protocols ([h2])"), "alpn"},
		{errors.New("EOF"), "other"},
	}
	for _, c := range cases {
		if got := handshakeFailure(c.err); got != c.want {
			t.Errorf("%v: %q, want %q", c.err, got, c.want)
		}
	}
}

func TestLooksLikeHTTP(t *testing.T) {
	for _, s := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE"} {
		if !looksLikeHTTP([]byte(s)) {
			t.Errorf("%q: not HTTP", s)
		}
	}
	for _, s := range []string{"", "GET", "GET x", "PRI *", "\x16\x03\x01\x02\x00", "TRACE"} {
		if looksLikeHTTP([]byte(s)) {
			t.Errorf("%q: HTTP", s)
		}
	}
}

func TestPlainAlert(t *testing.T) {
	alert := func(level, code byte) []byte { return []byte{21, 3, 3, 0, 2, level, code} }
	cat := func(bs ...[]byte) (p []byte) {
		for _, b := range bs {
			p = append(p, b...)
		}
		return p
	}
	serverHello := []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}
	cases := []struct {
		name string
		p    []byte
		code uint8
		ok   bool
	}{
		{"fatal alert", alert(2, 70), 70, true},
		{"after a handshake record", cat(serverHello, alert(2, 40)), 40, true},
		{"warning alert", alert(1, 0), 0, false},
		{"handshake only", serverHello, 0, false},
		{"truncated alert", alert(2, 70)[:6], 0, false},
		{"truncated first record", cat(serverHello[:7]), 0, false},
		{"encrypted alert (longer than 2 bytes)", []byte{21, 3, 3, 0, 3, 2, 70, 0}, 0, false},
		{"application data", []byte{23, 3, 3, 0, 2, 2, 70}, 0, false},
		{"empty", nil, 0, false},
	}
	for _, c := range cases {
		code, ok := plainAlert(c.p)
		if code != c.code || ok != c.ok {
			t.Errorf("%s: (%d, %v), want (%d, %v)", c.name, code, ok, c.code, c.ok)
		}
	}
}

func TestAlertReason(t *testing.T) {
	for code, want := range map[uint8]string{70: "version", 40: "cipher", 71: "cipher", 120: "alpn", 10: "other", 80: "other"} {
		if got := alertReason(code); got != want {
			t.Errorf("alert %d: %q, want %q", code, got, want)
		}
	}
}
