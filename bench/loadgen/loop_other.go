//go:build !linux

package loadgen

import "errors"

// errLinuxOnly is what the scenarios return off Linux.
var errLinuxOnly = errors.New("wsgate-bench's load generator is built on epoll: it runs on Linux only")

// poller: the generator's reactor is epoll (loop_linux.go); there is none here.
type poller struct{}

// newLoop fails: wsgate-bench says at start that it runs on Linux only.
func newLoop(*engine, int, handler) (*Loop, error) { return nil, errLinuxOnly }

func (l *Loop) run() error { return errLinuxOnly }

// runWriteFloor fails: the write floor is measured with an epoll sink.
func runWriteFloor(*Config, *Result) error { return errLinuxOnly }
