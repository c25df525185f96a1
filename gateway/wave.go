package gateway

import (
	"sync/atomic"
	"time"
)

// A wave of short-lived connections' work leaves garbage the Go heap keeps as
// idle memory after collecting it: a GRIP detach drops its backend connection
// (gnet conn, addresses, dial context, proxy session, heads: ~5 KiB in a heap
// profile), a TLS handshake drops crypto/tls's handshake state. Once at least
// waveEvents happened and none for waveQuiet, the gateway runs a reclaim
// (collect, return free memory to the OS) so RSS comes back to what the held
// connections keep: 9,000 detached GRIP sessions cost 1.8 KiB of RSS each
// without it, 1.4 with it; 9,000 idle wss connections 2.9 KB at the end of the
// hold, 1.6 after a reclaim. Fewer events are not worth a forced GC, and a
// steady churn reuses its own garbage.
const (
	waveEvents = 1000
	waveQuiet  = time.Second
)

// wave counts such events since the last reclaim (all loops).
type wave struct {
	events atomic.Int64
	last   atomic.Uint32 // Gateway.now() of the last event
}

func (w *wave) add(now uint32) {
	w.events.Add(1)
	w.last.Store(now)
}

// waveReclaim runs on every tick of a loop: a reclaim once a wave has ended.
func (l *loop) waveReclaim() {
	w := &l.g.guard.wave
	n := w.events.Load()
	if n < waveEvents || int32(l.g.now()-w.last.Load()) < int32(waveQuiet/tick) { // signed: another loop may store a later time
		return
	}
	if l.g.guard.reclaim.Force() {
		w.events.Add(-n)
	}
}
