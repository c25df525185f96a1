package codec

import be "encoding/binary"

// FrameTracker follows frame boundaries in a stream of frames it relays
// without decoding (the server→client side of a tunnel), so the gateway can
// end that stream with a close frame of its own without cutting a frame in
// half. It costs a few words per tunnel and only looks at frame headers.
type FrameTracker struct {
	remaining int64    // payload bytes left in the current frame
	hdr       [14]byte // header bytes seen so far (RFC 6455 headers are at most 14)
	have      uint8
}

// Track advances over b, the next bytes of the stream.
func (t *FrameTracker) Track(b []byte) {
	for len(b) > 0 {
		if t.remaining > 0 {
			k := min(t.remaining, int64(len(b)))
			b = b[k:]
			t.remaining -= k
			continue
		}
		t.hdr[t.have] = b[0]
		t.have++
		b = b[1:]
		if t.have < 2 || int(t.have) < headerLen(t.hdr[1]) {
			continue
		}
		t.remaining = payloadLen(t.hdr[:t.have])
		t.have = 0
	}
}

// AtBoundary reports whether the stream so far ends between two frames.
func (t *FrameTracker) AtBoundary() bool { return t.remaining == 0 && t.have == 0 }

// FrameLen returns the length of the frame at the start of buf (header and
// payload) once its header is complete; ok is false while it is not.
func FrameLen(buf []byte) (n int64, ok bool) {
	if len(buf) < 2 {
		return 0, false
	}
	hlen := headerLen(buf[1])
	if len(buf) < hlen {
		return 0, false
	}
	return int64(hlen) + payloadLen(buf[:hlen]), true
}

// headerLen is a frame header's length, given its second byte (RFC 6455 5.2).
func headerLen(b1 byte) int {
	n := 2
	if b1&0x80 != 0 {
		n += 4
	}
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// payloadLen reads the payload length of a complete header.
func payloadLen(h []byte) int64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return int64(be.BigEndian.Uint16(h[2:4]))
	case 127:
		return int64(be.BigEndian.Uint64(h[2:10]) &^ (1 << 63))
	default:
		return int64(l)
	}
}
