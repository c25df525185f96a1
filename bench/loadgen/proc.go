package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs
// cgo); `getconf CLK_TCK` confirms it on these machines.
const clockTicks = 100

// ProcRSSKB is VmRSS of pid in KiB.
func ProcRSSKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return fieldKB(b, "VmRSS:")
}

// ProcAnonKB is RssAnon of pid in KiB: the process's private memory, without
// the file-backed pages of its binary (which every node of a host shares).
func ProcAnonKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return fieldKB(b, "RssAnon:")
}

func fieldKB(b []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s field", name)
}

// ProcCPUSeconds is utime+stime of pid (all its threads) in seconds.
func ProcCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

func parseStatCPU(b []byte) (float64, error) {
	// comm (field 2) may hold spaces and parens: fields count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat %q", b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime in stat %q", b)
	}
	return float64(ut+st) / clockTicks, nil
}

// ProcFDs counts the open file descriptors of pid.
func ProcFDs(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("open fd dir of pid %d: %w", pid, err)
	}
	defer func() { _ = f.Close() }()
	n := 0
	for {
		names, err := f.Readdirnames(4096)
		n += len(names)
		if err != nil || len(names) == 0 {
			break
		}
	}
	return n, nil
}

// KernelMem is the kernel's socket and slab memory, host-wide.
type KernelMem struct {
	SlabKB       int64 `json:"slab_kb"`
	TCPInuse     int64 `json:"tcp_inuse"`
	TCPTimeWait  int64 `json:"tcp_tw"`
	TCPMemPages  int64 `json:"tcp_mem_pages"` // sockstat "mem": pages charged to TCP buffers
	SocketsInUse int64 `json:"sockets_used"`
}

// ReadKernelMem reads /proc/meminfo Slab and /proc/net/sockstat.
func ReadKernelMem() (KernelMem, error) {
	var k KernelMem
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return k, fmt.Errorf("read meminfo: %w", err)
	}
	if k.SlabKB, err = fieldKB(b, "Slab:"); err != nil {
		return k, fmt.Errorf("meminfo: %w", err)
	}
	b, err = os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return k, fmt.Errorf("read sockstat: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		kv := func(name string) int64 {
			for i := 1; i+1 < len(f); i += 2 {
				if f[i] == name {
					v, _ := strconv.ParseInt(f[i+1], 10, 64)
					return v
				}
			}
			return 0
		}
		switch f[0] {
		case "sockets:":
			k.SocketsInUse = kv("used")
		case "TCP:":
			k.TCPInuse, k.TCPTimeWait, k.TCPMemPages = kv("inuse"), kv("tw"), kv("mem")
		}
	}
	return k, nil
}

// SelfCPUSeconds is this process's user+system CPU time.
func SelfCPUSeconds() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tvSec(ru.Utime) + tvSec(ru.Stime)
}

func tvSec(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// gateway groups the processes under test (one or more PIDs).
type gateway struct{ pids []int }

func (g gateway) rssKB() (int64, error) {
	var s int64
	for _, p := range g.pids {
		v, err := ProcRSSKB(p)
		if err != nil {
			return 0, err
		}
		s += v
	}
	return s, nil
}

func (g gateway) anonKB() (int64, error) {
	var s int64
	for _, p := range g.pids {
		v, err := ProcAnonKB(p)
		if err != nil {
			return 0, err
		}
		s += v
	}
	return s, nil
}

func (g gateway) cpuSeconds() (float64, error) {
	var s float64
	for _, p := range g.pids {
		v, err := ProcCPUSeconds(p)
		if err != nil {
			return 0, err
		}
		s += v
	}
	return s, nil
}

func (g gateway) fds() (int, error) {
	var s int
	for _, p := range g.pids {
		v, err := ProcFDs(p)
		if err != nil {
			return 0, err
		}
		s += v
	}
	return s, nil
}

// LoadAvg1 is the host's 1-minute load average (0 if unreadable).
func LoadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
