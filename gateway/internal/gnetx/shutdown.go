//go:build unix

package gnetx

import (
	"fmt"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// ShutdownWrite half-closes c (sends FIN) while its read side stays open:
// gnet only offers a full close, which with unread input makes the kernel send
// RST and can destroy the last answer before the peer reads it. Bytes gnet
// still holds for c are lost: call it once OutboundBuffered is 0.
func ShutdownWrite(c gnet.Conn) error { return shutdownWrite(c.Fd()) }

func shutdownWrite(fd int) error {
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return fmt.Errorf("shutdown(SHUT_WR) fd %d: %w", fd, err)
	}
	return nil
}
