package codec

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/wsgate/wsgate/pool"
)

// EventKind says what a decoded frame means to the gateway.
type EventKind uint8

// Event kinds.
const (
	KindNone    EventKind = iota // a non-final data fragment was consumed
	KindMessage                  // a complete text or binary message
	KindPing
	KindPong
	KindClose
)

// Event is the result of one Parser.Next call.
type Event struct {
	Kind    EventKind
	OpCode  ws.OpCode // OpText or OpBinary for KindMessage
	Payload []byte    // unmasked (and inflated) payload; aliases buf or the decoder's buffer: valid until the next Next/Release on that Decoder. KindNone: this fragment's own bytes (already kept in the Decoder)
	Code    ws.StatusCode
	Reason  string // KindClose
}

// CloseError is a protocol violation: the gateway sends a close frame with
// Code and closes.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return "websocket close " + strconv.Itoa(int(e.Code)) + ": " + e.Reason
}

func closeError(code ws.StatusCode, reason string) *CloseError {
	return &CloseError{Code: code, Reason: reason}
}

// Decoder flags.
const (
	flagDeflate    uint8 = 1 << iota // permessage-deflate negotiated
	flagFragmented                   // a data message is in progress in buf
	flagCompressed                   // the message in progress is compressed (RSV1 on its first frame)
	flagDone                         // buf holds the message handed out by the last Next
)

// Decoder is the per-connection frame state. Zero value is ready. Small (a
// few words), and holds no buffer between messages: only a fragmented message
// in progress (or a reassembled/inflated message just handed out) holds a
// pooled buffer.
type Decoder struct {
	buf   *pool.Buffer
	op    ws.OpCode // opcode of the message in progress
	flags uint8
}

// InMessage reports whether a fragmented message is in progress (its first
// fragment has been consumed, its final one not yet).
func (d *Decoder) InMessage() bool { return d.flags&flagFragmented != 0 }

// SetDeflate tells d that permessage-deflate was negotiated (RSV1 allowed on
// the first frame of a message).
func (d *Decoder) SetDeflate(on bool) {
	if on {
		d.flags |= flagDeflate
	} else {
		d.flags &^= flagDeflate
	}
}

// Parser holds what all connections of one event loop share: limits, the
// buffer pool, scratch space. Not safe for concurrent use (one per event
// loop). A nil Pool is replaced by a fresh one on first use; MaxMessage <= 0
// means no limit.
type Parser struct {
	Pool       *pool.Pool
	MaxMessage int // bytes; over it → CloseError 1009 (checked from the frame header, before the payload arrives)
	// MaxInflateRatio bounds how many times its compressed size a message
	// may inflate to (at least minInflateAllowance bytes): over it →
	// CloseError 1009. 0 means no bound but MaxMessage.
	MaxInflateRatio int

	// Inflated counts the bytes produced by inflating, for the caller's
	// per-turn work budget; Dropped counts the capacity of unfinished
	// messages' buffers let go by Release (not pooled, so that the memory a
	// peer made us hold can be given back). The caller may reset both.
	Inflated int64
	Dropped  int64

	// Scratch reused by every call so the single-frame path allocates
	// nothing: gobwas reads the header from an io.Reader into a buffer, and
	// both live here instead of escaping per call.
	hdrReader bytes.Reader
	hdrBuf    [ws.MaxHeaderSize]byte

	// Inflation scratch, made on the first compressed message.
	deflated bytes.Reader
	inflate  *wsflate.Reader
	chunk    [4096]byte
}

