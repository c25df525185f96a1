//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// The generator's reactor: non-blocking sockets in an edge-triggered epoll
// instance per loop. The bench needs it to hold a million connections in one
// process without a goroutine each; off Linux there is none (loop_other.go).

// poller is a loop's epoll instance.
type poller struct {
	epfd   int
	events []unix.EpollEvent
}

func newLoop(e *engine, idx int, h handler) (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &Loop{
		poller:   poller{epfd: epfd, events: make([]unix.EpollEvent, 256)},
		idx:      idx,
		conns:    make(map[int]*Conn),
		rbuf:     make([]byte, 64<<10),
		h:        h,
		eng:      e,
		Hist:     NewHistogram(),
		ConnectH: NewHistogram(),
		errs:     make(map[string]int),
		// e is nil in unit tests of the loop alone.
		centrifugo: e != nil && e.proto == ProtoCentrifugo,
	}, nil
}

// run is the loop goroutine. It returns when stop is set (after closing
// every connection) or on an epoll error.
func (l *Loop) run() error {
	defer func() { _ = unix.Close(l.epfd) }()
	defer l.closeAll()
	for !l.stopFlag.Load() {
		now := nanotime()
		wait := int64(10 * time.Millisecond)
		if l.dialed < l.toDial {
			wait = int64(2 * time.Millisecond)
		}
		if next := l.h.tick(l, now); next > 0 {
			wait = min(wait, max(next-now, 0))
		}
		ms := int((wait + int64(time.Millisecond) - 1) / int64(time.Millisecond))
		n, err := unix.EpollWait(l.epfd, l.events, ms)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("loop %d: epoll_wait: %w", l.idx, err)
		}
		now = nanotime()
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			if c := l.conns[int(ev.Fd)]; c != nil {
				l.handle(c, ev.Events)
			}
		}
		l.dialDue(nanotime())
		if now >= l.nextSweep {
			l.sweep(now)
			l.nextSweep = now + int64(500*time.Millisecond)
		}
	}
	return nil
}

func (l *Loop) dialDue(now int64) {
	if l.dialed >= l.toDial || l.eng.pauseDial.Load() {
		return
	}
	due := l.toDial - l.dialed
	if l.dialRate > 0 {
		allowed := int(float64(now-l.dialStart)/1e9*l.dialRate) + 1
		due = min(due, allowed-l.dialed)
	}
	due = min(due, l.maxInflight-l.inflight)
	for ; due > 0; due-- {
		id := l.firstID + l.dialed*l.idStride
		l.dialed++
		l.Stats.Dialed.Add(1)
		if err := l.dial(id, now); err != nil {
			l.Stats.Failed.Add(1)
			l.countErr(err.Error())
		}
	}
}

func (l *Loop) dial(id int, now int64) error {
	e := l.eng
	if e.tls != nil {
		return l.dialTLS(id, now) // tlsbridge_linux.go
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) error {
		_ = unix.Close(fd)
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(e.sources) > 0 {
		// The kernel picks the port at connect time, per 4-tuple, instead of
		// reserving one per source address at bind time: without this each
		// source IP would give only ~28k ports in total, not per destination.
		if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fail("IP_BIND_ADDRESS_NO_PORT", err)
		}
		src := e.sources[id%len(e.sources)]
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
			return fail("bind", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("TCP_NODELAY", err)
	}
	sa := &unix.SockaddrInet4{Addr: e.target.Addr.Addr().As4(), Port: int(e.target.Addr.Port())}
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return fail("connect", err)
	}
	c := &Conn{fd: fd, ID: id, state: stConnecting, started: now}
	fillKey(&c.key)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fail("epoll_ctl", err)
	}
	l.conns[fd] = c
	l.inflight++
	return nil
}

func (l *Loop) handle(c *Conn, events uint32) {
	if c.state == stConnecting {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		if err != nil {
			l.fail(c, fmt.Errorf("connect: %w", err))
			return
		}
		c.state = stHandshake
		l.wbuf = appendUpgradeRequest(l.wbuf[:0], &l.eng.target, c.ID, &c.key)
		l.write(c, l.wbuf)
		if c.state == stClosed {
			return
		}
	} else if events&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		l.flush(c)
		if c.state == stClosed {
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.readAll(c, events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// readAll reads until EAGAIN (edge-triggered epoll) and processes the bytes.
// hangup: the peer closed or errored, so read on to EOF whatever the sizes.
func (l *Loop) readAll(c *Conn, hangup bool) {
	for c.state != stClosed {
		n, err := unix.Read(c.fd, l.rbuf)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			l.lose(c, fmt.Errorf("read: %w", err))
			return
		}
		if n == 0 {
			l.lose(c, errors.New("EOF"))
			return
		}
		l.process(c, l.rbuf[:n], nanotime())
		if n < len(l.rbuf) && !hangup {
			// A short read means the socket is drained; skip the EAGAIN read.
			// With EPOLLET that is safe: new data raises a new edge.
			return
		}
	}
}
