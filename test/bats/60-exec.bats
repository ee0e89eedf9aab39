#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The exec stage: a command per batch, like parallel --pipe.

load helpers

# The processes whose command line holds $1, a marker no other test uses
# (its dots made [.] so that the grep does not find itself).
procs_with() {
	grep -la -e "${1//./[.]}" /proc/[0-9]*/cmdline 2>/dev/null || true
}

# Succeeds once no process holds marker $1.  A process killed with its
# group may take a moment to go after cspipe has ended, so wait up to 2 s;
# one that escaped the kill lives for 10 s.
gone() {
	local i
	for i in $(seq 20); do
		[ -z "$(procs_with "$1")" ] && return 0
		sleep 0.1
	done
	echo "still running: $(procs_with "$1")"
	return 1
}

three_lines() {
	printf 'alpha\nbeta\ngamma\n'
}

@test "exec cat passes every log through, the last line given its newline" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [cat]
YAML
	for f in "$LOGHUB"/*_2k.log; do
		cspipe run p.yaml < "$f" > out
		with_final_newline "$f" > want
		cmp out want
	done
	all_logs | cspipe run p.yaml > out
	all_logs | with_final_newline > want
	cmp out want
}

@test "exec tr equals tr, and a string runs under sh -c" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [tr, a-z, A-Z]
YAML
	pipeline s.yaml <<'YAML'
stages:
  - exec: 'tr a-z A-Z | tr -d X'
YAML
	all_logs | cspipe run p.yaml > out
	all_logs | tr a-z A-Z | with_final_newline > want
	cmp out want
	all_logs | cspipe run s.yaml > out
	all_logs | tr a-z A-Z | tr -d X | with_final_newline > want
	cmp out want
}

@test "exec with 4 ordered workers gives the sequential result byte for byte" {
	# Each process waits 0-60 ms, so batches finish out of order.
	pipeline p.yaml <<'YAML'
stages:
  - exec: ['sh', '-c', 'sleep 0.0$(($$ % 7)); exec tr a-z A-Z']
    workers: 4
YAML
	for i in 1 2 3; do all_logs; done > in
	cspipe run p.yaml < in > out
	tr a-z A-Z < in | with_final_newline > want
	[ "$(wc -l < out)" -gt 90000 ]
	cmp out want
}

@test "exec with ordered: false keeps every record" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: ['sh', '-c', 'sleep 0.0$(($$ % 7)); exec cat']
    workers: 4
    ordered: false
YAML
	for i in 1 2 3; do all_logs; done > in
	cspipe run p.yaml < in > out
	with_final_newline in | sort > want
	sort out > got
	cmp got want
}

@test "exec grep per batch equals grep on the whole file" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: [grep, ERROR], success_status: [0, 1]}
    workers: 3
YAML
	all_logs | cspipe run p.yaml > out
	all_logs | grep ERROR | with_final_newline > want
	[ -s want ]
	cmp out want
}

@test "exec grep without success_status fails on a batch with no match" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [grep, ERROR]
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: 'grep ERROR' exited with status 1 on records 1-3 of stdin" ]
}

@test "exec false fails the run naming the command, the status and the records" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [false]
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: 'false' exited with status 1 on records 1-3 of stdin" ]
}

@test "exec sh -c 'exit 3' reports status 3" {
	pipeline p.yaml <<'YAML'
stages:
  - name: enrich
    exec: [sh, -c, 'exit 3']
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: enrich: 'sh -c exit 3' exited with status 3 on records 1-3 of stdin" ]
}

@test "exec reports a command killed by a signal" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: 'kill -USR1 $$'
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: 'kill -USR1 \$\$' was killed by SIGUSR1 on records 1-3 of stdin" ]
}

@test "exec of a missing program says it cannot run it" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [nosuchcmd, -x]
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: cannot run 'nosuchcmd': No such file or directory on records 1-3 of stdin" ]
}

@test "exec names the records of a later batch from a file" {
	# The batch holding line 1500 fails; the message must give a range
	# that holds it, from the file's own numbering.
	pipeline p.yaml <<'YAML'
stages:
  - files: ["${LOG}"]
  - exec: ['sh', '-c', 'if grep -qxF "$LINE"; then exit 4; fi; cat']
YAML
	export LOG=$LOGHUB/HDFS_2k.log
	export LINE=$(sed -n 1500p "$LOG")
	[ "$(grep -cxF "$LINE" "$LOG")" -eq 1 ]
	run cspipe run p.yaml
	[ "$status" -eq 1 ]
	re="^cspipe: exec: 'sh -c .*' exited with status 4 on records ([0-9]+)-([0-9]+) of $LOG\$"
	[[ "$output" =~ $re ]]
	first=${BASH_REMATCH[1]} last=${BASH_REMATCH[2]}
	[ "$first" -gt 1 ]
	[ "$first" -le 1500 ]
	[ "$last" -ge 1500 ]
}

@test "exec retries a failed batch and sends its output once" {
	# Every odd attempt writes its input twice (more than a batch, so
	# some of it is cut into records before the verdict) and fails; the
	# even ones succeed.  So each batch fails once, and the output of its
	# failed attempt must not show.
	cat > flaky.sh <<'SH'
#!/bin/sh
cat > "in.$$"
n=$(cat runs 2>/dev/null || echo 0)
echo $((n + 1)) > runs
if [ $((n % 2)) -eq 0 ]; then
	cat "in.$$" "in.$$"; rm -f "in.$$"; exit 1
fi
cat "in.$$"; rm -f "in.$$"
SH
	chmod +x flaky.sh
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: [./flaky.sh], retries: 1}
YAML
	all_logs | cspipe run p.yaml > out
	all_logs | with_final_newline > want
	cmp out want
	runs=$(cat runs)
	[ "$runs" -ge 20 ]
	[ $((runs % 2)) -eq 0 ]
}

# failing_command STATUS: ./fail.sh, which writes a line of output (lost
# with the failed attempt), notes each run in ./runs and exits STATUS.
failing_command() {
	printf '#!/bin/sh\necho run >> runs\necho partial\nexit %d\n' "$1" > fail.sh
	chmod +x fail.sh
}

@test "exec gives up after retries + 1 attempts" {
	failing_command 2
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: [./fail.sh], retries: 2}
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: './fail.sh' exited with status 2 on records 1-3 of stdin (3 attempts)" ]
	[ "$(wc -l < runs)" -eq 3 ]
}

@test "exec kills a command past its timeout and leaves no process" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: [sleep, '10.0731'], timeout: 100ms}
YAML
	start=$(date +%s)
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	end=$(date +%s)
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: 'sleep 10.0731' timed out after 100ms on records 1-3 of stdin" ]
	[ $((end - start)) -lt 8 ]
	gone 10.0731
}

@test "exec timeout kills a whole sh -c pipeline" {
	# The sleep is the shell's child: only a kill of the process group
	# reaches it.
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: 'sleep 10.0732 2>/dev/null | cat; echo done', timeout: 200ms}
YAML
	start=$(date +%s)
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	end=$(date +%s)
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: 'sleep 10.0732 2>/dev/null | cat; echo done' timed out after 200ms on records 1-3 of stdin" ]
	[ $((end - start)) -lt 8 ]
	gone 10.0732
}

@test "exec sends SIGKILL to a command that ignores SIGTERM" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: 'trap "" TERM; sleep 10.0733', timeout: 100ms}
YAML
	start=$(date +%s)
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	end=$(date +%s)
	[ "$status" -eq 1 ]
	[[ "$output" == *"timed out after 100ms on records 1-3 of stdin" ]]
	[ $((end - start)) -lt 8 ]
	gone 10.0733
}

@test "exec breaker opens after N failures and starts no more processes" {
	failing_command 1
	pipeline p.yaml <<'YAML'
stages:
  - exec:
      command: [./fail.sh]
      retries: 2
      breaker: {failures: 2, cooldown: 1h}
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: circuit open after 2 consecutive failures of './fail.sh' (last: './fail.sh' exited with status 1); not run on records 1-3 of stdin" ]
	[ "$(wc -l < runs)" -eq 2 ]
}

@test "exec counts the attempts the breaker refused in the final message" {
	failing_command 2
	pipeline p.yaml <<'YAML'
stages:
  - exec:
      command: [./fail.sh]
      retries: 3
      breaker: {failures: 2, cooldown: 1s}
YAML
	# Two runs open the circuit; the third attempt is refused, the fourth
	# (the probe after the cooldown) runs and fails: 4 attempts, 3 runs.
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: './fail.sh' exited with status 2 on records 1-3 of stdin (4 attempts, 1 refused by the breaker)" ]
	[ "$(wc -l < runs)" -eq 3 ]
}

@test "exec breaker lets a probe through after the cooldown, which closes it" {
	cat > heal.sh <<'SH'
#!/bin/sh
echo run >> runs
[ "$(wc -l < runs)" -gt 2 ] || exit 1
exec tr a-z A-Z
SH
	chmod +x heal.sh
	pipeline p.yaml <<'YAML'
stages:
  - exec:
      command: [./heal.sh]
      retries: 3
      breaker: {failures: 2, cooldown: 200ms}
YAML
	all_logs | cspipe run p.yaml > out
	all_logs | tr a-z A-Z | with_final_newline > want
	cmp out want
	# two failures, the probe, then one run per remaining batch
	[ "$(wc -l < runs)" -gt 3 ]
}

@test "exec children get only descriptors 0, 1 and 2" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [ls, /proc/self/fd]
YAML
	# An extra descriptor in cspipe must not reach the command either.
	three_lines | cspipe run p.yaml 9> extra > out
	# ls itself opens the directory it lists (3).
	[ "$(cat out | tr '\n' ' ')" = "0 1 2 3 " ]
}

@test "exec children start with no blocked or ignored signal" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [grep, -E, '^Sig(Blk|Ign):', /proc/self/status]
YAML
	three_lines | cspipe run p.yaml > out
	[ "$(grep -c . out)" -eq 2 ]
	blk=$(awk '/^SigBlk:/ { print $2 }' out)
	ign=$(awk '/^SigIgn:/ { print $2 }' out)
	[ $((16#$blk)) -eq 0 ]
	# glibc's spawn leaves its own two internal signals (32, 33) ignored;
	# none of the classic ones (SIGPIPE, SIGINT, SIGTERM...) may be.
	[ $((16#$ign & 0x7fffffff)) -eq 0 ]
	# So `yes | head` ends quietly, killed by SIGPIPE, not with an error.
	pipeline y.yaml <<'YAML'
stages:
  - exec: 'yes | head -n 2'
YAML
	three_lines > three.txt
	run cspipe run y.yaml < three.txt
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'y\ny')" ]
}

@test "exec leaks no descriptor in cspipe over many batches" {
	# Each command reads its batch to the end (by then cspipe is in its
	# wait loop), then counts cspipe's descriptors.  The count may fall
	# (the source closes its own when the input ends) but never grow.
	pipeline p.yaml <<'YAML'
stages:
  - exec: ['sh', '-c', 'cat > /dev/null; ls /proc/$PPID/fd | wc -l']
YAML
	for i in 1 2; do all_logs; done | cspipe run p.yaml > out
	[ "$(wc -l < out)" -gt 40 ]
	[ "$(sort -n out | tail -n 1)" -eq "$(head -n 1 out)" ]
}

@test "exec leaves no zombie while the run goes on" {
	# The first attempt sleeps and is killed by the timeout; the retry
	# and the later batches succeed.  Each command lists cspipe's other
	# children: with one worker there must be none, so an attempt that
	# was not reaped (a zombie) or not killed would show.
	cat > slow.sh <<'SH'
#!/bin/sh
n=$(cat runs 2>/dev/null || echo 0)
echo $((n + 1)) > runs
cat /proc/[0-9]*/status 2>/dev/null | awk -v want=$PPID -v me=$$ '
	/^State:/ { st = $2 } /^Pid:/ { pid = $2 }
	/^PPid:/ { if ($2 == want && pid != me) print pid, st }' >> others
