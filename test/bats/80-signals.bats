#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Faults and signals: SIGINT/SIGTERM at random moments drain and finalise
# (exit 130/143, a valid gzip stream of whole records, a prefix of the full
# output, accounting that adds up); a second signal aborts; a deadline with
# every stage blocked exits 124; a first error among 16 workers ends the
# run after writing everything before it; 1000 workers, unbuffered
# channels and 50 stages still give the right output.  Signals go only to
# a run that is under way (its stats file is there, or its temporary
# file), and a second one only once the first was taken (the stats file
# says "draining"): never after a guessed sleep.

bats_require_minimum_version 1.5.0
load helpers
load lib/reliability

# start_bg FILE ARGS...: start "$CSPIPE" ARGS in the background with stdout
# to FILE and stderr to err; sets pid.  (Not under the timeout wrapper: the
# signals must reach cspipe itself.  wait_exit bounds the wait instead.)
start_bg() {
	local out=$1
	shift
	"$CSPIPE" "$@" > "$out" 2> err 3>&- &
	pid=$!
}

# wait_until_running DIR: wait (up to 20 s) until the file sink of the
# process $pid has made its temporary file in DIR: from then on the run is
# under way and its signal handling in place.
wait_until_running() {
	local i
	for ((i = 0; i < 2000; i++)); do
		compgen -G "$1/.*.cspipe-*" > /dev/null && return 0
		kill -0 "$pid" 2> /dev/null || return 0
		sleep 0.01
	done
	echo "no temporary file in $1 after 20 s"
	return 1
}

# start_live FILE ARGS...: start_bg FILE run ARGS, with the statistics in
# live.json, rewritten every 20 ms while the run lasts ("outcome":
# "running", then "draining" once the drain has begun) and the final ones
# at its end.
start_live() {
	local out=$1
	shift
	start_bg "$out" run --stats=json:live.json --stats-interval 20ms "$@"
}

# wait_json WHAT FILTER: wait (up to 60 s) until live.json is there and
# the jq FILTER is true of it.  Fails, saying WHAT it waited for, when
# cspipe ends first.
wait_json() {
	local i
	for ((i = 0; i < 6000; i++)); do
		if [ -e live.json ] && jq -e "$2" live.json > /dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2> /dev/null || { echo "cspipe ended before live.json showed $1"; cat err; return 1; }
		sleep 0.01
	done
	echo "live.json: no $1 after 60 s"
	return 1
}

# wait_live [OUTCOME]: wait until live.json is there, or says OUTCOME.
# Once it is there, the stages run, and they start only after the signal
# handling is in place; "draining" says that the signal or the deadline
# has been taken.
wait_live() {
	if [ -n "${1:-}" ]; then
		wait_json "outcome $1" ".outcome == \"$1\""
	else
		wait_json "the file" true
	fi
}

# wait_taken KIND: wait until the stage of kind KIND has taken records in:
# from then on the run has records in flight there, so a drain has
# something to wait for.
wait_taken() {
	wait_json "records taken in by $1" "[.stages[] | select(.kind == \"$1\") | .records_in] | add > 0"
}

# signal_until_exit SIG LIMIT: send SIG to $pid now and every half second
# until it ends (then sets rc), at most LIMIT seconds (then SIGKILL it and
# fail).  For a second signal: cspipe counts one only from a quarter of a
# second after it took the first, and a loaded machine may take the first
# late, so the test repeats it instead of guessing when that is.
signal_until_exit() {
	local sig=$1 limit=$2 n=0
	t_sig=$EPOCHREALTIME
	while kill -0 "$pid" 2> /dev/null; do
		if ((n % 25 == 0)); then
			kill -"$sig" "$pid" 2> /dev/null || true
		fi
		if ((n >= limit * 50)); then
			kill -KILL "$pid" 2> /dev/null
			wait "$pid" || true
			echo "still running ${limit}s after the first repeated SIG$sig"
			return 1
		fi
		n=$((n + 1))
		sleep 0.02
	done
	rc=0
	wait "$pid" || rc=$?
}

