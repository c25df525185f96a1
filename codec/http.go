package codec

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// HeaderField is one request header line, name and value as sent (the value
// without surrounding whitespace).
type HeaderField struct{ Name, Value string }

// Request is a parsed HTTP/1.x request head. All strings share one copy of
// the head bytes, so a Request stays valid after the input buffer is reused.
type Request struct {
	Method, Target, Path, RawQuery string // Target as sent; Path = Target without the query (see pathOf)
	ProtoMinor                     int    // HTTP/1.ProtoMinor
	Host                           string // Host header value as sent ("" if absent)
	Headers                        []HeaderField
}

// Header returns the first value of the header called name (case-insensitive),
// or "" when there is none.
func (r *Request) Header(name string) string { return headerValue(r.Headers, name) }

// WantsClose reports whether the client ends the connection after this
// request: HTTP/1.0, or "Connection: close".
func (r *Request) WantsClose() bool {
	return r.ProtoMinor == 0 || HasToken(r.Header("Connection"), "close")
}

// IsUpgrade reports whether r asks for a WebSocket upgrade: some Upgrade
// header lists the token "websocket" (case-insensitive). It says nothing about
// whether the rest of the handshake is valid; Accept decides that.
func (r *Request) IsUpgrade() bool {
	for i := range r.Headers {
		if strings.EqualFold(r.Headers[i].Name, "Upgrade") && HasToken(r.Headers[i].Value, "websocket") {
			return true
		}
	}
	return false
}

// HasToken reports whether the comma-separated list v holds token
// (case-insensitive), ignoring optional whitespace around elements.
func HasToken(v, token string) bool {
	for v != "" {
		var elem string
		elem, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.Trim(elem, " \t"), token) {
			return true
		}
	}
	return false
}

// HTTPError is an HTTP-level refusal: the gateway answers with Status (see
// AppendError) and closes the connection.
type HTTPError struct {
	Status int
	Reason string
}

func (e *HTTPError) Error() string {
	return "http " + strconv.Itoa(e.Status) + ": " + e.Reason
}

// ErrHeadTooLarge is returned by ParseRequestHead when no complete head fits
// in max bytes.
var ErrHeadTooLarge error = &HTTPError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request head too large"}

func badRequest(reason string) error {
	return &HTTPError{Status: http.StatusBadRequest, Reason: reason}
}

// ParseRequestHead parses the HTTP/1.x request head at the start of buf.
//
// n == 0 && err == nil: incomplete, need more bytes (and len(buf) <= max).
// ErrHeadTooLarge (an *HTTPError with Status 431) when no complete head lies
// within max bytes (max <= 0: no limit). *HTTPError{Status: 400} when
// malformed: bad request line, bad header line, obs-fold, a version other
// than HTTP/1.x, a bare CR, several Host headers, or no Host in HTTP/1.1
// (RFC 7230 section 5.4). Lines are checked as soon as they are complete, so
// garbage is refused without waiting for max bytes. Bare LF line ends are
// accepted (RFC 7230 section 3.5). Empty lines before the request line are
// skipped (ibid.) and counted in n.
//
// An incomplete head allocates nothing; a complete one costs one copy of the
// head (every string of the Request points into it) and the header slice.
func ParseRequestHead(buf []byte, max int) (req *Request, n int, err error) {
	scan := buf
	if max > 0 && len(scan) > max {
		scan = scan[:max]
	}
	n, start, nheaders, err := scanHead(scan)
	if err != nil {
		return nil, 0, err
	}
	if n == 0 {
		if max > 0 && len(buf) >= max {
			return nil, 0, ErrHeadTooLarge
		}
		return nil, 0, nil
	}
	return buildRequest(string(buf[start:n]), nheaders), n, nil
}

// scanHead validates the head in b line by line. It returns n == 0 when the
// head is not complete yet, else its length, where the request line starts
// (after skipped empty lines) and the number of header fields.
func scanHead(b []byte) (n, start, nheaders int, err error) {
	pos := 0
	lineNo := 0
	hosts := 0
	minor := 0
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return 0, 0, 0, nil
		}
		line := b[pos : pos+i]
		next := pos + i + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return 0, 0, 0, badRequest("bare CR in request head")
		}
		switch {
		case lineNo == 0 && len(line) == 0:
			// RFC 7230 3.5: ignore empty lines before the request line.
			pos = next
			start = next
			continue
		case lineNo == 0:
			minor, err = checkRequestLine(line)
			if err != nil {
				return 0, 0, 0, err
			}
		case len(line) == 0:
			if minor >= 1 && hosts == 0 {
				return 0, 0, 0, badRequest("missing Host header")
			}
			return next, start, nheaders, nil
		default:
			isHost, err := checkHeaderLine(line)
			if err != nil {
				return 0, 0, 0, err
			}
			if isHost {
				hosts++
				if hosts > 1 {
					return 0, 0, 0, badRequest("more than one Host header")
				}
			}
			nheaders++
		}
		lineNo++
		pos = next
	}
}

