#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# NATS JetStream in and out, against a real nats-server started for this
# file on 127.0.0.1: every message once and in order through nats_out and
# nats_in; processes sharing a durable split the work; a consumer killed
# with kill -9, or the server killed and restarted, loses nothing; SIGTERM
# acks what was written and nothing else; bad configurations say what is
# wrong.

bats_require_minimum_version 1.5.0
load helpers
load lib/nats

setup_file() {
	export NATS_DIR
	NATS_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/cspipe-nats.XXXXXX")
	nats_start "$NATS_DIR/main"
	export NATS_PID NATS_URL NATS_PORT
}

teardown_file() {
	nats_stop
	rm -rf "$NATS_DIR"
}

# msgs N FILE: "msg-1-end" .. "msg-N-end", one a line (a torn line would
# not match ^msg-[0-9]+-end$).
msgs() {
	seq -f 'msg-%.0f-end' 1 "$1" > "$2"
}

# whole FILES...: the whole records of FILES, one a line.
whole() {
	cat "$@" | grep -a -E '^msg-[0-9]+-end$'
}

# round_trip STREAM SUBJECT IN OUT OPTIONS: make STREAM (taking every
# subject under SUBJECT's first token), publish the lines of IN to SUBJECT
# and read them back into OUT with consume_yaml's pipeline and OPTIONS.
round_trip() {
	stream "$1" "${2%%.*}.>"
	publish "$3" "$2"
	consume_yaml "$TMP/round_trip.yaml" "$1" "$4" "$5"
	cspipe run "$TMP/round_trip.yaml"
}

# fails_with MESSAGE <<YAML ... : cspipe run of the pipeline given exits 1,
# and MESSAGE is all it prints.
fails_with() {
	pipeline fails.yaml
	run cspipe run fails.yaml
	[ "$status" -eq 1 ] || { echo "exit $status, not 1: $output"; return 1; }
	[ "$output" = "$1" ] || { printf 'expected: %s\ngot:      %s\n' "$1" "$output"; return 1; }
}

@test "200,000 loghub lines go out with nats_out and come back with nats_in, once each, in order" {
	for i in 1 2 3 4 5 6 7; do all_logs; done | head -n 200000 > in.txt
	[ "$(wc -l < in.txt)" -eq 200000 ]
	stream LOGS 'logs.>'
	run publish in.txt logs.all
	[ "$status" -eq 0 ]
	[ "$("$NATS_ADMIN" "$NATS_URL" info LOGS | sed -n 's/^messages //p')" -eq 200000 ]
	consume_yaml in.yaml LOGS out.txt 'batch: 1024'
	run cspipe run --stats=json in.yaml
	[ "$status" -eq 0 ]
	cmp in.txt out.txt
	[ "$(consumer_info LOGS work ack_pending)" -eq 0 ]
	[ "$(consumer_info LOGS work pending)" -eq 0 ]
}

@test "meta: prefix puts the stream sequence and subject before each record; meta: json makes them fields" {
	printf 'one\ntwo\n' > in.txt
	round_trip META meta.x in.txt out.txt 'meta: prefix'
	[ "$(cat out.txt)" = "$(printf '1 meta.x one\n2 meta.x two')" ]
	printf '{"Level":"INFO","n":1}\n{"Level":"ERROR","n":2}\nnot "json"\n' > mj.txt
	round_trip MJ mj.a mj.txt j.txt 'meta: json'
	[ "$(sed -n 3p j.txt)" = '{"seq":3,"subject":"mj.a","delivered":1,"data":"not \"json\""}' ]
	# The data decoded in place, and a where on the fields.
	pipeline k.yaml <<YAML
stages:
  - nats_in: {url: '$NATS_URL', stream: MJ, durable: k, meta: json, exit_idle: 300ms}
  - parse: {codec: json, field: .data, on_error: drop}
  - filter: {where: '.data.Level == "ERROR" && .seq == 2'}
YAML
	run cspipe run k.yaml
	[ "$status" -eq 0 ]
	[ "$output" = '{"seq":2,"subject":"mj.a","delivered":1,"data":{"Level":"ERROR","n":2}}' ]
}

