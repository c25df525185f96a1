package codec

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// This file holds what the proxy needs of HTTP/1.1 messages beyond the
// request head: response heads, body framing (RFC 7230 3.3.3), the chunked
// transfer coding as a scanner over a byte stream, and cookie helpers.

// Response is a parsed HTTP/1.x response head.
type Response struct {
	ProtoMinor int
	Status     int
	Reason     string
	Headers    []HeaderField
}

// Header returns the first value of the named header (case-insensitive).
func (r *Response) Header(name string) string { return headerValue(r.Headers, name) }

func headerValue(hs []HeaderField, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// ErrBadResponse is returned for a response head that is not HTTP/1.x.
var ErrBadResponse = errors.New("malformed response head")

// ParseResponseHead parses the HTTP/1.x response head at the start of buf,
// with the same contract as ParseRequestHead: (nil, 0, nil) while incomplete.
func ParseResponseHead(buf []byte, max int) (*Response, int, error) {
	scan := buf
	if max > 0 && len(scan) > max {
		scan = scan[:max]
	}
	end := bytes.Index(scan, []byte("\r\n\r\n"))
	headEnd := end + 4
	if lf := bytes.Index(scan, []byte("\n\n")); lf >= 0 && (end < 0 || lf < end) {
		end, headEnd = lf, lf+2
	}
	if end < 0 {
		if max > 0 && len(buf) >= max {
			return nil, 0, errors.Join(ErrBadResponse, errors.New("response head too large"))
		}
		return nil, 0, nil
	}
	s := string(buf[:headEnd])
	line, rest := cutLine(s)
	// "HTTP/1.x SP 3DIGIT SP reason"
	if len(line) < 12 || line[:7] != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ' {
		return nil, 0, ErrBadResponse
	}
	status, err := strconv.Atoi(line[9:12])
	if err != nil || status < 100 || status > 999 || (len(line) > 12 && line[12] != ' ') {
		return nil, 0, ErrBadResponse
	}
	r := &Response{ProtoMinor: int(line[7] - '0'), Status: status}
	if len(line) > 13 {
		r.Reason = line[13:]
	}
	for {
		line, rest = cutLine(rest)
		if line == "" {
			return r, headEnd, nil
		}
		if _, err := checkHeaderLine([]byte(line)); err != nil {
			return nil, 0, errors.Join(ErrBadResponse, err)
		}
		name, value, _ := strings.Cut(line, ":")
		r.Headers = append(r.Headers, HeaderField{Name: name, Value: strings.Trim(value, " \t")})
	}
}

// BodyKind says how a message body is delimited.
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // no body
	BodyLength                     // Content-Length bytes
	BodyChunked                    // chunked transfer coding
	BodyUntilClose                 // response only: until the server closes
)

// RequestBodyOf returns how the request's body is delimited. Requests that
// could be read two ways are refused (request smuggling): Transfer-Encoding
// with Content-Length, a Transfer-Encoding other than a final chunked, and
// conflicting or malformed Content-Length values all give 400.
func RequestBodyOf(r *Request) (BodyKind, int64, error) {
	kind, n, err := bodyOf(r.Headers)
	if err != nil {
		return 0, 0, &HTTPError{Status: http.StatusBadRequest, Reason: err.Error()}
	}
	return kind, n, nil
}

// ResponseBodyOf returns how a response body is delimited (RFC 7230 3.3.3).
func ResponseBodyOf(headRequest bool, r *Response) (BodyKind, int64) {
	if headRequest || r.Status < 200 || r.Status == http.StatusNoContent || r.Status == http.StatusNotModified {
		return BodyNone, 0
	}
	kind, n, err := bodyOf(r.Headers)
	if err != nil || kind == BodyNone && r.Header("Content-Length") == "" {
		return BodyUntilClose, 0
	}
	return kind, n
}

