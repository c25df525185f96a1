package codec

import (
	"bytes"
	"net/http"
	"strings"
)

// Request is a parsed HTTP/1.x request head. All strings share one copy of
// the head bytes, so a Request stays valid after the input buffer is reused.
type Request struct {
	Method, Target string // Target as sent
	// URI is the target as it is forwarded: Target, or for an
	// absolute-form target (RFC 9112 3.2.2) its path and query in
	// origin-form. Path is URI without the query; RawQuery the query.
	URI, Path, RawQuery string
	ProtoMinor          int    // HTTP/1.ProtoMinor
	Host                string // the Host header as sent ("" if absent), or an absolute-form target's authority
	Headers             []HeaderField

	// TLS is not parsed: the gateway sets it for a request that came over
	// its TLS listener, so the server gets X-Forwarded-Proto: https.
	TLS bool
}

// Header returns the first value of the header called name (case-insensitive),
// or "" when there is none.
func (r *Request) Header(name string) string { return headerValue(r.Headers, name) }

// HeaderCount is how many fields named name (case-insensitive) the request has.
func (r *Request) HeaderCount(name string) int {
	n := 0
	for _, h := range r.Headers {
		if ASCIIEqualFold(h.Name, name) {
			n++
		}
	}
	return n
}

// WantsClose reports whether the client ends the connection after this
// request: HTTP/1.0, or "Connection: close".
func (r *Request) WantsClose() bool {
	return r.ProtoMinor == 0 || FieldsHaveToken(r.Headers, "Connection", "close")
}

// IsUpgrade reports whether r asks for a WebSocket upgrade: some Upgrade
// header lists the token "websocket" (case-insensitive). It says nothing about
// whether the rest of the handshake is valid; AcceptRequest decides that.
func (r *Request) IsUpgrade() bool {
	return FieldsHaveToken(r.Headers, "Upgrade", "websocket")
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
	req, err = buildRequest(string(buf[s.start:s.n]), s.fields)
	if err != nil {
		return nil, 0, err
	}
	return req, s.n, nil
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
	if minor > 1 {
		// RFC 9110 2.5 would let us read it as 1.1; refusing is what a
		// strict parser (llhttp) does, and nothing sends it.
		return 0, &HTTPError{Status: http.StatusHTTPVersionNotSupported, Reason: "HTTP/1." + string(proto[7]) + " is not supported"}
	}
	return minor, nil
}

// isRequestTarget checks the request-target loosely but in ASCII (RFC 9112
// 3.2): visible ASCII only (no SP, control character or byte over 0x7e; RFC
// 3986 has none, clients percent-encode them), in one of the four forms by
// its first bytes: "/" (origin-form), "*" (asterisk-form), or a scheme and
// ":" (absolute-form; authority-form "host:port" looks the same). A "#"
// is refused: a fragment is never sent (RFC 9112 3.2). Which characters a
// path may hold is left to the router, as llhttp does.
func isRequestTarget(t []byte) bool {
	for _, c := range t {
		if c <= ' ' || c >= 0x7f || c == '#' {
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

// buildRequest splits the already validated head s (request line first),
// takes the Host of an absolute-form target from its authority and checks
// the Host.
func buildRequest(s string, nfields int) (*Request, error) {
	line, fields := splitHead(s, nfields)
	r := &Request{Headers: fields}
	r.Method, line, _ = strings.Cut(line, " ")
	r.Target, line, _ = strings.Cut(line, " ")
	r.ProtoMinor = int(line[len(line)-1] - '0')
	for _, f := range fields {
		if ASCIIEqualFold(f.Name, "Host") {
			r.Host = f.Value
			break
		}
	}
	if !validHost(r.Host) {
		return nil, badRequest("invalid Host header")
	}
	r.URI = r.Target
	if i := strings.Index(r.Target, "://"); i > 0 && r.Target[0] != '/' {
		// absolute-form: RFC 9112 3.2.2 has the authority replace Host, and
		// the request goes on in origin-form (3.2.1), so that the router,
		// the backend and X-Forwarded-Host all see one host.
		rest := r.Target[i+3:]
		auth, path := rest, "/"
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			auth, path = rest[:j], rest[j:]
			if path[0] == '?' {
				path = "/" + path
			}
		}
		if auth == "" || !validHost(auth) {
			// An empty host (RFC 9110 4.2.1) or userinfo ("u@h", 4.2.4).
			return nil, badRequest("bad request line: request-target authority")
		}
		r.Host, r.URI = auth, path
	}
	r.Path, r.RawQuery, _ = strings.Cut(r.URI, "?")
	return r, nil
}

// validHost checks a Host value or an authority: RFC 3986 host [":" port],
// the host a reg-name (unreserved, pct-encoded, sub-delims) or an
// IP-literal in brackets; empty is allowed (RFC 9112 3.2: a target without
// authority). "a b/c@d" and userinfo are refused.
func validHost(h string) bool {
	if h == "" {
		return true
	}
	host, port := h, ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		for _, c := range []byte(h[1:end]) {
			if !hostChars[c] && c != ':' {
				return false
			}
		}
		host, port = "", h[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i:]
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c == '%' {
			if i+2 >= len(host) || !isHex(host[i+1]) || !isHex(host[i+2]) {
				return false
			}
			i += 2
			continue
		}
		if !hostChars[c] {
			return false
		}
	}
	if port != "" {
		for _, c := range []byte(port[1:]) {
			if !isDigit(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool { _, ok := hexDigit(c); return ok }

// hostChars is RFC 3986 unreserved and sub-delims: the characters of a
// reg-name besides pct-encoded (immutable).
var hostChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=" {
		t[c] = true
	}
	return t
}()
