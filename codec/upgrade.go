package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// UpgradeOptions is the server side of the WebSocket handshake.
type UpgradeOptions struct {
	Subprotocols []string // we accept the first protocol the client offers that is in this list
	Compression  bool     // offer permessage-deflate (server_no_context_takeover + client_no_context_takeover)
	Origins      []string // allow list (exact, case-insensitive match of the Origin header); empty = any; absent Origin allowed
}

// Handshake is what Accept agreed with the client.
type Handshake struct {
	Subprotocol string
	Deflate     bool // permessage-deflate negotiated
}

// deflateParams is the only permessage-deflate configuration we accept: no
// context takeover in either direction, so no compressor or decompressor
// state outlives a message and an idle connection holds none.
var deflateParams = wsflate.Parameters{
	ServerNoContextTakeover: true,
	ClientNoContextTakeover: true,
}

// Rejections our own checks add to gobwas's (which cover method, version,
// Host, Upgrade, Connection, Sec-WebSocket-Version and the key's length).
var (
	errOriginRejected = ws.RejectConnectionError(
		ws.RejectionStatus(http.StatusForbidden),
		ws.RejectionReason("handshake error: origin not allowed"),
	)
	errBadSecKey = ws.RejectConnectionError(
		ws.RejectionStatus(http.StatusBadRequest),
		ws.RejectionReason(`handshake error: bad "Sec-WebSocket-Key" header`),
	)
)

// appendWriter is the io.Writer gobwas writes the response to: it appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Accept runs the RFC 6455 server handshake over head (the complete request
// head bytes, as delimited by ParseRequestHead) using gobwas/ws's Upgrader and
// appends to dst either the 101 Switching Protocols response or the error
// response (400/403/426+Sec-WebSocket-Version: 13, with Connection: close).
// On refusal err is an *HTTPError carrying the status that was written.
//
// gobwas decides every refusal and its status; its own error response is
// replaced by AppendError's so that every refusal carries Connection: close.
// Statuses gobwas picks that the spec does not list: 405 (with Allow: GET)
// for a method other than GET and 505 for HTTP/1.0. gobwas checks only the
// key's length (24); Accept also requires it to decode to 16 bytes
// (RFC 6455 4.2.1) and to be sent once.
func Accept(dst []byte, head []byte, opts *UpgradeOptions) ([]byte, Handshake, error) {
	if opts == nil {
		opts = &UpgradeOptions{}
	}
	var ext *wsflate.Extension
	u := ws.Upgrader{
		// The head is in memory: one read buffer holds it whole, so gobwas
		// never has to stitch a long header line together.
		ReadBufferSize: max(len(head), 256),
	}
	if len(opts.Subprotocols) > 0 {
		// Subprotocol tokens are case-sensitive (RFC 6455 4.1, 11.5).
		// gobwas scans the client's list in order and keeps the first match.
		u.Protocol = func(p []byte) bool {
			for _, s := range opts.Subprotocols {
				if string(p) == s {
					return true
				}
			}
			return false
		}
	}
	if opts.Compression {
		ext = &wsflate.Extension{Parameters: deflateParams}
		u.Negotiate = func(offer httphead.Option) (httphead.Option, error) {
			accept, err := ext.Negotiate(offer)
			if err != nil {
				// RFC 7692 5: an offer with unknown or invalid parameters is
				// declined, not a reason to refuse the connection (gobwas
				// would answer 500).
				return httphead.Option{}, nil
			}
			return accept, nil
		}
	}
	if len(opts.Origins) > 0 {
		u.OnHeader = func(key, value []byte) error {
			// gobwas hands header names canonicalized.
			if string(key) == "Origin" && !originAllowed(opts.Origins, value) {
				return errOriginRejected
			}
			return nil
		}
	}
	if !secKeyValid(head) {
		// Only reached once gobwas found nothing else wrong, so its order
		// of checks (and statuses) stays as it is.
		u.OnBeforeUpgrade = func() (ws.HandshakeHeader, error) { return nil, errBadSecKey }
	}

	w := appendWriter{b: dst}
	hs, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), &w})
	if err != nil {
		status, reason := http.StatusBadRequest, "malformed or incomplete request head"
		var rej *ws.ConnectionRejectedError
		if errors.As(err, &rej) {
			reason = rej.Error()
			if rej.StatusCode() != 0 {
				status = rej.StatusCode()
			}
		}
		return AppendError(dst, status, reason), Handshake{}, &HTTPError{Status: status, Reason: reason}
	}
	res := Handshake{Subprotocol: hs.Protocol}
	if ext != nil {
		_, res.Deflate = ext.Accepted()
	}
	return w.b, res, nil
}

func originAllowed(allowed []string, origin []byte) bool {
	for _, o := range allowed {
		if strings.EqualFold(o, string(origin)) {
			return true
		}
	}
	return false
}

// secKeyValid reports whether head carries exactly one Sec-WebSocket-Key whose
// value is base64 of 16 bytes. A missing key is left to gobwas (400 as well).
func secKeyValid(head []byte) bool {
	seen := 0
	ok := true
	for len(head) > 0 {
		var line []byte
		line, head, _ = bytes.Cut(head, []byte("\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Key")) {
			continue
		}
		seen++
		var key [18]byte // a 24-byte value without padding decodes to 18
		value = bytes.Trim(value, " \t\r")
		if len(value) != 24 {
			ok = false
			continue
		}
		n, err := base64.StdEncoding.Decode(key[:], value)
		ok = ok && err == nil && n == 16
	}
	return seen <= 1 && ok
}
