#!/usr/bin/env bash
# CPU and system calls per proxied WebSocket upgrade, wsgate vs HAProxy, same
# run (issue 16 item 1): bench/compare.sh's churn scenario (connect + upgrade +
# close at max rate, 200 dials in flight, through the proxy to 2 backends,
# leastconn; the same wsgate flags and HAProxy config), each target in turn,
# ROUNDS times alternating (each round starting one target later). Per target
# and round, on a fresh proxy process each (phases 2-3 only in the first
# PERF_ROUNDS rounds):
#   1. churn for CHURN_D, nothing attached: upgrades/s and proxy CPU µs per
#      upgrade (utime+stime of the proxy PID, from the generator's JSON);
#   2. churn again with `perf stat -e syscalls:sys_enter_…` on the proxy's
#      threads for PERF_S seconds in the middle: calls per upgrade (per
#      connect(2) to a backend, one each);
#   3. (PERF_RECORD=1) churn with `perf record -g` on-CPU samples for PERF_S
#      seconds, bucketed by bench/churn-buckets.py by system call and, for
#      wsgate, by call stack (accept, request parsing, dial goroutine, gnet
#      Enroll, scheduler, ...); PERF_KEEP=PREFIX keeps the `perf script` text.
#
#   bash bench/syscalls-churn.sh   # TARGETS="wsgate haproxy" ROUNDS=2 PERF_ROUNDS=1 CHURN_D=8s PERF_S=3 BACKEND=node RATE=0
#   RATE: dials per second offered (0: as fast as 200 in flight allow, as compare.sh)
#   TARGETS: haproxy, wsgate (bin/wsgate or WSGATE_BIN), before (WSGATE_BEFORE,
#     another wsgate binary), any other NAME (BIN_NAME=path of a wsgate binary),
#     each with -gmpN appended for GOMAXPROCS=N.
#   BACKEND=node: 2 × bench/node/echo-server.js (compare.sh's); BACKEND=wsgate:
#     2 × wsgate terminating the upgrade itself on its default topic route (a
#     Go backend; on a small host it still shares the cores with the proxy).
# Needs perf with tracepoint access (root or perf_event_paranoid ≤ -1).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v perf >/dev/null; then # Debian: linux-perf
	apt-get install -y -qq linux-perf >&2 || { echo "perf is not installed and apt-get failed" >&2; exit 1; }
