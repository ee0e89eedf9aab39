#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Outputs that fail: a reader that goes away (quiet exit 0), a full device,
# a full file system, a read-only folder, a closed descriptor.  A write
# error names the output and the cause and exits 1; a file sink's target is
# left byte for byte as it was and no temporary file remains.

bats_require_minimum_version 1.5.0
load helpers
load lib/reliability

# A small tmpfs is mounted at $TMP/full by the tests that fill it.
teardown() {
	if mountpoint -q "$TMP/full" 2>/dev/null; then
		umount "$TMP/full"
	fi
	if mountpoint -q "$TMP/ro" 2>/dev/null; then
		umount "$TMP/ro"
	fi
	cd / && rm -rf "$TMP"
}

# mount_full: a 1 MiB file system at full/, holding out.txt with old content.
mount_full() {
	mkdir full
	mount -t tmpfs -o size=1m tmpfs full
	printf 'old content\r\nsecond line' > full/out.txt
	cp full/out.txt before.txt
}

# ---- the reader goes away -----------------------------------------------

# closed_early PIPELINE-YAML: run it into `head -1`; cspipe exits 0 quietly
# and promptly.
closed_early() {
	local t0 st
	t0=$(now)
	cspipe run -e "$1" 2> err | head -1 > first
	st=${PIPESTATUS[0]}
	within "$t0" $((10 * $(slowdown)))
	echo "cspipe exited $st"
	[ "$st" -eq 0 ]
	[ ! -s err ] || { cat err; false; }
	[ -s first ]
}

@test "| head -1 on an endless generate ends the run quietly with exit 0" {
	closed_early '{stages: [{generate: {template: "line $n"}}]}'
	[ "$(cat first)" = "line 1" ]
}

@test "| head -1 with several workers per stage ends quietly with exit 0" {
	closed_early '{stages: [{generate: {template: "line $n"}}, {filter: "1", workers: 4},
		{map: {case: upper}, workers: 3, ordered: false}]}'
	# Unordered: some line with a 1 in it, whichever worker was first.
	[[ $(cat first) =~ ^LINE\ [0-9]*1[0-9]*$ ]]
}

@test "| head -1 on a compressed stream ends quietly with exit 0" {
	closed_early '{stages: [{generate: {template: "line $n"}}, {compress: gzip, workers: 2}]}'
}

@test "| head -1 with an exec stage ends quietly and leaves no command running" {
	marker=cspipe-bats-$$-$RANDOM
	closed_early "{stages: [{generate: {template: 'line \$n'}}, {exec: [sh, -c, 'cat; :', $marker], workers: 2}]}"
	[ "$(cat first)" = "line 1" ]
	no_process_with "$marker"
}

@test "yes | cspipe | head -1 ends quietly with exit 0" {
	t0=$(now)
	yes | cspipe run -e '{stages: [{filter: y, workers: 2}]}' 2> err | head -1 > first
	st=("${PIPESTATUS[@]}")
	within "$t0" $((10 * $(slowdown)))
	[ "${st[1]}" -eq 0 ]
	[ ! -s err ]
	[ "$(cat first)" = y ]
}

@test "a reader going away after a while still ends quietly, with --stats" {
	all_logs > all.log
	t0=$(now)
	for _ in 1 2 3 4 5 6 7 8; do cat all.log; done |
		cspipe run --stats=json -e '{stages: [{filter: "", workers: 2}]}' 2> stats.json |
		head -c 5000000 > /dev/null
	st=${PIPESTATUS[1]}
	within "$t0" $((20 * $(slowdown)))
	[ "$st" -eq 0 ]
	accounting_adds_up stats.json
}

@test "-o /dev/stdout or a FIFO whose reader goes away ends quietly, as stdout does" {
	# -o /dev/stdout is standard output by another name: | head -1 must
	# end it as it ends `-o -`, exit 0 and no message.
	run --separate-stderr bash -c "set -o pipefail; '$CSPIPE' run -o /dev/stdout --stats=json:stats.json \
		-e '{stages: [{generate: {template: \"line \$n\"}}]}' | head -n 1"
	[ "$status" -eq 0 ]
	[ "$output" = "line 1" ]
	[ -z "$stderr" ]
	accounting_adds_up stats.json
	# A named FIFO, the file sink of the pipeline file: the same.
	mkfifo fifo
	head -n 1 fifo > first &
	reader=$!
	run --separate-stderr cspipe run -e '{stages: [{generate: {template: "line $n"}}, {file: fifo}]}'
	wait "$reader"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(cat first)" = "line 1" ]
	[ -p fifo ]
}

# ---- write errors on standard output ---------------------------------------

# to_full ARGS...: cspipe with /dev/full as standard output (a redirection
# of `run` itself would be undone by its capture of the output).
to_full() {
	cspipe "$@" > /dev/full
}

@test "/dev/full as stdout is an error naming stdout and the cause" {
	run --separate-stderr to_full run -e '{stages: [{generate: {count: 1}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdout: write error on stdout: No space left on device" ]
	run --separate-stderr to_full run -e '{stages: [{generate: {count: 1000000}}, {filter: "", workers: 2}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdout: write error on stdout: No space left on device" ]
}