[ "$n" -ne 0 ] || exec sleep 10.0734
exec cat
SH
	chmod +x slow.sh
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: [./slow.sh], timeout: 2s, retries: 1}
YAML
	all_logs | cspipe run p.yaml > out
	all_logs | with_final_newline > want
	cmp out want
	[ "$(cat runs)" -gt 20 ]
	[ -e others ]
	[ ! -s others ]
	gone 10.0734
}

@test "exec kills the other workers' commands when the run aborts" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: ['sh', '-c', 'if grep -qx 1; then exit 5; fi; exec sleep 10.0735']
    workers: 4
YAML
	start=$(date +%s)
	run cspipe run p.yaml < <(seq 1 100000)
	end=$(date +%s)
	[ "$status" -eq 1 ]
	[[ "$output" == *"exited with status 5 on records 1-"*" of stdin" ]]
	[ $((end - start)) -lt 8 ]
	gone 10.0735
}

@test "exec stops its commands when head has enough" {
	# The first batch gives head its 5 records; the second (it starts
	# after 12000 and before 15000) tries to send more a moment later and
	# finds nobody reading: the stage stops and the other workers'
	# commands are killed.
	pipeline p.yaml <<'YAML'
stages:
  - exec:
      - sh
      - -c
      - |
        first=$(head -n 1)
        if [ "$first" -eq 1 ]; then seq 10
        elif [ "$first" -le 15000 ]; then sleep 0.5; echo more
        else exec sleep 10.0736; fi
    workers: 4
  - head: 5
YAML
	start=$(date +%s)
	seq 1 100000 | cspipe run --stats=json p.yaml > out 2> stats.json
	end=$(date +%s)
	[ "$(cat out)" = "$(seq 5)" ]
	[ $((end - start)) -lt 8 ]
	gone 10.0736
	accounting_adds_up stats.json
	python3 - stats.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["outcome"] == "ok" and s["records_dropped"] == 0, s
PY
}