fi
TARGETS=${TARGETS:-"wsgate haproxy"}
ROUNDS=${ROUNDS:-2}
CHURN_D=${CHURN_D:-8s}
PERF_S=${PERF_S:-3}
BACKEND=${BACKEND:-node}
RATE=${RATE:-0}
PERF_ROUNDS=${PERF_ROUNDS:-1}
WORK=$(mktemp -d /tmp/wsgate-churn.XXXXXX)
PIDS=()
. bench/lib.sh # listening, free_port, kill_pid
cleanup() {
	for p in "${PIDS[@]}"; do kill_pid "$p"; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_listen() { for _ in $(seq 100); do listening "$1" && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
# The calls a connect + upgrade + close can make, and the loops' idle path.
# Not every tracepoint: attaching all 361 slows the proxy enough to change it.
EVENTS="raw_syscalls:sys_enter"
for s in accept4 accept read write readv writev recvfrom sendto epoll_wait epoll_pwait epoll_ctl futex nanosleep \
	socket connect setsockopt getsockopt getsockname getpeername fcntl close shutdown clock_gettime sched_yield \
	mmap munmap madvise tgkill rt_sigreturn; do
	EVENTS+=",syscalls:sys_enter_$s"
done

mkdir -p bin
[ -n "${WSGATE_BIN:-}" ] || go build -o bin/wsgate ./cmd/wsgate
WSGATE=${WSGATE_BIN:-bin/wsgate}
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
B1=$(free_port) B2=$(free_port)
while [ "$B2" = "$B1" ]; do B2=$(free_port); done
path=/echo
for b in $B1 $B2; do
	if [ "$BACKEND" = wsgate ]; then
		# Its default route /ws=topic:chat answers the upgrade; churn sends a close at once.
		"$WSGATE" -listen "127.0.0.1:$b" -admin-listen '' -log-level warn >"$WORK/backend-$b.log" 2>&1 &
		path=/ws
	else
		node bench/node/echo-server.js "$b" 127.0.0.1 >"$WORK/backend-$b.log" 2>&1 &
	fi
	PIDS+=($!)
	wait_listen "$b"
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $(haproxy -v | head -1 | cut -d' ' -f1-3), wsgate $(git rev-parse --short HEAD), backend $BACKEND, churn $CHURN_D, perf window ${PERF_S}s"

# backend_ticks: utime+stime of both backends, clock ticks.
backend_ticks() { cat "/proc/${PIDS[0]}/stat" "/proc/${PIDS[1]}/stat" | awk '{t += $14 + $15} END {print t}'; }

# start TARGET: a fresh proxy; sets SPID and PORT.
start() {
	local t=$1 bin gmp=()
	PORT=$(free_port)
	if [[ $t == *-gmp* ]]; then
		gmp=(env "GOMAXPROCS=${t##*-gmp}")
		t=${t%-gmp*}
	fi
	case $t in
	haproxy)
		# bench/compare.sh's HAProxy config.
		printf 'global\n    maxconn 9800\ndefaults\n    mode http\n    maxconn 9800\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\nfrontend fe\n    bind 127.0.0.1:%s\n    default_backend echo\nbackend echo\n    balance leastconn\n    server s1 127.0.0.1:%s\n    server s2 127.0.0.1:%s\n' \
			"$PORT" "$B1" "$B2" >"$WORK/haproxy.cfg"
		"${gmp[@]}" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/proxy.log" 2>&1 &
		;;
	*)
		bin=$WSGATE
		[ "$t" != before ] || bin=${WSGATE_BEFORE:?WSGATE_BEFORE=path of the before binary}
		v=BIN_${t//-/_}
		[ -z "${!v:-}" ] || bin=${!v}
		"${gmp[@]}" "$bin" -listen "127.0.0.1:$PORT" -admin-listen '' -log-level warn -demo-path '' \
			-backend "echo=127.0.0.1:$B1,127.0.0.1:$B2;balance=leastconn" -route '/=backend:echo' -tunnel-timeout 1h \
			>"$WORK/proxy.log" 2>&1 &
		;;
	esac
	SPID=$!
	PIDS+=($SPID)
	wait_listen "$PORT"
}

# churn DURATION OUT: the generator against $PORT, JSON in OUT.
churn() {
	timeout 120 bin/wsgate-bench -scenario churn -url "ws://127.0.0.1:$PORT$path" -dial-rate "$RATE" -max-inflight 200 \
		-duration "$1" -gateway-pids "$SPID" -deadline 100s -label churn >"$2" 2>"$2.err" || echo "generator failed ($?)" >&2
}

# Warm-up: Node's JIT (or wsgate's pools) on the backends, not in the first target's figures.
for b in $B1 $B2; do
	timeout 30 bin/wsgate-bench -scenario churn -url "ws://127.0.0.1:$b$path" -dial-rate 0 -max-inflight 100 -duration 2s \
		-deadline 20s >/dev/null 2>&1 || true
done
read -ra TS <<<"$TARGETS"
for r in $(seq "$ROUNDS"); do
	# Each round starts one target later: none always runs first or last.
	for i in "${!TS[@]}"; do
		t=${TS[$(((i + r - 1) % ${#TS[@]}))]}
		start "$t"
		b0=$(backend_ticks)
		churn "$CHURN_D" "$WORK/gen.json"
		b1=$(backend_ticks)
		kill_pid "$SPID"
		if [ "$r" -gt "$PERF_ROUNDS" ]; then
			python3 - "$t" "$r" "$WORK/gen.json" "$((b1 - b0))" "$(getconf CLK_TCK)" <<-'PY'
				import json, sys
				t, r, c = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))["churn"]
				backend = int(sys.argv[4]) / int(sys.argv[5]) / max(c["upgraded"], 1) * 1e6
				print(f"{t} round {r}: upgrades/s {c['upgrades_per_sec']:.0f}, failed {c['failed']}, CPU µs/upgrade {c['gateway_cpu_us_per_upgrade']:.1f} (backends {backend:.0f}), "
				      f"dial→101 p50/p99 µs {c['latency']['p50_us']:.0f}/{c['latency']['p99_us']:.0f}")
			PY
			continue
		fi
		start "$t"
		churn $((PERF_S + 4))s "$WORK/gen-perf.json" &
		gpid=$!
		sleep 2
		perf stat -x, -e "$EVENTS" -p "$SPID" -- sleep "$PERF_S" 2>"$WORK/perf.csv"
		wait "$gpid" || true
		kill_pid "$SPID"
		python3 - "$t" "$r" "$WORK/gen.json" "$WORK/perf.csv" "$PERF_S" "$((b1 - b0))" "$(getconf CLK_TCK)" <<-'PY'
			import json, sys
			t, r, gen, perf, secs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
			c = json.load(open(gen))["churn"]
			backend = int(sys.argv[6]) / int(sys.argv[7]) / max(c["upgraded"], 1) * 1e6
			counts = {}
			for line in open(perf):
			    f = line.strip().split(",")
			    if len(f) > 2 and f[2].startswith(("syscalls:sys_enter_", "raw_syscalls")):
			        try: counts[f[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "ALL")] = int(f[0])
			        except ValueError: pass
			# Per upgrade = per connect(2) to a backend: one each. (Not per accept4:
			# gnet's accept loop ends on an EAGAIN call, HAProxy's does not.)
			acc = counts.get("connect", 0)
			per = {k: v / acc for k, v in counts.items() if v} if acc else {}
			print(f"{t} round {r}: upgrades/s {c['upgrades_per_sec']:.0f}, failed {c['failed']}, CPU µs/upgrade {c['gateway_cpu_us_per_upgrade']:.1f} (backends {backend:.0f}), "
			      f"dial→101 p50/p99 µs {c['latency']['p50_us']:.0f}/{c['latency']['p99_us']:.0f}; perf window: {acc} upgrades ({acc / secs:.0f}/s), "
			      f"syscalls per upgrade: ALL {per.get('ALL', 0):.2f}, " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if k != "ALL" and v >= 0.005))
		PY
		if [ -n "${PERF_RECORD:-}" ]; then
			start "$t"
			churn $((PERF_S + 4))s "$WORK/gen-rec.json" &
			gpid=$!
			sleep 2
			perf record -q -g -F 1999 -e cpu-clock -p "$SPID" -o "$WORK/cpu.data" -- sleep "$PERF_S" 2>/dev/null
			wait "$gpid" || true
			kill_pid "$SPID"
			perf script -i "$WORK/cpu.data" -F tid,ip,sym 2>/dev/null >"$WORK/cpu.txt" || true
			[ -z "${PERF_KEEP:-}" ] || cp "$WORK/cpu.txt" "$PERF_KEEP-$t-$r.txt"
			python3 bench/churn-buckets.py "$t round $r" "$WORK/cpu.txt" \
				"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["churn"]["gateway_cpu_us_per_upgrade"])' "$WORK/gen.json")" \
				$([[ $t != haproxy* ]] || echo --syscalls-only)
		fi
	done
done
