package gateway

// wheel is a coarse timing wheel owned by one event loop. Connections are
// linked into the slot of their due tick through fields of their own struct,
// so a connection costs no timer object and no goroutine. Activity does not
// move a connection between slots: it only updates a timestamp, and the
// connection is re-filed when its slot comes round (lazy rescheduling).
type wheel struct {
	slots []*conn // heads of doubly linked lists
	mask  uint32
	now   uint32 // the last tick processed
}

// timerLink is embedded in conn.
type timerLink struct {
	next, prev *conn
	due        uint32
	linked     bool
}

func newWheel(slots int) *wheel {
	n := 1
	for n < slots {
		n <<= 1
	}
	return &wheel{slots: make([]*conn, n), mask: uint32(n - 1)}
}

// schedule files c to fire at tick due (at least the next tick).
func (w *wheel) schedule(c *conn, due uint32) {
	if c.timer.linked {
		w.remove(c)
	}
	if int32(due-w.now) <= 0 {
		due = w.now + 1
	}
	c.timer.due = due
	s := due & w.mask
	c.timer.prev = nil
	c.timer.next = w.slots[s]
	if head := w.slots[s]; head != nil {
		head.timer.prev = c
	}
	w.slots[s] = c
	c.timer.linked = true
}

func (w *wheel) remove(c *conn) {
	if !c.timer.linked {
		return
	}
	if c.timer.prev != nil {
		c.timer.prev.timer.next = c.timer.next
	} else {
		w.slots[c.timer.due&w.mask] = c.timer.next
	}
	if c.timer.next != nil {
		c.timer.next.timer.prev = c.timer.prev
	}
	c.timer.next, c.timer.prev, c.timer.linked = nil, nil, false
}

// advance processes every tick up to now and calls fire for each connection
// whose due tick has come. fire may schedule the connection again.
func (w *wheel) advance(now uint32, fire func(*conn)) {
	// After a long stall, one full turn visits every slot.
	if now-w.now > uint32(len(w.slots)) {
		w.now = now - uint32(len(w.slots))
	}
	for w.now != now {
		w.now++
		s := w.now & w.mask
		c := w.slots[s]
		for c != nil {
			next := c.timer.next
			if int32(c.timer.due-w.now) <= 0 {
				w.remove(c)
				fire(c)
			}
			c = next
		}
	}
}
