#!/usr/bin/env bash
# Issue 16 item 4: publish→deliver latency across 3 wsgate nodes on the dev
# broker (cmd/kafkadev, as `make run-cluster`: -partitions 10) at RATE msg/s,
# RUNS times, each run on fresh processes. A publisher POSTs numbered,
# timestamped 64-byte messages to node 1's publish API on a fixed schedule;
# SUBS idle subscribers per node (wsgate-bench -scenario idle) measure
# publish→deliver from the payload's CLOCK_MONOTONIC stamp to their read(2).
#
#   bash bench/cluster-latency.sh                        # bin/wsgate (built), 3 runs
#   STAMPS=1 bash bench/cluster-latency.sh               # + per-stage breakdown (below)
#   STAMPS=1 STAMP_REV=f66fcf1 bash bench/cluster-latency.sh   # the same, stamped build of a commit
#   NODE_FLAGS='-event-loops 1' NODE_ENV=GOMAXPROCS=3 bash bench/cluster-latency.sh   # every node's extra flags, environment
#
# STAMPS=1 builds a stamped copy of this tree (bench/latency-stamps.patch
# applied to a copy of the work tree's tracked files in a temp dir: package internal/latstamp and
# five one-line calls) and reports, per node, p50/p99 of each segment of a
# message's way: http (publisher's stamp → publish API read the body),
# produce (→ the produce request carrying it was acknowledged), ack→fetch
# (→ that node's partition reader returned it; negative when the fetch
# answer beats the produce ack), handoff (→ the last event loop took it
# from its inbox), write (→ the last loop wrote it to its last subscriber).
# Every process is started here and stopped by its PID (trap included); every
# wait is bounded. Run it on an otherwise idle host: other work on the same cores moves the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
RATE=${RATE:-1000}
COUNT=${COUNT:-10000}
SUBS=${SUBS:-10}
NODE_FLAGS=${NODE_FLAGS:-}
NODE_ENV=${NODE_ENV:-} # e.g. GOMAXPROCS=3: environment of the nodes only
STAMPS=${STAMPS:-0}
WORK=$(mktemp -d /tmp/wsgate-clat.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
trap cleanup EXIT
. bench/lib.sh # listening, free_port
wait_listen() {
	for _ in $(seq 100); do listening "$1" && return 0; sleep 0.1; done
	echo "nothing listens on $1" >&2
	return 1
}

WSGATE=${WSGATE_BIN:-}
if [ "$STAMPS" = 1 ]; then
	mkdir "$WORK/src"
	if [ -n "${STAMP_REV:-}" ]; then # a given commit (e.g. the "before" of a change)
		git archive "$STAMP_REV" | tar -x -C "$WORK/src"
	else # the work tree's tracked files as they are (uncommitted edits included)
		git ls-files -z | tar --null -T - -cf - | tar -x -C "$WORK/src"
	fi
	(cd "$WORK/src" && patch -s -p1 <"$OLDPWD/bench/latency-stamps.patch" && go build -o "$WORK/wsgate-stamped" ./cmd/wsgate)
	WSGATE=$WORK/wsgate-stamped
elif [ -z "$WSGATE" ]; then
	go build -o bin/wsgate ./cmd/wsgate
	WSGATE=bin/wsgate
fi
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
go build -o bin/kafkadev ./cmd/kafkadev
HOLD=$((COUNT / RATE + 6))s

# pct FILE COLUMN: "p50 p99" of a column of numbers (ns) in µs.
pct() {
	awk -v c="$2" '$c != "" {print $c}' "$1" | sort -n | awk '{v[NR] = $1} END {
		if (NR == 0) { print "- -"; exit }
		i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
		printf "%.0f %.0f", v[i50] / 1000, v[i99] / 1000 }'
}

