package loadgen

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// MaxFramePayload bounds what the generator accepts from a server: it is a
// load generator, a bigger frame means something is wrong.
const MaxFramePayload = 64 << 20

// Frame is one parsed WebSocket frame. Payload aliases the parsed buffer.
type Frame struct {
	Fin     bool
	Rsv     byte // the three RSV bits, in the low bits
	Op      byte
	Masked  bool
	Payload []byte
}

// Sentinel errors of ParseFrame.
var (
	ErrFrameTooBig = errors.New("websocket frame payload over limit")
	ErrBadLength   = errors.New("websocket frame: 64-bit length with the high bit set")
)

// ParseFrame parses one frame at the start of buf. n == 0 with a nil error
// means buf does not hold a complete frame yet. A masked payload (servers must
// not mask, but a parser should not choke on it) is unmasked in place.
func ParseFrame(buf []byte) (f Frame, n int, err error) {
	if len(buf) < 2 {
		return f, 0, nil
	}
	b0, b1 := buf[0], buf[1]
	f.Fin = b0&0x80 != 0
	f.Rsv = (b0 >> 4) & 0x7
	f.Op = b0 & 0x0f
	f.Masked = b1&0x80 != 0
	hdr := 2
	length := uint64(b1 & 0x7f)
	switch length {
	case 126:
		if len(buf) < 4 {
			return f, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(buf[2:4]))
		hdr = 4
	case 127:
		if len(buf) < 10 {
			return f, 0, nil
		}
		length = binary.BigEndian.Uint64(buf[2:10])
		if length>>63 != 0 {
			return f, 0, ErrBadLength
		}
		hdr = 10
	}
	if length > MaxFramePayload {
		return f, 0, fmt.Errorf("%w: %d bytes", ErrFrameTooBig, length)
	}
	var key [4]byte
	if f.Masked {
		if len(buf) < hdr+4 {
			return f, 0, nil
		}
		copy(key[:], buf[hdr:hdr+4])
		hdr += 4
	}
	total := hdr + int(length)
	if len(buf) < total {
		return f, 0, nil
	}
	f.Payload = buf[hdr:total]
	if f.Masked {
		maskBytes(key, f.Payload)
	}
	return f, total, nil
}

// AppendClientFrame appends one final, masked client→server frame.
func AppendClientFrame(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(key, dst[start:])
	return dst
}

// AppendServerFrame appends one final, unmasked server→client frame (what a
// gateway sends; the write-floor scenario writes these).
func AppendServerFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

func maskBytes(key [4]byte, b []byte) {
	k := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k)<<32 | uint64(k)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		binary.LittleEndian.PutUint64(b[i:], v^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value a server must answer for key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}
