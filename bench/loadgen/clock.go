package loadgen

import (
	_ "unsafe" // for go:linkname to runtime.nanotime
)

// nanotime is the runtime's CLOCK_MONOTONIC reading (vDSO, no syscall).
// Publish→deliver latency compares a timestamp written by one process with a
// reading taken in another, so it needs the system-wide monotonic clock itself,
// not time.Now's process-relative monotonic reading. runtime.nanotime is one
// of the linknames the runtime keeps for this use (go.dev/issue/67401);
// unix.ClockGettime would cost a real syscall per read(2).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Monotonic returns CLOCK_MONOTONIC in nanoseconds.
func Monotonic() int64 { return nanotime() }