@test "two and three processes on one durable split the work, with nothing missing or twice" {
	local n
	for n in 2 3; do
		stream "SPLIT$n" "split$n.>"
		msgs 30000 "in$n.txt"
		local pids=() i
		for ((i = 1; i <= n; i++)); do
			consume_yaml "c$n-$i.yaml" "SPLIT$n" "out$n-$i.txt"
			"$CSPIPE" run "c$n-$i.yaml" 2> "err$n-$i" &
			pids+=($!)
		done
		# Every process is fetching (the server holds a pull request of
		# each) before the messages come: one that started late on a
		# loaded machine would otherwise find them all taken.
		local waiting=
		for ((i = 0; i < 1500; i++)); do
			waiting=$(consumer_info "SPLIT$n" work waiting 2>/dev/null)
			[ "${waiting:-0}" -ge "$n" ] && break
			sleep 0.02
		done
		[ "${waiting:-0}" -ge "$n" ] || { echo "only ${waiting:-0} of $n processes fetching"; cat err$n-*; false; }
		publish "in$n.txt" "split$n.x"
		for p in "${pids[@]}"; do
			wait "$p" || { cat err*; false; }
		done
		for ((i = 1; i <= n; i++)); do
			echo "process $i of $n: $(wc -l < "out$n-$i.txt") messages"
			[ -s "out$n-$i.txt" ] || { cat "err$n-$i"; false; }
		done
		[ "$(cat out$n-*.txt | sort | uniq -d | wc -l)" -eq 0 ]
		diff <(sort in$n.txt) <(cat out$n-*.txt | sort)
	done
}

@test "kill -9 of one of three consumers, again and again, loses no message" {
	stream KILL 'kill.>'
	msgs 60000 in.txt
	local pids=() i k next=4
	for i in 1 2 3; do
		consume_yaml "c$i.yaml" KILL "out$i.txt" 'exit_idle: 5s'
		"$CSPIPE" run "c$i.yaml" 2> "err$i" &
		pids+=($!)
	done
	publish in.txt kill.x &
	local publisher=$!
	for k in 1 2 3 4; do
		sleep "0.$((RANDOM % 5 + 1))"
		i=$((RANDOM % 3))
		kill -9 "${pids[$i]}"
		wait "${pids[$i]}" 2> /dev/null || true
		consume_yaml "c$next.yaml" KILL "out$next.txt" 'exit_idle: 5s'
		"$CSPIPE" run "c$next.yaml" 2> "err$next" &
		pids[$i]=$!
		next=$((next + 1))
	done
	wait "$publisher"
	for p in "${pids[@]}"; do
		wait "$p" || { cat err*; false; }
	done
	local total unique
	total=$(whole out*.txt | wc -l)
	unique=$(whole out*.txt | sort -u | wc -l)
	echo "# 4 kill -9 of 3 consumers: $total records for 60000 messages, $((total - unique)) duplicates" >&3
	diff <(sort -u in.txt) <(whole out*.txt | sort -u)
	[ "$(consumer_info KILL work ack_pending)" -eq 0 ]
}

