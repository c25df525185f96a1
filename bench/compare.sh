#!/usr/bin/env bash
# make bench-compare: wsgate side by side with HAProxy (Debian package) in
# front of the same two Node `ws` echo backends, plus wsgate's own WebSocket
# termination against the Node `ws` broadcast server and Centrifugo v6 (JSON
# protocol, insecure client mode: no tokens), all in one run:
#
#   echo-1k, echo-5k   N connections × 20 msg/s × 64 B for ECHO_D through the
#                      proxy (tunnels), RTT percentiles, messages per gateway
#                      CPU-second (utime+stime of the gateway PID only)
#   tunnels-9k         9,000 idle tunnels (18,000 sockets in the gateway):
#                      RSS per tunnel, RSS-vs-connections checkpoints
#   churn              connect + upgrade + close at max rate for CHURN_D:
#                      upgrades/s, gateway CPU per upgrade, RSS drift
#   node-direct        echo-1k straight to one Node backend (reference line)
#   broadcast,         wsgate (topic route) vs the Node ws broadcast server
#   idle-18k,          and Centrifugo: 3000 subscribers × 10 msg/s; 18k idle
#   churn-topic        connections; upgrades/s when the server terminates
#                      WebSocket itself (churn-topic: wsgate and Node only)
#   writefloor         bare write(2) cost on this host, same run
#   tls-*              every client over TLS (the generator's TLS mode), one
#                      throwaway ECDSA P-256 certificate: wsgate -tls-listen vs
#                      HAProxy `bind ... ssl crt` in front of the same backends
#                      (wss tunnels), plus wsgate terminating wss on a topic
#                      route: tls-idle-9k (RSS per idle wss connection),
#                      tls-churn and tls-churn-resumed (handshakes per gateway
#                      CPU-second, full and TLS 1.3 resumed), tls-broadcast
#                      (3000 × 10 msg/s over wss vs ws on wsgate, same run)
#   grip-held,         wsgate (;grip pool) vs Pushpin 1.36 in front of the same
#   grip-fanout        GRIP backend, sessions detached: RSS per held session;
#                      an HTTP publisher in Pushpin's format, CPU per delivery
#                      (bench/compare-grip.sh)
#
# Writes bench/results/<date>-compare.{json,md} and SVG charts
# bench/results/<date>-*.svg (copied to bench/results/latest-*.svg, which
# bench/README.md embeds). Every process is started here and killed by its PID
# on exit (trap), every generator has -deadline and a `timeout` around it.
#
# Env: BENCH_QUICK=1 (small sizes, ≈ 1.5 min), WSGATE_BIN=path, ECHO_D=15s,
# CHURN_D=10s, COMPARE_TARGETS="wsgate haproxy" (proxy side), SKIP_TOPIC=1,
# TOPIC_PEERS="node centrifugo" (terminated side), CENTRIFUGO_BIN=path (default:
# bin/centrifugo, else PATH, else `go install github.com/centrifugal/centrifugo/v6@v6.9.1`
# into bin/; skipped with a message if none works), COMPARE_TLS_ONLY=1 (only the
# tls-* part, ≈ 5 min), SKIP_TLS=1 (no tls-* part), COMPARE_GRIP_ONLY=1 (only the
# grip-* part, ≈ 3 min: bench/compare-grip.sh), SKIP_GRIP=1, GRIP_N=9000
# (detached sessions held), GRIP_BC=3000 / GRIP_BC_D=20s (fan-out receivers,
# duration), COMPARE_GRIP_PEERS="wsgate-grip pushpin", COMPARE_CHURN_ONLY=1 (only
# the proxy side's churn, ≈ 1 min; bench/syscalls-churn.sh adds system calls
# and a CPU breakdown per upgrade).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ECHO_A=200 ECHO_B=500 ECHO_D=${ECHO_D:-4s} TUN=1000 TUN_CP="500,1000,1500,2000" CHURN_D=${CHURN_D:-3s}
	BC_N=500 BC_D=5s IDLE_N=2000 IDLE_CP="500,1000,1500,2000" FLOOR=1000
else
	ECHO_A=1000 ECHO_B=5000 ECHO_D=${ECHO_D:-15s} TUN=9000 TUN_CP="2000,4000,6000,8000,10000,12000,14000,16000,18000" CHURN_D=${CHURN_D:-10s}
	BC_N=3000 BC_D=20s IDLE_N=18000 IDLE_CP="2000,4000,6000,8000,10000,12000,14000,16000,18000" FLOOR=3000