// Next decodes one complete frame at the start of buf (a client→server frame,
// must be masked).
//
// n == 0 && err == nil: the frame is incomplete, call again with more bytes.
// n > 0: consumed n bytes; ev.Kind == KindNone for a non-final data fragment
// (payload kept in d). The payload is unmasked in place in buf, and only once
// the whole frame is there: calls that return n == 0 and no error leave buf
// and d as they were. err != nil is always a *CloseError (with n == 0): the
// close code the connection must be failed with (see the package
// documentation); d is then only good for Release.
func (p *Parser) Next(d *Decoder, buf []byte) (n int, ev Event, err error) {
	if d.flags&flagDone != 0 {
		// The previous message's payload was valid until this call.
		p.Release(d)
	}
	// "Is a whole header here yet": the length of the header follows from
	// its first two bytes (RFC 6455 5.2); gobwas parses it once it is.
	if len(buf) < 2 {
		return 0, ev, nil
	}
	hlen := headerLen(buf[1])
	if len(buf) < hlen {
		return 0, ev, nil
	}
	p.hdrReader.Reset(buf[:hlen])
	h, err := ws.ReadHeaderBuffer(&p.hdrReader, p.hdrBuf[:])
	if err != nil {
		return 0, ev, closeError(ws.StatusProtocolError, err.Error())
	}

	compressed := false
	if d.flags&flagDeflate != 0 {
		// wsflate clears RSV1 on the first frame of a data message and
		// refuses it on continuations and control frames (RFC 7692 6).
		var ms wsflate.MessageState
		if h, err = ms.UnsetBits(h); err != nil {
			return 0, ev, closeError(ws.StatusProtocolError, err.Error())
		}
		compressed = ms.IsCompressed()
	}
	// With RSV1 consumed above, any RSV bit left has no meaning: check as
	// if no extension had been negotiated.
	state := ws.StateServerSide
	if d.flags&flagFragmented != 0 {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return 0, ev, closeError(ws.StatusProtocolError, err.Error())
	}

	if h.OpCode.IsData() {
		have := 0
		if h.OpCode == ws.OpContinuation {
			have = d.buf.Len()
			compressed = d.flags&flagCompressed != 0
		}
		if !p.fits(have, h.Length, hlen, compressed) {
			return 0, ev, closeError(ws.StatusMessageTooBig, "message too big")
		}
	}
	if h.Length > int64(len(buf)-hlen) {
		return 0, ev, nil
	}
	n = hlen + int(h.Length)
	payload := buf[hlen:n]
	ws.Cipher(payload, h.Mask, 0)

	switch h.OpCode {
	case ws.OpPing:
		return n, Event{Kind: KindPing, Payload: payload}, nil
	case ws.OpPong:
		return n, Event{Kind: KindPong, Payload: payload}, nil
	case ws.OpClose:
		ev, err = closeEvent(payload)
		return ifOK(n, ev, err)
	case ws.OpContinuation:
		d.buf.B = append(d.buf.B, payload...)
		if !h.Fin {
			return n, Event{Payload: payload}, nil
		}
		compressed = d.flags&flagCompressed != 0
		d.flags &^= flagFragmented | flagCompressed
		ev, err = p.complete(d, d.op, d.buf.B, compressed)
		return ifOK(n, ev, err)
	default: // OpText, OpBinary: CheckHeader refused the reserved ones
		if h.Fin {
			ev, err = p.complete(d, h.OpCode, payload, compressed)
			return ifOK(n, ev, err)
		}
		// First fragment: the buffer grows as fragments arrive, never by a
		// length the peer declares.
		d.buf = p.pool().Get()
		d.buf.B = append(d.buf.B, payload...)
		d.op = h.OpCode
		d.flags |= flagFragmented
		if compressed {
			d.flags |= flagCompressed
		}
		return n, Event{Payload: payload}, nil
	}
}

// ifOK keeps Next's promise that an error consumes nothing.
func ifOK(n int, ev Event, err error) (int, Event, error) {
	if err != nil {
		return 0, Event{}, err
	}
	return n, ev, nil
}

// fits reports whether a data frame of length more bytes, after have bytes
// of its message, stays within the limit. A compressed message may take a
// little more on the wire than MaxMessage (deflate's stored blocks add 5 bytes
// per 64 KiB); its inflated size is checked against MaxMessage itself.
func (p *Parser) fits(have int, length int64, hlen int, compressed bool) bool {
	limit := int64(math.MaxInt - ws.MaxHeaderSize)
	if p.MaxMessage > 0 {
		limit = int64(p.MaxMessage)
		if compressed {
			limit += limit/1024 + 64
		}
	}
	return length <= limit-int64(have) && length <= int64(math.MaxInt-hlen)
}

