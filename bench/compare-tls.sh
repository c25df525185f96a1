# Sourced by bench/compare.sh (not run alone): the tls-* part. Every client
# speaks TLS through the generator's TLS mode (goroutine-per-connection
# crypto/tls clients bridged to its epoll loops; its memory and CPU do not
# count). One throwaway ECDSA P-256 CA and server certificate for every
# server, made here with openssl into the run's temp dir.
TLSDIR=$WORK/tls
mkdir -p "$TLSDIR"
(
	cd "$TLSDIR"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj /CN=wsgate-bench-ca 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
		-subj /CN=wsgate.test 2>/dev/null
	printf 'subjectAltName=DNS:wsgate.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n' >ext.cnf
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
	cat server.pem server.key >combined.pem
)
TLSGEN=(-tls-ca "$TLSDIR/ca.pem" -tls-servername wsgate.test)

# tls_idle LABEL SERVER PATH CHECKPOINTS [ws]: $TLS_IDLE idle connections from
# 2 generator processes (3 fds per TLS connection in a generator).
tls_idle() {
	local label=$1 server=$2 path=$3 cps=$4 scheme=wss args=("${TLSGEN[@]}")
	if [ "${5:-}" = ws ]; then scheme=ws args=(); fi
	log "$label: tls-idle-9k, $TLS_IDLE idle $scheme connections ($server)"
	# wsgate as in gateway's TestTLSIdleMemoryBench: pings after 2 s of
	# silence (an answered ping drops a TLS connection's AEAD state) and,
	# after the hold, a forced GC before the "settled" sample.
	WSGATE_EXTRA="-ping-interval 2s"
	start_server "$server"
	WSGATE_EXTRA=""
	[ -z "$ADMIN" ] || args+=(-settle-get "http://127.0.0.1:$ADMIN/debug/pprof/heap?gc=1")
	local pids=() i
	for i in 0 1; do
		gen "$label" tls-idle-9k "$i" -scenario idle -url "$scheme://127.0.0.1:$PORT$path" "${args[@]}" \
			-conns $((TLS_IDLE / 2)) -dial-rate 500 -hold 5s -checkpoints "$cps" \
			-sources "127.0.$((i + 1)).1-127.0.$((i + 1)).32" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	stop_server
}
tls_idle wsgate-topic wsgate-topic-tls /ws "$TLS_IDLE_CP"
tls_idle wsgate-topic-ws wsgate-topic /ws "$TLS_IDLE_CP" ws
tls_idle wsgate wsgate-tls /echo "$TLS_TUN_CP"
tls_idle haproxy haproxy-tls /echo "$TLS_TUN_CP"

# Churn over TLS: connect, handshake, upgrade, close at max rate; full
# handshakes, then resumed ones (one shared client session cache).
for spec in "haproxy haproxy-tls /echo" "wsgate wsgate-tls /echo" "wsgate-topic wsgate-topic-tls /ws"; do
	set -- $spec
	for mode in full resumed; do
		id=tls-churn resume=()
		if [ "$mode" = resumed ]; then id=tls-churn-resumed resume=(-tls-resume); fi
		log "$1: $id for $CHURN_D ($2)"
		start_server "$2"
		gen "$1" "$id" 0 -scenario churn -url "wss://127.0.0.1:$PORT$3" "${TLSGEN[@]}" "${resume[@]}" \
			-dial-rate 0 -max-inflight 200 -duration "$CHURN_D"
		stop_server
	done
done

# Broadcast over wss and over ws on wsgate's topic route, back to back.
for spec in "wsgate-topic wsgate-topic-tls wss" "wsgate-topic-ws wsgate-topic ws"; do
	set -- $spec
	args=()
	[ "$3" = ws ] || args=("${TLSGEN[@]}")
	log "$1: tls-broadcast $TLS_BC × 10 msg/s over $3 for $TLS_BC_D"
	start_server "$2"
	gen "$1" tls-broadcast 0 -scenario broadcast -url "$3://127.0.0.1:$PORT/ws" "${args[@]}" -conns "$TLS_BC" -rate 10 \
		-duration "$TLS_BC_D" -drain 15s -size 64 -cdf
	stop_server
done