// checkRequestLine checks "method SP request-target SP HTTP/1.x" and returns x.
func checkRequestLine(line []byte) (minor int, err error) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return 0, badRequest("bad request line: method")
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return 0, badRequest("bad request line: request-target")
	}
	for _, c := range rest[:sp2] {
		if c <= ' ' || c == 0x7f {
			return 0, badRequest("bad request line: request-target")
		}
	}
	proto := rest[sp2+1:]
	// RFC 7230 2.6: HTTP-version is case-sensitive "HTTP/" DIGIT "." DIGIT;
	// this server speaks only major version 1.
	if len(proto) != 8 || string(proto[:7]) != "HTTP/1." || proto[7] < '0' || proto[7] > '9' {
		return 0, badRequest("bad request line: not HTTP/1.x")
	}
	return int(proto[7] - '0'), nil
}

// checkHeaderLine checks "field-name: OWS field-value OWS" (RFC 7230 3.2).
func checkHeaderLine(line []byte) (isHost bool, err error) {
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (or whitespace before the first field): RFC 7230 3.2.4
		// allows refusing it with 400, which avoids two views of the head.
		return false, badRequest("obsolete line folding in header")
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return false, badRequest("bad header line")
	}
	for _, c := range line[colon+1:] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false, badRequest("control character in header value")
		}
	}
	return colon == 4 && bytes.EqualFold(line[:colon], []byte("host")), nil
}

// isToken reports whether b is a non-empty RFC 7230 token (1*tchar).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool { return tchars[c] }

// tchars is the RFC 7230 tchar set as a lookup table (immutable).
var tchars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// buildRequest splits the already validated head s (request line first).
func buildRequest(s string, nheaders int) *Request {
	r := &Request{Headers: make([]HeaderField, 0, nheaders)}
	line, s := cutLine(s)
	r.Method, line, _ = strings.Cut(line, " ")
	r.Target, line, _ = strings.Cut(line, " ")
	r.ProtoMinor = int(line[len(line)-1] - '0')
	r.Path, r.RawQuery, _ = strings.Cut(r.Target, "?")
	r.Path = pathOf(r.Path)
	for {
		line, s = cutLine(s)
		if line == "" {
			return r
		}
		name, value, _ := strings.Cut(line, ":")
		f := HeaderField{Name: name, Value: strings.Trim(value, " \t")}
		if r.Host == "" && strings.EqualFold(name, "Host") {
			r.Host = f.Value
		}
		r.Headers = append(r.Headers, f)
	}
}

func cutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

// pathOf returns the path of a request-target without its query. For the
// absolute-form (RFC 7230 5.3.2, "http://host/p", which servers must accept)
// it drops scheme and authority so that routing sees "/p"; other forms are
// returned as sent.
func pathOf(t string) string {
	if t == "" || t[0] == '/' {
		return t
	}
	i := strings.Index(t, "://")
	if i <= 0 {
		return t
	}
	rest := t[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		return rest[j:]
	}
	return "/"
}

// AppendResponse appends a complete HTTP/1.1 response with the given headers
// and Content-Length (unless headers already carry one, or the status is 1xx
// or 204, which must not have one: RFC 7230 3.3.2).
func AppendResponse(dst []byte, status int, headers []HeaderField, body []byte) []byte {
	dst = appendStatusLine(dst, status)
	hasLength := false
	for _, h := range headers {
		dst = appendHeaderField(dst, h.Name, h.Value)
		hasLength = hasLength || strings.EqualFold(h.Name, "Content-Length")
	}
	if !hasLength && status >= 200 && status != http.StatusNoContent {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// AppendError appends an error response: status line, Content-Type
// text/plain, Connection: close, Content-Length, body = reason + "\n" (the
// status text when reason is empty). A 426 also carries
// Sec-WebSocket-Version: 13 (RFC 6455 4.4) and a 405 Allow: GET (RFC 7231
// 6.5.5 requires it).
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

func appendHeaderField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}
