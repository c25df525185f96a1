#!/usr/bin/env bash
# Access control's cost at the upgrade (issue 13): upgrades per gateway CPU-second with
# auth=none, auth=jwt HS256 and auth=jwt ES256 on one topic route, same run, alternating
# (ROUNDS times). Tokens come from Node's jsonwebtoken (an independent implementation), the
# token rides in the query (?token=), which is what browsers do. Every process is started here
# and stopped by its PID; every generator has -deadline and a timeout.
#   bash bench/auth.sh            # DUR=6s ROUNDS=2 WSGATE_BIN=bin/wsgate
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-6s}
ROUNDS=${ROUNDS:-2}
BIN=${WSGATE_BIN:-bin/wsgate}
[ -n "${WSGATE_BIN:-}" ] || go build -o bin/wsgate ./cmd/wsgate
go build -o bin/wsgate-bench ./bench/cmd/wsgate-bench
[ -d gateway/testdata/node_modules/jsonwebtoken ] || (cd gateway/testdata && npm ci --no-audit --no-fund --loglevel=error)
WORK=$(mktemp -d /tmp/wsgate-auth.XXXXXX)
PID=""
cleanup() { [ -z "$PID" ] || kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/ec.key" 2>/dev/null
openssl ec -in "$WORK/ec.key" -pubout -out "$WORK/ec.pub" 2>/dev/null
SECRET=$(head -c 32 /dev/urandom | base64 -w0)
mint() { # ALG KEY
	NODE_PATH=gateway/testdata/node_modules node -e '
const jwt = require("jsonwebtoken"), fs = require("fs");
const [alg, key] = process.argv.slice(1);
const k = alg === "HS256" ? Buffer.from(key, "base64") : fs.readFileSync(key);
process.stdout.write(jwt.sign({ sub: "bench", topics: ["chat"] }, k, { algorithm: alg, expiresIn: "2h" }));' "$1" "$2"
}
HS=$(mint HS256 "$SECRET")
ES=$(mint ES256 "$WORK/ec.key")
run() { # LABEL ROUTE_OPTS TOKEN
	local label=$1 opts=$2 tok=$3 port
	port=$((21000 + RANDOM % 9000))
	"$BIN" -listen "127.0.0.1:$port" -admin-listen "" -log-level error -demo-path '' -route "/ws=topic:chat$opts" \
		-jwt-key "hs256:$SECRET" -jwt-key "$WORK/ec.pub" >/dev/null 2>&1 &
	PID=$!
	for _ in $(seq 50); do ss -Htln "sport = :$port" | grep -q . && break; sleep 0.1; done
	local url="ws://127.0.0.1:$port/ws"
	[ -z "$tok" ] || url="$url?token=$tok"
	timeout 90 bin/wsgate-bench -label "$label" -run-id churn -proc 0 -gateway-pids "$PID" -deadline 80s \
		-scenario churn -url "$url" -dial-rate 0 -max-inflight 200 -duration "$DUR" 2>/dev/null >"$WORK/$label.json"
	kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
	python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
def get(o,k):
    if isinstance(o,dict):
        if k in o: return o[k]
        for v in o.values():
            r=get(v,k)
            if r is not None: return r
print("%-6s upgrades %6.0f/s  failed %d  gateway CPU %6.1f µs/upgrade  (%5.0f upgrades per CPU-second)" % (sys.argv[2],
  get(d,"upgrades_per_sec"), get(d,"failed"), get(d,"gateway_cpu_us_per_upgrade"), 1e6/get(d,"gateway_cpu_us_per_upgrade")))' "$WORK/$label.json" "$label"
}
for _ in $(seq "$ROUNDS"); do
	run none "" ""
	run hs256 ";auth=jwt" "$HS"
	run es256 ";auth=jwt" "$ES"
done
