#!/usr/bin/env bash
# Syscalls per tunnelled message, wsgate vs HAProxy, same run (issue 16 item 2):
# the echo scenario of bench/compare.sh (N connections × R msg/s × 64 B through
# the proxy to 2 Node `ws` echo backends, leastconn), and while it runs a
# `perf stat` of the proxy's syscall tracepoints (-p PID: every thread) for
# PERF_S seconds in the steady state. Prints one table per scenario: calls per
# echoed message (one echoed message = 2 frames through the proxy, one each
# way) and messages per proxy CPU-second (from the generator's JSON).
#   bash bench/syscalls-echo.sh     # SPECS="1000:20 2000:5" ECHO_D=20s CPU_S=5 PERF_S=6
#   PERF_RECORD=1: also the futex callers and an on-CPU profile of each proxy
#   TARGETS="wsgate wsgate-gmp2 haproxy": wsgate-gmpN is wsgate with GOMAXPROCS=N;
#   "before" (or before-gmpN) is the binary WSGATE_BEFORE, for before/after in one run
# Needs perf with tracepoint access (root or perf_event_paranoid ≤ -1).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v perf >/dev/null; then # Debian: linux-perf
	apt-get install -y -qq linux-perf >&2 || { echo "perf is not installed and apt-get failed" >&2; exit 1; }
