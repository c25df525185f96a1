# Shared by the bench scripts (sourced after `cd` to the repository root):
# loopback ports and stopping the processes a script started, by PID.

# listening PORT: is something listening on 127.0.0.1:PORT?
listening() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# free_port: a port nothing listens on, below the ephemeral range (32768+)
# where the generators' outgoing connections take theirs.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000))
		if ! listening "$p"; then
			echo "$p"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

# kill_pid PID: TERM, wait up to 5 s, then KILL; reaps it.
kill_pid() {
	local p=$1
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
