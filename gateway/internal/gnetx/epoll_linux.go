//go:build linux && !poll_opt

package gnetx

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Read interest in gnet's terms (pkg/netpoll: ReadEvents = EPOLLIN|EPOLLPRI),
// plus EPOLLRDHUP, which gnet adds in edge-triggered mode: a paused
// connection must not report a peer's FIN either, or gnet (processIO) closes
// it at once without reading the bytes still queued before that FIN.
const readEvents = unix.EPOLLIN | unix.EPOLLPRI | unix.EPOLLRDHUP

// gnetEvents is the interest set gnet itself keeps for a connection
// (gnet v2.10.0, eventloop_unix.go and connection_unix.go):
//   - level-triggered: EPOLLIN|EPOLLPRI, plus EPOLLOUT while its outbound
//     buffer holds bytes (ModReadWrite on a short write, ModRead once drained);
//   - edge-triggered: EPOLLIN|EPOLLPRI|EPOLLOUT|EPOLLET|EPOLLRDHUP, always.
func gnetEvents(edgeTriggered, writePending bool) uint32 {
	ev := uint32(unix.EPOLLIN | unix.EPOLLPRI)
	if edgeTriggered {
		return ev | unix.EPOLLOUT | unix.EPOLLET | unix.EPOLLRDHUP
	}
	if writePending {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// Check reports at start whether pausing reads can work in this process: the
// epoll instances are found through /proc/self/fd.
func Check() error {
	if _, err := epollFDs(); err != nil {
		return fmt.Errorf("finding gnet's epoll instances: %w", err)
	}
	return nil
}

// Finder finds the epoll instance of each gnet event loop, once per loop: gnet
// does not expose it, and creates its pollers after OnBoot, so it is found from
// the loop's first connection. One Finder serves all loops of an engine.
type Finder struct {
	EdgeTriggered bool // as given to gnet.WithEdgeTriggeredIO

	mu    sync.Mutex
	cands []int // the process's epoll fds at the last scan of /proc/self/fd
}

// Find returns the poller of the event loop that has just opened c: call it
// from OnOpen, before anything is written to c.
//
// The epoll fds of the process are listed once (at the first loop's first
// connection, when the process has few fds; again only if none of those
// watches c); each candidate is then asked with an EPOLL_CTL_MOD of c's fd to
// exactly the events gnet registered it with: the instance that does not
// answer ENOENT is the loop's, and its interest set is left as it was.
func (f *Finder) Find(c gnet.Conn) (Poller, error) { return f.find(c.Fd()) }

func (f *Finder) find(fd int) (Poller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.probe(fd); ok {
		return p, nil
	}
	cands, err := epollFDs()
	if err != nil {
		return Poller{}, fmt.Errorf("finding gnet's epoll instances: %w", err)
	}
	f.cands = cands
	if p, ok := f.probe(fd); ok {
		return p, nil
	}
	return Poller{}, fmt.Errorf("none of the %d epoll instances of this process watches connection fd %d: gnet's poller is not what gnetx expects", len(cands), fd)
}

func (f *Finder) probe(fd int) (Poller, bool) {
	ev := unix.EpollEvent{Events: gnetEvents(f.EdgeTriggered, false), Fd: int32(fd)}
	for _, ep := range f.cands {
		if ep != fd && unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, fd, &ev) == nil {
			return Poller{epfd: ep, found: true, et: f.EdgeTriggered}, true
		}
	}
	return Poller{}, false
}

// epollFDs lists the epoll instances open in this process.
func epollFDs() ([]int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing /proc/self/fd: %w", err)
	}
	var fds []int
	for _, name := range names {
		if link, err := os.Readlink("/proc/self/fd/" + name); err == nil && link == "anon_inode:[eventpoll]" {
			if fd, err := strconv.Atoi(name); err == nil {
				fds = append(fds, fd)
			}
		}
	}
	return fds, nil
}

// Poller pauses and resumes reading the connections of one gnet event loop.
// Use it only on that loop's goroutine, like gnet's own calls on the fd.
type Poller struct {
	epfd  int
	found bool
	et    bool
}

var errNoPoller = errors.New("no epoll instance found for this event loop")

// SetReading turns read interest for c on or off and keeps the rest of the
// interest set gnet keeps for it: EPOLLOUT while gnet holds outbound bytes
// for c, since gnet then waits for it to flush them.
//
// In level-triggered mode gnet re-arms reading by itself (ModRead) once that
// outbound buffer drains, and on a short write (ModReadWrite): a pause lasts
// until then at most, and the caller pauses again if it must.
func (p Poller) SetReading(c gnet.Conn, on bool) error {
	return p.setReading(c.Fd(), on, c.OutboundBuffered() > 0)
}

func (p Poller) setReading(fd int, on, writePending bool) error {
	if !p.found {
		return errNoPoller
	}
	ev := gnetEvents(p.et, writePending)
	if !on {
		ev &^= readEvents
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl(%d, MOD, fd %d, %#x): %w", p.epfd, fd, ev, err)
	}
	return nil
}
