//go:build linux && !poll_opt

package gnetx

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// testLoop is a stand-in for one gnet event loop: an epoll instance with one
// end of a socketpair registered the way gnet registers a new connection.
type testLoop struct {
	ep, fd, peer int
}

func newTestLoop(t *testing.T, et bool) *testLoop {
	t.Helper()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(ep); unix.Close(pair[0]); unix.Close(pair[1]) })
	ev := unix.EpollEvent{Events: gnetEvents(et, false), Fd: int32(pair[0])}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, pair[0], &ev); err != nil {
		t.Fatal(err)
	}
	return &testLoop{ep: ep, fd: pair[0], peer: pair[1]}
}

// interest reads the events the kernel holds for l.fd on l.ep, without the
// EPOLLERR|EPOLLHUP it always adds.
func (l *testLoop) interest(t *testing.T) uint32 {
	t.Helper()
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(l.ep))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 4 && fields[0] == "tfd:" && fields[1] == strconv.Itoa(l.fd) && fields[2] == "events:" {
			v, err := strconv.ParseUint(fields[3], 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(v) &^ (unix.EPOLLERR | unix.EPOLLHUP)
		}
	}
	t.Fatalf("fd %d not in epoll %d", l.fd, l.ep)
	return 0
}

// ready is what epoll reports for l.fd right now.
func (l *testLoop) ready(t *testing.T) uint32 {
	t.Helper()
	evs := make([]unix.EpollEvent, 4)
	n, err := unix.EpollWait(l.ep, evs, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got uint32
	for _, ev := range evs[:n] {
		if int(ev.Fd) == l.fd {
			got |= ev.Events
		}
	}
	return got
}

func TestFindLeavesGnetsEventsAlone(t *testing.T) {
	for _, et := range []bool{false, true} {
		other := newTestLoop(t, et) // another loop's instance: must not be taken
		l := newTestLoop(t, et)
		f := &Finder{EdgeTriggered: et}
		p, err := f.find(l.fd)
		if err != nil {
			t.Fatal(err)
		}
		if p.epfd != l.ep {
			t.Fatalf("et=%v: found epoll %d, want %d (the other loop's is %d)", et, p.epfd, l.ep, other.ep)
		}
		if got, want := l.interest(t), gnetEvents(et, false); got != want {
			t.Fatalf("et=%v: Find changed the interest set to %#x, gnet had %#x", et, got, want)
		}
		// The second loop is found from the cached scan.
		if p, err := f.find(other.fd); err != nil || p.epfd != other.ep {
			t.Fatalf("et=%v: other loop: epoll %d, %v; want %d", et, p.epfd, err, other.ep)
		}
	}
}

func TestFindFailsForUnwatchedFD(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	var f Finder
	if _, err := f.find(pair[0]); err == nil {
		t.Fatal("found an epoll instance for an fd no instance watches")
	}
	if err := (Poller{}).setReading(pair[0], false, false); err == nil {
		t.Fatal("a zero Poller paused reading")
	}
}

func TestPauseResumeLevelTriggered(t *testing.T) {
	l := newTestLoop(t, false)
	p, err := (&Finder{}).find(l.fd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(l.peer, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if l.ready(t)&unix.EPOLLIN == 0 {
		t.Fatal("no EPOLLIN before the pause")
	}
	steps := []struct {
		on, writePending bool
		interest, ready  uint32
	}{
		{false, false, 0, 0},
		// gnet is waiting to flush: EPOLLOUT stays, reading stays off.
		{false, true, unix.EPOLLOUT, unix.EPOLLOUT},
		{true, true, unix.EPOLLIN | unix.EPOLLPRI | unix.EPOLLOUT, unix.EPOLLIN | unix.EPOLLOUT},
		{true, false, unix.EPOLLIN | unix.EPOLLPRI, unix.EPOLLIN},
	}
	for i, s := range steps {
		if err := p.setReading(l.fd, s.on, s.writePending); err != nil {
			t.Fatal(err)
		}
		if got := l.interest(t); got != s.interest {
			t.Errorf("step %d (on=%v writePending=%v): interest %#x, want %#x", i, s.on, s.writePending, got, s.interest)
		}
		if got := l.ready(t); got != s.ready {
			t.Errorf("step %d (on=%v writePending=%v): ready %#x, want %#x", i, s.on, s.writePending, got, s.ready)
		}
	}
}

func TestPauseResumeEdgeTriggered(t *testing.T) {
	l := newTestLoop(t, true)
	p, err := (&Finder{EdgeTriggered: true}).find(l.fd)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.setReading(l.fd, false, false); err != nil {
		t.Fatal(err)
	}
	// gnet's EPOLLOUT|EPOLLET stay; no read interest, not even a peer's FIN.
	if got, want := l.interest(t), uint32(unix.EPOLLOUT|unix.EPOLLET); got != want {
		t.Fatalf("paused interest %#x, want %#x", got, want)
	}
	if _, err := unix.Write(l.peer, []byte("x")); err != nil {
		t.Fatal(err)
	}
	unix.Shutdown(l.peer, unix.SHUT_WR)
	if got := l.ready(t); got&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
		t.Fatalf("paused connection reported %#x", got)
	}
	if err := p.setReading(l.fd, true, false); err != nil {
		t.Fatal(err)
	}
	if got, want := l.interest(t), gnetEvents(true, false); got != want {
		t.Fatalf("resumed interest %#x, want gnet's %#x", got, want)
	}
	// EPOLL_CTL_MOD re-arms the edge: what arrived while paused is reported.
	if got := l.ready(t); got&unix.EPOLLIN == 0 || got&unix.EPOLLRDHUP == 0 {
		t.Fatalf("resumed connection reported %#x, want EPOLLIN|EPOLLRDHUP", got)
	}
}

func TestShutdownWrite(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	if err := shutdownWrite(pair[0]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if n, err := unix.Read(pair[1], buf); n != 0 || err != nil {
		t.Fatalf("peer read %d, %v; want EOF", n, err)
	}
	if _, err := unix.Write(pair[1], []byte("x")); err != nil {
		t.Fatalf("the read side was closed too: %v", err)
	}
	if err := shutdownWrite(-1); err == nil {
		t.Fatal("no error for a bad fd")
	}
}

func TestCheck(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
}
