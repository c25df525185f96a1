#!/usr/bin/env bash
# make bench-1m: the million-connection runbook.
#
# Here a process may hold at most 20,000 fds (hard limit, not raisable), so
# the run is many processes on one host: NODES wsgate processes sharing one
# port with SO_REUSEPORT (-reuseport), joined by the Kafka bus (a kafkadev
# broker: kfake, in-process Kafka protocol) so one publish reaches every node,
# and GENS generator processes (each under 19,500 sockets) spread over the
# source addresses 127.0.1.1–127.0.1.64 (64k ports per source and
# destination). `wsgate-bench watch` (at a higher priority: chrt, else nice,
# when permitted) samples every process and the host every 2 s — cheap /proc
# reads, and the connection counts the gateways report on /metrics, scraped
# concurrently with a timeout — and stops the ramp at the first limit: the
# target, free memory (MemAvailable < PAUSE_FREE_MB), kernel socket memory
# (sockstat TCP mem ≥ tcp_mem pressure), or time (RAMP_LIMIT, but only once
# the gateways' count stops growing; RAMP_MAX is the hard cap). Then it holds,
# broadcasts BROADCASTS messages to every connection through the publish API
# (each one bounded by the gateways' Σ messages out), tells every generator to
# stop (stop file; they hold until then and always write their report, on
# SIGTERM too), measures the bare write(2) floor, and writes
# bench/results/<date>-million.{json,md,-million-mem.svg}.
#
#   bash bench/million.sh                      # TARGET=1000000, as many nodes as needed
#   TARGET=300000 bash bench/million.sh        # a smaller run
#   bash bench/million.sh -procs 1             # one gateway process (host with raised limits)
#
# Env: TARGET (1000000), PROCS (gateway processes; default ceil(TARGET/GW_PER)),
# GW_PER (17000), GEN_PER (19000, capped by the fd limit), DIAL_RATE (total
# conn/s, 8000), HOLD (10 s), BROADCASTS (3), RAMP_LIMIT (300 s), RAMP_MAX
# (2 × RAMP_LIMIT), TIME_LIMIT (600 s: bounds the watcher and generators, with
# 300 s of slack for the phases after the ramp), MIN_FREE_MB (3072: abort below), PAUSE_FREE_MB
# (4096: stop the ramp below), BUS (kafka | none: independent nodes, each
# published to directly), APPLY_SYSCTL=1 (apply deploy/sysctl.d/99-wsgate-1m.conf
# values that this host lets us write, restored on exit), WSGATE_BIN.
#
# Every process is started here, recorded, and killed by its PID on exit,
# including on failure or Ctrl-C (trap). Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

while [ $# -gt 0 ]; do
	case $1 in
	-procs) PROCS=$2; shift 2 ;;
	-procs=*) PROCS=${1#-procs=}; shift ;;
	*) echo "usage: $0 [-procs N]" >&2; exit 2 ;;
	esac
done

TARGET=${TARGET:-1000000}
GW_PER=${GW_PER:-17000}
PROCS=${PROCS:-$(((TARGET + GW_PER - 1) / GW_PER))}
DIAL_RATE=${DIAL_RATE:-8000}
HOLD=${HOLD:-10}
BROADCASTS=${BROADCASTS:-3}
RAMP_LIMIT=${RAMP_LIMIT:-300}
RAMP_MAX=${RAMP_MAX:-$((RAMP_LIMIT * 2))}
TIME_LIMIT=${TIME_LIMIT:-600}
MIN_FREE_MB=${MIN_FREE_MB:-3072}
PAUSE_FREE_MB=${PAUSE_FREE_MB:-4096}
BUS=${BUS:-kafka}
FDLIM=$(ulimit -Hn)
[ "$FDLIM" = unlimited ] && FDLIM=1048576
GEN_PER=${GEN_PER:-19000}
GEN_PER=$((GEN_PER < FDLIM - 500 ? GEN_PER : FDLIM - 500))
GENS=$(((TARGET + GEN_PER - 1) / GEN_PER))
PER_NODE=$(((TARGET + PROCS - 1) / PROCS))
DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
START=$(date +%s)
WORK=$(mktemp -d /tmp/wsgate-1m.XXXXXX)
: >"$WORK/gw.pids"
: >"$WORK/gen.pids"
: >"$WORK/admins"
OTHER_PIDS=()
SYSCTL_RESTORE=()

