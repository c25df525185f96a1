package reclaim

import (
	"testing"
	"time"
)

func TestReclaimStartsPastBytes(t *testing.T) {
	var r Reclaimer
	r.Tick(Bytes / 2)
	r.Tick(0)
	if r.running.Load() {
		t.Fatal("reclaim started below Bytes")
	}
	r.Tick(Bytes / 2)
	if !r.running.Load() {
		t.Fatal("no reclaim at Bytes dropped")
	}
	deadline := time.Now().Add(5 * Settle)
	for r.dropped.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("dropped bytes not reset by the reclaim")
		}
		time.Sleep(Settle / 10)
	}
	// Resting: more drops wait for the rest to end.
	r.Tick(2 * Bytes)
	if !r.running.Load() || r.dropped.Load() != 2*Bytes {
		t.Fatalf("during the rest: running %v, dropped %d", r.running.Load(), r.dropped.Load())
	}
}

func TestForceStartsOnceAndWaitsOutTheRest(t *testing.T) {
	var r Reclaimer
	if !r.Force() {
		t.Fatal("Force did not start a reclaim on an idle reclaimer")
	}
	if r.Force() {
		t.Fatal("Force started a second reclaim while one runs or rests")
	}
	r.Tick(2 * Bytes) // bytes past the threshold do not start another during the rest either
	if r.dropped.Load() != 2*Bytes {
		t.Fatalf("dropped %d during the rest, want %d kept for after it", r.dropped.Load(), 2*Bytes)
	}
}