# wait_exit LIMIT: wait for $pid, at most LIMIT seconds (then SIGKILL it and
# fail); sets rc and took (seconds since $t_sig).
wait_exit() {
	local limit=$1
	while kill -0 "$pid" 2> /dev/null; do
		if ! awk -v a="$t_sig" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN {exit !(b - a < l)}'; then
			kill -KILL "$pid" 2> /dev/null
			wait "$pid" || true
			echo "still running ${limit}s after the signal"
			return 1
		fi
		sleep 0.02
	done
	rc=0
	wait "$pid" || rc=$?
	took=$(awk -v a="$t_sig" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}')
}

# json_line: the --stats=json object from err (after any message lines).
json_line() {
	grep '^{' err | tail -n 1 > stats.json
	[ -s stats.json ] || { echo "no --stats=json line in:"; cat err; return 1; }
}

# slow_to_file SHUTDOWN SECONDS: slow.yaml, an endless source into an exec
# that takes SECONDS per batch, into the file target.txt, whose content is
# kept in before.txt; the exec's processes carry $marker in their command.
slow_to_file() {
	printf 'old\r\ncontent' > target.txt
	cp target.txt before.txt
	export MARKER=cspipe-bats-$$-$RANDOM
	marker=$MARKER
	pipeline slow.yaml <<-EOF
	shutdown_timeout: $1
	stages:
	  - generate: {template: 'line \$n'}
	  - exec: [sh, -c, 'sleep $2; cat', '\${MARKER}']
	  - file: target.txt
	EOF
}

# random_delay: 0.000 to 0.999 seconds.
random_delay() {
	printf '0.%03d' $((RANDOM % 1000))
}

@test "SIGINT or SIGTERM at 50 random moments: exit 130/143, valid gzip, a prefix, accounting adds up" {
	local runs=50
	if under_tsan; then
		runs=10
	fi
	# Odd numbers through a filter on 2 ordered workers, compressed on 2.
	pipeline sig.yaml <<-'EOF'
	shutdown_timeout: 5s
	stages:
	  - generate: {template: '$n'}
	  - filter: '[13579]$'
	    workers: 2
	  - compress: {format: gzip, level: 1}
	    workers: 2
	  - file: out/out.gz
	EOF
	mkdir out
	limit=$((5 + $(slowdown)))
	for ((i = 1; i <= runs; i++)); do
		rm -f out/out.gz
		if ((RANDOM % 2)); then sig=INT code=130; else sig=TERM code=143; fi
		delay=$(random_delay)
		start_bg /dev/null run --stats=json sig.yaml
		wait_until_running out
		sleep "$delay"
		t_sig=$EPOCHREALTIME
		kill -"$sig" "$pid"
		wait_exit "$limit"
		echo "run $i: SIG$sig after ${delay}s: exit $rc in ${took}s"
		[ "$rc" -eq "$code" ] || { cat err; false; }
		[ -f out/out.gz ] || { echo "no output"; cat err; false; }
		no_temp_files out
		gzip -t out/out.gz
		zcat out/out.gz > got
		n=$(wc -l < got)
		# Whole records only: empty, or ending with a newline.
		[ ! -s got ] || [ -z "$(tail -c 1 got)" ]
		# Ordered: exactly the first n odd numbers.
		if [ "$n" -gt 0 ]; then
			seq 1 2 $((2 * n - 1)) | cmp - got
		fi
		json_line
		accounting_adds_up stats.json
		grep -q "\"exit_code\":$code," stats.json
	done
}

@test "SIGINT on real logs compressed to stdout: a gzip prefix of the input, exit 130" {
	all_logs | with_final_newline > one.log
	for _ in $(seq 30); do cat one.log; done > big.log
	local runs=5
	for ((i = 1; i <= runs; i++)); do
		rm -f live.json
		delay=0.$((RANDOM % 4))
		start_live out.gz -e '{shutdown_timeout: 5s, stages: [{filter: "", workers: 2},
			{compress: {format: gzip, level: 9}, workers: 2}]}' big.log
		# Under way, then a random moment in its first 0.4 s.
		wait_live
		sleep "$delay"
		t_sig=$EPOCHREALTIME
		kill -INT "$pid"
		wait_exit $((5 + $(slowdown)))
		echo "run $i: SIGINT after ${delay}s: exit $rc in ${took}s, $(wc -c < out.gz) bytes"
		[ "$rc" -eq 130 ] || { cat err; false; }
		gzip -t out.gz
		zcat out.gz > got
		size=$(wc -c < got)
		[ "$size" -lt "$(wc -c < big.log)" ]
		head -c "$size" big.log | cmp - got
		[ ! -s got ] || [ -z "$(tail -c 1 got)" ]
		grep -q '"outcome":"interrupted"' live.json
		accounting_adds_up live.json
	done
}

