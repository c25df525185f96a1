package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// gnet has no API to stop reading a connection, which a tunnel needs for
// backpressure: while one side's outbound is over its cap, the other side must
// not be read, or its bytes pile up in our memory instead of in the peer's
// TCP window. gnet's Linux poller is a level-triggered epoll instance keyed by
// fd, so we change the connection's interest set on that instance ourselves.
// gnet re-arms reading when it finishes flushing a connection's outbound; the
// gateway pauses again on the next read if the other side is still full.

// findEpoll returns the epoll instance of this process that watches fd, found
// in /proc/self/fdinfo (one lookup per event loop).
func findEpoll(fd int) (int, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, fmt.Errorf("listing fds: %w", err)
	}
	want := []byte("tfd: ")
	for _, e := range entries {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		f, err := os.Open("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.HasPrefix(line, want) {
				continue
			}
			fields := bytes.Fields(line[len(want):])
			if len(fields) > 0 && string(fields[0]) == strconv.Itoa(fd) {
				f.Close()
				return strconv.Atoi(e.Name())
			}
		}
		f.Close()
	}
	return -1, fmt.Errorf("no epoll instance watches fd %d", fd)
}

// setReading turns read interest for cs on or off, keeping write interest
// while gnet still has outbound bytes to flush.
//
// A pause is always issued, even on a side marked paused: gnet re-arms
// reading by itself when that side's own outbound drains.
func (l *loop) setReading(cs *conn, on bool) {
	if cs.c == nil || cs.state == stateClosed || (on && !cs.paused) {
		return
	}
	fd := cs.c.Fd()
	if l.epfd < 0 {
		epfd, err := findEpoll(fd)
		if err != nil {
			l.g.log.Warn("backpressure unavailable", "err", err)
			l.epfd = -2
		} else {
			l.epfd = epfd
		}
	}
	if l.epfd < 0 {
		return
	}
	var events uint32
	if on {
		events = unix.EPOLLIN | unix.EPOLLPRI
	}
	if cs.c.OutboundBuffered() > 0 {
		events |= unix.EPOLLOUT
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		l.g.log.Debug("epoll_ctl", "fd", fd, "err", err)
		return
	}
	cs.paused = !on
}
