#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The example pipelines in pipelines/, each run on the real logs and
# compared with what the standard tools give for the same job.

bats_require_minimum_version 1.5.0
load helpers

P=$TOP/pipelines

@test "demo makes its own input and shows twenty masked requests" {
	run --separate-stderr cspipe run "$P/demo.yaml"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 20 ]
	[ "${lines[0]}" = "GET /api/items/<7> HTTP/1.1 200 user=***" ]
	[ "${lines[19]}" = "GET /api/items/<197> HTTP/1.1 200 user=***" ]
}

@test "triage keeps what grep -i keeps, trimmed" {
	cspipe run "$P/triage.yaml" "$LOGHUB"/*_2k.log > out
	all_logs_lines | grep -aiE 'error|fail(ed|ure)?|denied|exception|fatal' |
		sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' | cmp - out
	[ "$(wc -l < out)" -gt 1000 ]
}

@test "ip-mask masks what sed -E masks" {
	cspipe run "$P/ip-mask.yaml" "$LOGHUB/OpenSSH_2k.log" "$LOGHUB/Proxifier_2k.log" > out
	cat "$LOGHUB/OpenSSH_2k.log" <(echo) "$LOGHUB/Proxifier_2k.log" <(echo) |
		sed -E 's/\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b/x.x.x.x/g' | cmp - out
	grep -q 'x.x.x.x' out
}

@test "ssh-intruders extracts what sed extracts" {
	cspipe run "$P/ssh-intruders.yaml" "$LOGHUB/OpenSSH_2k.log" > out
	sed -nE 's/.*Invalid user ([^[:space:]]*) from ([0-9.]+).*/\1 \2/p' "$LOGHUB/OpenSSH_2k.log" |
		cmp - out
	[ "$(wc -l < out)" -gt 10 ]
}

@test "hdfs-fields prints what awk prints" {
	cspipe run "$P/hdfs-fields.yaml" "$LOGHUB/HDFS_2k.log" > out
	awk '{print $1, $2, $4}' "$LOGHUB/HDFS_2k.log" | cmp - out
}

@test "archive drops DEBUG lines and writes one valid gzip file atomically" {
	ARCHIVE=$TMP/logs.gz cspipe run "$P/archive.yaml" "$LOGHUB"/*_2k.log
	gzip -t logs.gz
	all_logs_lines | grep -avw DEBUG | cmp - <(zcat logs.gz)
	# Nothing left beside it.
	[ "$(ls -A "$TMP")" = "logs.gz" ]
}

@test "split-levels writes each level where grep puts it" {
	OUT=$TMP cspipe run "$P/split-levels.yaml" "$LOGHUB/Hadoop_2k.log" "$LOGHUB/Spark_2k.log"
	cat "$LOGHUB/Hadoop_2k.log" <(echo) "$LOGHUB/Spark_2k.log" > both
	grep -aE '\b(ERROR|FATAL|SEVERE)\b' both | cmp - errors.log
	grep -avE '\b(ERROR|FATAL|SEVERE)\b' both | grep -aE '\bWARN(ING)?\b' | cmp - warnings.log
	grep -avE '\b(ERROR|FATAL|SEVERE)\b|\bWARN(ING)?\b' both | cmp - rest.log
}

@test "follow-errors follows a folder's logs, keeps the errors, and passes its tests" {
	load lib/longrun
	run cspipe test "$P/follow-errors.yaml"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "1 passed, 0 failed" ]
	mkdir logs state
	head -500 "$LOGHUB/Apache_2k.log" > logs/a.log
	LOG_DIR=logs STATE_DIR=state METRICS_ADDR=127.0.0.1:0 bg_start /dev/null run "$P/follow-errors.yaml"
	metrics_addr
	want=$(grep -ciwE 'error|fatal|exception' logs/a.log)
	wait_for "the errors of a.log" sh -c "[ \"\$(wc -l < state/errors.log 2>/dev/null)\" = $want ]"
	tail -n 300 "$LOGHUB/Zookeeper_2k.log" > logs/b.log
	want=$(cat logs/a.log logs/b.log | grep -ciwE 'error|fatal|exception')
	wait_for "the errors of b.log too" sh -c "[ \"\$(wc -l < state/errors.log)\" = $want ]"
	bg_stop TERM
	[ "$rc" -eq 143 ]
	[ "$(wc -l < state/follow-errors.checkpoint)" -eq 3 ]
}
