#!/usr/bin/env python3
"""Where wsgate's CPU per proxied upgrade goes (bench/syscalls-churn.sh,
PERF_RECORD=1): buckets `perf script -F tid,ip,sym` on-CPU samples (with
call stacks: Go keeps frame pointers, the kernel's are included) by the
first rule below that a sample's stack matches, and prints each bucket's
share and its microseconds per upgrade (share × the CPU µs per upgrade of
the same round's unprofiled churn).

usage: churn-buckets.py LABEL PERF_SCRIPT_TXT CPU_US_PER_UPGRADE [--syscalls-only]
(--syscalls-only: only the by-system-call table, for a proxy without Go frames)
"""
import sys

# (bucket, substrings: any frame containing any of them), first match wins;
# the ones naming our dial goroutine come first so that the Go dialer's and
# the scheduler's frames under it count as the dial's.
RULES = [
    ("dial goroutine: gnet Enroll call + wait for its result", ["gateway.enroll"]),
    ("dial goroutine: Go dialer (resolve, socket, connect, sockopts, netpoll wait)", ["net.(*Dialer)", "net.DialTimeout", "net.(*sysDialer)"]),
    ("dial goroutine: other (semaphore, exit)", ["gateway.(*proxyEnv).Dial.func"]),
    ("gnet Enroll worker (dup, close the Go fd, Trigger, wait)", ["(*eventloop).enroll.func"]),
    ("gnet worker pool (other)", ["goroutine.(*Pool)", "ants."]),
    ("loop: register enrolled conn (epoll_ctl, OnOpen: request to server)", ["(*eventloop).register"]),
    ("loop: accept client", ["(*eventloop).accept"]),
    ("loop: close", ["(*eventloop).close"]),
    ("loop: read + OnTraffic (parse, forward, 101, close frame)", ["(*eventloop).read"]),
    ("loop: write (outbound flush)", ["(*eventloop).write"]),
    ("loop: tick / timers", ["(*eventloop).ticker", "OnTick", "(*wheel)"]),
    ("loop: Gosched after an empty poll", ["runtime.Gosched"]),
    ("loop: epoll_wait", ["netpoll.EpollWait", "unix.EpollWait", "netpoll.(*Poller).Polling"]),
    ("sysmon (Go's monitor thread)", ["runtime.sysmon"]),
    ("GC (background)", ["runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcDrain"]),
    ("stack growth (morestack; perf cannot unwind past it)", ["runtime.newstack", "runtime.morestack"]),
    ("Go scheduler: park/wake, netpoll, futex", ["runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall",
                                                 "runtime.goexit0", "runtime.mstart", "runtime.newproc", "runtime.wakep", "runtime.notesleep"]),
]


def syscall_of(stack):
    """The system call a sample is in ("connect", ...), "softirq" for the
    kernel's network work on an interrupt, or "" in user space."""
    for f in stack:
        for p in ("__x64_sys_", "__sys_", "__do_sys_", "ksys_"):
            if f.startswith(p):
                return f[len(p):]
    if any(f.startswith(("entry_SYSCALL", "do_syscall_64")) for f in stack):
        return "other system call"
    if any(f.startswith(("__do_softirq", "do_softirq", "irq_exit", "asm_")) for f in stack):
        return "softirq / interrupt"
    return ""


def main():
    label, path, cpu = sys.argv[1], sys.argv[2], float(sys.argv[3])
    counts, other, stack, total = {}, {}, [], 0
    kern = {}

    def flush():
        nonlocal total
        if not stack:
            return
        total += 1
        k = syscall_of(stack) or "user space"
        kern[k] = kern.get(k, 0) + 1
        if "--syscalls-only" in sys.argv:
            return
        for name, subs in RULES:
            if any(s in f for f in stack for s in subs):
                counts[name] = counts.get(name, 0) + 1
                return
        counts["other"] = counts.get("other", 0) + 1
        user = next((f for f in stack if not f.startswith(("[", "entry_", "__x64", "do_", "syscall"))), stack[0])
        other[user] = other.get(user, 0) + 1

    # perf script: a header line per sample ("TID"), then one line per frame
    # ("\tADDR SYM"), then a blank line.
    for line in open(path, errors="replace"):
        parts = line.split(None, 1)
        if line.startswith("\t") and len(parts) == 2:
            stack.append(parts[1].strip())
        else:
            flush()
            stack = []
    flush()
    print(f"## {label}: {total} on-CPU samples; µs per upgrade = share × {cpu:.1f} (the round's unprofiled CPU per upgrade)")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * n / total:5.1f} %  {cpu * n / total:6.1f} µs  {name}")
    print(f"## {label}: the same samples by system call (kernel time inside it) or user space")
    print("  " + ", ".join(f"{k} {cpu * v / total:.1f} µs ({100 * v / total:.0f} %)" for k, v in sorted(kern.items(), key=lambda kv: -kv[1]) if v / total >= 0.005))
    if other:
        print("  other, by first user frame: " + ", ".join(f"{k} {100 * v / total:.1f} %" for k, v in sorted(other.items(), key=lambda kv: -kv[1])[:8]))


if __name__ == "__main__":
    main()
