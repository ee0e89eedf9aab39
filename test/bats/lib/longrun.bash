# SPDX-License-Identifier: MIT
# Helpers for runs that go on until stopped (metrics, the stats file,
# follow): start in the background, wait for a condition with a bound
# (never a fixed sleep), stop by pid.

# bg_start OUT ARGS...: "$CSPIPE" ARGS in the background, stdin from the
# file $BG_IN (default /dev/null: a background job's stdin is that unless
# redirected on the job itself), stdout to OUT, stderr to err; sets pid.
# (Not under the timeout wrapper: signals must reach cspipe itself;
# bg_stop bounds the wait.)  Test fds 3 and 5 are not inherited.
bg_start() {
	local out=$1
	shift
	"$CSPIPE" "$@" < "${BG_IN:-/dev/null}" > "$out" 2> err 3>&- 5>&- &
	pid=$!
}

# wait_for DESCRIPTION COMMAND...: run COMMAND every 20 ms until it
# succeeds, for at most 30 s (then fail, saying what was awaited).
wait_for() {
	local what=$1 i
	shift
	for ((i = 0; i < 1500; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	echo "gave up waiting for: $what"
	echo "stderr of cspipe:"
	cat err 2> /dev/null
	return 1
}

# metrics_addr: wait for the "listening on" line of err; sets addr.
metrics_addr() {
	wait_for "the metrics address on stderr" grep -qs 'listening on http://' err
	addr=$(sed -n 's|^cspipe: metrics: listening on http://\(.*\)/metrics$|\1|p' err)
	[ -n "$addr" ]
}

# bg_stop SIGNAL: send SIGNAL to $pid and wait (at most 30 s) for it to
# end; sets rc.
bg_stop() {
	kill -"$1" "$pid"
	bg_wait
}

# bg_wait: wait (at most 30 s) for $pid to end; sets rc.
bg_wait() {
	local i
	for ((i = 0; i < 1500; i++)); do
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.02
	done
	if kill -0 "$pid" 2> /dev/null; then
		kill -KILL "$pid"
		echo "cspipe still running after 30 s"
		return 1
	fi
	rc=0
	wait "$pid" || rc=$?
}

# metric NAME [LABELS]: the value of one sample from the file metrics.txt.
metric() {
	local n=$1
	[ -z "${2:-}" ] || n="$1{$2}"
	awk -v n="$n" '$1 == n {print $2}' metrics.txt
}
