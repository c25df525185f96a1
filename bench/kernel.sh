#!/usr/bin/env bash
# Issue 16 item 3, "broadcast close to the kernel": wsgate's CPU per delivery
# against the bare write(2) floor of the same run, and frames per write(2)
# from the gateway's /metrics, for one or more wsgate binaries side by side
# (before/after a change), one fresh gateway process per scenario.
#
#   BINS="/tmp/wsgate-before bin/wsgate bin/wsgate:-broadcast-coalesce=50ms" bash bench/kernel.sh
#
# A BINS entry is a binary, optionally ":" and its extra flags (comma-separated).
# Scenarios (SCEN, default all): b10 = 3,000 subscribers × 10 msg/s (make
# bench's broadcast), b100 = 300 × 100 msg/s (the same 30k deliveries/s, ten
# times the topic rate), b100k = 1,000 × 100 msg/s (100k deliveries/s, about
# half a core of gateway CPU). Then the bare write(2) floor at each
# scenario's socket count (300, 1,000, 3,000), in the same run.
# Every process is started here and stopped by its PID; every wait is bounded.
# Run it on an otherwise idle host: other work on the same cores moves the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

BINS=${BINS:-bin/wsgate}
SCEN=${SCEN:-"b10 b100 b100k"}
DUR=${DUR:-12s}
WSGATE_EXTRA=${WSGATE_EXTRA:-}
WORK=$(mktemp -d /tmp/wsgate-kernel.XXXXXX)
LINES=$WORK/results.jsonl
SERVER_PID=""

. bench/lib.sh # listening, free_port, kill_pid
stop_server() {
	kill_pid "$SERVER_PID"
	SERVER_PID=""
}
trap stop_server EXIT

go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
# Binaries alternate within each scenario: a host that gets busier during the
# run (or kernel state that grows with every closed connection) then weighs
# on every binary alike.
for s in $SCEN; do
	for spec in $BINS; do
		bin=${spec%%:*} extra=""
		[ "$spec" = "$bin" ] || extra=${spec#*:}
		case $s in
		b10) n=3000 r=10 ;;
		b100) n=300 r=100 ;;
		b100k) n=1000 r=100 ;;
		*) echo "unknown scenario $s" >&2; exit 2 ;;
		esac
		PORT=$(free_port) ADMIN=$(free_port)
		# shellcheck disable=SC2086
		"$bin" -listen "127.0.0.1:$PORT" -admin-listen "127.0.0.1:$ADMIN" -log-level warn $WSGATE_EXTRA ${extra//,/ } \
			>"$WORK/wsgate-$PORT.log" 2>&1 &
		SERVER_PID=$!
		for _ in $(seq 100); do listening "$PORT" && break; sleep 0.1; done
		timeout 120 bin/wsgate-bench -label "$spec" -run-id "$s" -gateway-pids "$SERVER_PID" \
			-metrics-url "http://127.0.0.1:$ADMIN/metrics" -scenario broadcast -url "ws://127.0.0.1:$PORT/ws" \
			-conns "$n" -rate "$r" -duration "$DUR" -drain 15s -size 64 -deadline 100s \
			>"$WORK/$s.json" 2>"$WORK/$s.err" || echo "generator $s failed" >&2
		cat "$WORK/$s.json" >>"$LINES"
		stop_server
	done
done
for n in 300 1000 3000; do
	timeout 120 bin/wsgate-bench -scenario writefloor -conns "$n" -label floor -run-id "writefloor-$n" -deadline 100s \
		>>"$LINES" 2>/dev/null || echo "writefloor $n failed" >&2
done

jq -r 'select(.scenario=="writefloor") | "write floor \(.writefloor.sockets) sockets: \(.writefloor.cpu_us_per_write*100|round/100) µs CPU per bare 64 B write; 8 frames/write: \(.writefloor.batch_cpu_us_per_frame*100|round/100) µs per frame"' "$LINES"
printf '%-40s %-6s %9s %7s %7s %7s %7s %7s %s\n' binary scen received missing us/dlv xfloor frm/wr p50ms p99ms
jq -r -s '(map(select(.scenario=="writefloor") | {key: (.writefloor.sockets|tostring), value: .writefloor.cpu_us_per_write}) | from_entries) as $f |
	.[] | select(.scenario=="broadcast") | ($f[(.params.conns|tostring)] // 0) as $fl |
	[.label, .run_id, .broadcast.received, .broadcast.missing, (.broadcast.gateway_cpu_us_per_delivery*100|round/100),
	 (if $fl > 0 then .broadcast.gateway_cpu_us_per_delivery / $fl * 100 | round / 100 else 0 end),
	 ((.metrics.wsgate_messages_out_total // 0) / ((.metrics.wsgate_broadcast_writes_total // 0) + 1e-9) * 100 | round / 100),
	 (.broadcast.latency.p50_us / 100 | round / 10), (.broadcast.latency.p99_us / 100 | round / 10)] | @tsv' "$LINES" |
	while IFS=$'\t' read -r a b c d e f g h i; do printf '%-40s %-6s %9s %7s %7s %7s %7s %7s %s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"; done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results: $LINES"
