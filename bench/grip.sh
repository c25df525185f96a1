#!/usr/bin/env bash
# GRIP benchmarks (issue 14), both env-gated tests of the gateway package, which start every
# process themselves (gateway binary built by the test harness, Pushpin 1.36 from the Debian
# package, the GRIP backends in-process) and stop them by PID:
#  1. N detached GRIP sessions (backend subscribes each to a channel and detaches at once): gateway
#     RSS over its baseline per session, beside plain topic subscribers and Pushpin on the same
#     backend; the runtime's memory split (heap in use / idle / released, stacks) is logged too.
#  2. A publisher posting 10 msg/s in Pushpin's format to POST /publish/ on the admin listener,
#     BN subscribers each: gateway CPU per delivery for plain topic subscribers, detached and
#     attached GRIP sessions, each phase a fresh gateway process, same run.
#   bash bench/grip.sh          # N=9000 BN=3000 SECS=20; PUSHPIN=0 skips Pushpin, BROADCAST=0 the second
#   WSGATE_BIN=/path/wsgate bash bench/grip.sh   # measure that binary (e.g. a "before" build), not ./cmd/wsgate
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${WSGATE_BIN:-}" ]; then export WSGATE_E2E_BIN=$(realpath "$WSGATE_BIN"); fi
N=${N:-9000}
BN=${BN:-3000}
SECS=${SECS:-20}
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
filter() { grep -E 'grip_bench_|^(--- |ok|FAIL)' | sed -E 's/^ +grip_bench_[a-z_]+\.go:[0-9]+: //'; }
WSGATE_BENCH_GRIP=$N WSGATE_BENCH_GRIP_PUSHPIN=${PUSHPIN:-1} \
	go test -count=1 ./gateway/ -run '^TestGripDetachedRSS$' -v -timeout 20m | filter
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ "${BROADCAST:-1}" != 0 ] || exit 0
WSGATE_BENCH_GRIP_BROADCAST=$BN WSGATE_BENCH_GRIP_SECONDS=$SECS \
	go test -count=1 ./gateway/ -run '^TestGripBroadcastCPU$' -v -timeout 20m | filter
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg)"