@test "/dev/full as stdout of an endless source stops the run promptly" {
	t0=$(now)
	run --separate-stderr to_full run --stats=json -e '{stages: [{generate: {template: "line $n"}}]}'
	within "$t0" $((10 * $(slowdown)))
	[ "$status" -eq 1 ]
	[ "${stderr_lines[0]}" = "cspipe: stdout: write error on stdout: No space left on device" ]
	[[ ${stderr_lines[1]} == '{"pipeline":"","outcome":"error","exit_code":1,'* ]]
}

@test "--stats accounting adds up after a write error on stdout or a file" {
	run --separate-stderr to_full run --stats=json -e '{stages: [{generate: {template: "line $n"}}]}'
	[ "$status" -eq 1 ]
	printf '%s\n' "${stderr_lines[1]}" > stats.json
	accounting_adds_up stats.json
	run --separate-stderr to_full run --stats=json -e '{stages: [{generate: {count: 1000000}}, {filter: "", workers: 2}]}'
	[ "$status" -eq 1 ]
	printf '%s\n' "${stderr_lines[1]}" > stats.json
	accounting_adds_up stats.json
	mount_full
	run --separate-stderr cspipe run --stats=json -o full/out.txt -e '{stages: [{generate: {count: 1000000}}]}'
	[ "$status" -eq 1 ]
	[ "${stderr_lines[0]}" = "cspipe: file: write error on full/out.txt: No space left on device" ]
	printf '%s\n' "${stderr_lines[1]}" > stats.json
	accounting_adds_up stats.json
}

@test "--stats accounting adds up after a write error behind ordered workers, run after run" {
	# The abort reaches the collector of the ordered stage before its
	# workers; a result a worker finishes after the collector has gone
	# must still be counted (it was once lost, in about 1 run in 100
	# under the thread sanitizer).
	for i in $(seq 100); do
		rc=0
		to_full run --stats=json -e '{stages: [{generate: {count: 1000000}}, {filter: "", workers: 2}]}' 2> err || rc=$?
		[ "$rc" -eq 1 ]
		sed -n 2p err > "stats.$i.json"
	done
	accounting_adds_up stats.*.json
}

# jqn KEY FILE: a top-level number of a --stats=json report.
jqn() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "$1" "$2"
}

@test "records lost to an aborted run count as dropped, never as filtered" {
	seq 200000 | gzip -c > full.gz
	head -c 300000 full.gz > trunc.gz
	# The source fails: what was in flight to stdout, and what the
	# decompressing stage never finished, are lost, not removed on purpose.
	for pipe in '{stages: [{files: [trunc.gz]}, {filter: "", workers: 2}]}' \
		    '{stages: [{stdin: {gunzip: false}}, {decompress: gzip}, {filter: "", workers: 2}]}'; do
		rc=0
		cspipe run --stats=json -e "$pipe" < trunc.gz > out 2> err || rc=$?
		[ "$rc" -eq 1 ]
		sed -n 2p err > stats.json
		accounting_adds_up stats.json
		[ "$(jqn records_filtered stats.json)" -eq 0 ]
		[ "$(jqn records_written stats.json)" -eq "$(wc -l < out)" ]
	done
}

@test "records written to a file output that was discarded count as dropped, not written" {
	seq 200000 | gzip -c > full.gz
	head -c 300000 full.gz > trunc.gz
	echo old > out.txt
	rc=0
	cspipe run --stats=json -o out.txt -e '{stages: [{filter: "", workers: 2}]}' trunc.gz 2> err || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(cat out.txt)" = old ]
	sed -n 2p err > stats.json
	accounting_adds_up stats.json
	[ "$(jqn records_written stats.json)" -eq 0 ]
	[ "$(jqn records_dropped stats.json)" -eq "$(jqn records_read stats.json)" ]
	[ "$(jqn records_read stats.json)" -gt 0 ]
}

@test "a closed stdout is an error, not output lost into another descriptor" {
	# With descriptor 1 closed, the next descriptor cspipe opens would be 1.
	run --separate-stderr bash -c 'exec timeout -k 5 120 "$0" run -e "{stages: [{generate: {count: 1, template: \"1234567\"}}]}" >&-' "$CSPIPE"
	echo "status $status: $stderr"
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdout: write error on stdout: Bad file descriptor" ]
	run --separate-stderr bash -c 'exec timeout -k 5 120 "$0" run -e "{stages: [{generate: {count: 10}}]}" >&-' "$CSPIPE"
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdout: write error on stdout: Bad file descriptor" ]
}

# ---- a full file system -----------------------------------------------------

@test "a full file system: the file sink fails, the old target is intact, no temporary left" {
	mount_full
	run --separate-stderr cspipe run -e '{stages: [{generate: {count: 1000000, template: "line $n"}},
		{file: full/out.txt}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: write error on full/out.txt: No space left on device" ]
	cmp before.txt full/out.txt
	no_temp_files full
	[ "$(ls -A full)" = out.txt ]
}

