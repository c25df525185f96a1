package codec

import (
	be "encoding/binary"
	"errors"
	"strings"

	"github.com/gobwas/ws"
)

// GRIP (Pushpin's Generic Realtime Intermediary Protocol), WebSocket part:
// the proxy offers the extension "grip" to the backend, the backend accepts
// it in its 101, then its text frames starting with "c:" are control
// messages for the proxy and those starting with the message prefix ("m:" by
// default) are for the client. This file holds the wire pieces; the session
// logic is in gateway/proxy/grip.go.

// GripExtension is the extension token of GRIP.
const GripExtension = "grip"

// DefaultGripPrefix is the message prefix when the backend names none.
const DefaultGripPrefix = "m:"

// AppendGripForwardedHead is AppendForwardedHead for an upgrade to a GRIP
// pool: the client's own Sec-WebSocket-Extensions offer is replaced by
// "grip", as Pushpin does (GRIP libraries look for that offer, and the
// client's permessage-deflate cannot be relayed through a proxy that reads
// and rewrites the server's frames).
func AppendGripForwardedHead(dst []byte, req *Request, cookieName, ip string) []byte {
	r := *req
	r.Headers = make([]HeaderField, 0, len(req.Headers)+1)
	for _, h := range req.Headers {
		if !ASCIIEqualFold(h.Name, "Sec-WebSocket-Extensions") {
			r.Headers = append(r.Headers, h)
		}
	}
	r.Headers = append(r.Headers, HeaderField{Name: "Sec-WebSocket-Extensions", Value: GripExtension})
	return AppendForwardedHead(dst, &r, cookieName, ip)
}

// GripAccepted reports whether a 101 accepts GRIP and with which message
// prefix: `grip` alone is "m:", `grip; message-prefix=""` an empty prefix.
// Any other extension in the answer is not GRIP's (and not offered).
func GripAccepted(resp *Response) (prefix string, ok bool) {
	for _, h := range resp.Headers {
		if !ASCIIEqualFold(h.Name, "Sec-WebSocket-Extensions") {
			continue
		}
		for ext := range strings.SplitSeq(h.Value, ",") {
			params := strings.Split(ext, ";")
			if !ASCIIEqualFold(strings.TrimSpace(params[0]), GripExtension) {
				continue
			}
			prefix = DefaultGripPrefix
			for _, p := range params[1:] {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if ASCIIEqualFold(strings.TrimSpace(k), "message-prefix") {
					prefix = strings.Trim(strings.TrimSpace(v), `"`)
				}
			}
			return prefix, true
		}
	}
	return "", false
}

// WithoutExtensions returns resp without its Sec-WebSocket-Extensions
// fields: a GRIP pool's client never sees the grip extension it did not
// offer, nor one the gateway removed from its offer.
func WithoutExtensions(resp *Response) *Response {
	r := *resp
	r.Headers = make([]HeaderField, 0, len(resp.Headers))
	for _, h := range resp.Headers {
		if !ASCIIEqualFold(h.Name, "Sec-WebSocket-Extensions") {
			r.Headers = append(r.Headers, h)
		}
	}
	return &r
}

// ServerFrame is one complete frame of a server→client stream, as the GRIP
// session reads the backend: unmasked, header parsed, payload in place.
type ServerFrame struct {
	Fin     bool
	OpCode  ws.OpCode
	Payload []byte // aliases the input
	Len     int    // header + payload bytes
}

// ErrMaskedServerFrame: a server must not mask its frames (RFC 6455 5.1).
var ErrMaskedServerFrame = errors.New("masked frame from the server")

// ErrServerFrameTooBig: a frame over the caller's limit.
var ErrServerFrameTooBig = errors.New("server frame over the size limit")

// ErrReservedBits: RSV bits set, but no extension that gives them meaning
// was negotiated (GRIP does not compress).
var ErrReservedBits = errors.New("reserved bits set in a server frame")

// NextServerFrame reads the complete frame at the start of buf. ok is false
// while it is incomplete; max bounds the payload (0: no bound).
func NextServerFrame(buf []byte, max int) (f ServerFrame, ok bool, err error) {
	if len(buf) < 2 {
		return f, false, nil
	}
	hlen := headerLen(buf[1])
	if len(buf) < hlen {
		return f, false, nil
	}
	if buf[1]&0x80 != 0 {
		return f, false, ErrMaskedServerFrame
	}
	if buf[0]&0x70 != 0 {
		return f, false, ErrReservedBits
	}
	n := payloadLen(buf[:hlen])
	if max > 0 && n > int64(max) {
		return f, false, ErrServerFrameTooBig
	}
	if int64(len(buf)-hlen) < n {
		return f, false, nil
	}
	f = ServerFrame{Fin: buf[0]&0x80 != 0, OpCode: ws.OpCode(buf[0] & 0x0f), Len: hlen + int(n)}
	f.Payload = buf[hlen:f.Len]
	return f, true, nil
}

