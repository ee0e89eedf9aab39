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

@test "json-errors keeps and reshapes what jq selects, as CSV" {
	S=$STRUCT
	cspipe run "$P/json-errors.yaml" "$S"/*_2k.jsonl > out.csv
	cat "$S"/*_2k.jsonl | jq -c 'select(.Level == "ERROR" or .Level == "error" or
		(.Level == "WARN" and .Pid != null and .Pid > 1000)) |
		[.system, (.LineId | tostring), .Level, (.Pid // "" | tostring),
		 "\(.Component // ""): \(.Content)"]' > want
	python3 -c '
import csv, json, sys
rows = list(csv.reader(open("out.csv", newline="")))
assert rows[0] == ["system", "LineId", "Level", "Pid", "summary"], rows[0]
for r in rows[1:]:
    print(json.dumps(r, separators=(",", ":"), ensure_ascii=False))' > got
	[ "$(wc -l < want)" -gt 100 ]
	cmp want got
}

@test "csv-to-jsonl gives what python3's csv module reads" {
	S=$STRUCT
	cspipe run "$P/csv-to-jsonl.yaml" "$S/Mac_2k.log_structured.csv" "$S/HPC_2k.log_structured.csv" > out
	python3 - "$S/Mac_2k.log_structured.csv" "$S/HPC_2k.log_structured.csv" <<'PY'
import csv, json, sys
exp = [r for f in sys.argv[1:] for r in csv.DictReader(open(f, newline='', encoding='utf-8'))]
got = [json.loads(l) for l in open('out', encoding='utf-8')]
assert exp == got, (len(exp), len(got))
PY
}

@test "ssh-parse finds the failed logins python3's re finds" {
	cspipe run "$P/ssh-parse.yaml" "$LOGHUB/OpenSSH_2k.log" > out
	python3 - "$LOGHUB/OpenSSH_2k.log" <<'PY'
import re, sys
rx = re.compile(r'^(?P<month>\w+) +(?P<day>\d+) (?P<time>\S+) (?P<host>\S+) sshd\[(?P<pid>\d+)\]: Failed password for (invalid user )?(?P<user>.*?) from (?P<ip>[\d.]+) port (?P<port>\d+)')
exp = []
for line in open(sys.argv[1], encoding='utf-8', errors='surrogateescape'):
    if ': Failed password' not in line:
        continue
    m = rx.match(line)
    assert m, line
    d = m.groupdict()
    if d['user'] != 'root' and int(d['port']) >= 1024:
        exp.append(' '.join('%s=%s' % (k, v if v and not any(c in v for c in ' ="') else '"%s"' % v)
                            for k, v in d.items()))
got = open('out', encoding='utf-8').read().splitlines()
assert exp == got, (len(exp), len(got), exp[:2], got[:2])
assert len(got) > 100
PY
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
