package codec

import "errors"

// ChunkedScanner finds where a chunked body (RFC 9112 7.1) ends in a byte
// stream without decoding it: the proxy relays the bytes as they are, so it
// holds them to the strict grammar, lest the next hop read the stream
// otherwise: every line ends in CRLF (a bare LF, which a head may use, is
// refused here as llhttp refuses it: the bytes are relayed, not rewritten),
// bare CR and control characters are refused, and so is a trailer field
// that would frame a message (Content-Length, Transfer-Encoding: RFC 9110
// 6.5.1). It keeps a few words of state, so a size line split over reads
// at any byte works. The zero value is ready for a new body.
type ChunkedScanner struct {
	state     uint8
	digits    uint8 // hex digits of the current size
	framing   uint8 // trailer name: which of framingTrailers it may still be (bits)
	lineLen   int32 // bytes of the current size or trailer line (CR excluded); int32 (≤ maxChunkLine+1) packs the scanner in 16 bytes, two per proxy session
	remaining int64 // chunk size being read, then data bytes left
}

// framingTrailers are the fields a trailer section must not hold: a
// recipient that merged them into the header section would reframe the
// message.
var framingTrailers = [...]string{"content-length", "transfer-encoding"}

const (
	chunkSize         = iota // reading hex digits of the chunk-size line
	chunkSizeWS              // BWS after the size: only more of it or ";" may follow
	chunkExt                 // chunk extensions up to the line end
	chunkSizeLF              // the LF after the size line's CR
	chunkData                // inside chunk data
	chunkDataCR              // the CR or LF after chunk data
	chunkDataLF              // the LF after chunk data's CR
	chunkTrailer             // start of a trailer line (an empty one ends the body)
	chunkTrailerName         // field name of a trailer line
	chunkTrailerValue        // field value of a trailer line
	chunkTrailerLF           // the LF after a trailer line's CR
	chunkEndLF               // the LF after the final empty line's CR
	chunkDone                // the body has ended (Scan then resets the scanner)
)

// maxChunkLine bounds a chunk-size or trailer line (extensions included).
const maxChunkLine = 4096

// ErrBadChunk is returned for a malformed chunked body.
var ErrBadChunk = errors.New("malformed chunked body")

// isCtl reports a control character other than HTAB (not allowed in a field
// value, a chunk extension or a reason phrase).
func isCtl(b byte) bool { return (b < ' ' && b != '\t') || b == 0x7f }

// Scan consumes what it can of buf and reports how many bytes belong to the
// body and whether the body ended within them.
func (c *ChunkedScanner) Scan(buf []byte) (n int, done bool, err error) {
	for n < len(buf) {
		if c.state == chunkData {
			k := int64(len(buf) - n)
			if k > c.remaining {
				k = c.remaining
			}
			n += int(k)
			if c.remaining -= k; c.remaining == 0 {
				c.state = chunkDataCR
			}
			continue
		}
		b := buf[n]
		n++
		if c.lineLen++; c.lineLen > maxChunkLine {
			return n, false, ErrBadChunk
		}
		if !c.step(b) {
			return n, false, ErrBadChunk
		}
		if c.state == chunkEndLF+1 {
			*c = ChunkedScanner{}
			return n, true, nil
		}
	}
	return n, false, nil
}

// step moves past one byte outside chunk data; false when it is not allowed
// there.
func (c *ChunkedScanner) step(b byte) bool {
	switch c.state {
	case chunkSize:
		if d, ok := hexDigit(b); ok {
			if c.digits++; c.digits > 15 {
				return false
			}
			c.remaining = c.remaining<<4 | int64(d)
			return true
		}
		if c.digits == 0 {
			return false
		}
		switch b {
		case ';':
			c.state = chunkExt
		case ' ', '\t':
			c.state = chunkSizeWS
		case '\r':
			c.state = chunkSizeLF
		default:
			return false
		}
	case chunkSizeWS:
		switch b {
		case ';':
			c.state = chunkExt
		case ' ', '\t':
		default:
			return false
		}
	case chunkExt:
		switch {
		case b == '\r':
			c.state = chunkSizeLF
		case isCtl(b):
			return false
		}
	case chunkSizeLF:
		if b != '\n' {
			return false
		}
		c.endSizeLine()
	case chunkDataCR:
		switch b {
		case '\r':
			c.state = chunkDataLF
		default:
			return false
		}
	case chunkDataLF:
		if b != '\n' {
			return false
		}
		c.state, c.lineLen = chunkSize, 0
	case chunkTrailer:
		switch {
		case b == '\r':
			c.state = chunkEndLF
		case tchars[b]:
			c.state = chunkTrailerName
			c.framing = 1<<len(framingTrailers) - 1
			c.matchName(b)
		default:
			return false // obs-fold, or not a field line
		}
	case chunkTrailerName:
		switch {
		case b == ':':
			for i, name := range framingTrailers {
				if c.framing&(1<<i) != 0 && int(c.lineLen)-1 == len(name) {
					return false
				}
			}
			c.state = chunkTrailerValue
		case !tchars[b]:
			return false
		default:
			c.matchName(b)
		}
	case chunkTrailerValue:
		switch {
		case b == '\r':
			c.state = chunkTrailerLF
		case isCtl(b):
			return false
		}
	case chunkTrailerLF:
		if b != '\n' {
			return false
		}
		c.state, c.lineLen = chunkTrailer, 0
	case chunkEndLF:
		if b != '\n' {
			return false
		}
		c.state = chunkDone
	}
	return true
}

// matchName narrows the framing fields the trailer name being read may be
// (b is its byte number lineLen, case-insensitive).
func (c *ChunkedScanner) matchName(b byte) {
	i := int(c.lineLen) - 1
	if b >= 'A' && b <= 'Z' {
		b += 'a' - 'A'
	}
	for k, name := range framingTrailers {
		if i >= len(name) || name[i] != b {
			c.framing &^= 1 << k
		}
	}
}

// endSizeLine moves past a complete chunk-size line.
func (c *ChunkedScanner) endSizeLine() {
	c.lineLen, c.digits = 0, 0
	if c.remaining == 0 {
		c.state = chunkTrailer
		return
	}
	c.state = chunkData
}

func hexDigit(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}
