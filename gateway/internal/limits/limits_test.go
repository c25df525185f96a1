package limits

import (
	"net/netip"
	"testing"
	"time"
)

func TestIPLimits(t *testing.T) {
	l := New(2, 10)
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	now := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		if got := l.Admit(a, now); got != "" {
			t.Fatalf("connection %d refused: %q", i, got)
		}
	}
	if got := l.Admit(a, now); got != "max-conns-per-ip" {
		t.Fatalf("third connection: %q", got)
	}
	if l.Admit(b, now) != "" {
		t.Fatal("another address was limited")
	}
	l.Release(a)
	l.Release(a)
	// 10/s with a burst of 10: 2 used by a (the refused one took none), 8 left this instant.
	for i := 0; i < 8; i++ {
		l.Release(a)
		if got := l.Admit(a, now); got != "" {
			t.Fatalf("connection %d within the burst: %q", i, got)
		}
	}
	l.Release(a)
	if got := l.Admit(a, now); got != "conn-rate-per-ip" {
		t.Fatalf("over the rate: %q", got)
	}
	if got := l.Admit(a, now.Add(150*time.Millisecond)); got != "" {
		t.Fatalf("after refill: %q", got)
	}
	if New(0, 0) != nil {
		t.Fatal("limits built with no limit set")
	}
}