log() { printf '### [%4ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
elapsed() { echo $(($(date +%s) - START)); }

kill_pids() { # TERM every PID given, wait ≤ 5 s in total, then KILL the rest
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
}
cleanup() {
	local rc=$?
	set +e
	touch "$WORK/stop" 2>/dev/null
	mapfile -t gens <"$WORK/gen.pids"
	mapfile -t gws <"$WORK/gw.pids"
	[ ${#gens[@]} -eq 0 ] || kill_pids "${gens[@]}"
	[ ${#gws[@]} -eq 0 ] || kill_pids "${gws[@]}"
	[ ${#OTHER_PIDS[@]} -eq 0 ] || kill_pids "${OTHER_PIDS[@]}"
	wait 2>/dev/null
	for kv in "${SYSCTL_RESTORE[@]}"; do
		printf '%s\n' "${kv#*=}" >"/proc/sys/${kv%%=*}" 2>/dev/null
	done
	if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
USED_PORTS=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		case $USED_PORTS in *" $p "*) continue ;; esac
		if ! listening "$p"; then
			USED_PORTS="$USED_PORTS$p "
			echo "$p"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}
wait_listen() { # PORT PID NAME [tries of 0.1 s]
	for _ in $(seq "${4:-100}"); do
		listening "$1" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "$3 did not start listening on $1" >&2
	return 1
}
status() { # status FIELD: a top-level number of the watcher's latest sample, as an integer (0 if absent)
	# grep+awk, not python: under load ~200 every process start counts.
	grep -o "\"$1\":[-0-9.e+]*" "$WORK/status" 2>/dev/null | head -1 | awk -F: '{printf "%d\n", $2 + 0} END {if (NR == 0) print 0}'
}

log "build"
mkdir -p bin bench/results
WSGATE=${WSGATE_BIN:-bin/wsgate}
[ -n "${WSGATE_BIN:-}" ] || go build -o bin/wsgate ./cmd/wsgate
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
if [ "$BUS" = kafka ] && [ "$PROCS" -gt 1 ]; then
	if "$WSGATE" -h 2>&1 | grep -q -- '-kafka-brokers' && [ -d cmd/kafkadev ]; then
		go build -o bin/kafkadev ./cmd/kafkadev
	else
		echo "this wsgate has no -kafka-brokers (or no cmd/kafkadev): running independent nodes" >&2
		BUS=none
	fi
fi
[ "$PROCS" -gt 1 ] || BUS=inprocess

if [ $((PER_NODE + 500)) -gt "$FDLIM" ]; then
	echo "-procs $PROCS: $PER_NODE connections per gateway process need more than the fd limit $FDLIM allows;" >&2
	echo "raise LimitNOFILE/ulimit -n (deploy/sysctl.d/99-wsgate-1m.conf, deploy/ systemd unit) or use more processes" >&2
	exit 2
fi

# Host limits: apply the runbook's values when asked (APPLY_SYSCTL=1: a host
# you own, as root), then report the values in force (they go into the report).
SYSCTL_APPLIED="" SYSCTL_REFUSED=""
if [ "${APPLY_SYSCTL:-0}" = 1 ] && [ -f deploy/sysctl.d/99-wsgate-1m.conf ]; then
	while IFS='=' read -r k v; do
		k=$(echo "$k" | tr -d ' ')
		k=${k#-} # "-key": optional (sysctl(8) ignores it when absent)
		v=$(echo "$v" | sed 's/^ *//;s/ *$//')
		case $k in '' | \#*) continue ;; esac
		f=/proc/sys/${k//.//}
		old=$(tr '\t' ' ' <"$f" 2>/dev/null) || continue
		if printf '%s\n' "$v" >"$f" 2>/dev/null; then
			SYSCTL_RESTORE+=("${k//.//}=$old")
			SYSCTL_APPLIED="$SYSCTL_APPLIED $k"
			log "sysctl $k = $v (was $old; restored on exit)"
		else
			SYSCTL_REFUSED="$SYSCTL_REFUSED $k"
		fi
	done <deploy/sysctl.d/99-wsgate-1m.conf
	[ -z "$SYSCTL_REFUSED" ] || log "APPLY_SYSCTL=1: the host refused$SYSCTL_REFUSED (not root, or a read-only /proc/sys): those stay as they are"
fi
{
	echo "fd hard limit per process: $FDLIM"
	echo "APPLY_SYSCTL=${APPLY_SYSCTL:-0}: applied:${SYSCTL_APPLIED:- none}; refused:${SYSCTL_REFUSED:- none}"
	for k in fs.file-max fs.nr_open net.ipv4.ip_local_port_range net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.ipv4.tcp_mem net.ipv4.tcp_rmem net.ipv4.tcp_wmem; do
		printf '%s = %s\n' "$k" "$(tr '\t' ' ' <"/proc/sys/${k//.//}" 2>/dev/null || echo '?')"
	done
} >"$WORK/limits.txt"
cat "$WORK/limits.txt" >&2
MEM0=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
log "target $TARGET: $PROCS gateway node(s) (~$PER_NODE each), $GENS generator process(es) (≤ $GEN_PER each), bus $BUS; MemAvailable $MEM0 MB; load $(cut -d' ' -f1-3 /proc/loadavg)"

BROKER=""
if [ "$BUS" = kafka ]; then
	KPORT=$(free_port)
	bin/kafkadev -listen "127.0.0.1:$KPORT" -partitions 1 >"$WORK/kafka.out" 2>"$WORK/kafka.err" &
	OTHER_PIDS+=($!)
	wait_listen "$KPORT" "${OTHER_PIDS[-1]}" kafkadev
	BROKER=127.0.0.1:$KPORT
fi

PORT=$(free_port)
LOOPS=1
[ "$PROCS" -gt 1 ] || LOOPS=0
for ((i = 0; i < PROCS; i++)); do
	a=$(free_port)
	args=(-listen "127.0.0.1:$PORT" -admin-listen "127.0.0.1:$a" -log-level warn -demo-path '' -node-id "n$i"
		-event-loops "$LOOPS" -ping-interval 5m -idle-timeout 10m)
	[ "$PROCS" -gt 1 ] && args+=(-reuseport)
	[ -z "$BROKER" ] || args+=(-kafka-brokers "$BROKER")
	"$WSGATE" "${args[@]}" >"$WORK/gw-$i.log" 2>&1 &
	echo $! >>"$WORK/gw.pids"
	echo "http://127.0.0.1:$a" >>"$WORK/admins"
done
mapfile -t GWS <"$WORK/gw.pids"
mapfile -t ADMINS <"$WORK/admins"
for ((i = 0; i < PROCS; i++)); do
	wait_listen "${ADMINS[$i]##*:}" "${GWS[$i]}" "gateway node $i (admin)" 300 || { tail -5 "$WORK/gw-$i.log" >&2; exit 1; }
done
wait_listen "$PORT" "${GWS[0]}" "gateway listener"
log "$PROCS node(s) up on 127.0.0.1:$PORT"

# The watcher must see the host as it is under load ~200: ahead of the
# gateways and generators in the run queue (it sleeps between samples).
PRIO=()
if chrt -r 1 true 2>/dev/null; then
	PRIO=(chrt -r 1)
elif nice -n -10 true 2>/dev/null; then
	PRIO=(nice -n -10)
fi
log "watcher priority: ${PRIO[*]:-none permitted (ordinary)}"
"${PRIO[@]}" bin/wsgate-bench watch -gateway-pids-file "$WORK/gw.pids" -generator-pids-file "$WORK/gen.pids" -admins-file "$WORK/admins" \
	-interval 2s -min-free-mb "$MIN_FREE_MB" -pause-free-mb "$PAUSE_FREE_MB" -target "$TARGET" \
	-ramp-deadline "${RAMP_LIMIT}s" -duration "$((TIME_LIMIT + 300))s" -pause-file "$WORK/pause" -stop-file "$WORK/stop" \
	-reason-file "$WORK/reason" -out "$WORK/watch.jsonl" -status "$WORK/status" 2>"$WORK/watch.err" &
OTHER_PIDS+=($!)
sleep 3 # a baseline sample before the first dial

RATE_EACH=$(python3 -c "print(max($DIAL_RATE / $GENS, 1))")
INFL=$((2000 / GENS > 50 ? 2000 / GENS : 50))
GEN_DEADLINE=$((TIME_LIMIT + 300)) # a safety net: the stop file (or SIGTERM) ends the hold, and they still report
for ((i = 0; i < GENS; i++)); do
	n=$((TARGET / GENS + (i < TARGET % GENS ? 1 : 0)))
	bin/wsgate-bench -scenario idle -label wsgate -run-id million -proc "$i" -url "ws://127.0.0.1:$PORT/ws" \
		-conns "$n" -loops 1 -dial-rate "$RATE_EACH" -max-inflight "$INFL" -handshake-timeout 20s \
		-sources 127.0.1.1-127.0.1.64 -hold-until-stop -stop-file "$WORK/stop" -pause-file "$WORK/pause" \
		-checkpoints "" -cdf -deadline "${GEN_DEADLINE}s" >"$WORK/gen-$i.json" 2>"$WORK/gen-$i.err" &
	echo $! >>"$WORK/gen.pids"
done
log "$GENS generator(s) dialing at $DIAL_RATE conn/s in total"

# Ramp: until the watcher stops it (target, memory, kernel socket memory,
# RAMP_LIMIT with no growth), the gateways' count stalls for 20 s, or RAMP_MAX.
last_held=0 stall=0
while [ ! -e "$WORK/pause" ] && [ ! -e "$WORK/stop" ]; do
	sleep 2
	held=$(status held)
	if [ "$held" -le "$last_held" ]; then stall=$((stall + 2)); else stall=0; fi
	last_held=$held
	if [ "$stall" -ge 20 ]; then
		echo "stalled: $held held, no growth for 20 s (see generator errors)" >"$WORK/reason"
		touch "$WORK/pause"
	fi
	if [ "$(elapsed)" -gt "$RAMP_MAX" ]; then
		echo "time: hard ramp cap RAMP_MAX=${RAMP_MAX}s ($held held, still growing)" >"$WORK/reason"
		touch "$WORK/pause"
	fi
	log "held $held, MemAvailable $(($(status mem_available_kb) / 1024)) MB, gateway RSS $(($(status gateway_rss_kb) / 1024)) MB, load $(status loadavg)"
done
REASON=$(head -1 "$WORK/reason" 2>/dev/null || echo unknown)
log "ramp stopped: $REASON"

if [ ! -e "$WORK/stop" ]; then
	sleep "$HOLD"
	HELD=$(status held)
	log "holding $HELD; broadcasting $BROADCASTS message(s)"
	out0=$(status msgs_out)
	for ((k = 0; k < BROADCASTS; k++)); do
		[ -e "$WORK/stop" ] && break
		if [ "$BUS" = none ]; then
			for a in "${ADMINS[@]}"; do
				bin/wsgate-bench publish -url "$a/v1/publish/chat" -seq "$k" -count 1 >>"$WORK/publish.jsonl" || true
			done
		else
			bin/wsgate-bench publish -url "${ADMINS[0]}/v1/publish/chat" -seq "$k" -count 1 >>"$WORK/publish.jsonl" || true
		fi
		# Wait until every node has delivered it (Σ messages_out), bounded.
		want=$(awk "BEGIN {printf \"%d\", $out0 + ($k + 1) * $HELD * 0.999}")
		prev=-1 still=0
		for _ in $(seq 90); do
			sleep 2
			cur=$(status msgs_out)
			[ "$cur" -ge "$want" ] && break
			if [ "$cur" = "$prev" ]; then still=$((still + 1)); else still=0; fi
			[ "$still" -ge 5 ] && break
			prev=$cur
		done
		log "broadcast $k: Σ messages_out $(status msgs_out) (want ≥ $want)"
	done
	sleep 4 # last samples, then stop
fi
touch "$WORK/stop"
log "stopping generators (stop file; each writes its report)"
mapfile -t GENP <"$WORK/gen.pids"
alive_gens() {
	local p n=0
	for p in "${GENP[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
	echo "$n"
}
for _ in $(seq 600); do # ≤ 120 s: closing ~19,000 sockets each under load
	[ "$(alive_gens)" = 0 ] && break
	sleep 0.2
done
if [ "$(alive_gens)" != 0 ]; then
	log "$(alive_gens) generator(s) still running: SIGTERM (they write their report), then KILL after 30 s"
	for p in "${GENP[@]}"; do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 150); do
		[ "$(alive_gens)" = 0 ] && break
		sleep 0.2
	done
	kill_pids "${GENP[@]}"
fi
cat "$WORK"/gen-*.json >"$WORK/gens.jsonl"
log "generator reports: $(grep -c '^{' "$WORK/gens.jsonl" || true) of $GENS"
kill_pids "${GWS[@]}"
: >"$WORK/gw.pids"

log "write floor (9000 socket pairs, gateways stopped)"
timeout 120 bin/wsgate-bench -scenario writefloor -conns 9000 -label floor -run-id writefloor -deadline 100s \
	>"$WORK/floor.json" 2>"$WORK/floor.err" || echo "writefloor failed" >&2

OUT=bench/results/$DATE-million
note="bench/million.sh TARGET=$TARGET PROCS=$PROCS on $(nproc) cores, $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1048576)) GiB; fd limit $FDLIM; MemAvailable at start $MEM0 MB; $(tr '\n' ';' <"$WORK/limits.txt")"
bin/wsgate-bench million-report -series "$WORK/watch.jsonl" -gens "$WORK/gens.jsonl" -publishes "$WORK/publish.jsonl" \
	-floor "$WORK/floor.json" -target "$TARGET" -nodes "$PROCS" -gen-procs "$GENS" -reason "$REASON" -bus "$BUS" \
	-note "$note" -out "$OUT.json" -charts bench/results -chart-prefix "$DATE-" | tee "$OUT.md"
cp "bench/results/$DATE-million-mem.svg" bench/results/latest-million-mem.svg 2>/dev/null || true
cp "$WORK/watch.jsonl" "$OUT-watch.jsonl"
log "done in $(elapsed) s: $OUT.md"
