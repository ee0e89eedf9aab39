# SPDX-License-Identifier: MIT
# A real nats-server with JetStream for the NATS tests: started on
# 127.0.0.1 on a free port (-p -1; the port read back from the ports file
# it writes), waited for until it answers, stopped by its pid.  Nothing
# assumes port 4222, where Debian's own service may listen.

NATS_ADMIN=${CSPIPE_UNIT_DIR:-$TOP/build/default/test}/nats_admin

# nats_start DIR [PORT] [ARGS...]: start a server whose store and ports
# file live in DIR (on PORT when given, to restart one on the same store
# and address); sets NATS_PID, NATS_PORT and NATS_URL.
nats_start() {
	local dir=$1 port=${2:--1} i f
	shift 2 || shift $#
	mkdir -p "$dir"
	rm -f "$dir"/*.ports
	nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/store" \
		--ports_file_dir "$dir" "$@" > "$dir/server.log" 2>&1 3>&- &
	NATS_PID=$!
	for ((i = 0; i < 1000; i++)); do
		f=$(compgen -G "$dir/nats-server_$NATS_PID.ports") && break
		kill -0 "$NATS_PID" 2> /dev/null || break
		sleep 0.02
	done
	if [ -z "$f" ]; then
		echo "nats-server did not start:" >&2
		cat "$dir/server.log" >&2
		return 1
	fi
	NATS_PORT=$(sed -n -E 's/.*"(nats|tls):\/\/127\.0\.0\.1:([0-9]*)".*/\2/p' "$f")
	NATS_URL=nats://127.0.0.1:$NATS_PORT
	# Ready when it greets a client, and (without credentials) answers a
	# JetStream request.
	for ((i = 0; i < 500; i++)); do
		if [ $# -gt 0 ]; then
			timeout 1 bash -c "exec 9<>/dev/tcp/127.0.0.1/$NATS_PORT && head -c 4 <&9" \
				2> /dev/null | grep -q INFO && return 0
		else
			"$NATS_ADMIN" "$NATS_URL" info NONE 2>&1 | grep -qi "not found" && return 0
		fi
		sleep 0.02
	done
	echo "nats-server on port $NATS_PORT does not answer" >&2
	return 1
}

# nats_stop [SIGNAL]: stop the server $NATS_PID and wait for it.
nats_stop() {
	[ -n "$NATS_PID" ] || return 0
	kill "-${1:-TERM}" "$NATS_PID" 2> /dev/null
	wait "$NATS_PID" 2> /dev/null || true
	NATS_PID=
}

# stream NAME SUBJECT: make a stream on $NATS_URL.
stream() {
	"$NATS_ADMIN" "$NATS_URL" stream "$@"
}

# consumer_info STREAM DURABLE FIELD: one count of the consumer.
consumer_info() {
	"$NATS_ADMIN" "$NATS_URL" info "$1" "$2" | sed -n "s/^$3 //p"
}

# publish FILE SUBJECT: every line of FILE, one message each, through
# nats_out.
publish() {
	cat > "$TMP/publish.yaml" <<YAML
stages:
  - files: ['$1']
  - nats_out: {url: '$NATS_URL', subject: '$2', max_pending: 2048}
YAML
	cspipe run "$TMP/publish.yaml"
}

# consume_yaml FILE STREAM OUT [KEY: VALUE, ...]: write a pipeline that
# reads STREAM through durable "work" into OUT (appended and synced),
# ending after 3 s without a message; the keys given replace the defaults.
consume_yaml() {
	local opts="${4:-}" kv
	for kv in "batch: 100" "ack_wait: 1s" "exit_idle: 3s" "fetch_timeout: 500ms"; do
		[[ ", $opts" == *", ${kv%%:*}:"* ]] || opts="${opts:+$opts, }$kv"
	done
	cat > "$1" <<YAML
stages:
  - nats_in: {url: '$NATS_URL', stream: $2, subject: '>', durable: work, $opts}
  - file: {path: '$3', append: true, sync: true}
YAML
}