@test "exec: a command that does not read its input is not failed for it" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [head, -n, '1']
YAML
	cat "$LOGHUB"/[A-H]*_2k.log > in
	cspipe run p.yaml < in > out
	[ "$(wc -l < out)" -gt 10 ]
	grep -vxFf in out > extra || true
	[ ! -s extra ]
	pipeline t.yaml <<'YAML'
stages:
  - exec: [true]
YAML
	all_logs | cspipe run t.yaml > out
	[ ! -s out ]
}

@test "exec frames the output like the input: nul and chunk" {
	pipeline n.yaml <<'YAML'
stages:
  - stdin: {format: nul}
  - exec: [tr, a-z, A-Z]
YAML
	printf 'ab\0cd\0ef' | cspipe run n.yaml > out
	printf 'AB\0CD\0EF\0' > want
	cmp out want
	pipeline c.yaml <<'YAML'
stages:
  - stdin: {format: chunk, chunk_size: 1000}
  - exec: [tr, a-z, A-Z]
YAML
	all_logs | cspipe run c.yaml > out
	all_logs | tr a-z A-Z > want
	cmp out want
}

@test "exec accounting adds up when the command makes more records" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: [sed, p]
YAML
	all_logs | cspipe run --stats=json p.yaml > out 2> stats.json
	all_logs | sed p | with_final_newline > want
	cmp out want
	accounting_adds_up stats.json
	python3 - stats.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["records_created"] == s["records_read"], s
