# Sourced by bench/compare.sh (not run alone): the GRIP part (issue 16, "Peers"
# / issue 14). wsgate with a `;grip` pool and Pushpin 1.36 (Debian package
# `pushpin`, a config generated from /etc/pushpin/pushpin.conf) in front of the
# same GRIP backend, gateway/testdata/grip-backend.js --detach-on-connect 1:
# it answers the grip extension, subscribes the session to the channels of
# its ?channel= query (chat) and detaches at once, so each proxy holds the
# sessions alone. Same generator, same parameters for both:
#   grip-held    $GRIP_N sessions idle: process-tree RSS over baseline per
#                session (Pushpin: runner + condure, zurl, pushpin-proxy,
#                pushpin-handler)
#   grip-fanout  $GRIP_BC sessions, an HTTP publisher posting 10 msg/s in
#                Pushpin's format (-publish-url … -publish-format pushpin) for
#                $GRIP_BC_D to each server's own endpoint (wsgate: POST
#                /publish/ on the admin listener; Pushpin: its handler's port
#                5561 + offset): deliveries, gaps, latency, server CPU per delivery
if ! command -v pushpin >/dev/null || [ ! -r /etc/pushpin/pushpin.conf ]; then
	echo "pushpin (Debian package) is not installed: the GRIP part runs wsgate alone" >&2
	GRIP_PEERS="wsgate-grip"
else
	GRIP_PEERS="wsgate-grip pushpin"
	echo "pushpin: $(pushpin --version 2>&1 | head -1)" >&2
fi
GRIP_PEERS=${COMPARE_GRIP_PEERS:-$GRIP_PEERS}
# Debian's config caps the handler at message_rate=2500 messages/s sent to
# clients (message_hwm=25000 queued): below the fan-out's 30,000 deliveries/s,
# which would then measure the cap, not the cost. Raised by default, as a user
# fanning out would; PUSHPIN_MESSAGE_RATE=2500 PUSHPIN_MESSAGE_HWM=25000 for
# Debian's values.
PUSHPIN_MESSAGE_RATE=${PUSHPIN_MESSAGE_RATE:-100000}
PUSHPIN_MESSAGE_HWM=${PUSHPIN_MESSAGE_HWM:-1000000}

GB=$(free_port)
node gateway/testdata/grip-backend.js --port "$GB" --name bench --detach-on-connect 1 >"$WORK/grip-backend.log" 2>&1 &
BACKEND_PIDS+=($!)
wait_listen "$GB" "${BACKEND_PIDS[-1]}" "GRIP backend"

# pushpin_config DIR: Pushpin's config in DIR, listening on $PORT, routing
# everything to the GRIP backend; its handler's ports (5560-5563 in Debian's
# config) shifted to 4 free ports; sets PUBLISH_PORT.
pushpin_config() {
	local dir=$1 off i ok
	mkdir -p "$dir/run" "$dir/log"
	for _ in $(seq 100); do
		off=$((1000 + RANDOM % 20000)) ok=1
		for i in 0 1 2 3; do
			if listening $((5560 + off + i)); then ok=0; fi
		done
		[ "$ok" = 0 ] || break
	done
	PUBLISH_PORT=$((5561 + off))
	# Debian's internal.conf points the proxy at a system zurl (/var/run/zurl):
	# the runner's own zurl instead, as gateway's Pushpin tests do.
	sed -e "s#^rundir=.*#rundir=$dir/run#" -e "s#^logdir=.*#logdir=$dir/log#" \
		-e "s#^ipc_prefix=.*#ipc_prefix=wsgc$$-#" -e "s#^port_offset=.*#port_offset=$off#" \
		-e "s#^http_port=.*#http_port=127.0.0.1:$PORT#" \
		-e "s#^services=.*#services=condure,zurl,pushpin-proxy,pushpin-handler#" \
		-e "s#^message_rate=.*#message_rate=$PUSHPIN_MESSAGE_RATE#" -e "s#^message_hwm=.*#message_hwm=$PUSHPIN_MESSAGE_HWM#" \
		-e 's#^\[proxy\]$#[proxy]\nzurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in\nzurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream\nzurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out#' \
		/etc/pushpin/pushpin.conf >"$dir/pushpin.conf"
	echo "* 127.0.0.1:$GB" >"$dir/routes"
}

# grip_server wsgate-grip|pushpin: start it, set PUB_URL and GEN_PIDS (the
# PIDs whose RSS and CPU count: Pushpin's runner and its 4 children).
grip_server() {
	start_server "$1"
	GEN_PIDS=$SERVER_PID
	if [ "$1" = pushpin ]; then
		PUB_URL="http://127.0.0.1:$PUBLISH_PORT/publish/"
		wait_listen "$PUBLISH_PORT" "$SERVER_PID" "pushpin handler"
		local kids=()
		for _ in $(seq 50); do
			mapfile -t kids < <(ps -o pid= --ppid "$SERVER_PID" | tr -d ' ')
			[ "${#kids[@]}" -lt 4 ] || break
			sleep 0.1
		done
		PUSHPIN_KIDS=("${kids[@]}")
		GEN_PIDS=$(printf '%s,' "$SERVER_PID" "${kids[@]}")
		GEN_PIDS=${GEN_PIDS%,}
		sleep 1 # settle before the baseline sample
	else
		PUB_URL="http://127.0.0.1:$ADMIN/publish/"
	fi
}

grip_stop() {
	stop_server
	# The runner stops its children on TERM; any left over are killed by PID.
	for p in "${PUSHPIN_KIDS[@]}"; do kill_pid "$p"; done
	PUSHPIN_KIDS=() GEN_PIDS=""
}

for t in $GRIP_PEERS; do
	log "$t: grip-held, $GRIP_N detached GRIP sessions"
	grip_server "$t"
	gen "$t" grip-held 0 -scenario idle -url "ws://127.0.0.1:$PORT/app?channel=chat" -conns "$GRIP_N" \
		-dial-rate 1000 -max-inflight 64 -hold 5s -checkpoints "$GRIP_CP"
	grip_stop
	log "$t: grip-fanout, $GRIP_BC sessions × 10 msg/s for $GRIP_BC_D through POST /publish/"
	grip_server "$t"
	gen "$t" grip-fanout 0 -scenario broadcast -url "ws://127.0.0.1:$PORT/app?channel=chat" -conns "$GRIP_BC" \
		-dial-rate 1000 -max-inflight 64 -rate 10 -duration "$GRIP_BC_D" -drain 15s -settle 3s -size 64 -cdf \
		-publish-url "$PUB_URL" -publish-format pushpin -publish-channel chat
	grip_stop
done
