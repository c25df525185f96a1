package gateway

import (
	"net"
	"net/netip"

	"github.com/wsgate/wsgate/gateway/internal/limits"
)

// ipLimits are -max-conns-per-ip and -conn-rate-per-ip (internal/limits).
type ipLimits = limits.PerIP

// clientIP is the IP address of a peer (invalid if a is not TCP): the one way
// the gateway gets a client's address, for the per-IP limits and the
// proxy's X-Forwarded-For and source hashing alike.
func clientIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