assert s["records_written"] == 2 * s["records_read"], s
PY
}

@test "exec: a record longer than max_record fails the stage" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: 'head -c 5000 /dev/zero | tr "\0" x', max_record: 1KiB}
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: 'head -c 5000 /dev/zero | tr \"\\0\" x' wrote a record longer than max_record (1KiB) on records 1-3 of stdin" ]
}

@test "exec: more output than max_output fails the stage and kills the command" {
	pipeline p.yaml <<'YAML'
stages:
  - exec: {command: [yes], max_output: 1MiB}
YAML
	three_lines > three.txt
	run cspipe run p.yaml < three.txt
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: exec: 'yes' wrote more than max_output (1MiB) for one batch on records 1-3 of stdin" ]
}

@test "exec option errors are positioned" {
	pipeline a.yaml <<'YAML'
stages:
  - exec: []
YAML
	run cspipe validate a.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: a.yaml:2:11: command: the list is empty (give the program and its arguments)" ]
	pipeline b.yaml <<'YAML'
stages:
  - exec: {command: [cat], breaker: {failrues: 3}}
YAML
	run cspipe validate b.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: b.yaml:2:38: unknown option 'failrues' for breaker (did you mean 'failures'?)" ]
	pipeline c.yaml <<'YAML'
stages:
  - exec: {command: [cat], success_status: [0, 300]}
YAML
	run cspipe validate c.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: c.yaml:2:48: success_status: item 2: expected an exit status 0..255, got '300'" ]
	pipeline d.yaml <<'YAML'
stages:
  - exec: {timeout: 1s}
YAML
	run cspipe validate d.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: d.yaml:2:11: missing required option 'command' for exec" ]
}

