//go:build !linux && !poll_opt

package gnetx

// Check reports whether reads can be paused here: never, off Linux.
func Check() error { return ErrUnsupported }

// Finder finds an event loop's poller; off Linux it finds none.
type Finder struct {
	EdgeTriggered bool // as given to gnet.WithEdgeTriggeredIO
}

// Find returns ErrUnsupported: pausing reads is Linux-only.
func (f *Finder) Find(int) (Poller, error) { return Poller{}, ErrUnsupported }

// Poller is a no-op off Linux.
type Poller struct{}

// SetReading returns ErrUnsupported: pausing reads is Linux-only.
func (Poller) SetReading(int, bool, bool) error { return ErrUnsupported }
