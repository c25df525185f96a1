//go:build linux

package gateway

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

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