@test "a slow command is cut late in the drain: what was written is kept, the rest dropped" {
	# The first batch passes; every later one hangs.  The deadline stops
	# the source; at three quarters of shutdown_timeout the exec stage
	# is cut, and the gzip output still gets its trailer and is kept.
	rc=0
	cspipe run --stats=json -e '{timeout: 300ms, shutdown_timeout: 2s, stages: [{generate: {count: 5000}},
		{exec: [sh, -c, "cat; [ -e slow ] && exec sleep 60; touch slow"]},
		{compress: gzip}, {file: out.gz}]}' 2> err || rc=$?
	cat err
	[ "$rc" -eq 124 ]
	[ "$(head -1 err)" = "cspipe: exec: still busy late in the drain: cut, its records in flight dropped" ]
	[ "$(sed -n 2p err)" = "cspipe: deadline exceeded (timeout 300ms)" ]
	gzip -t out.gz
	seq 2048 | cmp - <(zcat out.gz)
	sed -n 3p err > stats.json
	accounting_adds_up stats.json
	[ "$(jq .records_written stats.json)" -eq 2048 ]
	[ "$(jq .records_dropped stats.json)" -eq $((5000 - 2048)) ]
	[ "$(ls -A | grep -c cspipe)" -eq 0 ]
}

@test "a breaker's cooldown does not hold up a stopping run: the waiting batch is dropped" {
	rc=0
	cspipe run --stats=json -e '{timeout: 300ms, shutdown_timeout: 1m, stages: [{generate: {count: 3}},
		{exec: {command: [false], retries: 2, breaker: {failures: 1, cooldown: 1h}}},
		{file: out.txt}]}' 2> err || rc=$?
	cat err
	[ "$rc" -eq 124 ]
	[ "$(head -1 err)" = "cspipe: deadline exceeded (timeout 300ms)" ]
	[ -f out.txt ]
	[ ! -s out.txt ]
	sed -n 2p err > stats.json
	accounting_adds_up stats.json
	[ "$(jq .records_dropped stats.json)" -eq 3 ]
}
