//go:build linux

package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// dialTLS is the TLS-mode dial: a socketpair, one end in the loop like a
// connected socket (the loop writes its upgrade request at once; it waits
// in the pair until the TLS handshake is done), the other end bridged by a
// goroutine. A failed dial or handshake closes the bridge's end: the loop
// reads EOF before the 101 and counts a failed connection.
func (l *Loop) dialTLS(id int, now int64) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	fd := fds[0]
	c := &Conn{fd: fd, ID: id, state: stConnecting, started: now}
	fillKey(&c.key)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	l.conns[fd] = c
	l.inflight++
	var src netip.Addr
	if e := l.eng; len(e.sources) > 0 {
		src = e.sources[id%len(e.sources)]
	}
	// A non-blocking fd given to os.NewFile goes through the runtime poller.
	go l.eng.tls.bridge(os.NewFile(uintptr(fds[1]), "tls-bridge"), src)
	return nil
}

// bridge dials the server, runs the TLS handshake and copies bytes both ways
// between the pair end f and the TLS connection until either side closes.
func (d *tlsDialer) bridge(f *os.File, src netip.Addr) {
	dl := net.Dialer{Timeout: d.timeout}
	if src.IsValid() {
		dl.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		// As in the loop's dial: the port is chosen per 4-tuple at connect.
		dl.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	raw, err := dl.Dial("tcp4", d.addr)
	if err != nil {
		d.counts.failed.Add(1)
		_ = f.Close()
		return
	}
	tc := tls.Client(raw, d.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		d.counts.failed.Add(1)
		_ = raw.Close()
		_ = f.Close()
		return
	}
	st := tc.ConnectionState()
	d.counts.handshakes.Add(1)
	if st.DidResume {
		d.counts.resumed.Add(1)
	}
	d.counts.version.Store(uint32(st.Version))
	d.counts.cipher.Store(uint32(st.CipherSuite))
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			_ = tc.Close() // close_notify, then the TCP socket
			_ = f.Close()
		})
	}
	go func() {
		copyBuf(f, tc)
		closeAll()
	}()
	copyBuf(tc, f)
	closeAll()
}

// copyBuf copies until a read or write fails, with a small buffer: the
// generator holds thousands of idle bridges (io.Copy would take 32 KB each).
func copyBuf(dst interface{ Write([]byte) (int, error) }, src interface{ Read([]byte) (int, error) }) {
	buf := make([]byte, 4<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
