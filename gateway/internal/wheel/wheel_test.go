package wheel

import "testing"

type item struct {
	timer Link[*item]
	n     int
}

func (it *item) WheelLink() *Link[*item] { return &it.timer }

func TestWheelFiresAtDueTick(t *testing.T) {
	w := New[*item](8, 0) // small, so dues wrap around the wheel
	a, b, c := &item{}, &item{}, &item{}
	w.Schedule(a, 3)
	w.Schedule(b, 3+8*2) // same slot, two turns later
	w.Schedule(c, 5)
	w.Remove(c)
	fired := map[*item]uint32{}
	for tick := uint32(1); tick <= 30; tick++ {
		w.Advance(tick, func(x *item) { fired[x] = tick })
	}
	if fired[a] != 3 || fired[b] != 19 {
		t.Fatalf("a fired at %d (want 3), b at %d (want 19)", fired[a], fired[b])
	}
	if _, ok := fired[c]; ok {
		t.Fatal("removed element fired")
	}
}

func TestWheelRescheduleFromFire(t *testing.T) {
	w := New[*item](4, 0)
	a := &item{}
	w.Schedule(a, 2)
	n := 0
	for tick := uint32(1); tick <= 20; tick++ {
		w.Advance(tick, func(x *item) {
			n++
			if w.Now() != tick {
				t.Fatalf("Now() = %d while firing tick %d", w.Now(), tick)
			}
			w.Schedule(x, tick+3)
		})
	}
	if n != 7 { // ticks 2, 5, 8, 11, 14, 17, 20
		t.Fatalf("fired %d times, want 7", n)
	}
}

func TestWheelStall(t *testing.T) {
	w := New[*item](4, 0)
	a := &item{}
	w.Schedule(a, 2)
	fired := false
	w.Advance(1000, func(*item) { fired = true })
	if !fired {
		t.Fatal("element lost after a stall longer than one turn")
	}
}

// A due in the past or now fires at the next tick; Linked and Due follow.
func TestWheelPastDueAndState(t *testing.T) {
	w := New[*item](8, 100)
	a := &item{}
	w.Schedule(a, 50)
	if !a.timer.Linked() || a.timer.Due() != 101 {
		t.Fatalf("linked %v due %d, want true 101", a.timer.Linked(), a.timer.Due())
	}
	w.Schedule(a, 104) // moves it
	got := uint32(0)
	w.Advance(110, func(x *item) { got = w.Now() })
	if got != 104 || a.timer.Linked() {
		t.Fatalf("fired at %d (want 104), linked after firing: %v", got, a.timer.Linked())
	}
	w.Remove(a) // removing an unlinked element is a no-op
}

func TestWheelScheduleAllocs(t *testing.T) {
	w := New[*item](1024, 0)
	items := make([]*item, 64)
	for i := range items {
		items[i] = &item{}
	}
	fire := func(*item) {}
	now := uint32(0)
	allocs := testing.AllocsPerRun(100, func() {
		for i, it := range items {
			w.Schedule(it, now+uint32(i%7)+1)
		}
		now += 3
		w.Advance(now, fire)
		w.Remove(items[0])
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

// BenchmarkWheel is the per-connection pattern: every element rescheduled
// each tick (activity), a share firing.
func BenchmarkWheel(b *testing.B) {
	w := New[*item](1024, 0)
	items := make([]*item, 4096)
	for i := range items {
		items[i] = &item{n: i}
	}
	now := uint32(0)
	fire := func(x *item) { w.Schedule(x, w.Now()+uint32(x.n%50)+1) }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		it := items[i%len(items)]
		w.Schedule(it, now+uint32(it.n%300)+1)
		if i%len(items) == 0 {
			now++
			w.Advance(now, fire)
		}
	}
}
