#!/usr/bin/env python3
"""Read-only check of deploy/sysctl.d/99-wsgate-1m.conf: parses it the way sysctl.d(5) does, checks
the values for consistency (and against LimitNOFILE in systemd/wsgate.service), and compares them
with the running kernel. It never writes a sysctl. Exit 1 on a parse or consistency error.

  python3 deploy/sysctl-check.py [FILE]
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "sysctl.d", "99-wsgate-1m.conf")
UNIT = os.path.join(HERE, "systemd", "wsgate.service")
KEY = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")


def parse(path):
    """sysctl.d(5): blank lines and lines starting with # or ; are ignored; KEY = VALUE; a leading
    '-' means a failure to set it is ignored. Returns {key: (value, may_fail, line_no)}."""
    out, errors = {}, []
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            may_fail = line.startswith("-")
            if may_fail:
                line = line[1:]
            if "=" not in line:
                errors.append(f"{path}:{n}: no '=': {raw.rstrip()}")
                continue
            key, value = (s.strip() for s in line.split("=", 1))
            key = key.replace("/", ".")
            if not KEY.match(key):
                errors.append(f"{path}:{n}: bad key {key!r}")
            if not value:
                errors.append(f"{path}:{n}: empty value for {key}")
            if key in out:
                errors.append(f"{path}:{n}: {key} set twice (line {out[key][2]})")
            out[key] = (" ".join(value.split()), may_fail, n)
    return out, errors


def ints(v):
    return [int(x) for x in re.split(r"[\s,]+", v) if x]


def main():
    conf, errors = parse(CONF)
    for key, (value, _, n) in conf.items():
        try:
            ints(value)
        except ValueError:
            errors.append(f"{CONF}:{n}: {key}: not a list of integers: {value!r}")
    if errors:
        print("\n".join(errors))
        return 1

    def val(k):
        return ints(conf[k][0])

    # Consistency rules the kernel or systemd would otherwise enforce at the worst moment.
    want_nofile = None
    if os.path.exists(UNIT):
        m = re.search(r"^LimitNOFILE=(\d+)", open(UNIT).read(), re.M)
        want_nofile = int(m.group(1)) if m else None
    rules = []
    if want_nofile:
        rules.append((val("fs.nr_open")[0] >= want_nofile,
                      f"fs.nr_open {val('fs.nr_open')[0]} >= LimitNOFILE {want_nofile} (else the unit cannot start)"))
    rules += [
        (val("fs.nr_open")[0] >= 2_100_000, "fs.nr_open >= 2.1M"),
        (val("fs.file-max")[0] >= val("fs.nr_open")[0], "fs.file-max >= fs.nr_open"),
        (val("net.ipv4.ip_local_port_range") == [1024, 65535], "ip_local_port_range = 1024 65535"),
        (all(1024 <= p <= 65535 for p in val("net.ipv4.ip_local_reserved_ports")),
         "reserved ports inside the ephemeral range"),
        (len(val("net.ipv4.tcp_mem")) == 3 and val("net.ipv4.tcp_mem") == sorted(val("net.ipv4.tcp_mem")),
         "tcp_mem: 3 ascending page counts"),
        (val("net.ipv4.tcp_mem")[2] * 4096 >= 1_000_000 * 4096, "tcp_mem max >= 4 KiB per socket at 1M sockets"),
    ]
    for k in ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"):
        v = val(k)
        rules.append((len(v) == 3 and v == sorted(v) and v[1] <= 16384, f"{k}: min <= small default <= max"))
    for k in ("net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"):
        rules.append((val(k)[0] >= 16384, f"{k} >= 16384"))
    failed = 0
    for ok, what in rules:
        print(("ok    " if ok else "FAIL  ") + what)
        failed += not ok

    # The running kernel, for information (net.* are those of this process's network namespace).
    print(f"\n{'key':36} {'file':>28} {'running':>28}")
    for key, (value, may_fail, _) in conf.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            running = " ".join(open(path).read().split())
        except OSError as e:
            running = "(absent%s)" % (", ignored: leading -" if may_fail else "") if e.errno == 2 else f"({e.strerror})"
        mark = "" if running == value else "  <- differs"
        print(f"{key:36} {value:>28} {running:>28}{mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
