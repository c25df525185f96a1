//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func runWriteFloor(cfg *Config, res *Result) (err error) {
	n := cfg.Conns
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = unix.Close(ln)
		return fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(ln, 4096); err != nil {
		_ = unix.Close(ln)
		return fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		_ = unix.Close(ln)
		return fmt.Errorf("getsockname: %w", err)
	}
	sink, err := newSink(ln)
	if err != nil {
		_ = unix.Close(ln)
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sink.run()
	}()
	var fds []int
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		sink.stop.Store(true)
		wg.Wait()
		if sink.err != nil && err == nil {
			err = sink.err
		}
	}()

	deadline := time.Now().Add(cfg.Deadline / 2)
	for i := 0; i < n; i++ {
		// Keep the accept backlog short so a connect never waits for a SYN retry.
		for int64(i)-sink.accepted.Load() > 1000 {
			if time.Now().After(deadline) {
				return errors.New("writefloor: sink stopped accepting")
			}
			time.Sleep(time.Millisecond)
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("writefloor socket %d: %w", i, err)
		}
		fds = append(fds, fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("TCP_NODELAY: %w", err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			return fmt.Errorf("writefloor connect %d: %w", i, err)
		}
	}
	for sink.accepted.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("writefloor: only %d of %d accepted", sink.accepted.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}

	frame := AppendServerFrame(nil, OpBinary, make([]byte, floorFrameBytes-2))
	const batch = 8
	var batched []byte
	for range batch {
		batched = append(batched, frame...)
	}
	rounds := min(max(50000/n, 3), 50)
	w := &WriteFloorResult{Sockets: n, FrameBytes: len(frame), BatchFrames: batch}

	// getrusage(RUSAGE_THREAD) needs the measuring goroutine pinned.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	writeAll := func(b []byte) error {
		for _, fd := range fds {
			if _, err := unix.Write(fd, b); err != nil {
				return fmt.Errorf("writefloor write: %w", err)
			}
		}
		return nil
	}
	if err := writeAll(frame); err != nil { // warm-up: first write on a socket allocates
		return err
	}
	waitDrained := func(want int64) {
		for sink.bytes.Load() < want && time.Now().Before(deadline.Add(cfg.Deadline/4)) {
			time.Sleep(time.Millisecond)
		}
	}
	total := int64(n * len(frame))
	waitDrained(total)

	ru0, self0, t0 := threadUsage(), SelfCPUSeconds(), time.Now()
	for range rounds {
		if err := writeAll(frame); err != nil {
			return err
		}
	}
	wall := time.Since(t0)
	ru1 := threadUsage()
	total += int64(rounds * n * len(frame))
	waitDrained(total)
	self1 := SelfCPUSeconds()
	writes := float64(rounds * n)
	w.Writes = int64(rounds * n)
	w.UserUsPerWrite = (ru1.user - ru0.user) / writes * 1e6
	w.SysUsPerWrite = (ru1.sys - ru0.sys) / writes * 1e6
	w.CPUUsPerWrite = w.UserUsPerWrite + w.SysUsPerWrite
	w.WallUsPerWrite = wall.Seconds() / writes * 1e6
	w.SinkUsPerWrite = max((self1-self0)-(ru1.user+ru1.sys-ru0.user-ru0.sys), 0) / writes * 1e6

	b0 := threadUsage()
	for range rounds {
		if err := writeAll(batched); err != nil {
			return err
		}
	}
	b1 := threadUsage()
	total += int64(rounds * n * len(batched))
	waitDrained(total)
	w.BatchCPUUsPerFrame = (b1.user + b1.sys - b0.user - b0.sys) / (writes * batch) * 1e6
	res.WriteFloor = w
	return nil
}

type usage struct{ user, sys float64 }

func threadUsage() usage {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return usage{}
	}
	return usage{tvSec(ru.Utime), tvSec(ru.Stime)}
}

// sink accepts connections and discards what they send: the trivial epoll
// reader on the other end of the write-floor sockets.
type sink struct {
	ln, epfd int
	accepted atomic.Int64
	bytes    atomic.Int64
	stop     atomic.Bool
	err      error
}

func newSink(ln int) (*sink, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, ln, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ln)}); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl listener: %w", err)
	}
	return &sink{ln: ln, epfd: epfd}, nil
}

func (s *sink) run() {
	var conns []int
	defer func() {
		for _, fd := range conns {
			_ = unix.Close(fd)
		}
		_ = unix.Close(s.ln)
		_ = unix.Close(s.epfd)
	}()
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for !s.stop.Load() {
		n, err := unix.EpollWait(s.epfd, events, 10)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			s.err = fmt.Errorf("sink epoll_wait: %w", err)
			return
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == s.ln {
				for {
					c, _, err := unix.Accept4(s.ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					conns = append(conns, c)
					ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(c)}
					if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, c, &ev); err != nil {
						s.err = fmt.Errorf("sink epoll_ctl: %w", err)
						return
					}
					s.accepted.Add(1)
				}
				continue
			}
			for {
				m, err := unix.Read(fd, buf)
				if m > 0 {
					s.bytes.Add(int64(m))
				}
				if err != nil || m <= 0 || m < len(buf) {
					break
				}
			}
		}
	}
}