// complete turns a whole message (payload, compressed or not) into an event.
func (p *Parser) complete(d *Decoder, op ws.OpCode, payload []byte, compressed bool) (Event, error) {
	if compressed {
		out, err := p.inflateMessage(payload)
		if err != nil {
			return Event{}, err
		}
		p.Release(d) // the compressed fragments, if any
		d.buf = out
		payload = out.B
	}
	if d.buf != nil {
		d.flags |= flagDone
	}
	if op == ws.OpText && !utf8.Valid(payload) {
		return Event{}, closeError(ws.StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
	}
	return Event{Kind: KindMessage, OpCode: op, Payload: payload}, nil
}

// closeEvent parses a close frame body (RFC 6455 5.5.1, 7.4): empty, or a
// valid code followed by a UTF-8 reason.
func closeEvent(payload []byte) (Event, error) {
	ev := Event{Kind: KindClose, Payload: payload}
	switch len(payload) {
	case 0:
		return ev, nil
	case 1:
		return Event{}, closeError(ws.StatusProtocolError, "close frame body of one byte")
	}
	code, reason := ws.ParseCloseFrameDataUnsafe(payload)
	if err := ws.CheckCloseFrameData(code, reason); err != nil {
		if errors.Is(err, ws.ErrProtocolInvalidUTF8) {
			return Event{}, closeError(ws.StatusInvalidFramePayloadData, err.Error())
		}
		return Event{}, closeError(ws.StatusProtocolError, err.Error())
	}
	if code > 4999 {
		// RFC 6455 7.4.2 defines codes up to 4999 only; gobwas lets the rest
		// through, Autobahn (7.9.x) and browsers treat them as errors.
		return Event{}, closeError(ws.StatusProtocolError, "close code above 4999")
	}
	ev.Code = code
	// A string must not change under its holder: copy it out of buf.
	ev.Reason = strings.Clone(reason)
	return ev, nil
}

// minInflateAllowance is what any compressed message may inflate to
// whatever its ratio: a short message of repeated characters (a row of
// spaces) legitimately compresses hundreds of times, and 1 KiB of work per
// frame is no amplification worth refusing.
const minInflateAllowance = 1 << 10

// inflateMessage decompresses one message (RFC 7692 7.2.2) into a pooled
// buffer that grows as output is produced, stopping past MaxMessage or past
// MaxInflateRatio times the input: a few KiB of deflate can stand for
// megabytes (about 1000:1), and the event loop would do that work.
func (p *Parser) inflateMessage(in []byte) (*pool.Buffer, error) {
	limit, ratioBound := p.MaxMessage, false
	if p.MaxInflateRatio > 0 {
		r := max(len(in)*p.MaxInflateRatio, minInflateAllowance)
		if limit <= 0 || r < limit {
			limit, ratioBound = r, true
		}
	}
	out, err := p.inflateUpTo(in, limit)
	if err == errInflateLimit {
		if ratioBound {
			return nil, closeError(ws.StatusMessageTooBig, "compressed message inflates more than -max-inflate-ratio allows")
		}
		return nil, closeError(ws.StatusMessageTooBig, "inflated message too big")
	}
	return out, err
}

var errInflateLimit = errors.New("inflate limit")

// inflateUpTo inflates in, failing with errInflateLimit past limit bytes (limit <= 0: no limit).
func (p *Parser) inflateUpTo(in []byte, limit int) (*pool.Buffer, error) {
	p.deflated.Reset(in)
	if p.inflate == nil {
		p.inflate = wsflate.NewReader(&p.deflated, newInflater)
	} else {
		p.inflate.Reset(&p.deflated)
	}
	out := p.pool().Get()
	for {
		// Inflate through a fixed chunk and append: out grows only by what
		// was actually produced, so a pooled buffer of the right size is
		// reused as is (growing ahead would double it past the pool's
		// calibrated size and make it unpoolable).
		chunk := p.chunk[:]
		if limit > 0 && len(chunk) > limit+1-len(out.B) {
			// Read at most one byte past the limit: enough to know.
			chunk = chunk[:limit+1-len(out.B)]
		}
		m, err := p.inflate.Read(chunk)
		out.B = append(out.B, chunk[:m]...)
		p.Inflated += int64(m)
		if limit > 0 && len(out.B) > limit {
			p.pool().Put(out)
			return nil, errInflateLimit
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			p.pool().Put(out)
			return nil, closeError(ws.StatusInvalidFramePayloadData, "bad deflate data")
		}
	}
}

// inflater adapts compress/flate's reader to wsflate's ReadResetter so that
// one decompressor (about 40 KiB) per Parser is reused, not one per message.
type inflater struct{ r io.Reader }

func newInflater(src io.Reader) wsflate.Decompressor {
	return &inflater{r: flate.NewReader(src)}
}

func (f *inflater) Read(b []byte) (int, error) { return f.r.Read(b) }

func (f *inflater) Reset(src io.Reader) {
	// flate's reader implements flate.Resetter; with no dictionary Reset
	// cannot fail.
	_ = f.r.(flate.Resetter).Reset(src, nil)
}

// Release returns any buffer d holds to the pool (after a message event has
// been handled, and on close). A fragmented message in progress is dropped
// with it, so call it on close, not between the fragments of a message.
// After a KindMessage it is optional: the next Next releases that buffer.
//
// The buffer of an unfinished message is not pooled but dropped (and counted
// in Dropped): it can be as large as a peer cared to make it before it
// stopped, and pooling it would keep that memory for good.
func (p *Parser) Release(d *Decoder) {
	if d.buf != nil {
		if d.flags&flagFragmented != 0 {
			p.Dropped += int64(cap(d.buf.B))
		} else {
			p.pool().Put(d.buf)
		}
		d.buf = nil
	}
	d.flags &= flagDeflate
	d.op = 0
}

func (p *Parser) pool() *pool.Pool {
	if p.Pool == nil {
		p.Pool = new(pool.Pool)
	}
	return p.Pool
}