fi
SPECS=${SPECS:-"1000:20 2000:5"}
ECHO_D=${ECHO_D:-20s}
PERF_S=${PERF_S:-6}
TARGETS=${TARGETS:-"wsgate haproxy"}
WORK=$(mktemp -d /tmp/wsgate-syscalls.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_listen() { for _ in $(seq 100); do ss -Htln "sport = :$1" | grep -q . && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
# A dozen tracepoints by default: attaching every one (ALL_SYSCALLS=1, to find
# which to watch) slows the proxy enough to change its batching.
EVENTS="raw_syscalls:sys_enter"
for s in read write readv writev recvfrom sendto epoll_wait epoll_pwait epoll_ctl futex nanosleep clock_gettime sched_yield; do
	EVENTS+=",syscalls:sys_enter_$s"
done
[ -z "${ALL_SYSCALLS:-}" ] || EVENTS="raw_syscalls:sys_enter,syscalls:sys_enter_*"
CPU_S=${CPU_S:-5}
# ticks: utime and stime of PID (fields 14 and 15 of /proc/PID/stat), clock ticks.
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

mkdir -p bin
[ -n "${WSGATE_BIN:-}" ] || go build -o bin/wsgate ./cmd/wsgate
WSGATE=${WSGATE_BIN:-bin/wsgate}
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
B1=$(free_port) B2=$(free_port)
for b in $B1 $B2; do
	node bench/node/echo-server.js "$b" 127.0.0.1 >"$WORK/echo-$b.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$b"
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(haproxy -v | head -1 | cut -d' ' -f1-3), wsgate $(git rev-parse --short HEAD)"
for spec in $SPECS; do
	conns=${spec%:*} rate=${spec#*:}
	for t in $TARGETS; do
		port=$(free_port)
		if [[ $t == wsgate* || $t == before* ]]; then
			# wsgate-gmpN: the same with GOMAXPROCS=N in its environment;
			# before[-gmpN]: the binary WSGATE_BEFORE (same run, before/after).
			gmp=() bin=$WSGATE
			[[ $t != *-gmp* ]] || gmp=(env "GOMAXPROCS=${t##*-gmp}")
			[[ $t != before* ]] || bin=${WSGATE_BEFORE:?WSGATE_BEFORE=path of the before binary}
			"${gmp[@]}" "$bin" -listen "127.0.0.1:$port" -admin-listen "127.0.0.1:$(free_port)" -log-level warn -demo-path '' \
				-backend "echo=127.0.0.1:$B1,127.0.0.1:$B2;balance=leastconn" -route '/=backend:echo' -tunnel-timeout 1h \
				>"$WORK/wsgate.log" 2>&1 &
		else
			# bench/compare.sh's HAProxy config.
			printf 'global\n    maxconn 9800\ndefaults\n    mode http\n    maxconn 9800\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\nfrontend fe\n    bind 127.0.0.1:%s\n    default_backend echo\nbackend echo\n    balance leastconn\n    server s1 127.0.0.1:%s\n    server s2 127.0.0.1:%s\n' \
				"$port" "$B1" "$B2" >"$WORK/haproxy.cfg"
			haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
		fi
		spid=$!
		PIDS+=($spid)
		wait_listen "$port"
		timeout 120 bin/wsgate-bench -scenario echo -url "ws://127.0.0.1:$port/echo" -conns "$conns" -rate "$rate" -size 64 \
			-duration "$ECHO_D" -drain 10s -dial-rate 2000 -gateway-pids "$spid" -deadline 100s -label "$t" \
			>"$WORK/gen.json" 2>"$WORK/gen.err" &
		gpid=$!
		sleep 4 # ramp (≤ 1 s) and settle: the windows are in the steady state
		# user/sys split over CPU_S seconds without perf attached, then the perf window.
		t0=$(ticks "$spid")
		sleep "$CPU_S"
		t1=$(ticks "$spid")
		perf stat -x, -e "$EVENTS" -p "$spid" -- sleep "$PERF_S" 2>"$WORK/perf.csv"
		if [ -n "${PERF_RECORD:-}" ]; then
			# Where the futex calls come from (Go keeps frame pointers), and where
			# the CPU goes (on-CPU samples, by function, self time).
			perf record -q -g -e syscalls:sys_enter_futex -p "$spid" -o "$WORK/futex.data" -- sleep 2 2>/dev/null
			echo "## $t $spec: futex callers"
			perf report -q -i "$WORK/futex.data" --stdio --no-children --sort sym -g caller,2,callee --percent-limit 5 2>/dev/null | grep -v "^$" | head -40 || true
			perf record -q -e cpu-clock -F 1999 -p "$spid" -o "$WORK/cpu.data" -- sleep 3 2>/dev/null
			echo "## $t $spec: on-CPU self time by function (top 30)"
			perf report -q -i "$WORK/cpu.data" --stdio --no-children --sort sym 2>/dev/null | grep -v "^$" | head -30 || true
		fi
		wait "$gpid" || echo "generator for $t failed" >&2
		kill "$spid"
		wait "$spid" 2>/dev/null || true
		python3 - "$t" "$conns" "$rate" "$PERF_S" "$WORK/perf.csv" "$WORK/gen.json" "$t0" "$t1" "$(getconf CLK_TCK)" "$CPU_S" <<-'PY'
			import json, sys
			t, conns, rate, secs, perf, gen = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
			(u0, s0), (u1, s1), hz = map(int, sys.argv[7].split()), map(int, sys.argv[8].split()), int(sys.argv[9])
			g = json.load(open(gen))["echo"]
			msgs = conns * rate * secs  # echoed messages in the perf window (steady state, offered = achieved below)
			counts = {}
			for line in open(perf):
			    f = line.strip().split(",")
			    if len(f) > 2 and f[2].startswith(("syscalls:sys_enter_", "raw_syscalls")):
			        try: counts[f[2].replace("syscalls:sys_enter_", "")] = int(f[0])
			        except ValueError: pass
			per = {k: v / msgs for k, v in counts.items() if v}
			mps = g["echoed"] / g["gateway_cpu_sec"] if g["gateway_cpu_sec"] else 0
			cmsgs = conns * rate * float(sys.argv[10])
			user, sys_ = (u1 - u0) / hz / cmsgs * 1e6, (s1 - s0) / hz / cmsgs * 1e6
			print(f"{t} {conns}x{rate:g}: echoed {g['echoed']}/{g['sent']}, msgs per proxy CPU-s {mps:.0f}, CPU µs/msg {g['gateway_cpu_us_per_msg']:.2f} "
			      f"(user {user:.2f} + sys {sys_:.2f} µs/msg over {sys.argv[10]} s without perf); "
			      "syscalls per echoed message: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])))
		PY
	done
done
