// Package limits enforces the per-IP connection limits (-max-conns-per-ip,
// -conn-rate-per-ip) at accept.
package limits

import (
	"net/netip"
	"sync"
	"time"
)

// PerIP enforces -max-conns-per-ip and -conn-rate-per-ip. Every event loop
// accepts, so it takes a short lock; with neither flag set it is not used.
type PerIP struct {
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

// New returns the limits: at most maxConns connections open per IP, and new
// ones at rate per second (burst: one second's worth, at least one); 0 leaves
// a limit off. With both off it returns nil: nothing to enforce.
func New(maxConns int, rate float64) *PerIP {
	if maxConns <= 0 && rate <= 0 {
		return nil
	}
	return &PerIP{maxConns: int32(maxConns), rate: rate, burst: max(rate, 1), ips: make(map[netip.Addr]*ipState)}
}

// Admit counts a new connection from ip, or says which limit refuses it
// ("max-conns-per-ip" or "conn-rate-per-ip", the refusal metric's label).
// An admitted connection must be Released when it closes.
func (l *PerIP) Admit(ip netip.Addr, now time.Time) (reason string) {
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

// Release forgets a closed connection from ip.
func (l *PerIP) Release(ip netip.Addr) {
	l.mu.Lock()
	if st := l.ips[ip]; st != nil && st.conns > 0 {
		st.conns--
	}
	l.mu.Unlock()
}

// sweep forgets addresses with no connection whose rate bucket has refilled,
// so the table stays as small as the set of active clients.
func (l *PerIP) sweep(now time.Time) {
	for ip, st := range l.ips {
		if st.conns == 0 && (l.rate == 0 || now.Sub(st.last).Seconds()*l.rate >= l.burst) {
			delete(l.ips, ip)
		}
	}
}
