// Package wheel is a coarse timing wheel owned by one event loop. Elements
// are linked into the slot of their due tick through a Link inside their own
// struct, so an element costs no timer object, no allocation and no
// goroutine. Activity does not move an element between slots: the owner only
// updates a timestamp, and re-files the element when its slot comes round
// (lazy rescheduling). A Wheel is not safe for concurrent use.
package wheel

// Link is embedded in an element: its place in the wheel. The zero value is
// unlinked. It points at the neighbouring elements themselves (not at their
// links), so it needs no pointer back to its owner: 24 bytes for a pointer
// type, in every connection.
type Link[T any] struct {
	next, prev T
	due        uint32
	linked     bool
}

// Linked says whether the element waits in a wheel.
func (l *Link[T]) Linked() bool { return l.linked }

// Due is the tick the element was last scheduled for (meaningful while Linked).
func (l *Link[T]) Due() uint32 { return l.due }

// Element is what a Wheel holds: a type (a pointer, in practice) whose values
// each carry their own Link; its zero value (nil) is no element. The method's
// name is the wheel's own, so one type can be in a wheel and in other
// intrusive structures.
type Element[T comparable] interface {
	comparable
	WheelLink() *Link[T]
}

// Wheel files elements by due tick. Ticks are uint32 and compared modulo
// 2^32, so they may wrap.
type Wheel[T Element[T]] struct {
	slots []T // heads of doubly linked lists
	mask  uint32
	now   uint32 // the last tick processed
}

// New returns a wheel of at least slots slots (rounded up to a power of two)
// whose current tick is now.
func New[T Element[T]](slots int, now uint32) *Wheel[T] {
	n := 1
	for n < slots {
		n <<= 1
	}
	return &Wheel[T]{slots: make([]T, n), mask: uint32(n - 1), now: now}
}

// Now is the last tick processed: during Advance, the tick being fired.
func (w *Wheel[T]) Now() uint32 { return w.now }

// Schedule files x to fire at tick due (at least the next tick), moving it if
// it is already filed.
func (w *Wheel[T]) Schedule(x T, due uint32) {
	var zero T
	l := x.WheelLink()
	if l.linked {
		w.unlink(l)
	}
	if int32(due-w.now) <= 0 {
		due = w.now + 1
	}
	l.due = due
	s := due & w.mask
	l.prev = zero
	l.next = w.slots[s]
	if head := w.slots[s]; head != zero {
		head.WheelLink().prev = x
	}
	w.slots[s] = x
	l.linked = true
}

// Remove takes x out of the wheel, if it is in.
func (w *Wheel[T]) Remove(x T) {
	if l := x.WheelLink(); l.linked {
		w.unlink(l)
	}
}

func (w *Wheel[T]) unlink(l *Link[T]) {
	var zero T
	if l.prev != zero {
		l.prev.WheelLink().next = l.next
	} else {
		w.slots[l.due&w.mask] = l.next
	}
	if l.next != zero {
		l.next.WheelLink().prev = l.prev
	}
	l.next, l.prev, l.linked = zero, zero, false
}

// Advance processes every tick up to now and calls fire for each element
// whose due tick has come, after taking it out. fire may schedule the
// element again (or any other).
func (w *Wheel[T]) Advance(now uint32, fire func(T)) {
	var zero T
	// After a long stall, one full turn visits every slot.
	if now-w.now > uint32(len(w.slots)) {
		w.now = now - uint32(len(w.slots))
	}
	for w.now != now {
		w.now++
		x := w.slots[w.now&w.mask]
		for x != zero {
			l := x.WheelLink()
			next := l.next
			if int32(l.due-w.now) <= 0 {
				w.unlink(l)
				fire(x)
			}
			x = next
		}
	}
}