@test "a second signal aborts at once: the file target is left as it was" {
	# The drain would take 3 s per batch in exec, within a long shutdown_timeout.
	slow_to_file 60s 3
	start_live /dev/null slow.yaml
	wait_taken exec
	kill -INT "$pid"
	wait_live draining
	# Without the abort the drain would take 3 s a batch for a minute.
	signal_until_exit INT $((20 * $(slowdown)))
	[ "$rc" -eq 130 ]
	[ "$(cat err)" = "cspipe: a second signal while draining: aborted, file outputs discarded" ]
	cmp before.txt target.txt
	no_temp_files .
	grep -q '"outcome":"interrupted"' live.json
	accounting_adds_up live.json
	# The exec processes were ended with the run.
	no_process_with "$marker"
}

@test "a signal during the drain after a deadline aborts it; the exit stays 124" {
	slow_to_file 60s 3
	start_live /dev/null -t 1s slow.yaml
	# The deadline passes at 1 s; the drain would take 3 s per batch.
	wait_live draining
	signal_until_exit INT $((20 * $(slowdown)))
	[ "$rc" -eq 124 ]
	[ "$(cat err)" = "$(printf '%s\n' 'cspipe: deadline exceeded (-t 1s)' \
		'cspipe: a signal while draining: aborted, file outputs discarded')" ]
	cmp before.txt target.txt
	no_temp_files .
}

@test "a second SIGTERM aborts a drain stuck behind a full channel" {
	pipeline slow.yaml <<-'EOF'
	shutdown_timeout: 60s
	defaults: {buffer: 0}
	stages:
	  - generate: {template: 'line $n'}
	  - exec: [sh, -c, 'sleep 2; cat']
	  - file: target.txt
	EOF
	start_live /dev/null slow.yaml
	wait_taken exec
	kill -TERM "$pid"
	wait_live draining
	signal_until_exit TERM $((20 * $(slowdown)))
	[ "$rc" -eq 143 ]
	[ "$(cat err)" = "cspipe: a second signal while draining: aborted, file outputs discarded" ]
	[ ! -e target.txt ]
	no_temp_files .
}

@test "a drain that outlives shutdown_timeout aborts: exit 143, target left as it was" {
	slow_to_file 1s 10
	start_live /dev/null slow.yaml
	wait_taken exec
	t_sig=$EPOCHREALTIME
	kill -TERM "$pid"
	wait_exit $((10 * $(slowdown)))
	echo "exit $rc in ${took}s"
	[ "$rc" -eq 143 ]
	[ "$(head -n 1 err)" = "cspipe: the pipeline did not drain within shutdown_timeout (1s): aborted, file outputs discarded" ]
	cmp before.txt target.txt
	no_temp_files .
	grep -q '"outcome":"terminated"' live.json
	accounting_adds_up live.json
}

@test "SIGINT while the source waits on an idle stdin ends the run promptly" {
	mkfifo idle
	exec 4<> idle   # a writer that never writes: reads block
	"$CSPIPE" run --stats=json:live.json --stats-interval 20ms \
		-e '{shutdown_timeout: 5s, stages: [{filter: a, workers: 2}]}' \
		< idle > out 2> err 3>&- 4>&- &
	pid=$!
	wait_live
	t_sig=$EPOCHREALTIME
	kill -INT "$pid"
	wait_exit $((5 * $(slowdown)))
	exec 4>&-
	echo "exit $rc in ${took}s"
	[ "$rc" -eq 130 ]
	[ ! -s out ]
	[ ! -s err ]
	grep -q '"outcome":"interrupted"' live.json
	accounting_adds_up live.json
}

@test "a deadline while the source waits on an idle stdin exits 124 promptly" {
	mkfifo idle
	exec 4<> idle
	t0=$(now)
	run --separate-stderr cspipe run -e '{timeout: 300ms, stages: [{filter: a}]}' < idle
	exec 4>&-
	within "$t0" $((3 * $(slowdown)))
	[ "$status" -eq 124 ]
	[ "$stderr" = "cspipe: deadline exceeded (timeout 300ms)" ]
}

