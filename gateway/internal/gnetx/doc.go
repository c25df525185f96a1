// Package gnetx holds every place where wsgate reaches under gnet's API: gnet
// v2 has no call to stop reading a connection, nor to half-close one, so the
// gateway does both on the file descriptor itself. Keeping them here keeps the
// assumptions about gnet's internals (checked against gnet v2.10.0) in one
// file per platform:
//
//   - gnet's Linux poller is one epoll instance per event loop, level-triggered
//     unless WithEdgeTriggeredIO is set, with the connection's fd as the event
//     data (see gnet's pkg/netpoll/poller_epoll_default.go). Pausing reads is an
//     EPOLL_CTL_MOD on that instance that keeps the rest of gnet's interest set.
//   - gnet's poll_opt build tag stores a pointer as the event data instead of
//     the fd: an EPOLL_CTL_MOD written here would corrupt it, so this package
//     refuses to build with that tag (poll_opt.go).
//   - Other platforms (gnet's kqueue poller) cannot pause reads here: Find
//     reports ErrUnsupported and the gateway says so at start.
//   - Half-close is shutdown(2) on the connection's fd.
package gnetx

import "errors"

// ErrUnsupported is returned where pausing reads is not implemented (every
// platform but Linux).
var ErrUnsupported = errors.New("pausing reads of a gnet connection is implemented for Linux (epoll) only")
