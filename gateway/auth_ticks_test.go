package gateway

import (
	"testing"
	"time"
)

// TestAuthTicks: a token's expiry becomes a wheel tick the int32 distance
// compare can tell from the past, however far off it is (a 10- or 100-year
// exp used to wrap and close the session at once as expired).
func TestAuthTicks(t *testing.T) {
	year := 365 * 24 * time.Hour
	for _, c := range []struct {
		d    time.Duration
		want uint32
	}{
		{-time.Hour, 1}, {0, 1}, {time.Millisecond, 1}, {tick, 1}, {tick + 1, 2}, {time.Hour, 36000},
		{10 * year, maxAuthTicks}, {100 * year, maxAuthTicks}, {time.Duration(1<<63 - 1), maxAuthTicks},
	} {
		got := authTicks(c.d)
		if got != c.want {
			t.Errorf("authTicks(%v) = %d, want %d", c.d, got, c.want)
		}
		// Whatever the wheel's current tick, the expiry reads as future.
		for _, now := range []uint32{0, 1 << 31, 1<<32 - 5} {
			if int32(now-(now+got)) >= 0 {
				t.Errorf("authTicks(%v) from tick %d reads as past", c.d, now)
			}
		}
	}
}
