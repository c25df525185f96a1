package codec

import (
	"bytes"
	"strings"
)

// Request is a parsed HTTP/1.x request head. All strings share one copy of
// the head bytes, so a Request stays valid after the input buffer is reused.
type Request struct {
	Method, Target, Path, RawQuery string // Target as sent; Path = Target without the query (see pathOf)
	ProtoMinor                     int    // HTTP/1.ProtoMinor
	Host                           string // Host header value as sent ("" if absent)
	Headers                        []HeaderField

	// TLS is not parsed: the gateway sets it for a request that came over
	// its TLS listener, so the server gets X-Forwarded-Proto: https.
	TLS bool
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
// whether the rest of the handshake is valid; AcceptRequest decides that.
func (r *Request) IsUpgrade() bool {
	for i := range r.Headers {
		if strings.EqualFold(r.Headers[i].Name, "Upgrade") && HasToken(r.Headers[i].Value, "websocket") {
			return true
		}
	}
	return false
}

// ParseRequestHead parses the HTTP/1.x request head at the start of buf with
// the grammar of head.go.
//
// n == 0 && err == nil: incomplete, need more bytes (and len(buf) <= max).
// ErrHeadTooLarge (an *HTTPError with Status 431) when no complete head lies
// within max bytes (max <= 0: no limit). *HTTPError{Status: 400} when
// malformed: bad request line, bad header line, obs-fold, a version other
// than HTTP/1.x, a bare CR, several Host headers, or no Host in HTTP/1.1
// (RFC 9112 3.2). Lines are checked as soon as they are complete, so
// garbage is refused without waiting for max bytes. Bare LF line ends are
// accepted (RFC 9112 2.2). Empty lines before the request line are
// skipped (ibid.) and counted in n.
//
// An incomplete head allocates nothing; a complete one costs one copy of the
// head (every string of the Request points into it) and the header slice.
func ParseRequestHead(buf []byte, max int) (req *Request, n int, err error) {
	return ParseRequestHeadLimits(buf, max, 0)
}

// ParseRequestHeadLimits is ParseRequestHead that also refuses a head with
// more than maxFields header fields (ErrTooManyFields, a 431) as soon as the
// field after the last allowed one is complete; maxFields <= 0: no limit.
func ParseRequestHeadLimits(buf []byte, maxBytes, maxFields int) (req *Request, n int, err error) {
	s, err := scanHead(buf, maxBytes, maxFields, checkRequestLine)
	if err != nil || s.n == 0 {
		return nil, 0, err
	}
	switch {
	case s.hosts > 1:
		return nil, 0, badRequest("more than one Host header")
	case s.minor >= 1 && s.hosts == 0:
		return nil, 0, badRequest("missing Host header")
	}
	return buildRequest(string(buf[s.start:s.n]), s.fields), s.n, nil
}

// checkRequestLine checks "method SP request-target SP HTTP/1.x" (RFC 9112
// 3) and returns x.
func checkRequestLine(line []byte) (minor int, err error) {
	method, rest, _ := bytes.Cut(line, []byte(" "))
	if !isToken(method) {
		return 0, badRequest("bad request line: method")
	}
	target, proto, ok := bytes.Cut(rest, []byte(" "))
	if !ok || len(target) == 0 {
		return 0, badRequest("bad request line: request-target")
	}
	if !isRequestTarget(target) {
		return 0, badRequest("bad request line: request-target")
	}
	minor, ok = checkVersion(proto)
	if !ok {
		return 0, badRequest("bad request line: not HTTP/1.x")
	}
	return minor, nil
}

// isRequestTarget checks the request-target loosely but in ASCII (RFC 9112
// 3.2): visible ASCII only (no SP, control character or byte over 0x7e; RFC
// 3986 has none, clients percent-encode them), in one of the four forms by
// its first bytes: "/" (origin-form), "*" (asterisk-form), or a scheme and
// ":" (absolute-form; authority-form "host:port" looks the same). Which
// characters a path may hold is left to the router, as llhttp does.
func isRequestTarget(t []byte) bool {
	for _, c := range t {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	switch {
	case t[0] == '/':
		return true
	case len(t) == 1 && t[0] == '*':
		return true
	}
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1)
	for i, c := range t {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// buildRequest splits the already validated head s (request line first).
func buildRequest(s string, nfields int) *Request {
	line, fields := splitHead(s, nfields)
	r := &Request{Headers: fields}
	r.Method, line, _ = strings.Cut(line, " ")
	r.Target, line, _ = strings.Cut(line, " ")
	r.ProtoMinor = int(line[len(line)-1] - '0')
	r.Path, r.RawQuery, _ = strings.Cut(r.Target, "?")
	r.Path = pathOf(r.Path)
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Host") {
			r.Host = f.Value
			break
		}
	}
	return r
}

// pathOf returns the path of a request-target without its query. For the
// absolute-form (RFC 9112 3.2.2, "http://host/p", which servers must accept)
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
