package codec

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// The header rewriting of a proxy that relays requests and responses as they
// came: what the server gets (forwarded headers, our stickiness cookie
// removed, hop-by-hop headers dropped) and what the client gets back.

// AppendForwardedHead writes the request head the server gets: the client's,
// with X-Forwarded-* added, cookie cookieName removed ("indirect"; "" keeps
// every cookie), and, for plain HTTP, hop-by-hop headers replaced by a
// keep-alive to the server. ip is the client's address ("" if unknown).
//
// The message is framed as received (RFC 9112 6.3): Connection may name
// hop-by-hop headers but never Content-Length, Transfer-Encoding, Host or
// the forwarding headers written here (HAProxy and nginx ignore such
// names; CVE-2022-31813 is what honouring them does). Repeated identical
// Content-Length fields (RequestBodyOf refuses differing ones) go out as
// one. Host is req.Host: the authority of an absolute-form target replaces
// the Host field (RFC 9112 3.2.2), and the target goes out in origin-form.
// A client's Forwarded header is dropped: the gateway speaks X-Forwarded-*,
// and a Forwarded it does not maintain would be the client's word only.
// X-Forwarded-Proto is https when req.TLS. A WebSocket upgrade goes out as
// exactly "Upgrade: websocket" and "Connection: Upgrade" (h2c and the like
// are never offered to the server); Connection names are read from every
// Connection field, and HTTP2-Settings is always dropped.
func AppendForwardedHead(dst []byte, req *Request, cookieName, ip string) []byte {
	upgrade := req.IsUpgrade()
	dst = append(dst, req.Method...)
	dst = append(dst, ' ')
	dst = append(dst, req.URI...)
	// The client's version: a 1.0 client must not get a chunked answer.
	dst = append(dst, " HTTP/1."...)
	dst = append(dst, byte('0'+req.ProtoMinor))
	dst = append(dst, "\r\n"...)
	hop := hopByHop(req.Headers)
	xff := ""
	wroteHost, wroteLength, wroteUpgrade, wroteConnection := false, false, false, false
	for _, h := range req.Headers {
		switch {
		case ASCIIEqualFold(h.Name, "X-Forwarded-For"):
			xff = joinList(xff, h.Value)
			continue
		case ASCIIEqualFold(h.Name, "X-Forwarded-Proto"), ASCIIEqualFold(h.Name, "X-Forwarded-Host"),
			ASCIIEqualFold(h.Name, "Forwarded"):
			continue
		case ASCIIEqualFold(h.Name, "Host"):
			if wroteHost {
				continue
			}
			h.Value, wroteHost = req.Host, true
		case ASCIIEqualFold(h.Name, "Content-Length"):
			if wroteLength {
				continue
			}
			wroteLength = true
		case cookieName != "" && ASCIIEqualFold(h.Name, "Cookie"):
			v := RemoveCookie(h.Value, cookieName)
			if v == "" {
				continue
			}
			h.Value = v
		case upgrade && ASCIIEqualFold(h.Name, "Upgrade"):
			// The server sees a WebSocket upgrade and nothing else: a client's
			// "Upgrade: websocket, h2c" must not let an h2c server switch a
			// tunnel to HTTP/2 that no longer passes our routing.
			if wroteUpgrade {
				continue
			}
			h.Value, wroteUpgrade = "websocket", true
		case upgrade && ASCIIEqualFold(h.Name, "Connection"):
			if wroteConnection {
				continue
			}
			h.Value, wroteConnection = "Upgrade", true
		case isHopByHop(h.Name, hop):
			continue
		}
		dst = AppendHeader(dst, h.Name, h.Value)
	}
	if !wroteHost && req.Host != "" {
		dst = AppendHeader(dst, "Host", req.Host) // an HTTP/1.0 absolute-form request
	}
	dst = AppendHeader(dst, "X-Forwarded-For", joinList(xff, ip))
	proto := "http"
	if req.TLS {
		proto = "https"
	}
	dst = AppendHeader(dst, "X-Forwarded-Proto", proto)
	if req.Host != "" {
		dst = AppendHeader(dst, "X-Forwarded-Host", req.Host)
	}
	if !upgrade {
		dst = AppendHeader(dst, "Connection", "keep-alive")
	}
	return append(dst, "\r\n"...)
}

