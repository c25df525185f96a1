package loadgen

import (
	"testing"

	"golang.org/x/sys/unix"
)

func monotonicSyscall(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano()
}
