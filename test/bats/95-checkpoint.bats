#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# files: {follow: true, checkpoint: FILE}: a restart resumes where the
# sinks had durably written; kill -9 at random moments loses nothing and
# repeats at most the batch a sink was writing.

bats_require_minimum_version 1.5.0
load helpers
load lib/longrun

# check_sequence N: out.log holds 1..N in order, except that after a
# restart it may go back by at most one batch (2048 records) and repeat
# from there; nothing is missing.
check_sequence() {
	python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
top, back = 0, 0
for i, line in enumerate(open("out.log")):
    x = int(line)          # a torn line would not parse
    if x > top + 1:
        sys.exit("line %d: %d follows %d: records %d..%d lost" % (i + 1, x, top, top + 1, x - 1))
    if x <= top:
        if top - x >= 2048:
            sys.exit("line %d: went back from %d to %d: more than a batch repeated" % (i + 1, top, x))
        back += 1
    top = max(top, x)
if top != n:
    sys.exit("the output ends at %d, not %d" % (top, n))
print("repeats after %d of the restarts" % back)
PY
}

# follow_pipeline: p.yaml follows in.log with the checkpoint ck, appending
# to out.log with every batch synced.
follow_pipeline() {
	pipeline p.yaml <<'YAML'
stages:
  - files: {paths: [in.log], follow: true, checkpoint: ck}
  - file: {path: out.log, append: true, sync: true}
YAML
}

# follow_until N SIGNAL: run p.yaml in the background until out.log holds
# N lines, then stop it with SIGNAL; sets rc.
follow_until() {
	bg_start /dev/null run p.yaml
	wait_for "$1 lines written" sh -c "[ \"\$(wc -l < out.log 2>/dev/null)\" = $1 ]"
	bg_stop "$2"
}

@test "checkpoint: a stopped run resumes where it was, without repeating" {
	seq 1 1000 > in.log
	follow_pipeline
	follow_until 1000 TERM
	[ "$rc" -eq 143 ]
	[ "$(head -1 ck)" = "cspipe-checkpoint 1" ]
	[ "$(awk 'NR == 2 {print $5, $6}' ck)" = "$(stat -c %s in.log) in.log" ]
	seq 1001 1500 >> in.log
	follow_until 1500 INT
	[ "$rc" -eq 130 ]
	diff in.log out.log
}

@test "checkpoint: kill -9 at random moments, then restarts: nothing lost, at most a batch repeated" {
	seq 1 100000 > in.log
	pipeline p.yaml <<'YAML'
stages:
  - files: {paths: [in.log], follow: true, checkpoint: ck}
  - filter: '.'
    workers: 2
  - file: {path: out.log, append: true, sync: true}
YAML
	n=100000
	for round in 1 2 3 4 5 6; do
		bg_start /dev/null run p.yaml
		seq $((n + 1)) $((n + 30000)) >> in.log
		n=$((n + 30000))
		# A random moment in the first 0.4 s of the run.
		sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
		kill -KILL "$pid"
		wait "$pid" || true
	done
	bg_start /dev/null run p.yaml
	wait_for "the last record written" sh -c "[ \"\$(tail -n 1 out.log)\" = $n ]"
	bg_stop TERM
	[ "$rc" -eq 143 ]
	check_sequence "$n"
}

@test "checkpoint: zstd output appended after kill -9 and a restart stays readable" {
	seq 1 1000 > in.log
	pipeline p.yaml <<'YAML'
stages:
  - files: {paths: [in.log], follow: true, checkpoint: ck}
  - compress: zstd
  - file: {path: out.zst, append: true, sync: true}
YAML
	bg_start /dev/null run p.yaml
	# The checkpoint has the whole input once the frames are synced.
	wait_for "the checkpoint at the end of in.log" \
		sh -c "[ \"\$(awk 'NR == 2 {print \$5}' ck 2>/dev/null)\" = $(stat -c %s in.log) ]"
	bg_stop KILL
	seq 1001 1500 >> in.log
	bg_start /dev/null run p.yaml
	wait_for "the restart's checkpoint" \
		sh -c "[ \"\$(awk 'NR == 2 {print \$5}' ck 2>/dev/null)\" = $(stat -c %s in.log) ]"
	bg_stop TERM
	[ "$rc" -eq 143 ]
	run zstd -dc out.zst
	[ "$status" -eq 0 ]
	[ "$output" = "$(seq 1 1500)" ]
}

@test "checkpoint: a file replaced while the run was down is read from its start" {
	printf 'a\nb\n' > in.log
	follow_pipeline
	follow_until 2 TERM
	mv in.log in.log.1
	printf 'c\n' > in.log
	follow_until 3 TERM
	[ "$(cat out.log)" = "$(printf 'a\nb\nc')" ]
}

@test "checkpoint: a file that is not a checkpoint is an error, exit 1" {
	echo hello > ck
	echo a > in.log
	run --separate-stderr cspipe run -e '{stages: [{files: {paths: [in.log], follow: true, checkpoint: ck}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: checkpoint ck:1: not a cspipe checkpoint (remove it to start over)" ]
}
