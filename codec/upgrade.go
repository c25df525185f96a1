package codec

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"

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

// appendWriter is the io.Writer httphead writes extension options to: it appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Accept parses head (the complete request head bytes, as delimited by
// ParseRequestHead) and runs AcceptRequest on it; a head ParseRequestHead
// refuses or finds incomplete gets AppendError's 400. It is for callers that
// hold only bytes: the gateway parses a head once and calls AcceptRequest.
func Accept(dst []byte, head []byte, opts *UpgradeOptions) ([]byte, Handshake, error) {
	req, n, err := ParseRequestHead(head, 0)
	if err == nil && n == 0 {
		err = badRequest("malformed or incomplete request head")
	}
	if err != nil {
		he := err.(*HTTPError)
		return AppendError(dst, he.Status, he.Reason), Handshake{}, he
	}
	return AcceptRequest(dst, req, opts)
}

// AcceptRequest runs the RFC 6455 server handshake on a parsed request and
// appends to dst either the 101 Switching Protocols response or the error
// response (400/403/426+Sec-WebSocket-Version: 13, with Connection: close).
// On refusal err is an *HTTPError carrying the status that was written.
//
// It makes the checks of gobwas/ws's Upgrader, in its order and with its
// errors (so its statuses: 405 with Allow: GET for a method other than GET
// and 505 for HTTP/1.0, which the spec does not list), on the fields the
// head parser already split instead of reading the bytes again. It also
// requires the key to decode to 16 bytes (RFC 6455 4.2.1; gobwas checks
// only its length) and to be sent once.
func AcceptRequest(dst []byte, req *Request, opts *UpgradeOptions) ([]byte, Handshake, error) {
	if opts == nil {
		opts = &UpgradeOptions{}
	}
	hs, key, err := checkUpgrade(req, opts)
	if err != nil {
		status, reason := http.StatusBadRequest, err.Error()
		var rej *ws.ConnectionRejectedError
		if errors.As(err, &rej) && rej.StatusCode() != 0 {
			status = rej.StatusCode()
		}
		return AppendError(dst, status, reason), Handshake{}, &HTTPError{Status: status, Reason: reason}
	}
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"...)
	dst = AppendHeader(dst, "Sec-WebSocket-Accept", acceptKey(key))
	if hs.Subprotocol != "" {
		dst = AppendHeader(dst, "Sec-WebSocket-Protocol", hs.Subprotocol)
	}
	if hs.Deflate {
		w := appendWriter{b: append(dst, "Sec-WebSocket-Extensions: "...)}
		_, _ = httphead.WriteOptions(&w, []httphead.Option{deflateParams.Option()})
		dst = append(w.b, "\r\n"...)
	}
	return append(dst, "\r\n"...), hs, nil
}

// The headers checkUpgrade must see, as bits of a set.
const (
	seenHost = 1 << iota
	seenUpgrade
	seenConnection
	seenVersion
	seenKey
	seenAll = seenHost | seenUpgrade | seenConnection | seenVersion | seenKey
)

