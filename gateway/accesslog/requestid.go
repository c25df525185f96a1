package accesslog

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// MaxRequestIDLen bounds a request ID kept from a trusted client.
const MaxRequestIDLen = 128

// IDs hands out request IDs: the trusted client's own, or a new one. New IDs
// are a random per-process prefix and a counter ("5f2c9a1b7e3d4c80-1a"):
// unique within the process by the counter, across processes and restarts by
// the 64 random bits, and cheap (one atomic add, one small string), where
// crypto/rand per request would cost a syscall-backed read each.
type IDs struct {
	header  string
	trusted []netip.Prefix
	prefix  string // 16 hex digits and '-'
	n       atomic.Uint64
}

// NewIDs builds the request ID source of cfg; nil (IDs disabled) when
// cfg.RequestIDHeader is "". Its methods are safe on nil.
func NewIDs(cfg Config) (*IDs, error) {
	if cfg.RequestIDHeader == "" {
		return nil, nil
	}
	if !validHeaderName(cfg.RequestIDHeader) {
		return nil, fmt.Errorf("-request-id-header: %q is not a valid header name", cfg.RequestIDHeader)
	}
	trusted, err := parseCIDRs(cfg.RequestIDTrusted)
	if err != nil {
		return nil, fmt.Errorf("-request-id-trusted: %w", err)
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("request ID prefix: %w", err)
	}
	return &IDs{header: cfg.RequestIDHeader, trusted: trusted, prefix: hex.EncodeToString(seed[:]) + "-"}, nil
}

// Header is the header that carries the ID, to read from the client and to
// set on the request forwarded to the server ("" when disabled).
func (g *IDs) Header() string {
	if g == nil {
		return ""
	}
	return g.header
}

// RequestID returns incoming (the client's header value) when remote is in a
// trusted network and incoming is sane (1 to MaxRequestIDLen visible ASCII
// characters), else a new ID. It returns "" when IDs are disabled.
func (g *IDs) RequestID(remote netip.Addr, incoming string) string {
	if g == nil {
		return ""
	}
	if incoming != "" && g.Trusted(remote) && saneID(incoming) {
		return incoming
	}
	return g.New()
}

// New returns a new request ID.
func (g *IDs) New() string {
	if g == nil {
		return ""
	}
	var buf [40]byte
	b := append(buf[:0], g.prefix...)
	b = strconv.AppendUint(b, g.n.Add(1), 16)
	return string(b)
}

// Trusted reports whether remote is in a -request-id-trusted network.
func (g *IDs) Trusted(remote netip.Addr) bool {
	if g == nil {
		return false
	}
	remote = remote.Unmap().WithZone("") // ::ffff:10.1.2.3 is 10.1.2.3; a zone never matches a prefix
	for _, p := range g.trusted {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}

func saneID(s string) bool {
	if len(s) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// parseCIDRs parses "10.0.0.0/8, 192.0.2.1, ::1/128": a bare address is
// its own /32 or /128.
func parseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q: want CIDR (10.0.0.0/8) or address", item)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q: want CIDR (10.0.0.0/8) or address", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// validHeaderName: "" (disabled) or an HTTP token (RFC 9110 tchar).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
