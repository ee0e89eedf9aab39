#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# head against head -n, on the real logs and on inputs that never end;
# rate: what goes in comes out, no faster than the rate.

bats_require_minimum_version 1.5.0
load helpers

# Milliseconds since the epoch.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ---- head -------------------------------------------------------------

@test "head passes what head -n passes" {
	local f n
	for f in "$LOGHUB"/*_2k.log; do
		for n in 1 2000; do
			cspipe run -e "{stages: [{files: ['$f']}, {head: $n}]}" > out
			with_final_newline "$f" | head -n "$n" | cmp - out ||
				{ echo "differs on $f, head $n"; return 1; }
		done
	done
	with_final_newline "$LOGHUB"/*_2k.log > all.txt
	for n in 10 999 1024 1025 31999 32000 40000; do
		cspipe run -e "{stages: [{head: $n}]}" < all.txt > out
		head -n "$n" all.txt | cmp - out || { echo "differs on head $n"; return 1; }
	done
}

@test "head takes a count, a mapping, or nothing for 10" {
	with_final_newline "$LOGHUB/Android_2k.log" > in.txt
	cspipe run -e '{stages: [{head: {count: 1234}}]}' < in.txt > out
	head -n 1234 in.txt | cmp - out
	cspipe run -e '{stages: [{head: ~}]}' < in.txt > out
	head -n 10 in.txt | cmp - out
	cspipe run -e '{stages: [{filter: ERROR}, {head: 3}]}' < in.txt > out
	grep -a ERROR in.txt | head -n 3 | cmp - out
}

@test "head 0 passes nothing and exits 0" {
	run cspipe run -e '{stages: [{head: 0}]}' < "$LOGHUB/HDFS_2k.log"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	yes | CSPIPE_TIMEOUT=10 cspipe run -e '{stages: [{head: 0}]}' > out
	[ ! -s out ]
}

@test "head stops an endless input: yes, generate" {
	yes | CSPIPE_TIMEOUT=10 cspipe run -e '{stages: [{head: 100000}]}' > out
	yes | head -n 100000 | cmp - out
	CSPIPE_TIMEOUT=10 cspipe run -e '{stages: [{generate: {}}, {filter: "7$"}, {head: 5}]}' > out
	printf '7\n17\n27\n37\n47\n' | cmp - out
}

@test "head stops a silent FIFO without waiting for its next byte" {
	mkfifo fifo
	# The writer sends a batch and a half, then stays silent, the FIFO open
	# (and bats' own descriptors closed, so that it does not wait for it).
	( seq 1 20000; exec sleep 30 ) > fifo 2> /dev/null 3>&- &
	local writer=$!
	run timeout 10 "$CSPIPE" run -e '{stages: [{filter: "."}, {head: 3}]}' < fifo
	kill "$writer" 2> /dev/null || true
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1\n2\n3')" ]
}

@test "head on a named input file returns at once (INPUT form)" {
	yes 'some line' | head -n 2000000 > big.log
	pipeline h.yaml <<'EOF'
stages:
  - head: 10
EOF
	CSPIPE_TIMEOUT=10 cspipe run --stats=json h.yaml big.log > out 2> stats.json
	yes 'some line' | head -n 10 | cmp - out
	accounting_adds_up stats.json
	# Stopped early: far from all two million records were read.
	[ "$(jq .records_read stats.json)" -lt 1000000 ]
}

@test "head counts what it does not pass as filtered" {
	cspipe run --stats=json -e '{stages: [{head: 25}]}' < "$LOGHUB/Mac_2k.log" > out 2> stats.json
	accounting_adds_up stats.json
	[ "$(jq .records_written stats.json)" -eq 25 ]
	[ "$(jq '.stages[] | select(.kind == "head") | .filtered' stats.json)" -eq \
	  "$(jq '.stages[] | select(.kind == "head") | .records_in - 25' stats.json)" ]
	[ "$(jq .records_dropped stats.json)" -eq 0 ]
}

@test "head: bad options are reported at their position" {
	pipeline h.yaml <<'EOF'
stages:
  - head: -1
  - head: ten
  - head: {cuont: 3}
  - head: 5
    workers: 2
EOF
	run cspipe validate h.yaml
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: h.yaml:2:11: count: -1 is out of range 0.." ]
	[ "${lines[1]}" = "cspipe: h.yaml:3:11: count: expected an integer, got 'ten'" ]
	[ "${lines[2]}" = "cspipe: h.yaml:4:12: unknown option 'cuont' for head (did you mean 'count'?)" ]
	[ "${lines[3]}" = "cspipe: h.yaml:6:14: head runs on one worker (workers: 2)" ]
	[ "${#lines[@]}" -eq 4 ]
}

# ---- rate -------------------------------------------------------------

@test "rate passes every record unchanged, in order" {
	local f
	for f in "$LOGHUB"/*_2k.log; do
		cspipe run -e "{stages: [{files: ['$f']}, {rate: 1000/ms}]}" > out
		with_final_newline "$f" | cmp - out || { echo "differs on $f"; return 1; }
	done
	with_final_newline "$LOGHUB"/*_2k.log > all.txt
	cspipe run -e '{stages: [{rate: {bytes: 64MiB, per: 1s, burst: 4KiB}}]}' < all.txt > out
	cmp all.txt out
	cspipe run -e '{stages: [{rate: {records: 20000, per: 100ms, burst: 7}}]}' < all.txt > out
	cmp all.txt out
}

@test "rate holds records to the rate after the burst" {
	# 150 records at 100/s, burst 100: the last 50 take about 0.5 s.
	with_final_newline "$LOGHUB/HPC_2k.log" | head -n 150 > in.txt
	local t0=$(now_ms)
	cspipe run -e '{stages: [{rate: 100/s}]}' < in.txt > out
	local took=$(($(now_ms) - t0))
	cmp in.txt out
	[ "$took" -ge 300 ] || { echo "took $took ms"; return 1; }

	# 50 records, one at a time: 49 waits of 10 ms.
	head -n 50 in.txt > in50.txt
	t0=$(now_ms)
	cspipe run -e '{stages: [{rate: {records: 100, per: 1s, burst: 1}}]}' < in50.txt > out
	took=$(($(now_ms) - t0))
	cmp in50.txt out
	[ "$took" -ge 300 ] || { echo "took $took ms"; return 1; }
}

@test "rate in bytes counts terminators and lets a record larger than the burst pass" {
	# 40 records of 100 bytes + newline = 4040 bytes at 10000/s (burst 16
	# bytes, smaller than any record): at least 0.3 s.
	for i in $(seq 1 40); do printf '%0100d\n' "$i"; done > in.txt
	local t0=$(now_ms)
	cspipe run -e '{stages: [{rate: {limit: 10kB/s, burst: 16}}]}' < in.txt > out
	local took=$(($(now_ms) - t0))
	cmp in.txt out
	[ "$took" -ge 300 ] || { echo "took $took ms"; return 1; }
}

@test "rate stops waiting at once when an error stops the run" {
	# One record a second for a hundred records, and then the input
	# fails (a truncated gzip file): the error stops the run, and rate
	# passes what it holds at once instead of over hours (the run is
	# under cspipe's timeout wrapper: a wait would end in status 124).
	seq 1 100 > in.txt
	seq 1 100000 | gzip -c | head -c 20000 > bad.gz
	pipeline r.yaml <<'EOF'
shutdown_timeout: 1m
stages:
  - files: [in.txt, bad.gz]
  - rate: {records: 1, per: 1s, burst: 1}
EOF
	run --separate-stderr cspipe run r.yaml
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: bad.gz: truncated gzip data (the stream ends at byte 20000)" ]
	# Everything before the error, whole records, in order: the file,
	# then what zcat writes of bad.gz up to its last complete line.
	gzip -dc bad.gz > z 2> /dev/null || true
	[ "$output" = "$(seq 1 100; head -n "$(wc -l < z)" z)" ]
}

@test "rate stops waiting at once when head below it has enough" {
	# Two records pass at once (the burst); the third would wait 10 s.
	local t0=$(now_ms)
	CSPIPE_TIMEOUT=20 cspipe run --stats=json \
		-e '{stages: [{generate: {}}, {rate: {records: 1, per: 10s, burst: 2}}, {head: 2}]}' \
		> out 2> stats.json
	local took=$(($(now_ms) - t0))
	printf '1\n2\n' | cmp - out
	[ "$took" -lt 5000 ] || { echo "took $took ms"; return 1; }
	accounting_adds_up stats.json
	[ "$(jq .records_dropped stats.json)" -eq 0 ]
}

@test "rate shorthand: COUNT/PER with a duration or a bare unit, records or bytes" {
	pipeline r.yaml <<'EOF'
stages:
  - rate: 1000/s
  - rate: 500/ms
  - rate: 10/m
  - rate: 100/1.5s
  - rate: 3/1h30m
  - rate: 1MiB/s
  - rate: 100B/us
  - rate: {limit: 64KiB/s, burst: 4KiB}
  - rate: {records: 10, per: 100ms}
  - rate: {bytes: 1.5MB}
EOF
	run cspipe validate r.yaml
	[ "$status" -eq 0 ]
}

@test "rate: bad options are reported at their position" {
	pipeline r.yaml <<'EOF'
stages:
  - rate: 1000
  - rate: 1000/x
  - rate: ten/s
  - rate: 0/s
  - rate: 10/0s
  - rate: {}
  - rate: {records: 10, bytes: 1KiB}
  - rate: {limit: 10/s, per: 1s}
  - rate: {records: 0}
  - rate: {records: 10, burst: 0}
  - rate: [1, 2]
EOF
	run cspipe validate r.yaml
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: r.yaml:2:11: bad rate '1000': expected COUNT/PER (e.g. 1000/s, 10/100ms, 1MiB/s)" ]
	[ "${lines[1]}" = "cspipe: r.yaml:3:11: bad rate '1000/x': bad duration 'x': expected a number (e.g. 5s, 300ms, 1h30m)" ]
	[ "${lines[2]}" = "cspipe: r.yaml:4:11: bad rate 'ten/s': 'ten' is neither a number of records nor a size (e.g. 1000 or 64KiB)" ]
	[ "${lines[3]}" = "cspipe: r.yaml:5:11: bad rate '0/s': the count must be 1 or more" ]
	[ "${lines[4]}" = "cspipe: r.yaml:6:11: bad rate '10/0s': the duration must be more than 0" ]
	[ "${lines[5]}" = "cspipe: r.yaml:7:11: rate: give one of limit, records and bytes (e.g. rate: 1000/s)" ]
	[ "${lines[6]}" = "cspipe: r.yaml:8:11: rate: give only one of limit, records and bytes" ]
	[ "${lines[7]}" = "cspipe: r.yaml:9:30: per: goes with records or bytes; the limit names its own period" ]
	[ "${lines[8]}" = "cspipe: r.yaml:10:21: records: 0 is out of range 1.." ]
	[ "${lines[9]}" = "cspipe: r.yaml:11:32: burst: 0 is out of range 1..2147483647" ]
	[ "${lines[10]}" = "cspipe: r.yaml:12:11: limit: expected COUNT/PER (e.g. 1000/s), got a list" ]
	[ "${#lines[@]}" -eq 11 ]
}

@test "a rate stops pacing once the run is stopping: the drain keeps every record" {
	# At 2/s the 1000 records would need 500 s; the deadline stops the
	# source and the drain passes what is buffered at once.
	rc=0
	cspipe run --stats=json -e '{timeout: 300ms, shutdown_timeout: 1m, stages: [{generate: {count: 1000}},
		{rate: 2/s}, {file: out.txt}]}' 2> err || rc=$?
	[ "$rc" -eq 124 ]
	[ "$(head -1 err)" = "cspipe: deadline exceeded (timeout 300ms)" ]
	seq 1000 | cmp - out.txt
	sed -n 2p err > stats.json
	accounting_adds_up stats.json
	[ "$(jq .records_dropped stats.json)" -eq 0 ]
}