@test "kill -9 of the server in mid-run: the consumer reconnects to it restarted and nothing is lost" {
	local NATS_PID NATS_URL NATS_PORT
	nats_start "$TMP/srv"
	stream CRASH 'crash.>'
	msgs 60000 in.txt
	publish in.txt crash.x
	consume_yaml in.yaml CRASH out.txt 'reconnect_timeout: 60s, batch: 50'
	"$CSPIPE" run --stats in.yaml 2> err &
	local pid=$! i
	for ((i = 0; i < 1000; i++)); do
		[ "$(whole out.txt 2>/dev/null | wc -l)" -ge 2000 ] && break
		sleep 0.01
	done
	local at
	at=$(whole out.txt | wc -l)
	nats_stop KILL
	nats_start "$TMP/srv" "$NATS_PORT"
	wait "$pid" || { cat err; false; }
	cat err
	grep -E 'reconnects [1-9]' err
	echo "# server killed after $at of 60000 records: $(($(whole out.txt | wc -l) - 60000)) duplicates in the end" >&3
	diff <(sort -u in.txt) <(whole out.txt | sort -u)
	nats_stop
}

@test "SIGTERM: exit 143 after the drain, and what was written is acked, so no other consumer gets it" {
	stream TERM 'term.>'
	msgs 60000 in.txt
	publish in.txt term.x
	consume_yaml first.yaml TERM first.txt 'exit_idle: 0, batch: 50'
	"$CSPIPE" run first.yaml 2> err &
	local pid=$! i
	for ((i = 0; i < 1000; i++)); do
		[ -s first.txt ] && break
		sleep 0.01
	done
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 143 ] || { cat err; false; }
	[ "$(whole first.txt | wc -l)" -lt 60000 ]
	consume_yaml second.yaml TERM second.txt
	cspipe run second.yaml
	[ "$(cat first.txt second.txt | sort | uniq -d | wc -l)" -eq 0 ]
	diff <(sort in.txt) <(cat first.txt second.txt | sort)
}

@test "a deadline stops nats_in with exit 124, and what was written is acked" {
	stream DEAD 'dead.>'
	msgs 1000 in.txt
	publish in.txt dead.x
	consume_yaml in.yaml DEAD out.txt 'exit_idle: 0'
	run cspipe run -t 2s in.yaml
	[ "$status" -eq 124 ]
	cmp in.txt out.txt
	[ "$(consumer_info DEAD work ack_pending)" -eq 0 ]
}

@test "nats_out: a subject made from a field of each record" {
	stream LV 'lv.>'
	json=$LOGHUB/../loghub-structured/Hadoop_2k.jsonl
	pipeline out.yaml <<YAML
stages:
  - files: {paths: ['$json'], codec: json}
  - nats_out: {url: '$NATS_URL', subject: 'lv.\$.Level'}
YAML
	run cspipe run out.yaml
	[ "$status" -eq 0 ]
	pipeline in.yaml <<YAML
stages:
  - nats_in: {url: '$NATS_URL', stream: LV, subject: lv.WARN, durable: warn, exit_idle: 300ms}
  - file: {path: warn.txt, append: true, sync: true}
YAML
	run cspipe run in.yaml
	[ "$status" -eq 0 ]
	jq -c 'select(.Level == "WARN")' "$json" > want.txt
	[ -s want.txt ]
	jq -c . warn.txt > got.txt
	cmp want.txt got.txt
	# A record without the field names itself.
	printf '{"Level":"INFO"}\n{"level":"INFO"}\n' > two.jsonl
	fails_with "cspipe: nats_out: record 2 of two.jsonl: no subject: a field of the subject is missing or null" <<YAML
stages: [{files: {paths: [two.jsonl], codec: json}}, {nats_out: {url: '$NATS_URL', subject: 'lv.\$.Level'}}]
YAML
}

@test "a stream that is missing is an error naming it (nats_in) or the subject (nats_out)" {
	fails_with "cspipe: nats_in: $NATS_URL has no stream 'NOPE'" <<YAML
stages: [{nats_in: {url: '$NATS_URL', stream: NOPE}}]
YAML
	echo hello > in.txt
	fails_with "cspipe: nats_out: no stream at $NATS_URL takes subject 'nowhere'" <<YAML
stages: [{files: [in.txt]}, {nats_out: {url: '$NATS_URL', subject: nowhere}}]
YAML
}