// AppendServerFrame appends an unmasked frame with the given FIN bit: the
// first fragment of a message re-encoded without its GRIP prefix.
func AppendServerFrame(dst []byte, fin bool, op ws.OpCode, payload []byte) []byte {
	dst = appendHeader(dst, ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))}, len(payload))
	return append(dst, payload...)
}

// AppendMaskedCloseFrame appends a client→server close frame (masked, as
// RFC 6455 5.1 requires of a client): the gateway closing a GRIP backend.
func AppendMaskedCloseFrame(dst []byte, code ws.StatusCode, reason string) []byte {
	if len(reason) > ws.MaxControlFramePayloadSize-2 {
		reason = reason[:ws.MaxControlFramePayloadSize-2]
	}
	body := make([]byte, 2+len(reason))
	ws.PutCloseFrameBody(body, code, reason)
	// The key need not be secret: it exists to stop cache poisoning through
	// proxies a browser's script could aim, not an issue for a gateway.
	mask := [4]byte{0x5a, 0x3c, 0x96, 0xe1}
	dst = appendHeader(dst, ws.Header{Fin: true, OpCode: ws.OpClose, Masked: true, Mask: mask, Length: int64(len(body))}, len(body))
	ws.Cipher(body, mask, 0)
	return append(dst, body...)
}

// MessageTracker follows frame and message boundaries of a stream it relays
// without decoding (the client→backend side of a GRIP session), so that
// the gateway can take the stream over at a frame boundary and know whether
// a fragmented message is in progress there.
type MessageTracker struct {
	remaining int64
	hdr       [14]byte
	have      uint8
	inMsg     bool
}

// Upto advances over the bytes of b up to the end of the current frame and
// returns how many it took (all of b if the frame goes on past it). At a
// boundary it takes the whole next frame's header and payload as far as b
// goes.
func (t *MessageTracker) Upto(b []byte) int {
	taken := 0
	for len(b) > 0 {
		if t.remaining > 0 {
			k := min(t.remaining, int64(len(b)))
			b = b[k:]
			taken += int(k)
			t.remaining -= k
			if t.remaining == 0 {
				return taken
			}
			continue
		}
		t.hdr[t.have] = b[0]
		t.have++
		b = b[1:]
		taken++
		if t.have < 2 || int(t.have) < headerLen(t.hdr[1]) {
			continue
		}
		t.remaining = payloadLen(t.hdr[:t.have])
		t.have = 0
		t.header(t.hdr[0])
		if t.remaining == 0 {
			return taken
		}
	}
	return taken
}

// Track advances over all of b.
func (t *MessageTracker) Track(b []byte) {
	for len(b) > 0 {
		b = b[t.Upto(b):]
	}
}

func (t *MessageTracker) header(b0 byte) {
	op := ws.OpCode(b0 & 0x0f)
	if op.IsControl() {
		return
	}
	t.inMsg = b0&0x80 == 0 // a data frame without FIN opens (or continues) a message
}

// AtBoundary reports whether the stream so far ends between two frames.
func (t *MessageTracker) AtBoundary() bool { return t.remaining == 0 && t.have == 0 }

// InMessage reports whether a fragmented data message is in progress.
func (t *MessageTracker) InMessage() bool { return t.inMsg }

// ResumeMessage makes d expect the continuation of a fragmented message
// whose first frames went elsewhere (a client taken over from a GRIP
// backend mid-message): its rest is read, as binary, and then discarded by
// the caller.
func (p *Parser) ResumeMessage(d *Decoder) {
	p.Release(d)
	d.buf = p.pool().Get()
	d.op = ws.OpBinary
	d.flags |= flagFragmented
}

// CloseBody decodes a close frame's payload (code, reason); an empty one is 1005.
func CloseBody(p []byte) (ws.StatusCode, string) {
	if len(p) < 2 {
		return ws.StatusNoStatusRcvd, ""
	}
	return ws.StatusCode(be.BigEndian.Uint16(p)), string(p[2:])
}
