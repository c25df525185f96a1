package loadgen

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Target is a parsed ws:// URL.
type Target struct {
	Addr netip.AddrPort
	Host string // Host header value
	Path string // request-target; may hold "{i}", replaced by the connection index
}

// ParseTarget parses a ws:// URL whose host is an IPv4 literal (the
// generator only talks to loopback addresses; it does no DNS).
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("parse url %q: %w", raw, err)
	}
	port := u.Port()
	switch {
	case u.Scheme == "wss" && port == "":
		port = "443"
	case u.Scheme == "wss":
	case u.Scheme != "ws":
		return Target{}, fmt.Errorf("url %q: only ws:// and wss:// are supported", raw)
	case port == "":
		port = "80"
	}
	ap, err := netip.ParseAddrPort(u.Hostname() + ":" + port)
	if err != nil || !ap.Addr().Is4() {
		return Target{}, fmt.Errorf("url %q: host must be an IPv4 address: %v", raw, err)
	}
	path := u.EscapedPath()
	path = strings.ReplaceAll(path, "%7Bi%7D", "{i}")
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return Target{Addr: ap, Host: u.Host, Path: path}, nil
}

// appendUpgradeRequest appends the client's opening handshake with the
// base64 form of key.
func appendUpgradeRequest(dst []byte, t *Target, id int, key *[16]byte) []byte {
	path := t.Path
	dst = append(dst, "GET "...)
	if i := strings.Index(path, "{i}"); i >= 0 {
		dst = append(dst, path[:i]...)
		dst = strconv.AppendInt(dst, int64(id), 10)
		dst = append(dst, path[i+3:]...)
	} else {
		dst = append(dst, path...)
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, t.Host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = base64.StdEncoding.AppendEncode(dst, key[:])
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\n\r\n"...)
	return dst
}

// maxResponseHead bounds the server's handshake response.
const maxResponseHead = 8 << 10

// ErrHandshake is wrapped by every handshake failure.
var ErrHandshake = errors.New("websocket handshake failed")

// parseUpgradeResponse checks the server's handshake response at the start
// of buf. n == 0 with nil error: incomplete.
func parseUpgradeResponse(buf []byte, key *[16]byte) (n int, err error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxResponseHead {
			return 0, fmt.Errorf("%w: response head over %d bytes", ErrHandshake, maxResponseHead)
		}
		return 0, nil
	}
	head := buf[:end]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101")) {
		return 0, fmt.Errorf("%w: status %q", ErrHandshake, line)
	}
	var keyB64 [24]byte
	base64.StdEncoding.Encode(keyB64[:], key[:])
	want := AcceptKey(string(keyB64[:]))
	found := false
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		if strings.EqualFold(string(bytes.TrimSpace(name)), "Sec-WebSocket-Accept") {
			if string(bytes.TrimSpace(value)) != want {
				return 0, fmt.Errorf("%w: bad Sec-WebSocket-Accept %q", ErrHandshake, value)
			}
			found = true
		}
	}
	if !found {
		return 0, fmt.Errorf("%w: no Sec-WebSocket-Accept", ErrHandshake)
	}
	return end + 4, nil
}
