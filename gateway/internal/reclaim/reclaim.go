// Package reclaim hands the memory of dropped message buffers back to the OS
// soon after they are dropped. The parser drops (does not pool) the buffers
// of abandoned messages; but Go returns freed heap to the OS only after a
// collection and at its scavenger's pace, and an idle gateway may not collect
// for two minutes. Past Bytes dropped (over all event loops), one goroutine
// collects and returns the memory at once, then rests before another may
// run: a client that made the gateway hold megabytes does not leave them in
// its RSS.
package reclaim

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Bytes of dropped buffers trigger a reclaim; Settle is how long it waits for
// the other loops to finish their tick (closes in a burst drop their buffers
// together); Rest is the least time between two.
const (
	Bytes  = 16 << 20
	Settle = 200 * time.Millisecond
	Rest   = 5 * time.Second
)

// Reclaimer counts the bytes every loop dropped. The zero value is ready; it
// is safe for concurrent use.
type Reclaimer struct {
	dropped atomic.Int64 // since the last reclaim
	running atomic.Bool  // a reclaim runs (or rests) now
}

// Tick adds the bytes a loop dropped since its last tick (0 if none) and
// starts a reclaim if they are over Bytes and none runs or rests. Every loop
// calls it on every tick, so bytes dropped during a rest are reclaimed after
// it even if nothing more is dropped.
func (r *Reclaimer) Tick(dropped int64) {
	if dropped > 0 {
		r.dropped.Add(dropped)
	}
	if r.dropped.Load() < Bytes {
		return
	}
	r.Force()
}

// Force starts a reclaim now, whatever the bytes dropped, unless one runs or
// rests; it reports whether it started one. For garbage the loops do not
// count as dropped bytes: a wave of ended backend connections (GRIP
// detaches), whose memory the gateway otherwise keeps as idle heap.
func (r *Reclaimer) Force() bool {
	if !r.running.CompareAndSwap(false, true) {
		return false
	}
	go func() {
		time.Sleep(Settle)
		r.dropped.Store(0)
		// Pooled buffers (gnet's inbound ones, which held the frames) go
		// to sync.Pool's victim cache at one collection and are freed at
		// the next: collect once, then collect again and return memory.
		runtime.GC()
		debug.FreeOSMemory()
		time.Sleep(Rest)
		r.running.Store(false)
	}()
	return true
}
