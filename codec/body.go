package codec

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
// with Content-Length, a Transfer-Encoding other than a final chunked, and
// conflicting or malformed Content-Length values all give 400.
func RequestBodyOf(r *Request) (BodyKind, int64, error) {
	kind, n, err := bodyOf(r.Headers)
	if err != nil {
		return 0, 0, &HTTPError{Status: http.StatusBadRequest, Reason: err.Error()}
	}
	return kind, n, nil
}

// ResponseBodyOf returns how a response body is delimited (RFC 9112 6.3),
// reading until close when the framing is broken. ResponseBody tells.
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

// ResponseBody is ResponseBodyOf that refuses a response whose framing is
// broken instead of reading it until close: a malformed or conflicting
// Content-Length (RFC 9112 6.3 wants a proxy to answer 502) or both
// Transfer-Encoding and Content-Length (ibid.: a sign of response
// splitting, "ought to be handled as an error"). The error wraps
// ErrBadResponse. A Transfer-Encoding that does not end in chunked still
// means until close (ibid.).
func ResponseBody(headRequest bool, r *Response) (BodyKind, int64, error) {
	if headRequest || r.Status < 200 || r.Status == http.StatusNoContent || r.Status == http.StatusNotModified {
		return BodyNone, 0, nil
	}
	kind, n, err := bodyOf(r.Headers)
	switch {
	case errors.Is(err, errNotChunked):
		return BodyUntilClose, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("%w: %w", ErrBadResponse, err)
	case kind == BodyNone && r.Header("Content-Length") == "":
		return BodyUntilClose, 0, nil
	}
	return kind, n, nil
}

// errNotChunked: a Transfer-Encoding whose last coding is not chunked (a
// request must be refused, a response is read until close).
var errNotChunked = errors.New("Transfer-Encoding does not end in chunked")

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
			return 0, 0, errNotChunked
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