@test "a deadline while every stage is blocked on a full channel exits 124 promptly" {
	t0=$(now)
	run --separate-stderr cspipe run --stats=json -e '{timeout: 500ms, shutdown_timeout: 3s,
		defaults: {buffer: 0}, stages: [{generate: {template: "line $n"}},
		{exec: [sh, -c, "sleep 1; cat"]}, {map: {case: upper}, buffer: 1}]}'
	within "$t0" $((5 * $(slowdown)))
	[ "$status" -eq 124 ]
	[ "${stderr_lines[0]}" = "cspipe: deadline exceeded (timeout 500ms)" ]
	printf '%s\n' "${stderr_lines[1]}" > stats.json
	accounting_adds_up stats.json
	grep -q '"outcome":"deadline"' stats.json
	# Whole records, in order, from the first.
	n=${#lines[@]}
	[ "$n" -gt 0 ]
	[ "$output" = "$(seq 1 "$n" | sed 's/^/LINE /')" ]
}

@test "-t while the sink is a slow command exits 124 and names the deadline" {
	t0=$(now)
	run --separate-stderr cspipe run -t 300ms -e '{shutdown_timeout: 3s, defaults: {buffer: 0},
		stages: [{generate: {template: "line $n"}}, {exec: [sh, -c, "sleep 1; cat"], workers: 2}]}'
	within "$t0" $((5 * $(slowdown)))
	[ "$status" -eq 124 ]
	[ "$stderr" = "cspipe: deadline exceeded (-t 300ms)" ]
}

@test "a stage timeout while blocked exits 124 naming the stage" {
	t0=$(now)
	run --separate-stderr cspipe run -e '{shutdown_timeout: 3s, defaults: {buffer: 0},
		stages: [{generate: {template: "line $n"}},
		{name: slow, exec: [sh, -c, "sleep 1; cat"], timeout: 400ms}]}'
	within "$t0" $((5 * $(slowdown)))
	[ "$status" -eq 124 ]
	[ "$stderr" = "cspipe: slow: deadline exceeded (timeout 400ms)" ]
}

@test "a stage that ends before its timeout does not stop the run" {
	# map is done at once; rate takes about a second for its 5 records.
	run --separate-stderr cspipe run -e '{stages: [{generate: {count: 5}},
		{name: quick, map: {case: upper}, timeout: 200ms},
		{rate: {limit: 5/s, burst: 1}}]}'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = "$(seq 1 5)" ]
	# defaults: {timeout} counts for every stage: the one still running
	# when it passes is the one named, and what is in flight drains.
	run --separate-stderr cspipe run -e '{defaults: {timeout: 300ms},
		stages: [{generate: {count: 5}}, {map: {case: upper}},
		{name: slow, rate: {limit: 5/s, burst: 1}}]}'
	[ "$status" -eq 124 ]
	[ "$stderr" = "cspipe: slow: deadline exceeded (timeout 300ms)" ]
	[ "$output" = "$(seq 1 5)" ]
}

# Every record from 100000 on fails the map on 16 workers.
fail16='{stages: [{generate: {template: "line $n"}},
	{map: {template: "$1", pattern: "^line ([0-9]{1,5})$", on_nomatch: fail}, workers: 16}]}'

