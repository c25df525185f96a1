package codec

import (
	"compress/flate"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// headerSink is the io.Writer given to ws.WriteHeaderBuffer. gobwas encodes
// the header into the buffer it is handed and then writes that buffer out;
// appendHeader hands it the spare capacity of dst, so the encoding already
// sits where it belongs and the write itself has nothing left to do. Being
// zero-sized, the sink costs no allocation when converted to io.Writer.
type headerSink struct{}

func (headerSink) Write(p []byte) (int, error) { return len(p), nil }

// appendHeader appends the encoding of h to dst, reserving room for extra
// payload bytes after it.
func appendHeader(dst []byte, h ws.Header, extra int) []byte {
	n := ws.HeaderSize(h)
	dst = slices.Grow(dst, ws.MaxHeaderSize+extra)
	if err := ws.WriteHeaderBuffer(headerSink{}, h, dst[len(dst):len(dst)+ws.MaxHeaderSize]); err != nil {
		// Only a length beyond int64 fails, which no []byte has.
		panic(fmt.Sprintf("codec: encoding frame header: %v", err))
	}
	return dst[:len(dst)+n]
}

// AppendFrame appends one final, unmasked server→client frame.
func AppendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	dst = appendHeader(dst, h, len(payload))
	return append(dst, payload...)
}

// AppendCloseFrame appends a close frame; code 0 → empty body. A reason
// longer than a control frame allows (123 bytes after the code) is cut at a
// UTF-8 boundary, so the peer never sees a broken reason.
func AppendCloseFrame(dst []byte, code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return AppendFrame(dst, ws.OpClose, nil)
	}
	if room := ws.MaxControlFramePayloadSize - 2; len(reason) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	body := 2 + len(reason)
	dst = appendHeader(dst, ws.Header{Fin: true, OpCode: ws.OpClose, Length: int64(body)}, body)
	start := len(dst)
	dst = dst[:start+body]
	ws.PutCloseFrameBody(dst[start:], code, reason)
	return dst
}

// Compressor is a reusable permessage-deflate writer with its output
// buffer: compress/flate's writer takes about 1 MiB to build, so each event
// loop keeps one. Not safe for concurrent use.
type Compressor struct {
	out appendWriter
	w   *wsflate.Writer
}

// maxKeptOutput bounds the output buffer a Compressor keeps between
// messages, so one large message does not pin its size in memory for good.
const maxKeptOutput = 64 << 10

// NewCompressor returns a Compressor at flate.BestSpeed: compression runs on
// an event loop, where latency for everyone else matters more than the last
// few percent of ratio.
func NewCompressor() *Compressor {
	c := &Compressor{}
	c.w = wsflate.NewWriter(&c.out, func(w io.Writer) wsflate.Compressor {
		// The level is valid, so NewWriter cannot fail.
		f, _ := flate.NewWriter(w, flate.BestSpeed)
		return f
	})
	return c
}

// AppendFrame deflates payload (no context takeover) and appends one frame
// with RSV1 set. op must be OpText or OpBinary (RFC 7692 6.1: only data
// messages are compressed).
func (c *Compressor) AppendFrame(dst []byte, op ws.OpCode, payload []byte) ([]byte, error) {
	if op != ws.OpText && op != ws.OpBinary {
		return dst, fmt.Errorf("codec: compressing a frame with opcode %#x: only text and binary messages can be compressed", byte(op))
	}
	defer func() {
		if cap(c.out.b) > maxKeptOutput {
			c.out.b = nil
		}
	}()
	// Reset drops any window: every message is compressed on its own.
	c.out.b = c.out.b[:0]
	c.w.Reset(&c.out)
	if _, err := c.w.Write(payload); err != nil {
		return dst, fmt.Errorf("codec: deflating message: %w", err)
	}
	// Flush ends the message the way RFC 7692 7.2.1 wants: sync flush with
	// its 0x00 0x00 0xff 0xff tail removed.
	if err := c.w.Flush(); err != nil {
		return dst, fmt.Errorf("codec: deflating message: %w", err)
	}
	h, err := wsflate.SetBit(ws.Header{Fin: true, OpCode: op, Length: int64(len(c.out.b))})
	if err != nil {
		return dst, fmt.Errorf("codec: setting the compression bit: %w", err)
	}
	dst = appendHeader(dst, h, len(c.out.b))
	return append(dst, c.out.b...), nil
}
