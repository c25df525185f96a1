#!/usr/bin/env bash
# make soak: 3 wsgate nodes on the Kafka bus × 18,000 connections each, with
# broadcast traffic, for DURATION (30m by default). Issue 6: "RSS and goroutine
# count flat within 5 %".
#
#   bash bench/soak.sh                     # 30 minutes (+ ≈ 1 min of setup and teardown)
#   DURATION=4m bash bench/soak.sh         # a short run
#
# What runs: one kafkadev broker (franz-go's kfake, Kafka protocol, in memory,
# 1 partition), NODES wsgate nodes (each its own port and admin port,
# -kafka-brokers), and one generator process per node (`wsgate-bench
# -scenario idle`, PER_NODE connections to that node only, under the 19.5k fd
# bound of a process). Once every node holds its connections the soak window
# starts: every PUB_INTERVAL s one numbered, timestamped message is POSTed to
# the publish API of the next node in turn (so every node produces to Kafka and
# consumes from it), and every SAMPLE_EVERY s each node's RSS (VmRSS of its
# PID), go_goroutines, wsgate_connections_open, messages_out and fds are
# sampled. Defaults ping every connection every 30 s (the timing wheel works
# too). At the end every generator reports missing/duplicate deliveries (the
# sequence number in every payload), and the script compares, per node, the
# mean of the last quarter of the window with the mean of the second quarter
# (the first quarter is warm-up): flat = within FLAT_PCT (5) %.
#
# Writes bench/results/<date>-soak.json (parameters, every sample, the
# generators' reports, the verdict) and bench/results/<date>-soak.md.
#
# Env: DURATION (30m; s/m/h suffix or seconds), NODES (3), PER_NODE (18000),
# PUB_INTERVAL (2 s: 0.5 msg/s, ≈ 27k deliveries/s over 54k connections),
# SIZE (64 B), SAMPLE_EVERY (30 s), DIAL_RATE (3000 conn/s per generator),
# RAMP_LIMIT (180 s), FLAT_PCT (5), WSGATE_BIN, KEEP_WORK=1.
#
# Every process is started here, its PID recorded, and killed by that PID on
# exit (trap), on failure and on Ctrl-C too. Every wait is bounded: the run
# ends by itself after DURATION + at most RAMP_LIMIT + ≈ 2 min.
set -euo pipefail
cd "$(dirname "$0")/.."