fi
TARGETS=${COMPARE_TARGETS:-"wsgate haproxy"}
TLS_ONLY=${COMPARE_TLS_ONLY:-0}
GRIP_ONLY=${COMPARE_GRIP_ONLY:-0}
CHURN_ONLY=${COMPARE_CHURN_ONLY:-0}
if [ "$QUICK" = 1 ]; then
	GRIP_N=1000 GRIP_CP="250,500,750" GRIP_BC=500 GRIP_BC_D=5s
else
	GRIP_N=${GRIP_N:-9000} GRIP_CP="2000,4000,6000,8000" GRIP_BC=${GRIP_BC:-3000} GRIP_BC_D=${GRIP_BC_D:-20s}
fi
RUN_GRIP=1
[ "${SKIP_GRIP:-0}" != 1 ] && [ "$TLS_ONLY" != 1 ] || RUN_GRIP=0
if [ "$GRIP_ONLY" = 1 ]; then TLS_ONLY=1 SKIP_TLS=1 RUN_GRIP=1; fi # GRIP only: none of the rest
if [ "$CHURN_ONLY" = 1 ]; then SKIP_TOPIC=1 SKIP_TLS=1 RUN_GRIP=0; fi  # the proxy churn only (below)
if [ "$QUICK" = 1 ]; then
	TLS_IDLE=1000 TLS_IDLE_CP="250,500,750,1000" TLS_TUN_CP="500,1000,1500,2000" TLS_BC=500 TLS_BC_D=5s
else
	TLS_IDLE=9000 TLS_IDLE_CP="2000,4000,6000,8000" TLS_TUN_CP="4000,8000,12000,16000" TLS_BC=3000 TLS_BC_D=20s
fi
DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
WORK=$(mktemp -d /tmp/wsgate-compare.XXXXXX)
LINES=$WORK/results.jsonl
: >"$LINES"
SERVER_PID="" PORT="" ADMIN="" GEN_PIDS="" PUSHPIN_KIDS=()
WSGATE_EXTRA="" # more wsgate flags (word-split): compare-tls.sh's idle runs
BACKEND_PIDS=()

log() { printf '\n### %s (load %s)\n' "$*" "$(cut -d' ' -f1 /proc/loadavg)" >&2; }

