//go:build linux

package gateway

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// fakeLoop stands in for a gnet event loop: tasks run at once on the
// caller's goroutine, and Close calls OnClose as gnet does. Its epoll
// instance holds the fakeConns' fds the way gnet registers a connection, so
// the gateway finds it as it finds a real loop's.
type fakeLoop struct {
	gnet.EventLoop
	g  *Gateway
	ep int
}

func (el *fakeLoop) Execute(_ context.Context, r gnet.Runnable) error {
	return r.Run(context.Background())
}

func (el *fakeLoop) Close(c gnet.Conn) error {
	fc := c.(*fakeConn)
	if !fc.closed {
		fc.closed = true
		el.g.OnClose(c, nil)
	}
	return nil
}

// fakeConn is a gnet.Conn over one end of a socketpair; what the gateway
// writes is kept in out.
type fakeConn struct {
	gnet.Conn
	el     *fakeLoop
	fd     int
	ctx    any
	out    []byte
	closed bool
}

func (c *fakeConn) Context() any                    { return c.ctx }
func (c *fakeConn) SetContext(v any)                { c.ctx = v }
func (c *fakeConn) EventLoop() gnet.EventLoop       { return c.el }
func (c *fakeConn) Fd() int                         { return c.fd }
func (c *fakeConn) RemoteAddr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *fakeConn) Write(b []byte) (int, error)     { c.out = append(c.out, b...); return len(b), nil }
func (c *fakeConn) Discard(int) (int, error)        { return 0, nil }
func (c *fakeConn) Peek(int) ([]byte, error)        { return nil, nil }
func (c *fakeConn) InboundBuffered() int            { return 0 }
func (c *fakeConn) OutboundBuffered() int           { return 0 }
func (c *fakeConn) Writev(bs [][]byte) (int, error) { return 0, nil }

func newFakeLoop(t *testing.T, g *Gateway) *fakeLoop {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(ep) })
	return &fakeLoop{g: g, ep: ep}
}

// open makes a connection and hands it to OnOpen.
func (el *fakeLoop) open(t *testing.T) (*fakeConn, *conn) {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pair[0]); unix.Close(pair[1]) })
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLPRI, Fd: int32(pair[0])}
	if err := unix.EpollCtl(el.ep, unix.EPOLL_CTL_ADD, pair[0], &ev); err != nil {
		t.Fatal(err)
	}
	c := &fakeConn{el: el, fd: pair[0]}
	if _, action := el.g.OnOpen(c); action != gnet.None {
		t.Fatalf("OnOpen: action %v", action)
	}
	return c, c.ctx.(*conn)
}

// newTestGateway is a Gateway with what its event loop callbacks need, and
// no listener.
func newTestGateway() *Gateway {
	g := &Gateway{
		log:            slog.New(slog.DiscardHandler),
		start:          time.Now(),
		booted:         make(chan struct{}),
		handshakeTicks: 100,
		pingTicks:      100,
		idleTicks:      200,
	}
	g.cfg.MaxMessageBytes = 1 << 20
	g.loops.Store(&[]*loop{})
	g.metrics = newMetrics(prometheus.NewRegistry(), func() float64 { return 0 })
	return g
}

// Drain must reach every client connection, not only those waiting on the
// timing wheel (before the fix it walked the wheel's slots).
func TestDrainReachesConnectionsOffTheWheel(t *testing.T) {
	g := newTestGateway()
	el := newFakeLoop(t, g)
	hsOn, _ := el.open(t)
	hsOff, hsOffCS := el.open(t)
	wsOff, wsOffCS := el.open(t)
	l := hsOffCS.loop
	// Off the wheel, as a connection between two timers is.
	l.wheel.remove(hsOffCS)
	l.wheel.remove(wsOffCS)
	wsOffCS.state = stateOpen // as after an upgrade

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	g.Drain(ctx, tick)

	for name, c := range map[string]*fakeConn{"scheduled": hsOn, "unscheduled": hsOff} {
		if !c.closed {
			t.Errorf("%s connection in handshake not closed by the drain", name)
		}
	}
	// The WebSocket client got close 1001 and lingers for its answer.
	if wsOffCS.state != stateClosing {
		t.Errorf("unscheduled WebSocket connection in state %d, want closing", wsOffCS.state)
	}
	if len(wsOff.out) < 4 || ws.OpCode(wsOff.out[0]&0x0f) != ws.OpClose ||
		ws.StatusCode(binary.BigEndian.Uint16(wsOff.out[2:4])) != ws.StatusGoingAway {
		t.Errorf("unscheduled WebSocket connection got %q, want a close frame 1001", wsOff.out)
	}
	if got := g.open.Load(); got != 1 {
		t.Errorf("%d connections open after the drain, want the lingering one", got)
	}
}

func TestClientListRemove(t *testing.T) {
	var ls clientList
	cs := make([]*conn, 4)
	for i := range cs {
		cs[i] = &conn{}
		ls.add(cs[i])
	}
	ls.next = cs[2] // a drain cursor on the connection that goes away
	ls.remove(cs[2])
	ls.remove(cs[2]) // twice: no effect
	ls.remove(cs[3]) // the head
	ls.remove(cs[0]) // the tail
	if ls.n != 1 || ls.head != cs[1] || cs[1].peers != (peerLink{}) {
		t.Fatalf("after removals: n=%d head=%p, want only %p unlinked from others", ls.n, ls.head, cs[1])
	}
	if ls.next != cs[1] {
		t.Fatalf("drain cursor %p, want it moved on to %p", ls.next, cs[1])
	}
	ls.remove(cs[1])
	if ls.n != 0 || ls.head != nil || ls.next != nil {
		t.Fatalf("emptied list: n=%d head=%p next=%p", ls.n, ls.head, ls.next)
	}
}