to_sec() {
	case $1 in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
DURATION=${DURATION:-30m}
DUR=$(to_sec "$DURATION")
NODES=${NODES:-3}
PER_NODE=${PER_NODE:-18000}
PUB_INTERVAL=${PUB_INTERVAL:-2}
SIZE=${SIZE:-64}
SAMPLE_EVERY=${SAMPLE_EVERY:-30}
DIAL_RATE=${DIAL_RATE:-3000}
RAMP_LIMIT=${RAMP_LIMIT:-180}
FLAT_PCT=${FLAT_PCT:-5}
if [ "$PER_NODE" -gt 19000 ]; then
	echo "PER_NODE $PER_NODE: a process here may hold 20,000 fds (node and generator alike); keep it ≤ 19000" >&2
	exit 2
fi
if [ "$DUR" -lt $((4 * SAMPLE_EVERY)) ]; then
	echo "DURATION $DURATION is shorter than 4 samples ($SAMPLE_EVERY s each): quarters cannot be compared" >&2
	exit 2
fi

DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
START=$(date +%s)
WORK=$(mktemp -d /tmp/wsgate-soak.XXXXXX)
GW_PIDS=()
GEN_PIDS=()
OTHER_PIDS=()

log() { printf '### [%5ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }

kill_pids() { # TERM each PID given, wait ≤ 5 s in total, then KILL what is left
	local p alive
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
	local rc=$?
	set +e
	touch "$WORK/stop" 2>/dev/null
	[ ${#GEN_PIDS[@]} -eq 0 ] || kill_pids "${GEN_PIDS[@]}"
	[ ${#GW_PIDS[@]} -eq 0 ] || kill_pids "${GW_PIDS[@]}"
	[ ${#OTHER_PIDS[@]} -eq 0 ] || kill_pids "${OTHER_PIDS[@]}"
	if [ "${KEEP_WORK:-0}" = 1 ] || [ "$rc" != 0 ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
USED_PORTS=" "
free_port() { # below the ephemeral range, where the generators' own ports come from
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
wait_listen() { # PORT PID NAME: ≤ 10 s
	for _ in $(seq 100); do
		listening "$1" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "$3 did not start listening on $1" >&2
	return 1
}
metric() { # ADMIN_URL NAME...: the values (summed over label sets), one a line; "nan" if unreachable
	local out
	out=$(curl -s --max-time 5 "$1/metrics" 2>/dev/null) || out=""
	shift
	local n
	for n in "$@"; do
		if [ -z "$out" ]; then echo nan; continue; fi
		printf '%s\n' "$out" | awk -v n="$n" '$1 == n || index($1, n "{") == 1 { s += $NF; f = 1 } END { if (f) printf "%.0f\n", s; else print "nan" }'
	done
}
rss_kb() { awk '/^VmRSS:/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

log "build"
mkdir -p bin bench/results
WSGATE=${WSGATE_BIN:-bin/wsgate}
[ -n "${WSGATE_BIN:-}" ] || go build -o bin/wsgate ./cmd/wsgate
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
go build -o bin/kafkadev ./cmd/kafkadev

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
MEM0=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
log "soak $DURATION ($DUR s): $NODES nodes × $PER_NODE connections on the Kafka bus, 1 message every $PUB_INTERVAL s; load $LOAD0, MemAvailable $MEM0 MB"

KPORT=$(free_port)
bin/kafkadev -listen "127.0.0.1:$KPORT" -partitions 1 >"$WORK/kafka.log" 2>&1 &
OTHER_PIDS+=($!)
KAFKA_PID=$!
wait_listen "$KPORT" "$KAFKA_PID" kafkadev

PORTS=() ADMINS=()
for ((i = 0; i < NODES; i++)); do
	p=$(free_port)
	a=$(free_port)
	"$WSGATE" -listen "127.0.0.1:$p" -admin-listen "127.0.0.1:$a" -node-id "soak$i" -log-level warn -demo-path '' \
		-event-loops 1 -kafka-brokers "127.0.0.1:$KPORT" >"$WORK/gw-$i.log" 2>&1 &
	GW_PIDS+=($!)
	PORTS+=("$p")
	ADMINS+=("http://127.0.0.1:$a")
done
for ((i = 0; i < NODES; i++)); do
	wait_listen "${PORTS[$i]}" "${GW_PIDS[$i]}" "node $i" || { tail -5 "$WORK/gw-$i.log" >&2; exit 1; }
	wait_listen "${ADMINS[$i]##*:}" "${GW_PIDS[$i]}" "node $i admin" || { tail -5 "$WORK/gw-$i.log" >&2; exit 1; }
done
log "nodes up: pids ${GW_PIDS[*]}, ports ${PORTS[*]}, broker 127.0.0.1:$KPORT"

# One generator per node; it holds until the stop file appears (its own
# -hold and -deadline are only backstops).
HOLD=$((DUR + RAMP_LIMIT + 180))
for ((i = 0; i < NODES; i++)); do
	bin/wsgate-bench -scenario idle -label soak -run-id "soak-$DATE" -proc "$i" -url "ws://127.0.0.1:${PORTS[$i]}/ws" \
		-conns "$PER_NODE" -loops 1 -dial-rate "$DIAL_RATE" -max-inflight 300 -handshake-timeout 20s \
		-sources "127.0.1.$((1 + 8 * i))-127.0.1.$((8 + 8 * i))" -hold "${HOLD}s" -stop-file "$WORK/stop" \
		-checkpoints "" -gateway-pids "${GW_PIDS[$i]}" -deadline "$((HOLD + 120))s" \
		>"$WORK/gen-$i.json" 2>"$WORK/gen-$i.err" &
	GEN_PIDS+=($!)
done

# Ramp: until every node holds PER_NODE (bounded by RAMP_LIMIT).
ramp_end=$(($(date +%s) + RAMP_LIMIT))
while :; do
	sleep 2
	held=() total=0 done_all=1
	for ((i = 0; i < NODES; i++)); do
		v=$(metric "${ADMINS[$i]}" wsgate_connections_open)
		[ "$v" = nan ] && v=0
		held+=("$v")
		total=$((total + v))
		[ "$v" -ge "$PER_NODE" ] || done_all=0
	done
	log "ramp: held ${held[*]} (Σ $total)"
	[ "$done_all" = 1 ] && break
	for p in "${GEN_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "a generator exited during the ramp:" >&2; cat "$WORK"/gen-*.err >&2; exit 1; }
	done
	if [ "$(date +%s)" -ge "$ramp_end" ]; then
		log "ramp limit ${RAMP_LIMIT}s reached: soaking with what is held"
		break
	fi
done
RAMP_SEC=$(($(date +%s) - START))

out_sum() {
	local s=0 v i
	for ((i = 0; i < NODES; i++)); do
		v=$(metric "${ADMINS[$i]}" wsgate_messages_out_total)
		[ "$v" = nan ] && v=0
		s=$((s + v))
	done
	echo "$s"
}
OUT0=$(out_sum)

# The soak window: publish every PUB_INTERVAL s (round robin over the nodes),
# sample every SAMPLE_EVERY s, on one schedule.
: >"$WORK/samples.jsonl"
: >"$WORK/publish.jsonl"
sample() { # T (seconds into the window)
	local i v
	for ((i = 0; i < NODES; i++)); do
		mapfile -t v < <(metric "${ADMINS[$i]}" go_goroutines wsgate_connections_open wsgate_messages_out_total wsgate_messages_in_total)
		printf '{"t":%s,"node":%d,"pid":%d,"rss_kb":%s,"fds":%s,"goroutines":%s,"conns":%s,"msgs_out":%s,"msgs_in":%s}\n' \
			"$1" "$i" "${GW_PIDS[$i]}" "$(rss_kb "${GW_PIDS[$i]}")" "$(fds "${GW_PIDS[$i]}")" \
			"${v[0]/nan/null}" "${v[1]/nan/null}" "${v[2]/nan/null}" "${v[3]/nan/null}" >>"$WORK/samples.jsonl"
	done
	local g=0 p
	for p in "${GEN_PIDS[@]}"; do g=$((g + $(rss_kb "$p"))); done
	printf '{"t":%s,"node":-1,"generators_rss_kb":%d,"kafkadev_rss_kb":%s,"mem_available_kb":%s,"loadavg":%s}\n' \
		"$1" "$g" "$(rss_kb "$KAFKA_PID")" "$(awk '/MemAvailable/ {print $2}' /proc/meminfo)" \
		"$(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/samples.jsonl"
}
W0=$(date +%s%N)
now_ms() { echo $((($(date +%s%N) - W0) / 1000000)); }
next_sample=0 next_pub=0 seq=0 published=0 pub_fail=0
end_ms=$((DUR * 1000))
log "soak window: $DUR s"
while :; do
	t=$(now_ms)
	if [ "$t" -ge "$next_sample" ]; then
		sample "$((next_sample / 1000))"
		log "t=$((next_sample / 1000))s: $(grep "\"t\":$((next_sample / 1000))," "$WORK/samples.jsonl" | grep -v '"node":-1' |
			sed -E 's/.*"node":([0-9]+).*"rss_kb":([0-9]+).*"goroutines":([0-9a-z]+),"conns":([0-9a-z]+).*/node \1: RSS \2 KB, \3 goroutines, \4 conns/' |
			tr '\n' ';') load $(cut -d' ' -f1 /proc/loadavg), published $published"
		[ "$next_sample" -ge "$end_ms" ] && break
		next_sample=$((next_sample + SAMPLE_EVERY * 1000))
		[ "$next_sample" -gt "$end_ms" ] && next_sample=$end_ms
	fi
	if [ "$t" -ge "$next_pub" ] && [ "$t" -lt "$end_ms" ]; then
		n=$((seq % NODES))
		if timeout 15 bin/wsgate-bench publish -url "${ADMINS[$n]}/v1/publish/chat" -seq "$seq" -count 1 -size "$SIZE" \
			>>"$WORK/publish.jsonl" 2>>"$WORK/publish.err"; then
			published=$((published + 1))
		else
			pub_fail=$((pub_fail + 1))
		fi
		seq=$((seq + 1))
		next_pub=$((next_pub + PUB_INTERVAL * 1000))
	fi
	t=$(now_ms)
	wake=$((next_sample < next_pub || next_pub >= end_ms ? next_sample : next_pub))
	[ "$wake" -gt "$t" ] && sleep "$(awk -v d=$((wake - t)) 'BEGIN {printf "%.3f", d / 1000}')"
done

# Drain: every held connection should have every accepted message (bounded).
HELD=0
for ((i = 0; i < NODES; i++)); do
	v=$(metric "${ADMINS[$i]}" wsgate_connections_open)
	[ "$v" = nan ] || HELD=$((HELD + v))
done
want=$((OUT0 + published * HELD))
for _ in $(seq 40); do
	[ "$(out_sum)" -ge "$want" ] && break
	sleep 0.5
done
OUT1=$(out_sum)
log "published $published (failed $pub_fail); Σ messages_out Δ $((OUT1 - OUT0)) (want $((published * HELD)) = $published × $HELD held)"

# Counters that would show dropped sessions.
for ((i = 0; i < NODES; i++)); do
	mapfile -t v < <(metric "${ADMINS[$i]}" wsgate_closes_total wsgate_timeouts_total wsgate_slow_consumer_closes_total wsgate_publish_errors_total wsgate_connections_total)
	printf '{"node":%d,"closes":%s,"timeouts":%s,"slow_consumer_closes":%s,"publish_errors":%s,"connections_total":%s}\n' \
		"$i" "${v[0]/nan/null}" "${v[1]/nan/null}" "${v[2]/nan/null}" "${v[3]/nan/null}" "${v[4]/nan/null}" >>"$WORK/counters.jsonl"
done

log "stopping the generators"
touch "$WORK/stop"
for _ in $(seq 300); do
	alive=0
	for p in "${GEN_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ "$alive" = 0 ] && break
	sleep 0.2
done
kill_pids "${GEN_PIDS[@]}"
GEN_PIDS=()
kill_pids "${GW_PIDS[@]}"
kill_pids "${OTHER_PIDS[@]}"
GW_PIDS=() OTHER_PIDS=()
cat "$WORK"/gen-*.json >"$WORK/gens.jsonl" 2>/dev/null || : >"$WORK/gens.jsonl"

OUT=bench/results/$DATE-soak
export WORK DATE DURATION DUR NODES PER_NODE PUB_INTERVAL SIZE SAMPLE_EVERY FLAT_PCT LOAD0 MEM0 RAMP_SEC published pub_fail HELD OUT0 OUT1 OUT
rc=0
python3 - <<'EOF' || rc=$?
import json, os, statistics, sys
E = os.environ
W = E["WORK"]
def lines(p):
    try:
        return [json.loads(l) for l in open(p) if l.strip()]
    except FileNotFoundError:
        return []
samples = lines(f"{W}/samples.jsonl")
gens = lines(f"{W}/gens.jsonl")
counters = lines(f"{W}/counters.jsonl")
dur, nodes, flat = int(E["DUR"]), int(E["NODES"]), float(E["FLAT_PCT"])
published, held = int(E["published"]), int(E["HELD"])

def quarter(xs, lo, hi, last=False):
    return [v for t, v in xs if v is not None and lo <= t and (t <= hi if last else t < hi)]

node_rows, all_flat = [], True
for n in range(nodes):
    ss = [s for s in samples if s.get("node") == n]
    row = {"node": n, "samples": len(ss), "conns_first": ss[0]["conns"] if ss else None, "conns_last": ss[-1]["conns"] if ss else None}
    for key in ("rss_kb", "goroutines", "fds"):
        xs = [(s["t"], s[key]) for s in ss]
        q2 = quarter(xs, dur / 4, dur / 2)
        q4 = quarter(xs, 3 * dur / 4, dur, last=True)
        vals = [v for _, v in xs if v is not None]
        m2 = statistics.mean(q2) if q2 else None
        m4 = statistics.mean(q4) if q4 else None
        drift = (m4 / m2 - 1) * 100 if m2 and m4 is not None else None
        ok = drift is not None and abs(drift) <= flat
        row[key] = {"q2_mean": m2, "q4_mean": m4, "drift_pct": drift, "min": min(vals) if vals else None,
                    "max": max(vals) if vals else None, "first": vals[0] if vals else None, "last": vals[-1] if vals else None,
                    "flat": ok, "q2_n": len(q2), "q4_n": len(q4)}
        if key in ("rss_kb", "goroutines") and not ok:
            all_flat = False
    node_rows.append(row)

deliv = {"published": published, "publish_failed": int(E["pub_fail"]), "held_at_end": held,
         "messages_out_delta": int(E["OUT1"]) - int(E["OUT0"]), "expected": published * held,
         "received": 0, "missing": 0, "duplicates": 0, "foreign": 0, "lost_conns": 0, "failed_dials": 0, "opened": 0, "per_generator": []}
lat = []
for g in gens:
    d = (g.get("idle") or {}).get("deliveries") or {}
    c = g.get("connect") or {}
    pg = {"proc": g.get("proc"), "opened": c.get("opened", 0), "failed": c.get("failed", 0), "lost": c.get("lost", 0),
          "received": d.get("received", 0), "max_seq": d.get("max_seq", 0), "expected": d.get("expected", 0),
          "missing": d.get("missing", 0), "duplicates": d.get("duplicates", 0), "foreign": d.get("foreign", 0),
          "p50_ms": (d.get("latency") or {}).get("p50_us", 0) / 1e3, "p99_ms": (d.get("latency") or {}).get("p99_us", 0) / 1e3,
          "max_ms": (d.get("latency") or {}).get("max_us", 0) / 1e3, "generator_rss_kb": g.get("generator_rss_kb")}
    deliv["per_generator"].append(pg)
    for k in ("received", "missing", "duplicates", "foreign"):
        deliv[k] += pg[k]
    deliv["lost_conns"] += pg["lost"]; deliv["failed_dials"] += pg["failed"]; deliv["opened"] += pg["opened"]
deliv["generators_reported"] = len(gens)
# Every generator must have seen every accepted message (max seq = published).
seq_ok = all(pg["max_seq"] == published for pg in deliv["per_generator"])
deliv_ok = (len(gens) == nodes and deliv["missing"] == 0 and deliv["duplicates"] == 0 and deliv["lost_conns"] == 0
            and deliv["received"] == deliv["expected"] == deliv["messages_out_delta"] and seq_ok and deliv["publish_failed"] == 0)
host = [s for s in samples if s.get("node") == -1]
result = {"kind": "soak", "date": E["DATE"], "duration": E["DURATION"], "duration_sec": dur, "nodes": nodes, "per_node": int(E["PER_NODE"]),
          "publish_interval_sec": float(E["PUB_INTERVAL"]), "size": int(E["SIZE"]), "sample_every_sec": int(E["SAMPLE_EVERY"]),
          "flat_pct": flat, "ramp_sec": int(E["RAMP_SEC"]), "loadavg_start": E["LOAD0"], "mem_available_mb_start": int(E["MEM0"]),
          "cores": os.cpu_count(), "rule": "flat = |mean(last quarter) / mean(second quarter) - 1| <= flat_pct, per node, RSS and goroutines",
          "nodes_summary": node_rows, "flat": all_flat, "deliveries": deliv, "deliveries_ok": deliv_ok,
          "counters_at_end": counters, "host": host, "samples": [s for s in samples if s.get("node", -1) >= 0],
          "generators": gens}
out = E["OUT"]
json.dump(result, open(out + ".json", "w"), indent=1)

f = lambda v, p=1: "–" if v is None else f"{v:,.{p}f}"
md = []
md.append(f"# Soak {E['DATE']}: {nodes} nodes × {int(E['PER_NODE']):,} connections, Kafka bus, {E['DURATION']}\n")
md.append(f"`DURATION={E['DURATION']} bash bench/soak.sh` on {os.cpu_count()} cores; ramp done {E['RAMP_SEC']} s after start; "
          f"1 message of {E['SIZE']} B every {E['PUB_INTERVAL']} s (round robin over the nodes' publish API); samples every {E['SAMPLE_EVERY']} s; "
          f"load at start {E['LOAD0']}, during the window {f(min((h['loadavg'] for h in host), default=None))}–{f(max((h['loadavg'] for h in host), default=None))}.\n")
md.append(f"Flat = |mean of the last quarter / mean of the second quarter − 1| ≤ {flat:g} % (first quarter = warm-up).\n")
md.append("| node | conns held (first → last) | RSS MB Q2 → Q4 | RSS drift | RSS min–max MB | goroutines Q2 → Q4 | goroutine drift | goroutines min–max | fds first → last | flat |")
md.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
for r in node_rows:
    R, G, F = r["rss_kb"], r["goroutines"], r["fds"]
    mb = lambda v: None if v is None else v / 1024
    md.append(f"| {r['node']} | {f(r['conns_first'],0)} → {f(r['conns_last'],0)} | {f(mb(R['q2_mean']))} → {f(mb(R['q4_mean']))} | {f(R['drift_pct'],2)} % | "
              f"{f(mb(R['min']))}–{f(mb(R['max']))} | {f(G['q2_mean'])} → {f(G['q4_mean'])} | {f(G['drift_pct'],2)} % | {f(G['min'],0)}–{f(G['max'],0)} | "
              f"{f(F['first'],0)} → {f(F['last'],0)} | {'yes' if R['flat'] and G['flat'] else '**no**'} |")
d = deliv
md.append("")
md.append(f"**RSS and goroutines flat within {flat:g} %: {'yes' if all_flat else 'NO'}.**\n")
md.append(f"Deliveries: {d['published']:,} messages published ({d['publish_failed']} failed), {d['held_at_end']:,} connections held → "
          f"expected {d['expected']:,}; generators received {d['received']:,}; gateways' Σ messages_out Δ {d['messages_out_delta']:,}; "
          f"**missing {d['missing']}, duplicates {d['duplicates']}**, foreign {d['foreign']}; connections lost during the soak {d['lost_conns']}, "
          f"failed dials {d['failed_dials']}. {'OK' if deliv_ok else '**NOT OK**'}.\n")
md.append("| generator | opened | lost | received | max seq | missing | dup | publish→deliver p50 / p99 / max ms |")
md.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
for pg in d["per_generator"]:
    md.append(f"| {pg['proc']} | {pg['opened']:,} | {pg['lost']} | {pg['received']:,} | {pg['max_seq']} | {pg['missing']} | {pg['duplicates']} | "
              f"{pg['p50_ms']:.1f} / {pg['p99_ms']:.1f} / {pg['max_ms']:.1f} |")
if host:
    md.append("")
    md.append(f"Generators' RSS Σ {host[0]['generators_rss_kb']/1024:.1f} → {host[-1]['generators_rss_kb']/1024:.1f} MB; kafkadev RSS "
              f"{host[0]['kafkadev_rss_kb']/1024:.1f} → {host[-1]['kafkadev_rss_kb']/1024:.1f} MB (in-memory log); MemAvailable "
              f"{host[0]['mem_available_kb']/1048576:.1f} → {host[-1]['mem_available_kb']/1048576:.1f} GB.")
md.append("")
md.append("Per-sample figures (RSS MB / goroutines per node):\n")
md.append("| t s | " + " | ".join(f"node {n}" for n in range(nodes)) + " | load |")
md.append("|---:|" + "---:|" * nodes + "---:|")
for t in sorted({s["t"] for s in samples}):
    cells = []
    for n in range(nodes):
        s = next((s for s in samples if s["t"] == t and s.get("node") == n), None)
        cells.append("–" if not s else f"{s['rss_kb']/1024:.1f} / {s['goroutines']}")
    h = next((s for s in host if s["t"] == t), None)
    md.append(f"| {t} | " + " | ".join(cells) + f" | {h['loadavg'] if h else '–'} |")
open(out + ".md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
sys.exit(0 if all_flat and deliv_ok else 1)
EOF
log "done: $OUT.md, $OUT.json"
exit $rc
