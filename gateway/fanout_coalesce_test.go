//go:build linux

package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// queuedLoop hands the tasks it is given to the test instead of running them.
type queuedLoop struct {
	gnet.EventLoop
	tasks chan gnet.Runnable
}

func (el *queuedLoop) Execute(_ context.Context, r gnet.Runnable) error {
	el.tasks <- r
	return nil
}

// -broadcast-coalesce: a message to a quiet loop wakes it at once; messages
// arriving within the window after a drain wait for the window's end and are
// drained together (one writev per subscriber).
func TestBroadcastCoalesce(t *testing.T) {
	g := newTestGateway()
	const window = 60 * time.Millisecond
	g.cfg.BroadcastCoalesce = window
	el := &queuedLoop{tasks: make(chan gnet.Runnable, 8)}
	l := newLoop(g, el)
	msg := func() *message { return newTestMessage(&g.frames, []byte("x"), 1) }
	pending := func() int {
		l.inbox.Lock()
		defer l.inbox.Unlock()
		return len(l.inbox.msgs)
	}

	l.enqueue(msg())
	select {
	case r := <-el.tasks:
		_ = r.Run(context.Background())
	default:
		t.Fatal("a message to a quiet loop did not wake it at once")
	}

	start := time.Now()
	for range 3 {
		l.enqueue(msg())
	}
	select {
	case <-el.tasks:
		t.Fatal("a message within the window woke the loop before the window's end")
	default:
	}
	select {
	case r := <-el.tasks:
		if d := time.Since(start); d < window/2 {
			t.Errorf("drain after %v, want about %v", d, window)
		}
		if n := pending(); n != 3 {
			t.Errorf("%d messages in the coalesced drain, want 3", n)
		}
		_ = r.Run(context.Background())
	case <-time.After(5 * time.Second):
		t.Fatal("the coalesced drain never came")
	}
	if n := pending(); n != 0 {
		t.Errorf("%d messages left after the drain", n)
	}

	// Off (0): every message after a drain wakes the loop at once.
	g.cfg.BroadcastCoalesce = 0
	l.enqueue(msg())
	select {
	case r := <-el.tasks:
		_ = r.Run(context.Background())
	default:
		t.Fatal("-broadcast-coalesce 0: the loop was not woken at once")
	}
}
