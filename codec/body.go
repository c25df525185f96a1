package codec

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Body framing (RFC 9112 6.3): how a message body is delimited.

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
// with Content-Length, a Transfer-Encoding other than a final chunked (or
// chunked twice), Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1:
// faulty framing), and conflicting or malformed Content-Length values all
// give 400. Identical repeated Content-Length values are one (RFC 9110
// 8.6); AppendForwardedHead then writes one.
func RequestBodyOf(r *Request) (BodyKind, int64, error) {
	f, err := framingOf(r.Headers)
	switch {
	case err == nil && f.haveTE && r.ProtoMinor == 0:
		err = errors.New("Transfer-Encoding in an HTTP/1.0 request")
	case err == nil && f.haveTE && f.haveCL:
		err = errBothTECL
	}
	if err != nil {
		return 0, 0, &HTTPError{Status: http.StatusBadRequest, Reason: err.Error()}
	}
	return f.kind, f.n, nil
}

// ResponseBodyOf returns how a response body is delimited (RFC 9112 6.3),
// reading until close when the framing is broken. ResponseBody tells.
func ResponseBodyOf(headRequest bool, r *Response) (BodyKind, int64) {
	if headRequest || r.Status < 200 || r.Status == http.StatusNoContent || r.Status == http.StatusNotModified {
		return BodyNone, 0
	}
	f, err := framingOf(r.Headers)
	if err != nil || f.kind == BodyNone && !f.haveCL {
		return BodyUntilClose, 0
	}
	return f.kind, f.n
}

// ResponseBody is ResponseBodyOf that refuses a response whose framing is
// broken instead of reading it until close: a malformed or conflicting
// Content-Length (RFC 9112 6.3(5) wants a proxy to answer 502), or chunked
// applied twice. The error wraps ErrBadResponse. Both Transfer-Encoding and
// Content-Length: Transfer-Encoding wins (6.3(3)), and the client's head
// must not carry the Content-Length (AppendClientResponseHead drops it). A
// Transfer-Encoding that does not end in chunked means until close (ibid.).
func ResponseBody(headRequest bool, r *Response) (BodyKind, int64, error) {
	if headRequest || r.Status < 200 || r.Status == http.StatusNoContent || r.Status == http.StatusNotModified {
		return BodyNone, 0, nil
	}
	f, err := framingOf(r.Headers)
	switch {
	case errors.Is(err, errNotChunked):
		return BodyUntilClose, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("%w: %w", ErrBadResponse, err)
	case f.kind == BodyNone && !f.haveCL:
		return BodyUntilClose, 0, nil
	}
	return f.kind, f.n, nil
}

// errNotChunked: a Transfer-Encoding whose last coding is not chunked (a
// request must be refused, a response is read until close).
var errNotChunked = errors.New("Transfer-Encoding does not end in chunked")

var errBothTECL = errors.New("both Transfer-Encoding and Content-Length")

// framing is what the framing headers of a head say.
type framing struct {
	kind           BodyKind
	n              int64
	haveTE, haveCL bool
}

// framingOf reads the framing headers: Transfer-Encoding wins over
// Content-Length (the callers decide whether both is an error), and a
// Content-Length is checked even then.
func framingOf(hs []HeaderField) (framing, error) {
	var f framing
	var te, cl string
	for _, h := range hs {
		switch {
		case ASCIIEqualFold(h.Name, "Transfer-Encoding"):
			te, f.haveTE = joinValues(te, h.Value), true
		case ASCIIEqualFold(h.Name, "Content-Length"):
			if f.haveCL && h.Value != cl {
				return f, errors.New("conflicting Content-Length headers")
			}
			cl, f.haveCL = h.Value, true
		}
	}
	if f.haveCL {
		n, ok := parseLength(cl)
		if !ok {
			return f, errors.New("malformed Content-Length")
		}
		f.n = n
		if n > 0 {
			f.kind = BodyLength
		}
	}
	if f.haveTE {
		codings := strings.Split(te, ",")
		chunked := 0
		for _, c := range codings {
			if ASCIIEqualFold(strings.TrimSpace(c), "chunked") {
				chunked++
			}
		}
		if !ASCIIEqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked") {
			return f, errNotChunked
		}
		if chunked > 1 {
			// RFC 9112 7: a sender must not apply chunked more than once;
			// llhttp refuses it, so it must never be forwarded.
			return f, errors.New("chunked applied more than once")
		}
		f.kind, f.n = BodyChunked, 0
	}
	return f, nil
}

// parseLength parses Content-Length = 1*DIGIT (RFC 9110 8.6): no sign, no
// whitespace, at most 18 digits so it cannot overflow.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func joinValues(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}