// checkUpgrade is gobwas's Upgrader.Upgrade (v1.5.0) without the I/O: the
// first failed check, in header order, decides the refusal; then a missing
// header, in the order Host, Upgrade, Connection, Version, Key.
func checkUpgrade(req *Request, opts *UpgradeOptions) (hs Handshake, key string, err error) {
	switch {
	case req.ProtoMinor < 1:
		return hs, "", ws.ErrHandshakeBadProtocol
	case req.Method != http.MethodGet:
		return hs, "", ws.ErrHandshakeBadMethod
	}
	var (
		seen uint8
		keys int
		ext  *wsflate.Extension
	)
	if opts.Compression {
		ext = &wsflate.Extension{Parameters: deflateParams}
	}
	for _, h := range req.Headers {
		switch {
		case ASCIIEqualFold(h.Name, "Host"):
			seen |= seenHost
		case ASCIIEqualFold(h.Name, "Upgrade"):
			seen |= seenUpgrade
			if !ASCIIEqualFold(h.Value, "websocket") {
				return hs, "", ws.ErrHandshakeBadUpgrade
			}
		case ASCIIEqualFold(h.Name, "Connection"):
			seen |= seenConnection
			if !HasToken(h.Value, "upgrade") {
				return hs, "", ws.ErrHandshakeBadConnection
			}
		case ASCIIEqualFold(h.Name, "Sec-WebSocket-Version"):
			seen |= seenVersion
			if h.Value != "13" {
				return hs, "", ws.ErrHandshakeUpgradeRequired
			}
		case ASCIIEqualFold(h.Name, "Sec-WebSocket-Key"):
			seen |= seenKey
			if len(h.Value) != 24 {
				return hs, "", ws.ErrHandshakeBadSecKey
			}
			key = h.Value
			keys++
		case ASCIIEqualFold(h.Name, "Sec-WebSocket-Protocol"):
			if len(opts.Subprotocols) > 0 && hs.Subprotocol == "" {
				var ok bool
				if hs.Subprotocol, ok = selectProtocol(h.Value, opts.Subprotocols); !ok {
					return hs, "", ws.ErrMalformedRequest
				}
			}
		case ASCIIEqualFold(h.Name, "Sec-WebSocket-Extensions"):
			if ext != nil && !negotiateDeflate(ext, h.Value) {
				return hs, "", ws.ErrMalformedRequest
			}
		case ASCIIEqualFold(h.Name, "Origin"):
			if len(opts.Origins) > 0 && !originAllowed(opts.Origins, h.Value) {
				return hs, "", errOriginRejected
			}
		}
	}
	switch {
	case seen&seenHost == 0:
		return hs, "", ws.ErrHandshakeBadHost
	case seen&seenUpgrade == 0:
		return hs, "", ws.ErrHandshakeBadUpgrade
	case seen&seenConnection == 0:
		return hs, "", ws.ErrHandshakeBadConnection
	case seen&seenVersion == 0:
		// Absent: 400, not 426, as the RFC's ABNF has no empty version.
		return hs, "", ws.ErrHandshakeBadSecVersion
	case seen&seenKey == 0:
		return hs, "", ws.ErrHandshakeBadSecKey
	case keys > 1 || !secKeyValid(key):
		return hs, "", errBadSecKey
	}
	if ext != nil {
		_, hs.Deflate = ext.Accepted()
	}
	return hs, key, nil
}

// selectProtocol returns the first protocol of the client's list v that is
// in ours. Subprotocol tokens are case-sensitive (RFC 6455 4.1, 11.5). ok is
// false when v is not a token list.
func selectProtocol(v string, ours []string) (selected string, ok bool) {
	ok = httphead.ScanTokens([]byte(v), func(p []byte) bool {
		for _, s := range ours {
			if string(p) == s {
				selected = s
				return false
			}
		}
		return true
	})
	return selected, ok
}

// negotiateDeflate offers each extension of the list v to ext, which keeps
// the first permessage-deflate offer it can accept. An offer with unknown or
// invalid parameters is declined, not a reason to refuse the connection
// (RFC 7692 5; gobwas would answer 500). ok is false when v is not an
// extension list.
func negotiateDeflate(ext *wsflate.Extension, v string) (ok bool) {
	index := -1
	var current httphead.Option
	offer := func() {
		if current.Size() > 0 {
			_, _ = ext.Negotiate(current)
		}
	}
	ok = httphead.ScanOptions([]byte(v), func(i int, name, attr, val []byte) httphead.Control {
		if i != index {
			offer()
			index = i
			current = httphead.Option{Name: name}
		}
		if attr != nil {
			current.Parameters.Set(attr, val)
		}
		return httphead.ControlContinue
	})
	if ok {
		offer()
	}
	return ok
}

// acceptKey is Sec-WebSocket-Accept for key (RFC 6455 4.2.2).
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func originAllowed(allowed []string, origin string) bool {
	for _, o := range allowed {
		if ASCIIEqualFold(o, origin) {
			return true
		}
	}
	return false
}

// secKeyValid reports whether key is base64 of 16 bytes.
func secKeyValid(key string) bool {
	var b [18]byte // a 24-byte value without padding decodes to 18
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}