// AppendClientResponseHead writes the response head the client gets: always
// HTTP/1.1, hop-by-hop headers dropped except the upgrade's on a tunnel
// (101), setCookie (a complete Set-Cookie value, "" for none) added with the
// Cache-Control that keeps caches from sharing it (HAProxy's "nocache"), and
// our own Connection: close or keep-alive on plain HTTP. Framing is kept as
// received (Connection cannot remove it), except that Content-Length goes
// when Transfer-Encoding is there (RFC 9112 6.3(3)) and repeated identical
// ones go out as one (ResponseBody refuses differing ones).
func AppendClientResponseHead(dst []byte, resp *Response, tunnel, closeClient bool, setCookie string) []byte {
	dst = appendResponseHead(dst, resp, tunnel)
	if setCookie != "" {
		dst = AppendHeader(dst, "Set-Cookie", setCookie)
		dst = AppendHeader(dst, "Cache-Control", `no-cache="set-cookie"`)
	}
	if !tunnel {
		if closeClient {
			dst = AppendHeader(dst, "Connection", "close")
		} else {
			dst = AppendHeader(dst, "Connection", "keep-alive")
		}
	}
	return append(dst, "\r\n"...)
}

// AppendInterimResponseHead writes a 1xx interim response (100 Continue,
// 103 Early Hints) as the client gets it: hop-by-hop headers dropped like
// on any other response (RFC 9110 7.6.1), no Connection of our own.
func AppendInterimResponseHead(dst []byte, resp *Response) []byte {
	dst = appendResponseHead(dst, resp, false)
	return append(dst, "\r\n"...)
}

// appendResponseHead writes the status line and the fields the client may
// see, without the final empty line.
func appendResponseHead(dst []byte, resp *Response, tunnel bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(resp.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, resp.Reason...)
	dst = append(dst, "\r\n"...)
	hop := hopByHop(resp.Headers)
	chunked := hasField(resp.Headers, "Transfer-Encoding")
	wroteLength := false
	for _, h := range resp.Headers {
		switch {
		case tunnel && (ASCIIEqualFold(h.Name, "Connection") || ASCIIEqualFold(h.Name, "Upgrade")):
		case ASCIIEqualFold(h.Name, "Content-Length"):
			if chunked || wroteLength {
				continue
			}
			wroteLength = true
		case isHopByHop(h.Name, hop):
			continue
		}
		dst = AppendHeader(dst, h.Name, h.Value)
	}
	return dst
}

func hasField(hs []HeaderField, name string) bool {
	for _, h := range hs {
		if ASCIIEqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// StatusOf is the HTTP status that answers err: an *HTTPError's, else 400.
func StatusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return http.StatusBadRequest
}

// hopByHop lists the headers the Connection fields name (RFC 9110 7.6.1):
// every Connection field, not the first only, or "Connection: Upgrade" then
// "Connection: HTTP2-Settings" would keep HTTP2-Settings.
func hopByHop(hs []HeaderField) []string {
	var out []string
	for _, h := range hs {
		if !ASCIIEqualFold(h.Name, "Connection") {
			continue
		}
		for part := range strings.SplitSeq(h.Value, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// isHopByHop: the RFC 7230 hop-by-hop headers plus those named in Connection,
// except the ones Connection may not remove (framedAsReceived).
// Transfer-Encoding is kept: bodies are relayed as they came.
func isHopByHop(name string, listed []string) bool {
	if oneOf(name, "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
		"proxy-authorization", "proxy-authenticate", "http2-settings") {
		return true
	}
	for _, l := range listed {
		if ASCIIEqualFold(l, name) {
			return !framedAsReceived(name)
		}
	}
	return false
}

// framedAsReceived lists the fields a Connection header cannot make
// hop-by-hop: the framing, Host, and those the gateway writes itself.
func framedAsReceived(name string) bool {
	return oneOf(name, "content-length", "transfer-encoding", "host",
		"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded")
}

// oneOf reports whether name is one of the lower-case names, ASCII case
// folded (strings.ToLower would map the Kelvin sign to "k").
func oneOf(name string, names ...string) bool {
	for _, n := range names {
		if ASCIIEqualFold(name, n) {
			return true
		}
	}
	return false
}

// joinList joins two comma-separated list values as X-Forwarded-For does
// (", " between elements); an empty side adds nothing.
func joinList(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}