@test "max_ack_pending smaller than batch is a pipeline error; a durable with ack-all is refused" {
	pipeline p.yaml <<YAML
stages: [{nats_in: {url: '$NATS_URL', stream: S, batch: 100, max_ack_pending: 10}}]
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: p.yaml:1:20: nats_in: max_ack_pending (10) is smaller than batch (100): a fetch could never be filled" ]
	stream ACKALL 'ackall.>'
	"$NATS_ADMIN" "$NATS_URL" consumer ACKALL every all
	fails_with "cspipe: nats_in: durable 'every' of stream 'ACKALL' acks all: two processes sharing it could lose messages; give a durable with explicit acks" <<YAML
stages: [{nats_in: {url: '$NATS_URL', stream: ACKALL, durable: every}}]
YAML
}

@test "a sink that holds its acknowledgements until the end: an error after ack_wait, never a quiet early end" {
	stream HOLD 'hold.>'
	msgs 3000 in.txt
	publish in.txt hold.x
	# A file without append and sync acknowledges only when the run commits
	# it: past max_ack_pending the server sends nothing more, which must not
	# look like an idle stream.
	pipeline p.yaml <<YAML
stages:
  - nats_in: {url: '$NATS_URL', stream: HOLD, durable: hold, batch: 100,
              max_ack_pending: 1000, ack_wait: 1s, exit_idle: 100ms}
  - file: out.txt
YAML
	run cspipe run p.yaml
	[ "$status" -eq 1 ]
	[[ "$output" == "cspipe: nats_in: "*" messages wait for their acknowledgement and none came for ack_wait 1s: a sink holds them until the run ends (a file without append: true and sync: true"* ]]
	[ ! -e out.txt ]
	# With room for every message, the same sink drains the stream.
	pipeline q.yaml <<YAML
stages:
  - nats_in: {url: '$NATS_URL', stream: HOLD, durable: all, batch: 100,
              max_ack_pending: 10000, exit_idle: 300ms}
  - file: out.txt
YAML
	run cspipe run q.yaml
	[ "$status" -eq 0 ]
	cmp in.txt out.txt
}

@test "no server, a TLS URL to a plain server, wrong credentials: errors naming the URL, exit 1" {
	fails_with "cspipe: nats_in: cannot connect to nats://127.0.0.1:1 within connect_timeout 1s: No server available for connection" <<YAML
stages: [{nats_in: {url: 'nats://127.0.0.1:1', stream: S, connect_timeout: 1s}}]
YAML
	fails_with "cspipe: nats_in: cannot connect to tls://127.0.0.1:$NATS_PORT within connect_timeout 5s: Secure Connection not available" <<YAML
stages: [{nats_in: {url: 'tls://127.0.0.1:$NATS_PORT', stream: S}}]
YAML
	local NATS_PID NATS_URL NATS_PORT
	nats_start "$TMP/auth" -1 --user cspipe --pass right
	echo hello > in.txt
	pipeline r.yaml <<YAML
stages: [{files: [in.txt]}, {nats_out: {url: '$NATS_URL', subject: x, user: cspipe, password: wrong}}]
YAML
	run cspipe run r.yaml
	nats_stop
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: nats_out: cannot connect to $NATS_URL within connect_timeout 5s: Authorization Violation" ]
}

# tls_files DIR: a certificate authority, a certificate for 127.0.0.1
# signed by it (srv.pem, srv.key) and a client certificate (cli.pem,
# cli.key).
tls_files() {
	local d=$1 who
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=cspipe-test-ca \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2> /dev/null
	for who in srv cli; do
		openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" \
			-keyout "$d/$who.key" -out "$d/$who.csr" 2> /dev/null
		printf 'subjectAltName=IP:127.0.0.1\n' > "$d/$who.ext"
		openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-CAcreateserial -days 2 -extfile "$d/$who.ext" -out "$d/$who.pem" 2> /dev/null
	done
	[ -s "$d/srv.pem" ] && [ -s "$d/cli.pem" ]
}

