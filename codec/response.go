package codec

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Response is a parsed HTTP/1.x response head. Like a Request, its strings
// share one copy of the head bytes.
type Response struct {
	ProtoMinor int
	Status     int
	Reason     string
	Headers    []HeaderField
}

// Header returns the first value of the named header (case-insensitive).
func (r *Response) Header(name string) string { return headerValue(r.Headers, name) }

// SwitchesToWebSocket reports whether r's Upgrade fields name exactly one
// protocol, websocket (ASCII case-insensitive): the only switch a WebSocket
// upgrade may be answered with. Anything else on a 101 (h2c, say) would
// turn the tunnel into a protocol the gateway never routed or checked.
func (r *Response) SwitchesToWebSocket() bool {
	n := 0
	for _, h := range r.Headers {
		if !ASCIIEqualFold(h.Name, "Upgrade") {
			continue
		}
		for part := range strings.SplitSeq(h.Value, ",") {
			p := strings.Trim(part, " \t")
			if p == "" {
				continue
			}
			if !ASCIIEqualFold(p, "websocket") {
				return false
			}
			n++
		}
	}
	return n == 1
}

// ErrBadResponse is returned (wrapped: test with errors.Is) for a response
// head that does not follow the grammar of head.go, or is too large.
var ErrBadResponse = errors.New("malformed response head")

// ParseResponseHead parses the HTTP/1.x response head at the start of buf,
// with the same grammar and contract as ParseRequestHead: (nil, 0, nil)
// while incomplete; an error wrapping ErrBadResponse when malformed or when
// no complete head lies within max bytes.
func ParseResponseHead(buf []byte, max int) (*Response, int, error) {
	return ParseResponseHeadLimits(buf, max, 0)
}

// ParseResponseHeadLimits is ParseResponseHead that also refuses a head
// with more than maxFields header fields (maxFields <= 0: no limit).
func ParseResponseHeadLimits(buf []byte, maxBytes, maxFields int) (*Response, int, error) {
	s, err := scanHead(buf, maxBytes, maxFields, checkStatusLine)
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			return nil, 0, fmt.Errorf("%w: %s", ErrBadResponse, he.Reason)
		}
		return nil, 0, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if s.n == 0 {
		return nil, 0, nil
	}
	line, fields := splitHead(string(buf[s.start:s.n]), s.fields)
	r := &Response{ProtoMinor: s.minor, Headers: fields}
	r.Status, r.Reason = statusOf(line)
	return r, s.n, nil
}

// ParseStatusLine parses one status line (its CRLF or LF, if present, is
// ignored) with the grammar ParseResponseHead applies to the first line of a
// head. The health check reads no more than this.
func ParseStatusLine(line []byte) (minor, status int, reason string, err error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 {
		return 0, 0, "", fmt.Errorf("%w: bare CR or LF in status line", ErrBadResponse)
	}
	if minor, err = checkStatusLine(line); err != nil {
		var he *HTTPError
		errors.As(err, &he)
		return 0, 0, "", fmt.Errorf("%w: %s", ErrBadResponse, he.Reason)
	}
	status, reason = statusOf(string(line))
	return minor, status, reason, nil
}

// checkStatusLine checks "HTTP/1.x SP 3DIGIT SP reason-phrase" (RFC 9112 4)
// and returns x. The status code must lie in 100-599 (RFC 9110 15: other
// values are invalid). The reason phrase may be empty; so may the SP before
// it, which RFC 9112 requires, because the health check has always accepted
// "HTTP/1.1 204" and servers that send it exist.
func checkStatusLine(line []byte) (minor int, err error) {
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	minor, ok := checkVersion(proto)
	if !ok {
		return 0, badRequest("bad status line: not HTTP/1.x")
	}
	if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') ||
		rest[0] < '1' || rest[0] > '5' || !isDigit(rest[1]) || !isDigit(rest[2]) {
		return 0, badRequest("bad status line: status code")
	}
	if len(rest) > 3 && !isFieldText(rest[4:]) {
		return 0, badRequest("bad status line: control character in reason")
	}
	return minor, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// statusOf returns the status code and reason of a checked status line.
func statusOf(line string) (status int, reason string) {
	rest := line[len("HTTP/1.x "):]
	status = int(rest[0]-'0')*100 + int(rest[1]-'0')*10 + int(rest[2]-'0')
	if len(rest) > 4 {
		reason = rest[4:]
	}
	return status, reason
}

// AppendResponse appends a complete HTTP/1.1 response with the given headers
// and Content-Length (unless headers already carry one, or the status is 1xx
// or 204, which must not have one: RFC 9110 8.6).
func AppendResponse(dst []byte, status int, headers []HeaderField, body []byte) []byte {
	dst = appendStatusLine(dst, status)
	hasLength := false
	for _, h := range headers {
		dst = AppendHeader(dst, h.Name, h.Value)
		hasLength = hasLength || ASCIIEqualFold(h.Name, "Content-Length")
	}
	if !hasLength && status >= 200 && status != http.StatusNoContent {
		dst = AppendHeader(dst, "Content-Length", strconv.Itoa(len(body)))
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// AppendError appends an error response: status line, Content-Type
// text/plain, Connection: close, Content-Length, body = reason + "\n" (the
// status text when reason is empty). A 426 also carries
// Sec-WebSocket-Version: 13 (RFC 6455 4.4) and a 405 Allow: GET (RFC 9110
// 15.5.6 requires it).
func AppendError(dst []byte, status int, reason string) []byte {
	if reason == "" {
		reason = http.StatusText(status)
	}
	dst = appendStatusLine(dst, status)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	switch status {
	case http.StatusUpgradeRequired:
		dst = append(dst, "Sec-WebSocket-Version: 13\r\n"...)
	case http.StatusMethodNotAllowed:
		dst = append(dst, "Allow: GET\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(reason)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, reason...)
	return append(dst, '\n')
}

func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	text := http.StatusText(status)
	if text == "" {
		text = "Status " + strconv.Itoa(status)
	}
	dst = append(dst, text...)
	return append(dst, "\r\n"...)
}
