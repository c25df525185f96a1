#!/usr/bin/env bash
# make bench: wsgate against the Node `ws` broadcast server (the seeds'
# pattern), same generator, same host, one run. Every server here is started
# by this script and stopped by its PID; every generator has -deadline and a
# `timeout` around it, so the whole run ends by itself (≈ 4–6 minutes).
#
# Env knobs: BENCH_QUICK=1 (small sizes, ≈ 1 minute), BENCH_TARGETS="wsgate node",
# WSGATE_BIN=path (bench that wsgate binary instead of building ./cmd/wsgate).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
TARGETS=${BENCH_TARGETS:-"wsgate node"}
if [ "$QUICK" = 1 ]; then
	IDLE_A=1000 IDLE_B=2000 BC_N=500 BC_R=10 BC_D=5s SAT_N=1000 SAT_R=20 SAT_D=5s HOLD=3s FLOOR="500 1000"
else
	IDLE_A=10000 IDLE_B=19000 BC_N=3000 BC_R=10 BC_D=20s SAT_N=5000 SAT_R=20 SAT_D=15s HOLD=10s FLOOR="3000 5000"
fi
DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
WORK=$(mktemp -d /tmp/wsgate-bench.XXXXXX)
LINES=$WORK/results.jsonl
: >"$LINES"
SERVER_PID=""
ADMIN=""

log() { printf '\n### %s\n' "$*" >&2; }

. bench/lib.sh # listening, free_port, kill_pid
stop_server() {
	kill_pid "$SERVER_PID"
	SERVER_PID=""
}
trap stop_server EXIT

# start_server wsgate|node: sets SERVER_PID, PORT and ADMIN (wsgate's /metrics).
start_server() {
	PORT=$(free_port)
	ADMIN=""
	case $1 in
	wsgate)
		ADMIN=$(free_port)
		"$WSGATE" -listen "127.0.0.1:$PORT" -admin-listen "127.0.0.1:$ADMIN" -log-level warn \
			>"$WORK/wsgate-$PORT.log" 2>&1 &
		SERVER_PID=$!
		;;
	node)
		node bench/node/broadcast-server.js "$PORT" 127.0.0.1 >"$WORK/node-$PORT.log" 2>&1 &
		SERVER_PID=$!
		;;
	esac
	for _ in $(seq 100); do
		listening "$PORT" && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "$1 did not start listening on $PORT" >&2
	cat "$WORK"/*-"$PORT".log >&2 || true
	return 1
}

# gen TARGET RUNID PROC ARGS...: one generator process, JSON line appended.
gen() {
	local target=$1 run=$2 proc=$3
	shift 3
	# wsgate's /metrics counters over the run: frames per write(2) in the table.
	local extra=()
	[ -z "$ADMIN" ] || extra=(-metrics-url "http://127.0.0.1:$ADMIN/metrics")
	timeout 300 bin/wsgate-bench -label "$target" -run-id "$run" -proc "$proc" -gateway-pids "$SERVER_PID" \
		-url "ws://127.0.0.1:$PORT/ws" -deadline 240s "${extra[@]}" "$@" >"$WORK/$target-$run-$proc.json" || echo "generator $target $run $proc failed ($?)" >&2
	cat "$WORK/$target-$run-$proc.json" >>"$LINES"
}

# idle TARGET RUNID TOTAL PROCS: fresh server, PROCS generator processes in parallel.
idle() {
	local target=$1 run=$2 total=$3 procs=$4 i
	log "$target: idle $total connections from $procs process(es), hold $HOLD"
	start_server "$target"
	local pids=()
	for ((i = 0; i < procs; i++)); do
		# Each process its own 32 source addresses (127.0.<i+1>.1-32).
		gen "$target" "$run" "$i" -scenario idle -conns $((total / procs)) -hold "$HOLD" \
			-checkpoints "$IDLE_A,$IDLE_B" -sources "127.0.$((i + 1)).1-127.0.$((i + 1)).32" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	stop_server
}

# broadcast TARGET RUNID CONNS RATE DURATION: fresh server, one generator process.
broadcast() {
	local target=$1 run=$2 n=$3 rate=$4 dur=$5
	log "$target: $run, $n subscribers × $rate msg/s for $dur"
	start_server "$target"
	gen "$target" "$run" 0 -scenario broadcast -conns "$n" -rate "$rate" -duration "$dur" -drain 15s -size 64
	stop_server
}

log "build"
mkdir -p bin bench/results
HAVE_WSGATE=1
WSGATE=bin/wsgate
if [ -n "${WSGATE_BIN:-}" ]; then
	WSGATE=$WSGATE_BIN
	[ -x "$WSGATE" ] || { echo "WSGATE_BIN=$WSGATE is not executable" >&2; exit 1; }
elif ! go build -o bin/wsgate ./cmd/wsgate; then
	echo "cmd/wsgate does not build: running the Node baseline and the write floor only" >&2
	HAVE_WSGATE=0
fi
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
if [ ! -d bench/node/node_modules/ws ]; then
	(cd bench/node && npm ci --no-audit --no-fund)
fi

for target in $TARGETS; do
	if [ "$target" = wsgate ] && [ "$HAVE_WSGATE" = 0 ]; then continue; fi
	idle "$target" idle-10k "$IDLE_A" 1
	idle "$target" idle-19k "$IDLE_B" 2
	broadcast "$target" broadcast "$BC_N" "$BC_R" "$BC_D"
	broadcast "$target" saturation "$SAT_N" "$SAT_R" "$SAT_D"
done

for n in $FLOOR; do
	log "write floor: $n loopback sockets"
	SERVER_PID="" PORT=0
	timeout 120 bin/wsgate-bench -scenario writefloor -conns "$n" -label floor -run-id "writefloor-$n" -deadline 100s \
		>"$WORK/floor-$n.json" || echo "writefloor $n failed" >&2
	cat "$WORK/floor-$n.json" >>"$LINES"
done

OUT=bench/results/$DATE.json
note="make bench (BENCH_QUICK=$QUICK) on $(nproc) cores; generator and servers on one host"
[ "$HAVE_WSGATE" = 1 ] || note="$note; cmd/wsgate did not build: no wsgate figures"
[ -z "${WSGATE_BIN:-}" ] || note="$note; wsgate binary: $WSGATE_BIN"
log "results: $OUT"
bin/wsgate-bench report -in "$LINES" -out "$OUT" -note "$note" | tee "bench/results/$DATE.md"
rm -rf "$WORK"
