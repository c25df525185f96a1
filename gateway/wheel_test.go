package gateway

import "testing"

func TestWheelFiresAtDueTick(t *testing.T) {
	w := newWheel(8) // small, so dues wrap around the wheel
	a, b, c := &conn{}, &conn{}, &conn{}
	w.schedule(a, 3)
	w.schedule(b, 3+8*2) // same slot, two turns later
	w.schedule(c, 5)
	w.remove(c)
	fired := map[*conn]uint32{}
	for tick := uint32(1); tick <= 30; tick++ {
		w.advance(tick, func(x *conn) { fired[x] = tick })
	}
	if fired[a] != 3 || fired[b] != 19 {
		t.Fatalf("a fired at %d (want 3), b at %d (want 19)", fired[a], fired[b])
	}
	if _, ok := fired[c]; ok {
		t.Fatal("removed connection fired")
	}
}

func TestWheelRescheduleFromFire(t *testing.T) {
	w := newWheel(4)
	a := &conn{}
	w.schedule(a, 2)
	n := 0
	for tick := uint32(1); tick <= 20; tick++ {
		w.advance(tick, func(x *conn) {
			n++
			w.schedule(x, tick+3)
		})
	}
	if n != 7 { // ticks 2, 5, 8, 11, 14, 17, 20
		t.Fatalf("fired %d times, want 7", n)
	}
}

func TestWheelStall(t *testing.T) {
	w := newWheel(4)
	a := &conn{}
	w.schedule(a, 2)
	fired := false
	w.advance(1000, func(*conn) { fired = true })
	if !fired {
		t.Fatal("connection lost after a stall longer than one turn")
	}
}