for run in $(seq "$RUNS"); do
	K=$(free_port)
	bin/kafkadev -listen "127.0.0.1:$K" -partitions 10 >"$WORK/kafkadev-$run.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$K"
	NPIDS=() PORTS=() ADMINS=()
	for i in 1 2 3; do
		P=$(free_port) A=$(free_port)
		# shellcheck disable=SC2086
		env WSGATE_LATSTAMP="$([ "$STAMPS" = 1 ] && echo "$WORK/stamps-$run-$i.txt")" $NODE_ENV \
			"$WSGATE" -listen "127.0.0.1:$P" -admin-listen "127.0.0.1:$A" -node-id "node$i" \
			-kafka-brokers "127.0.0.1:$K" -log-level warn $NODE_FLAGS >"$WORK/node-$run-$i.log" 2>&1 &
		PIDS+=($!) NPIDS+=($!) PORTS+=("$P") ADMINS+=("$A")
	done
	for i in 0 1 2; do
		wait_listen "${PORTS[$i]}"
		for _ in $(seq 100); do
			curl -fs "http://127.0.0.1:${ADMINS[$i]}/healthz" >/dev/null && break
			sleep 0.1
		done
	done
	# Warm-up before any subscriber: the first produce and fetches open
	# connections. Same sequence numbers as the run (the subscribers never
	# see these; the stamps keep the latest pass).
	timeout 30 bin/wsgate-bench publish -url "http://127.0.0.1:${ADMINS[0]}/v1/publish/chat" -count 200 \
		-rate 200 >/dev/null || echo "warm-up publish failed" >&2
	GPIDS=()
	for i in 0 1 2; do
		timeout 120 bin/wsgate-bench -label "node$((i + 1))" -run-id "run$run" -scenario idle -loops 1 \
			-url "ws://127.0.0.1:${PORTS[$i]}/ws" -conns "$SUBS" -hold "$HOLD" -checkpoints "$SUBS" \
			-sources "127.0.$((i + 1)).1-127.0.$((i + 1)).4" -gateway-pids "${NPIDS[$i]}" -deadline 100s \
			>"$WORK/gen-$run-$i.json" 2>"$WORK/gen-$run-$i.err" &
		GPIDS+=($!)
	done
	sleep 2
	timeout 60 bin/wsgate-bench publish -url "http://127.0.0.1:${ADMINS[0]}/v1/publish/chat" -count "$COUNT" \
		-rate "$RATE" >"$WORK/pub-$run.json" || echo "publisher failed" >&2
	for p in "${GPIDS[@]}"; do wait "$p" || echo "generator failed" >&2; done
	if [ "$STAMPS" = 1 ]; then
		for p in "${NPIDS[@]}"; do kill -USR1 "$p"; done
		sleep 1
	fi
	cleanup

	pub_s=$(jq -r '((.last_mono_ns - .first_mono_ns) / 1e9 * 100 | round / 100)' "$WORK/pub-$run.json" 2>/dev/null || echo '?')
	echo "run $run: $(jq -r .accepted "$WORK/pub-$run.json") messages published in $pub_s s to node 1; load $(cut -d' ' -f1 /proc/loadavg)"
	for i in 0 1 2; do
		jq -r '"  \(.label): received \(.idle.deliveries.received) of \(.idle.deliveries.expected), missing \(.idle.deliveries.missing), dup \(.idle.deliveries.duplicates); publish→deliver p50 \(.idle.deliveries.latency.p50_us/1000*100|round/100) ms, p99 \(.idle.deliveries.latency.p99_us/1000*100|round/100) ms, p99.9 \(.idle.deliveries.latency.p999_us/1000*100|round/100) ms, max \(.idle.deliveries.latency.max_us/1000*100|round/100) ms"' \
			"$WORK/gen-$run-$i.json" || cat "$WORK/gen-$run-$i.err" >&2
	done
	if [ "$STAMPS" = 1 ]; then
		# Columns of a stamps file: seq t0 accept produce fetch drain write.
		src=$WORK/stamps-$run-1.txt
		for i in 1 2 3; do
			awk 'NR == FNR { if ($3 > 0 && $4 > 0) { acc[$1] = $3; prod[$1] = $4 }; next }
				($1 in acc) && $5 > 0 && $6 > 0 && $7 > 0 {
					print $1, acc[$1] - $2, prod[$1] - acc[$1], $5 - prod[$1], $6 - $5, $7 - $6, $7 - $2 }' \
				"$src" "$WORK/stamps-$run-$i.txt" >"$WORK/seg-$run-$i.txt"
			printf '  node%d segments p50/p99 µs (%d msgs): http %s | produce %s | ack→fetch %s | handoff %s | write %s | publish→last write %s\n' \
				"$i" "$(wc -l <"$WORK/seg-$run-$i.txt")" "$(pct "$WORK/seg-$run-$i.txt" 2 | tr ' ' /)" \
				"$(pct "$WORK/seg-$run-$i.txt" 3 | tr ' ' /)" "$(pct "$WORK/seg-$run-$i.txt" 4 | tr ' ' /)" \
				"$(pct "$WORK/seg-$run-$i.txt" 5 | tr ' ' /)" "$(pct "$WORK/seg-$run-$i.txt" 6 | tr ' ' /)" \
				"$(pct "$WORK/seg-$run-$i.txt" 7 | tr ' ' /)"
		done
	fi
done
echo "work dir: $WORK"
