#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# workers: auto: accepted on a stage and in defaults, the same output as one
# worker (order kept, a gzip stream byte for byte), the counts and changes
# in --stats, max_workers, and the values it refuses.

bats_require_minimum_version 1.5.0
load helpers
load lib/reliability

# big.log: the sixteen logs eight times over (about 35 MB), long enough for
# the engine to look at the stages a few times.
big_input() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		all_logs_lines
	done > big.log
}

# The filter -> map -> gzip pipeline, with WORKERS on every stage and
# TOP (a line or nothing) at the top.
fmg() {
	pipeline "$1" <<-EOF
	$3
	stages:
	  - filter: '(?i)error|warn|fail|[0-9]'
	    workers: $2
	  - map: [{replace: '[0-9]+', with: N}, {case: upper}]
	    workers: $2
	  - compress: {format: gzip, level: 6}
	    workers: $2
	EOF
}

@test "workers: auto on a stage and in defaults validates and runs" {
	pipeline stage.yaml <<-'EOF'
	stages:
	  - filter: ERROR
	    workers: auto
	EOF
	pipeline defaults.yaml <<-'EOF'
	defaults: {workers: auto}
	max_workers: 3
	stages:
	  - files: [in.log]
	  - filter: ERROR
	  - head: 5
	  - stdout: {}
	EOF
	all_logs_lines > in.log
	run cspipe validate stage.yaml
	[ "$status" -eq 0 ]
	run cspipe validate defaults.yaml
	[ "$status" -eq 0 ]
	run --separate-stderr cspipe run defaults.yaml
	[ "$status" -eq 0 ]
	[ "$output" = "$(grep ERROR in.log | head -n 5)" ]
	run --separate-stderr cspipe run stage.yaml < in.log
	[ "$status" -eq 0 ]
	[ "$output" = "$(grep ERROR in.log)" ]
}

@test "filter, map and gzip with workers: auto write what one worker writes, byte for byte" {
	big_input
	fmg one.yaml 1
	fmg auto.yaml auto "max_workers: 4"
	cspipe run one.yaml big.log > one.gz
	run --separate-stderr cspipe run --stats=json auto.yaml big.log -o auto.gz
	[ "$status" -eq 0 ]
	cmp one.gz auto.gz
	# A valid stream of what grep and sed make of the input.
	gzip -dc auto.gz | cmp - <(grep -Ei 'error|warn|fail|[0-9]' big.log |
		sed -E 's/[0-9]+/N/g' | tr '[:lower:]' '[:upper:]')
	printf '%s\n' "$stderr" > stats.json
	accounting_adds_up stats.json
}

@test "an unordered map with workers: auto keeps every record" {
	big_input
	pipeline un.yaml <<-'EOF'
	max_workers: 4
	stages:
	  - map: [{replace: '[0-9]+', with: N}]
	    workers: auto
	    ordered: false
	EOF
	cspipe run un.yaml big.log > out
	cmp <(sort out) <(sed -E 's/[0-9]+/N/g' big.log | sort)
}

@test "--stats=json gives each auto stage its final workers and its changes" {
	big_input
	fmg auto.yaml auto "max_workers: 4"
	run --separate-stderr cspipe run --stats=json auto.yaml big.log -o out.gz
	[ "$status" -eq 0 ]
	printf '%s\n' "$stderr" > stats.json
	python3 - stats.json <<-'PY'
	import json, sys
	s = json.load(open(sys.argv[1]))
	auto = [st for st in s["stages"] if st["workers_auto"]]
	assert [st["kind"] for st in auto] == ["filter", "map", "compress"], auto
	for st in s["stages"]:
	    ch = st["worker_changes"]
	    if not st["workers_auto"]:
	        assert ch == [] and st["worker_changes_total"] == 0, st
	        continue
	    assert 1 <= st["workers"] <= 4, st
	    assert len(st["worker_records"]) == 4, st
	    assert st["worker_changes_total"] >= len(ch), st
	    # Each change moves by one, in time order; the last is where it ended.
	    prev, t = 1, 0.0
	    for c in ch:
	        assert abs(c["workers"] - prev) == 1 and c["at_s"] >= t, st
	        prev, t = c["workers"], c["at_s"]
	    if len(ch) == st["worker_changes_total"]:
	        assert prev == st["workers"], st
	PY
}

@test "--stats names the auto stages and their changes" {
	fmg auto.yaml auto
	all_logs_lines > in.log
	run --separate-stderr cspipe run --stats auto.yaml in.log -o out.gz
	[ "$status" -eq 0 ]
	[ "$(grep -c '^ *workers: auto, 1' <<<"$stderr")" -eq 3 ]
}

@test "max_workers: 1 keeps every auto stage on one worker" {
	big_input
	fmg one.yaml auto "max_workers: 1"
	run --separate-stderr cspipe run --stats=json one.yaml big.log -o out.gz
	[ "$status" -eq 0 ]
	printf '%s\n' "$stderr" > stats.json
	run jq -c '[.stages[] | select(.workers_auto) | [.workers, .worker_changes_total,
		(.worker_records | length)]]' stats.json
	[ "$output" = '[[1,0,1],[1,0,1],[1,0,1]]' ]
}

@test "cspipe graph shows an auto stage's limit" {
	fmg g.yaml auto "max_workers: 3"
	run cspipe graph g.yaml
	[ "$status" -eq 0 ]
	[ "$(grep -c 'workers auto (up to 3)' <<<"$output")" -eq 3 ]
}

# rejects TOP WORKERS WHERE: a filter with WORKERS under the top-level line
# TOP is refused, with the one message `cspipe: bad.yaml:WHERE`.
rejects() {
	printf '%s\nstages:\n  - filter: x\n    workers: %s\n' "$1" "$2" > bad.yaml
	rejected bad.yaml
	[ "$stderr" = "cspipe: bad.yaml:$3" ]
}

@test "bad workers and max_workers values are errors with their place" {
	rejects "name: t" automatic "4:14: workers: expected an integer or auto, got 'automatic'"
	rejects "max_workers: 0" auto "1:14: max_workers: 0 is out of range 1..10000"
	rejects "max_workers: auto" 1 "1:14: max_workers: expected an integer, got 'auto'"
	rejects "defaults: {workers: autoo}" 2 \
		"1:21: workers: expected an integer or auto, got 'autoo'"
}

@test "workers: auto on a stage that runs on one worker, or with shard_by, is refused" {
	printf '%s\n' 'stages:' '  - {files: [in.log], workers: auto}' '  - {head: 3, workers: auto}' \
		'  - {filter: x, workers: auto, shard_by: {field: 1}}' > src.yaml
	rejected src.yaml
	has_line "cspipe: src.yaml:2:32: files runs on one worker (workers: auto needs a stage that can have several)"
	has_line "cspipe: src.yaml:3:24: head runs on one worker (workers: auto needs a stage that can have several)"
	has_line "cspipe: src.yaml:4:42: shard_by needs a fixed number of workers (workers: auto changes it while the stage runs)"
}