. bench/lib.sh # listening, free_port, kill_pid
stop_server() {
	kill_pid "$SERVER_PID"
	SERVER_PID=""
}
cleanup() {
	stop_server
	for p in "${PUSHPIN_KIDS[@]}"; do kill_pid "$p"; done
	for p in "${BACKEND_PIDS[@]}"; do kill_pid "$p"; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_listen() { # wait_listen PORT PID NAME
	for _ in $(seq 100); do
		listening "$1" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "$3 did not start listening on $1" >&2
	cat "$WORK"/*.log >&2 || true
	return 1
}

# start_server wsgate|haproxy|wsgate-topic|node|centrifugo, or wsgate-tls|
# haproxy-tls|wsgate-topic-tls (TLS-only listeners, $TLSDIR's cert): sets SERVER_PID,
# PORT, ADMIN. A port found free can be taken by another process of a shared
# host before the server binds it: then it tries again on new ports (3 times).
start_server() {
	local try
	for try in 1 2 3; do
		start_server_once "$1" && return 0
		stop_server
		echo "$1: start failed (try $try), retrying on other ports" >&2
	done
	return 1
}

start_server_once() {
	PORT=$(free_port)
	ADMIN=""
	case $1 in
	wsgate)
		ADMIN=$(free_port)
		"$WSGATE" -listen "127.0.0.1:$PORT" -admin-listen "127.0.0.1:$ADMIN" -log-level warn -demo-path '' \
			-backend "echo=127.0.0.1:$B1,127.0.0.1:$B2;balance=leastconn" -route '/=backend:echo' \
			-tunnel-timeout 1h >"$WORK/wsgate-$PORT.log" 2>&1 &
		;;
	haproxy)
		# Equivalent config: mode http (HTTP/1.1 upgrade, then tunnel), the same
		# two servers with leastconn, timeout tunnel 1h; maxconn sized for 9k
		# tunnels under the 20k fd limit; threads = CPUs (HAProxy's default, like
		# wsgate's -event-loops 0).
		cat >"$WORK/haproxy.cfg" <<-EOF
			global
			    maxconn 9800
			defaults
			    mode http
			    maxconn 9800
			    timeout connect 5s
			    timeout client 60s
			    timeout server 60s
			    timeout tunnel 1h
			frontend fe
			    bind 127.0.0.1:$PORT
			    default_backend echo
			backend echo
			    balance leastconn
			    server s1 127.0.0.1:$B1
			    server s2 127.0.0.1:$B2
		EOF
		haproxy -q -c -f "$WORK/haproxy.cfg"
		haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy-$PORT.log" 2>&1 &
		;;
	wsgate-tls)
		ADMIN=$(free_port)
		"$WSGATE" -listen '' -tls-listen "127.0.0.1:$PORT" -tls-cert "$TLSDIR/server.pem,$TLSDIR/server.key" \
			-admin-listen "127.0.0.1:$ADMIN" -log-level warn -demo-path '' \
			-backend "echo=127.0.0.1:$B1,127.0.0.1:$B2;balance=leastconn" -route '/=backend:echo' \
			-tunnel-timeout 1h $WSGATE_EXTRA >"$WORK/wsgate-tls-$PORT.log" 2>&1 &
		;;
	haproxy-tls)
		# As haproxy above, terminating TLS with the same certificate and key
		# (one PEM, like wsgate's -tls-cert without KEY.pem); ALPN http/1.1 as
		# wsgate announces; OpenSSL's defaults otherwise (TLS 1.2-1.3, tickets on).
		cat >"$WORK/haproxy-tls.cfg" <<-EOF
			global
			    maxconn 9800
			defaults
			    mode http
			    maxconn 9800
			    timeout connect 5s
			    timeout client 60s
			    timeout server 60s
			    timeout tunnel 1h
			frontend fe
			    bind 127.0.0.1:$PORT ssl crt $TLSDIR/combined.pem alpn http/1.1
			    default_backend echo
			backend echo
			    balance leastconn
			    server s1 127.0.0.1:$B1
			    server s2 127.0.0.1:$B2
		EOF
		haproxy -q -c -f "$WORK/haproxy-tls.cfg"
		haproxy -db -f "$WORK/haproxy-tls.cfg" >"$WORK/haproxy-tls-$PORT.log" 2>&1 &
		;;
	wsgate-topic-tls)
		ADMIN=$(free_port)
		"$WSGATE" -listen '' -tls-listen "127.0.0.1:$PORT" -tls-cert "$TLSDIR/server.pem,$TLSDIR/server.key" \
			-admin-listen "127.0.0.1:$ADMIN" -log-level warn $WSGATE_EXTRA >"$WORK/wsgate-topic-tls-$PORT.log" 2>&1 &
		;;
	wsgate-grip)
		ADMIN=$(free_port)
		"$WSGATE" -listen "127.0.0.1:$PORT" -admin-listen "127.0.0.1:$ADMIN" -log-level warn -demo-path '' \
			-backend "grip=127.0.0.1:$GB;grip" -route '/=backend:grip' >"$WORK/wsgate-grip-$PORT.log" 2>&1 &
		;;
	pushpin)
		pushpin_config "$WORK/pushpin-$PORT" # compare-grip.sh
		pushpin --config "$WORK/pushpin-$PORT/pushpin.conf" >"$WORK/pushpin-$PORT.log" 2>&1 &
		;;
	wsgate-topic)
		ADMIN=$(free_port)
		"$WSGATE" -listen "127.0.0.1:$PORT" -admin-listen "127.0.0.1:$ADMIN" -log-level warn $WSGATE_EXTRA \
			>"$WORK/wsgate-topic-$PORT.log" 2>&1 &
		;;
	node)
		node bench/node/broadcast-server.js "$PORT" 127.0.0.1 >"$WORK/node-$PORT.log" 2>&1 &
		;;
	centrifugo)
		# Insecure client mode: connect and subscribe without tokens, publish
		# from a client (the generator's publisher), as the broadcast scenario needs.
		cat >"$WORK/centrifugo.json" <<-EOF
			{"client": {"insecure": true},
			 "http_server": {"address": "127.0.0.1", "port": "$PORT", "internal_address": "127.0.0.1", "internal_port": "$PORT"},
			 "log": {"level": "error"}}
		EOF
		"$CENTRIFUGO" --config "$WORK/centrifugo.json" >"$WORK/centrifugo-$PORT.log" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	wait_listen "$PORT" "$SERVER_PID" "$1"
}

# gen LABEL RUNID PROC ARGS...: one generator process against $PORT, JSON appended.
gen() {
	local label=$1 run=$2 proc=$3
	shift 3
	local extra=()
	[ -z "$ADMIN" ] || extra=(-metrics-url "http://127.0.0.1:$ADMIN/metrics")
	timeout 300 bin/wsgate-bench -label "$label" -run-id "$run" -proc "$proc" -gateway-pids "${GEN_PIDS:-$SERVER_PID}" \
		-deadline 240s "${extra[@]}" "$@" >"$WORK/$label-$run-$proc.json" || echo "generator $label $run $proc failed ($?)" >&2
	cat "$WORK/$label-$run-$proc.json" >>"$LINES"
}

log "build"
mkdir -p bin bench/results
WSGATE=${WSGATE_BIN:-bin/wsgate}
if [ -z "${WSGATE_BIN:-}" ]; then go build -o bin/wsgate ./cmd/wsgate; fi
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
[ -d bench/node/node_modules/ws ] || (cd bench/node && npm ci --no-audit --no-fund)
CENTRIFUGO=${CENTRIFUGO_BIN:-}
TOPIC_PEERS=${TOPIC_PEERS:-"node centrifugo"}
[ "$TLS_ONLY" != 1 ] || TOPIC_PEERS=
[ "$CHURN_ONLY" != 1 ] || TOPIC_PEERS=
if [[ " $TOPIC_PEERS " == *" centrifugo "* ]] && [ -z "$CENTRIFUGO" ]; then
	if [ -x bin/centrifugo ]; then
		CENTRIFUGO=bin/centrifugo
	elif command -v centrifugo >/dev/null; then
		CENTRIFUGO=$(command -v centrifugo)
	elif GOBIN=$PWD/bin go install github.com/centrifugal/centrifugo/v6@v6.9.1 >&2; then
		CENTRIFUGO=bin/centrifugo
	fi
	if [ -z "$CENTRIFUGO" ]; then
		echo "centrifugo not found and go install failed: skipping the Centrifugo peer" >&2
		TOPIC_PEERS=${TOPIC_PEERS//centrifugo/}
	fi
fi
[ -z "$CENTRIFUGO" ] || echo "centrifugo: $("$CENTRIFUGO" version 2>&1 | head -1)" >&2
if ! command -v haproxy >/dev/null; then
	apt-get install -y haproxy >&2 || { echo "haproxy is not installed and apt-get failed" >&2; exit 1; }
fi
echo "haproxy: $(haproxy -v | head -1)" >&2

B1=$(free_port)
B2=$(free_port)
while [ "$B2" = "$B1" ]; do B2=$(free_port); done
node bench/node/echo-server.js "$B1" 127.0.0.1 >"$WORK/echo-$B1.log" 2>&1 &
BACKEND_PIDS+=($!)
wait_listen "$B1" "${BACKEND_PIDS[0]}" "echo backend 1"
node bench/node/echo-server.js "$B2" 127.0.0.1 >"$WORK/echo-$B2.log" 2>&1 &
BACKEND_PIDS+=($!)
wait_listen "$B2" "${BACKEND_PIDS[1]}" "echo backend 2"

[ "$TLS_ONLY" != 1 ] || TARGETS=""
for t in $TARGETS; do
	for spec in "echo-1k $ECHO_A" "echo-5k $ECHO_B"; do
		[ "$CHURN_ONLY" != 1 ] || continue
		set -- $spec
		log "$t: $1, $2 connections × 20 msg/s for $ECHO_D"
		start_server "$t"
		gen "$t" "$1" 0 -scenario echo -url "ws://127.0.0.1:$PORT/echo" -conns "$2" -rate 20 -size 64 \
			-duration "$ECHO_D" -drain 10s -dial-rate 2000 -cdf
		stop_server
	done
	if [ "$CHURN_ONLY" != 1 ]; then
		log "$t: tunnels-9k, $TUN idle tunnels"
		start_server "$t"
		gen "$t" tunnels-9k 0 -scenario idle -url "ws://127.0.0.1:$PORT/echo" -conns "$TUN" -dial-rate 2000 \
			-hold 5s -checkpoints "$TUN_CP"
		stop_server
	fi
	log "$t: churn for $CHURN_D"
	start_server "$t"
	gen "$t" churn 0 -scenario churn -url "ws://127.0.0.1:$PORT/echo" -dial-rate 0 -max-inflight 200 -duration "$CHURN_D"
	stop_server
done

if [ "$TLS_ONLY" != 1 ] && [ "$CHURN_ONLY" != 1 ]; then
	log "node-direct: echo-1k straight to one backend"
	SERVER_PID=${BACKEND_PIDS[0]} PORT=$B1 ADMIN=""
	gen node-direct echo-1k 0 -scenario echo -url "ws://127.0.0.1:$B1/echo" -conns "$ECHO_A" -rate 20 -size 64 \
		-duration "$ECHO_D" -drain 10s -dial-rate 2000 -cdf
	SERVER_PID=""
fi

if [ "${SKIP_TOPIC:-0}" != 1 ] && [ "$TLS_ONLY" != 1 ]; then
	for t in wsgate-topic $TOPIC_PEERS; do
		path=/ws proto=()
		if [ "$t" = centrifugo ]; then path=/connection/websocket proto=(-proto centrifugo); fi
		log "$t: broadcast $BC_N × 10 msg/s for $BC_D"
		start_server "$t"
		gen "$t" broadcast 0 -scenario broadcast -url "ws://127.0.0.1:$PORT$path" "${proto[@]}" -conns "$BC_N" -rate 10 -duration "$BC_D" \
			-drain 15s -size 64 -cdf
		stop_server
		log "$t: idle-18k, $IDLE_N connections from 2 processes"
		start_server "$t"
		pids=()
		for i in 0 1; do
			gen "$t" idle-18k "$i" -scenario idle -url "ws://127.0.0.1:$PORT$path" "${proto[@]}" -conns $((IDLE_N / 2)) -hold 5s \
				-checkpoints "$IDLE_CP" -sources "127.0.$((i + 1)).1-127.0.$((i + 1)).32" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || true; done
		stop_server
		[ "$t" != centrifugo ] || continue # churn: connect+close, no protocol: wsgate and Node only
		log "$t: churn-topic for $CHURN_D"
		start_server "$t"
		gen "$t" churn-topic 0 -scenario churn -url "ws://127.0.0.1:$PORT/ws" -dial-rate 0 -max-inflight 200 -duration "$CHURN_D"
		stop_server
	done
fi

if [ "${SKIP_TLS:-0}" != 1 ]; then
	source bench/compare-tls.sh
fi

if [ "$RUN_GRIP" = 1 ]; then
	source bench/compare-grip.sh
fi

if [ "$TLS_ONLY" != 1 ] && [ "$CHURN_ONLY" != 1 ]; then
	log "write floor: $FLOOR loopback sockets"
	timeout 120 bin/wsgate-bench -scenario writefloor -conns "$FLOOR" -label floor -run-id "writefloor-$FLOOR" -deadline 100s \
		>"$WORK/floor.json" || echo "writefloor failed" >&2
	cat "$WORK/floor.json" >>"$LINES"
fi

OUT=bench/results/$DATE-compare
note="make bench-compare (BENCH_QUICK=$QUICK COMPARE_TLS_ONLY=${COMPARE_TLS_ONLY:-0} COMPARE_GRIP_ONLY=$GRIP_ONLY COMPARE_CHURN_ONLY=$CHURN_ONLY) on $(nproc) cores, one host; $(haproxy -v | head -1 | cut -d' ' -f1-3); node $(node -v); ${CENTRIFUGO:+centrifugo $("$CENTRIFUGO" version 2>&1 | head -1);} backends: 2 × bench/node/echo-server.js; load at end $(cut -d' ' -f1-3 /proc/loadavg)"
log "results: $OUT.json"
bin/wsgate-bench compare-report -in "$LINES" -out "$OUT.json" -note "$note" -charts bench/results -chart-prefix "$DATE-" | tee "$OUT.md"
for f in bench/results/"$DATE"-*.svg; do
	[ -e "$f" ] || continue
	cp "$f" "bench/results/latest-${f#bench/results/$DATE-}"
done