@test "a full file system with -o: the target is intact, no temporary left" {
	mount_full
	run --separate-stderr cspipe run -o full/out.txt -e '{stages: [{generate: {count: 1000000}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: write error on full/out.txt: No space left on device" ]
	cmp before.txt full/out.txt
	no_temp_files full
}

@test "a full file system with append: the file is cut back to its old length" {
	mount_full
	run --separate-stderr cspipe run -e '{stages: [{generate: {count: 1000000}},
		{file: {path: full/out.txt, append: true}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: write error on full/out.txt: No space left on device" ]
	cmp before.txt full/out.txt
	no_temp_files full
}

@test "a full file system under a compressed, multi-worker pipeline: target intact" {
	mount_full
	head -c 3000000 /dev/urandom | base64 > random.txt
	run --separate-stderr cspipe run -e '{stages: [{filter: "", workers: 3},
		{compress: {format: gzip, level: 1}, workers: 2}, {file: full/out.txt}]}' random.txt
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: write error on full/out.txt: No space left on device" ]
	cmp before.txt full/out.txt
	no_temp_files full
}

@test "a full file system where the target did not exist: no file is made" {
	mount_full
	run --separate-stderr cspipe run -o full/new.txt -e '{stages: [{generate: {count: 1000000}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: write error on full/new.txt: No space left on device" ]
	[ ! -e full/new.txt ]
	no_temp_files full
}

# ---- read-only targets -----------------------------------------------------

@test "a read-only target folder (without root's override) is an error before anything runs" {
	mkdir ro
	printf 'old\n' > ro/out.txt
	chmod 644 ro/out.txt
	chmod 555 ro
	t0=$(now)
	# An endless source: the check is made before the run starts.
	run --separate-stderr unprivileged "$CSPIPE" run -e '{stages: [{generate: {template: "line $n"}}, {file: ro/out.txt}]}'
	within "$t0" $((10 * $(slowdown)))
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: cannot create a temporary file beside ro/out.txt: Permission denied" ]
	[ -z "$output" ]
	[ "$(cat ro/out.txt)" = old ]
	[ "$(ls -A ro)" = out.txt ]
	run --separate-stderr unprivileged "$CSPIPE" run -o ro/new.txt -e '{stages: [{generate: {count: 3}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: cannot create a temporary file beside ro/new.txt: Permission denied" ]
	[ "$(ls -A ro)" = out.txt ]
}

@test "append to a read-only file is an error, the file intact" {
	printf 'old\n' > locked.txt
	chmod 444 locked.txt
	run --separate-stderr unprivileged "$CSPIPE" run -e '{stages: [{generate: {count: 3}}, {file: {path: locked.txt, append: true}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: cannot open locked.txt: Permission denied" ]
	[ "$(cat locked.txt)" = old ]
}

@test "a read-only mount as target folder is an error, nothing written" {
	mkdir ro
	mount -t tmpfs -o size=1m,ro tmpfs ro
	run --separate-stderr cspipe run -e '{stages: [{generate: {count: 10}}, {file: ro/out.txt}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: cannot create a temporary file beside ro/out.txt: Read-only file system" ]
	[ -z "$(ls -A ro)" ]
}

@test "a target in a missing folder is an error naming it" {
	run --separate-stderr cspipe run -o nodir/out.txt -e '{stages: [{generate: {count: 10}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: file: cannot create a temporary file beside nodir/out.txt: No such file or directory" ]
	[ ! -e nodir ]
}

# ---- out of memory ------------------------------------------------------------

# short_of_memory ARGS...: cspipe where an allocation of 50 MiB fails: a
# limit on the address space, or, for sanitizer builds (which reserve
# terabytes of it), their allocator's own limit.
short_of_memory() {
	# Not the suite's log_path: the allocator's warning about the refused
	# allocation is expected here, and any report goes to this stderr.
	if sanitized; then
		ASAN_OPTIONS="allocator_may_return_null=1 max_allocation_size_mb=40" \
		TSAN_OPTIONS="allocator_may_return_null=1 max_allocation_size_mb=40" \
			cspipe "$@"
	else
		(ulimit -v 200000 && cspipe "$@")
	fi
}

@test "out of memory: exit 1 naming the stage, no temporary left, the target as it was" {
	python3 -c 'import sys; sys.stdout.write("x" * (50 << 20) + "\n")' > big.txt
	echo old > out.txt
	rc=0
	short_of_memory run -o out.txt \
		-e '{stages: [{files: {paths: [big.txt], max_record: 1GiB}}, {map: {case: upper}}]}' \
		2> err.raw || rc=$?
	grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate' err.raw > err || true
	echo "status $rc: $(cat err.raw)"
	[ "$rc" -eq 1 ]
	[[ $(cat err) =~ ^cspipe:\ (files|map|file):\ out\ of\ memory$ ]]
	[ "$(cat out.txt)" = old ]
	no_temp_files .
}
