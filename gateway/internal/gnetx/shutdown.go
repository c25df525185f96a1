//go:build unix

package gnetx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ShutdownWrite half-closes the connection fd (sends FIN) while its read side
// stays open: gnet only offers a full close, which with unread input makes the
// kernel send RST and can destroy the last answer before the peer reads it.
func ShutdownWrite(fd int) error {
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return fmt.Errorf("shutdown(SHUT_WR) fd %d: %w", fd, err)
	}
	return nil
}
