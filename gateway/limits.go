package gateway

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// ipLimits enforces -max-conns-per-ip and -conn-rate-per-ip. Both event loops
// accept, so it takes a short lock; with neither flag set it is not used.
type ipLimits struct {
	maxConns int32   // per IP; 0 = unlimited
	rate     float64 // new connections per second per IP; 0 = unlimited
	burst    float64

	mu     sync.Mutex
	ips    map[netip.Addr]*ipState
	admits int
}

type ipState struct {
	conns  int32
	tokens float64
	last   time.Time
}

func newIPLimits(maxConns int, rate float64) *ipLimits {
	if maxConns <= 0 && rate <= 0 {
		return nil
	}
	return &ipLimits{maxConns: int32(maxConns), rate: rate, burst: max(rate, 1), ips: make(map[netip.Addr]*ipState)}
}

// admit counts a new connection from ip, or says which limit refuses it.
func (l *ipLimits) admit(ip netip.Addr, now time.Time) (reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.admits++; l.admits%4096 == 0 {
		l.sweep(now)
	}
	st := l.ips[ip]
	if st == nil {
		st = &ipState{tokens: l.burst, last: now}
		l.ips[ip] = st
	}
	if l.maxConns > 0 && st.conns >= l.maxConns {
		return "max-conns-per-ip"
	}
	if l.rate > 0 {
		st.tokens = min(l.burst, st.tokens+now.Sub(st.last).Seconds()*l.rate)
		st.last = now
		if st.tokens < 1 {
			return "conn-rate-per-ip"
		}
		st.tokens--
	}
	st.conns++
	return ""
}

func (l *ipLimits) release(ip netip.Addr) {
	l.mu.Lock()
	if st := l.ips[ip]; st != nil && st.conns > 0 {
		st.conns--
	}
	l.mu.Unlock()
}

// sweep forgets addresses with no connection whose rate bucket has refilled,
// so the table stays as small as the set of active clients.
func (l *ipLimits) sweep(now time.Time) {
	for ip, st := range l.ips {
		if st.conns == 0 && (l.rate == 0 || now.Sub(st.last).Seconds()*l.rate >= l.burst) {
			delete(l.ips, ip)
		}
	}
}

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
