//go:build linux

package gateway

import (
	"strings"
	"testing"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// A loop whose epoll instance cannot be found stops the engine at its first
// connection, and Run returns why, instead of running without backpressure.
func TestLoopWithoutEpollStopsEngine(t *testing.T) {
	g := newTestGateway()
	el := newFakeLoop(t, g)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pair[0]); unix.Close(pair[1]) })
	c := &fakeConn{el: el, fd: pair[0]} // in no epoll instance
	if _, action := g.OnOpen(c); action != gnet.Shutdown {
		t.Fatalf("OnOpen: action %v, want Shutdown", action)
	}
	p := g.fatal.Load()
	if p == nil || !strings.Contains((*p).Error(), "backpressure") {
		t.Fatalf("fatal error %v, want the backpressure error Run returns", p)
	}
	if c.ctx != nil || g.open.Load() != 0 || len(*g.loops.Load()) != 0 {
		t.Fatal("the connection was taken in")
	}
}

// Once found, the loop's poller pauses and resumes its connections.
func TestLoopPausesConnection(t *testing.T) {
	g := newTestGateway()
	el := newFakeLoop(t, g)
	_, cs := el.open(t)
	l := cs.loop
	l.setReading(cs, false)
	if !cs.paused {
		t.Fatal("not paused")
	}
	l.setReading(cs, true)
	if cs.paused {
		t.Fatal("not resumed")
	}
}
