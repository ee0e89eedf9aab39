#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# shard_by: records with the same key always meet the same worker, so the
# records of one key keep their order even when workers race; skew shows
# in --stats.

load helpers

# "KEY N" lines: 13 keys, N counting up.
keyed_input() {
	awk 'BEGIN { for (i = 1; i <= 60000; i++) print "k" (i * 7) % 13, i }' > in.txt
}

# Fails unless the numbers of each key appear in increasing order.
per_key_order_holds() {
	awk '{ if ($2 <= last[$1]) { print "key " $1 ": " $2 " after " last[$1]; bad = 1 }
	       last[$1] = $2 } END { exit bad }' "$1"
}

@test "shard_by field keeps each key's order with ordered: false and racing workers" {
	keyed_input
	pipeline p.yaml <<'EOF'
stages:
  - exec: [sh, -c, 'sleep 0.0$(($$ % 5)); cat']
    workers: 4
    ordered: false
    shard_by: {field: 1}
EOF
	cspipe run --stats=json p.yaml in.txt > out 2> stats.json
	[ "$(wc -l < out)" -eq 60000 ]
	sort in.txt | cmp - <(sort out)
	per_key_order_holds out
	accounting_adds_up stats.json
}

@test "shard_by pattern sends equal keys to one worker: per-worker counts show it" {
	keyed_input
	cspipe run --stats=json -e '{stages: [{map: {case: upper}, workers: 3, ordered: false,
		shard_by: {pattern: "^(k\\d+)"}}]}' in.txt > out 2> stats.json
	per_key_order_holds out
	# Every key's records went to exactly one worker: each worker's count
	# is a sum of whole keys (4615 or 4616 records each).
	python3 - stats.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m = [st for st in s["stages"] if st["kind"] == "map"][0]
counts = m["worker_records"]
assert sum(counts) == 60000, counts
for c in counts:
    assert any(c == a * 4615 + b * 4616 for a in range(14) for b in range(14 - a)), counts
PY
}

@test "shard_by with ordered: true keeps the input order exactly" {
	cspipe run -e '{stages: [{map: {case: upper}, workers: 4, shard_by: {field: 5}}]}' \
		"$LOGHUB"/*_2k.log > out
	all_logs_lines | tr a-z A-Z | cmp - out
	cspipe run -e '{stages: [{filter: {pattern: "(?i)info", invert: true}, workers: 3,
		shard_by: {field: 2, delimiter: ","}}]}' "$LOGHUB/Windows_2k.log" > out
	with_final_newline "$LOGHUB/Windows_2k.log" | grep -aiv info | cmp - out
}

@test "shard_by errors are positioned" {
	pipeline p.yaml <<'EOF'
stages:
  - map: {case: upper}
    workers: 2
    shard_by: {field: 0}
  - map: {case: lower}
    workers: 2
    shard_by: {feld: 1}
  - compress: gzip
    shard_by: {field: 1}
EOF
	run cspipe validate p.yaml
	echo "$output"
	[ "$status" -eq 2 ]
	grep -Fq "p.yaml:4:23: shard_by: field: expected a field number from 1, got '0'" <<<"$output"
	grep -Fq "p.yaml:7:16: shard_by: unknown key 'feld' (did you mean 'field'?)" <<<"$output"
	grep -Fq "p.yaml:9:15: compress cannot shard its input" <<<"$output"
}
