//go:build !linux && !poll_opt

package gnetx

import "github.com/panjf2000/gnet/v2"

// Check reports whether reads can be paused here: never, off Linux.
func Check() error { return ErrUnsupported }

// Finder finds an event loop's poller; off Linux it finds none.
type Finder struct {
	EdgeTriggered bool // as given to gnet.WithEdgeTriggeredIO
}

// Find returns ErrUnsupported: pausing reads is Linux-only.
func (f *Finder) Find(gnet.Conn) (Poller, error) { return Poller{}, ErrUnsupported }

// Poller is a no-op off Linux.
type Poller struct{}

// SetReading returns ErrUnsupported: pausing reads is Linux-only.
func (Poller) SetReading(gnet.Conn, bool) error { return ErrUnsupported }