func bodyOf(hs []HeaderField) (BodyKind, int64, error) {
	var te, cl string
	var haveTE, haveCL bool
	for _, h := range hs {
		switch {
		case strings.EqualFold(h.Name, "Transfer-Encoding"):
			te, haveTE = joinValues(te, h.Value), true
		case strings.EqualFold(h.Name, "Content-Length"):
			if haveCL && h.Value != cl {
				return 0, 0, errors.New("conflicting Content-Length headers")
			}
			cl, haveCL = h.Value, true
		}
	}
	if haveTE {
		if haveCL {
			return 0, 0, errors.New("both Transfer-Encoding and Content-Length")
		}
		codings := strings.Split(te, ",")
		if !strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked") {
			return 0, 0, errors.New("Transfer-Encoding does not end in chunked")
		}
		return BodyChunked, 0, nil
	}
	if !haveCL {
		return BodyNone, 0, nil
	}
	n, err := strconv.ParseInt(cl, 10, 64)
	if err != nil || n < 0 || cl == "" || cl[0] == '+' {
		return 0, 0, errors.New("malformed Content-Length")
	}
	if n == 0 {
		return BodyNone, 0, nil
	}
	return BodyLength, n, nil
}

func joinValues(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// ChunkedScanner finds where a chunked body ends in a byte stream without
// decoding it: the proxy relays the bytes as they are. It keeps a few words
// of state, so a size line split over reads at any byte works. The zero value
// is ready for a new body.
type ChunkedScanner struct {
	state     uint8
	digits    uint8 // hex digits of the current size
	remaining int64 // chunk size being read, then data bytes left
	lineLen   int   // bytes of the current size or trailer line (CR excluded)
}

const (
	chunkSize    = iota // reading hex digits of the chunk-size line
	chunkExt            // rest of the chunk-size line (extensions) up to LF
	chunkData           // inside chunk data
	chunkDataCR         // the CR or LF after chunk data
	chunkDataLF         // the LF after chunk data's CR
	chunkTrailer        // trailer lines after the last chunk, up to an empty line
)

// maxChunkLine bounds a chunk-size or trailer line (extensions included).
const maxChunkLine = 4096

// ErrBadChunk is returned for a malformed chunked body.
var ErrBadChunk = errors.New("malformed chunked body")

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
		switch c.state {
		case chunkSize:
			if d, ok := hexDigit(b); ok {
				if c.digits++; c.digits > 15 {
					return n, false, ErrBadChunk
				}
				c.remaining = c.remaining<<4 | int64(d)
				continue
			}
			if c.digits == 0 {
				return n, false, ErrBadChunk
			}
			switch b {
			case ';', ' ', '\t', '\r':
				c.state = chunkExt
			case '\n':
				c.endSizeLine()
			default:
				return n, false, ErrBadChunk
			}
		case chunkExt:
			if b == '\n' {
				c.endSizeLine()
			}
		case chunkDataCR:
			switch b {
			case '\r':
				c.state = chunkDataLF
			case '\n':
				c.state, c.lineLen = chunkSize, 0
			default:
				return n, false, ErrBadChunk
			}
		case chunkDataLF:
			if b != '\n' {
				return n, false, ErrBadChunk
			}
			c.state, c.lineLen = chunkSize, 0
		case chunkTrailer:
			// digits marks a trailer line with content; an empty line ends the body.
			switch {
			case b == '\n' && c.digits == 0:
				*c = ChunkedScanner{}
				return n, true, nil
			case b == '\n':
				c.lineLen, c.digits = 0, 0
			case b != '\r':
				c.digits = 1
			}
		}
	}
	return n, false, nil
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

// CookieValue returns the value of cookie name in the request's Cookie headers.
func CookieValue(r *Request, name string) string {
	for _, h := range r.Headers {
		if !strings.EqualFold(h.Name, "Cookie") {
			continue
		}
		for part := range strings.SplitSeq(h.Value, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// RemoveCookie returns a Cookie header value without cookie name.
func RemoveCookie(value, name string) string {
	var kept []string
	for part := range strings.SplitSeq(value, ";") {
		p := strings.TrimSpace(part)
		if k, _, _ := strings.Cut(p, "="); k == name || p == "" {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "; ")
}

// AppendHeader appends "name: value\r\n".
func AppendHeader(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}