@test "the first error in one of 16 workers cancels the run, which ends" {
	t0=$(now)
	run --separate-stderr cspipe run -e "$fail16"
	within "$t0" $((10 * $(slowdown)))
	[ "$status" -eq 1 ]
	[[ $stderr =~ ^cspipe:\ map:\ generate:\ record\ ([0-9]+):\ no\ match\ for\ the\ template\ pattern\ \'\^line\ \(\[0-9\]\{1,5\}\)\$\'\ \(on_nomatch:\ fail\)$ ]]
	[ "${BASH_REMATCH[1]}" -eq 100000 ]
	# Everything before the failing record, whole and in order.
	[ "$output" = "$(seq 1 99999)" ]
}

@test "an ordered stage on 16 workers reports its earliest failing record, every time" {
	# Which worker fails first is chance; the error reported must not be:
	# on 1 worker or 16, it is record 100000.  A later batch fails first in
	# a few runs in a hundred, so run it often (a run takes a few ms).
	local runs=200
	if under_tsan; then
		runs=50
	fi
	seq 1 99999 > want
	for ((i = 1; i <= runs; i++)); do
		# stdout (99999 records) goes to a file, out of bats' output
		# arrays, which would make each run take seconds.
		status=0
		err=$(cspipe run -e "$fail16" 2>&1 > out) || status=$?
		[ "$status" -eq 1 ]
		[ "$err" = "cspipe: map: generate: record 100000: no match for the template pattern '^line ([0-9]{1,5})\$' (on_nomatch: fail)" ] ||
			{ echo "run $i: $err"; false; }
		# And everything before it is written, every time.
		cmp want out || { echo "run $i: $(wc -l < out) records written"; false; }
	done
}

@test "a failing command in one of 16 exec workers ends the run and every process" {
	marker=cspipe-bats-$$-$RANDOM
	pipeline fail16.yaml <<-'EOF'
	stages:
	  - generate: {template: 'line $n'}
	  - exec:
	      - sh
	      - -c
	      - 'in=$(cat); case "$in" in *"line 50000"*) exit 3;; esac; sleep 0.2; printf "%s\n" "$in"'
	      - ${MARKER}
	    workers: 16
	EOF
	t0=$(now)
	MARKER=$marker run --separate-stderr cspipe run fail16.yaml
	within "$t0" $((20 * $(slowdown)))
	echo "$stderr"
	[ "$status" -eq 1 ]
	[[ $stderr =~ ^cspipe:\ exec:\ \'sh\ -c\ .*\'\ exited\ with\ status\ 3\ on\ records\ ([0-9]+)-([0-9]+)\ of\ generate$ ]]
	[ "${BASH_REMATCH[1]}" -le 50000 ]
	[ "${BASH_REMATCH[2]}" -ge 50000 ]
	# Every command was waited for or killed: none is left running.
	no_process_with "$marker"
}

@test "1000 workers in one stage: output in order and complete" {
	all_logs | with_final_newline > all.log
	cspipe run --stats=json -e '{stages: [{filter: "", workers: 1000}]}' all.log > out 2> stats.json
	cmp all.log out
	accounting_adds_up stats.json
	# Unordered, the same records.
	cspipe run -e '{stages: [{map: {case: upper}, workers: 1000, ordered: false}]}' all.log > out
	cmp <(tr a-z A-Z < all.log | sort) <(sort out)
	# Many small batches for the workers to share.
	cspipe run -e '{stages: [{generate: {count: 300000, template: "r $n"}}, {filter: "", workers: 1000},
		{map: {prefix: "> "}, workers: 1000}]}' > out
	cmp <(seq 1 300000 | sed 's/^/> r /') out
}

@test "buffer: 0 everywhere: output still correct" {
	all_logs | with_final_newline > all.log
	cspipe run --stats=json -e '{defaults: {buffer: 0}, stages: [{filter: "", workers: 4},
		{map: {case: upper}, workers: 3}, {route: {cases: {e: "ERROR"}, default: rest}},
		{merge: concat, from: [route.e, route.rest]}]}' all.log > out 2> stats.json
	cmp <(tr a-z A-Z < all.log | grep ERROR; tr a-z A-Z < all.log | grep -v ERROR) out
	accounting_adds_up stats.json
	cspipe run -e '{defaults: {buffer: 0, workers: 2}, stages: [{filter: "1"},
		{compress: gzip}]}' all.log | zcat > out
	grep 1 all.log | cmp - out
}

@test "a 50-stage linear pipeline: output still correct" {
	all_logs | with_final_newline > all.log
	{
		echo 'stages:'
		for i in $(seq 50); do
			echo "  - map: {prefix: \"$((i % 10))\"}"
			[ $((i % 7)) -eq 0 ] && echo "    workers: 3"
		done
	} > lin.yaml
	cspipe run --stats=json lin.yaml all.log > out 2> stats.json
	p=$(for i in $(seq 50 -1 1); do printf '%d' $((i % 10)); done)
	sed "s/^/$p/" all.log | cmp - out
	accounting_adds_up stats.json
	[ "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["stages"]))' stats.json)" -eq 52 ]
}
