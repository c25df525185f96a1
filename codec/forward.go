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
// keep-alive to the server. ip is the client's address ("" if unknown);
// X-Forwarded-Proto is https when req.TLS.
func AppendForwardedHead(dst []byte, req *Request, cookieName, ip string) []byte {
	upgrade := req.IsUpgrade()
	dst = append(dst, req.Method...)
	dst = append(dst, ' ')
	dst = append(dst, req.Target...)
	// The client's version: a 1.0 client must not get a chunked answer.
	dst = append(dst, " HTTP/1."...)
	dst = append(dst, byte('0'+req.ProtoMinor))
	dst = append(dst, "\r\n"...)
	hop := hopByHop(req.Header("Connection"))
	xff := ""
	for _, h := range req.Headers {
		switch {
		case strings.EqualFold(h.Name, "X-Forwarded-For"):
			xff = joinList(xff, h.Value)
			continue
		case strings.EqualFold(h.Name, "X-Forwarded-Proto"), strings.EqualFold(h.Name, "X-Forwarded-Host"):
			continue
		case cookieName != "" && strings.EqualFold(h.Name, "Cookie"):
			v := RemoveCookie(h.Value, cookieName)
			if v == "" {
				continue
			}
			h.Value = v
		case upgrade && (strings.EqualFold(h.Name, "Connection") || strings.EqualFold(h.Name, "Upgrade")):
			// kept: the server must see the upgrade
		case isHopByHop(h.Name, hop):
			continue
		}
		dst = AppendHeader(dst, h.Name, h.Value)
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
// our own Connection: close or keep-alive on plain HTTP.
func AppendClientResponseHead(dst []byte, resp *Response, tunnel, closeClient bool, setCookie string) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(resp.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, resp.Reason...)
	dst = append(dst, "\r\n"...)
	hop := hopByHop(resp.Header("Connection"))
	for _, h := range resp.Headers {
		if tunnel && (strings.EqualFold(h.Name, "Connection") || strings.EqualFold(h.Name, "Upgrade")) {
			dst = AppendHeader(dst, h.Name, h.Value)
			continue
		}
		if isHopByHop(h.Name, hop) {
			continue
		}
		dst = AppendHeader(dst, h.Name, h.Value)
	}
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

// StatusOf is the HTTP status that answers err: an *HTTPError's, else 400.
func StatusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return http.StatusBadRequest
}

// hopByHop lists the headers a Connection header names (RFC 7230 6.1).
func hopByHop(connection string) []string {
	if connection == "" {
		return nil
	}
	var out []string
	for part := range strings.SplitSeq(connection, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isHopByHop: the RFC 7230 hop-by-hop headers plus those named in Connection.
// Transfer-Encoding is kept: bodies are relayed as they came.
func isHopByHop(name string, listed []string) bool {
	switch strings.ToLower(name) {
	case "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate":
		return true
	}
	for _, l := range listed {
		if strings.EqualFold(l, name) {
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