@test "TLS with a certificate authority and a client certificate: out and back; no client certificate is an error" {
	tls_files "$TMP/pki"
	local NATS_PID NATS_URL NATS_PORT p=$TMP/pki
	nats_start "$TMP/tls" -1 --tls --tlscert "$p/srv.pem" --tlskey "$p/srv.key" \
		--tlsverify --tlscacert "$p/ca.pem"
	local url=tls://127.0.0.1:$NATS_PORT
	NATS_URL=$url NATS_CA=$p/ca.pem NATS_CERT=$p/cli.pem NATS_KEY=$p/cli.key stream SEC 'sec.>'
	msgs 500 in.txt
	pipeline out.yaml <<YAML
stages:
  - files: [in.txt]
  - nats_out: {url: '$url', subject: sec.x, ca: '$p/ca.pem', cert: '$p/cli.pem', key: '$p/cli.key'}
YAML
	run cspipe run out.yaml
	[ "$status" -eq 0 ]
	pipeline in.yaml <<YAML
stages:
  - nats_in: {url: '$url', stream: SEC, exit_idle: 300ms, ca: '$p/ca.pem', cert: '$p/cli.pem', key: '$p/cli.key'}
  - file: {path: out.txt, append: true, sync: true}
YAML
	run cspipe run in.yaml
	[ "$status" -eq 0 ]
	cmp in.txt out.txt
	# The server verifies its clients: the CA alone does not get in.
	pipeline bad.yaml <<YAML
stages: [{nats_in: {url: '$url', stream: SEC, ca: '$p/ca.pem', connect_timeout: 2s}}]
YAML
	run cspipe run bad.yaml
	nats_stop
	[ "$status" -eq 1 ]
	[[ "$output" == "cspipe: nats_in: cannot connect to $url within connect_timeout 2s: "*" (a server that verifies its clients needs cert and key)" ]]
}

@test "a server gone for longer than reconnect_timeout is an error naming it, exit 1" {
	local NATS_PID NATS_URL NATS_PORT
	nats_start "$TMP/gone"
	stream GONE 'gone.>'
	consume_yaml in.yaml GONE out.txt 'exit_idle: 0, reconnect_timeout: 1s'
	"$CSPIPE" run in.yaml 2> err &
	local pid=$! i
	for ((i = 0; i < 500; i++)); do
		[ "$(consumer_info GONE work pending 2>/dev/null)" = 0 ] && break
		sleep 0.02
	done
	nats_stop KILL
	local rc=0
	wait "$pid" || rc=$?
	cat err
	[ "$rc" -eq 1 ]
	grep -E "^cspipe: nats_in: (lost the server $NATS_URL and could not reconnect within reconnect_timeout 1s|fetching from durable 'work' of stream 'GONE' at $NATS_URL failed for reconnect_timeout 1s: .*)\$" err
}

@test "pipelines/nats-errors.yaml, run by three processes, publishes what grep keeps" {
	stream EX 'ex.>'
	stream EXERR 'exerr.>'
	all_logs > in.txt
	local pids=() i
	for i in 1 2 3; do
		NATS_URL=$NATS_URL STREAM=EX SUBJECT='ex.>' OUT_SUBJECT=exerr.all EXIT_IDLE=3s \
			"$CSPIPE" run "$TOP/pipelines/nats-errors.yaml" 2> "err$i" &
		pids+=($!)
	done
	publish in.txt ex.logs
	for p in "${pids[@]}"; do
		wait "$p" || { cat err*; false; }
	done
	consume_yaml out.yaml EXERR out.txt
	cspipe run out.yaml
	diff <(grep -aiE '\b(error|fatal|fail(ed|ure)?)\b' in.txt | sort) <(sort out.txt)
	[ "$(wc -l < out.txt)" -gt 1000 ]
}
