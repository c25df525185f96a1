package gateway

import (
	"net/netip"
	"testing"
	"time"
)

func TestIPLimits(t *testing.T) {
	l := newIPLimits(2, 10)
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	now := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		if got := l.admit(a, now); got != "" {
			t.Fatalf("connection %d refused: %q", i, got)
		}
	}
	if got := l.admit(a, now); got != "max-conns-per-ip" {
		t.Fatalf("third connection: %q", got)
	}
	if l.admit(b, now) != "" {
		t.Fatal("another address was limited")
	}
	l.release(a)
	l.release(a)
	// 10/s with a burst of 10: 2 used by a (the refused one took none), 8 left this instant.
	for i := 0; i < 8; i++ {
		l.release(a)
		if got := l.admit(a, now); got != "" {
			t.Fatalf("connection %d within the burst: %q", i, got)
		}
	}
	l.release(a)
	if got := l.admit(a, now); got != "conn-rate-per-ip" {
		t.Fatalf("over the rate: %q", got)
	}
	if got := l.admit(a, now.Add(150*time.Millisecond)); got != "" {
		t.Fatalf("after refill: %q", got)
	}
	if newIPLimits(0, 0) != nil {
		t.Fatal("limits built with no limit set")
	}
}
