#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Seeing what a run does: --stats (table and JSON), the live view,
# SIGUSR1, graph pictures, the memory bound, bash completion.

bats_require_minimum_version 1.5.0
load helpers
load lib/longrun

# more_lines_than N: out has more than N lines.
more_lines_than() {
	[ "$(wc -l < out)" -gt "$1" ]
}

@test "--stats=json has the documented fields and the accounting adds up" {
	cspipe run --stats=json -e '{stages: [{filter: "(?i)error"}, {map: {case: upper}}]}' \
		"$LOGHUB/Hadoop_2k.log" "$LOGHUB/Spark_2k.log" > out 2> stats.json
	accounting_adds_up stats.json
	python3 - stats.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for k in ("records_read", "records_written", "records_filtered", "records_dropped",
          "records_created", "elapsed_s", "stages", "outcome", "exit_code", "bottleneck"):
    assert k in s, k
assert s["records_read"] == 4000, s["records_read"]
assert s["outcome"] == "ok" and s["exit_code"] == 0
names = [st["name"] for st in s["stages"]]
assert names == ["files", "filter", "map", "stdout"], names
for st in s["stages"]:
    for k in ("name", "kind", "workers", "records_in", "records_out", "filtered", "dropped",
              "created", "bytes_in", "bytes_out", "busy_s", "wait_input_s", "wait_output_s",
              "worker_records", "bottleneck", "from"):
        assert k in st, (st["name"], k)
    assert len(st["worker_records"]) == st["workers"]
PY
	[ "$(jq .records_written stats.json)" -eq "$(wc -l < out)" ]
}

@test "--stats prints a table with a line per stage and the totals" {
	run --separate-stderr cspipe run --stats -e '{stages: [{filter: ERROR, workers: 2}]}' "$LOGHUB/Hadoop_2k.log"
	[ "$status" -eq 0 ]
	[[ ${stderr_lines[0]} == "stage "*"kind"*"rec in"*"rec out"*"filtered"*"wait out" ]]
	grep -Eq '^filter +filter +2 +2000 +' <<<"$stderr"
	grep -Eq '^ +records per worker: [0-9]+ [0-9]+$' <<<"$stderr"
	grep -Eq '^total: read 2000, written [0-9]+, filtered [0-9]+, dropped 0, created 0; ' <<<"$stderr"
}

@test "broadcast copies are counted as created" {
	pipeline p.yaml <<'EOF'
stages:
  - {name: src, files: ["${LOGHUB}/Apache_2k.log"]}
  - {name: a, from: src, file: a.out}
  - {name: b, from: src, file: b.out}
EOF
	cspipe run --stats=json p.yaml 2> stats.json
	accounting_adds_up stats.json
	[ "$(jq .records_created stats.json)" -eq 2000 ]
	[ "$(jq .records_written stats.json)" -eq 4000 ]
	cmp a.out b.out
}

@test "the bottleneck is the slow stage" {
	pipeline p.yaml <<'EOF'
stages:
  - generate: {count: 400}
  - name: slow
    exec: [sh, -c, 'sleep 0.3; cat']
  - map: {case: upper}
EOF
	cspipe run --stats=json p.yaml > /dev/null 2> stats.json
	[ "$(jq -r .bottleneck stats.json)" = "slow" ]
	[ "$(jq '.stages[] | select(.name == "slow") | .bottleneck' stats.json)" = "true" ]
}

@test "a merge waiting on a slow input is not the bottleneck; its wait is not busy time" {
	pipeline p.yaml <<'EOF'
stages:
  - {name: a, generate: {count: 400}}
  - {name: slow, from: a, exec: [sh, -c, 'sleep 0.3; cat']}
  - {name: b, generate: {count: 400}}
  - {name: m, merge: {}, from: [slow, b]}
EOF
	cspipe run --stats=json p.yaml > /dev/null 2> stats.json
	[ "$(jq -r .bottleneck stats.json)" = "slow" ]
	# Merge spent the run waiting for slow: counted as waiting, not working.
	jq -e '.stages[] | select(.name == "m") | .wait_input_s > 2 * .busy_s' stats.json
}

@test "--progress draws on a terminal and removes itself at the end" {
	command -v script
	# A run of about a second (rate-limited), so that the view is drawn.
	script -qec "'$CSPIPE' run --progress -e '{stages: [{generate: {count: 20000}}, {rate: {records: 20000, per: 1s, burst: 100}}, {filter: 7}, {map: {case: upper}}]}' > /dev/null" typescript.out > /dev/null
	grep -aq 'rec/s in' typescript.out
	grep -aq 'generate' typescript.out
	# Cleared at the end: after the last drawing comes the erase.
	python3 -c 'import sys; t = open(sys.argv[1], "rb").read(); assert t.rindex(b"\x1b[J") > t.rindex(b"rec/s in")' typescript.out
}

@test "--progress is off when stderr is not a terminal, unless forced" {
	cspipe run --progress -e '{stages: [{generate: {count: 1000000}}, {filter: 7}]}' > /dev/null 2> err
	[ ! -s err ]
	cspipe run --progress=always -e '{stages: [{generate: {count: 20000}}, {rate: {records: 20000, per: 1s, burst: 100}}, {filter: 7}]}' > /dev/null 2> err
	grep -aq 'rec/s in' err
}

@test "SIGUSR1 prints the statistics so far and the run goes on" {
	bg_start out run -e '{stages: [{generate: {}}, {rate: 2000/s}]}'
	# Output: the stages run, and they start only once SIGUSR1 is handled.
	wait_for "the first records" more_lines_than 0
	kill -USR1 "$pid"
	wait_for "the statistics table" grep -Eq '^rate +rate ' err
	# Once: there is no --stats at the end.
	[ "$(grep -Ec '^stage +kind' err)" -eq 1 ]
	# The run went on after printing it.
	n=$(wc -l < out)
	wait_for "more records after the table" more_lines_than $((n + 100))
	bg_stop TERM
	[ "$rc" -eq 143 ]
}

@test "graph prints DOT that dot renders to SVG" {
	command -v dot
	cspipe graph "$TOP/pipelines/split-levels.yaml" > g.dot
	grep -q '^digraph "split-levels" {$' g.dot
	grep -q '"level" -> "errors" \[label="errors"\];' g.dot
	grep -q 'route · 1 worker · buffer 16' g.dot
	dot -Tsvg g.dot > g.svg
	python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg")' g.svg
}

@test "graph --stats draws a finished run, bottleneck highlighted" {
	pipeline p.yaml <<'EOF'
name: slowpoke
stages:
  - generate: {count: 300}
  - name: slow
    exec: [sh, -c, 'sleep 0.3; cat']
EOF
	cspipe run --stats=json p.yaml > /dev/null 2> stats.json
	cspipe graph --stats=stats.json p.yaml > g.dot
	grep -q 'in 300 · out 300' g.dot
	grep -q 'xlabel="bottleneck"' g.dot
	grep -q '"generate" -> "slow" \[label="300 rec"\];' g.dot
	dot -Tsvg g.dot > g.svg
	python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' g.svg
	run --separate-stderr cspipe graph --stats=nope.json p.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: graph: nope.json: No such file or directory" ]
}

@test "graph --stats draws a run given INPUT files and -o, as the run named them" {
	pipeline p.yaml <<'EOF'
stages:
  - filter: error
EOF
	cspipe run --stats=json -o out.txt p.yaml "$LOGHUB/Apache_2k.log" 2> stats.json
	cspipe graph --stats=stats.json p.yaml > g.dot
	n=$(grep -c error "$LOGHUB/Apache_2k.log")
	grep -q '"files" -> "filter" \[label="2000 rec"\];' g.dot
	grep -q "\"filter\" -> \"file\" \[label=\"$n rec\"\];" g.dot
	grep -q '"file" \[label="file\\nfile · 1 worker\\nin '"$n"' ·' g.dot
	# One style per node: added (dashed) and bottleneck (filled) together.
	if grep -q 'style=.*style=' g.dot; then false; fi
	dot -Tsvg g.dot > /dev/null
	# graph's --stats always takes a file, so it may come as the next word.
	cspipe graph --stats stats.json p.yaml | cmp - g.dot
	# An unnamed source and sink of the file, replaced the same way.
	pipeline q.yaml <<'EOF'
stages:
  - stdin: {}
  - filter: error
  - stdout: {}
EOF
	cspipe run --stats=json -o out.txt q.yaml "$LOGHUB/Apache_2k.log" 2> stats.json
	cspipe graph --stats=stats.json q.yaml > g.dot
	grep -q '"files" -> "filter" \[label="2000 rec"\];' g.dot
	grep -q "\"filter\" -> \"file\" \[label=\"$n rec\"\];" g.dot
}

@test "the memory bound of validate holds: peak RSS stays under it" {
	for i in 1 2 3 4 5 6 7 8; do cat "$LOGHUB"/*_2k.log; done > big.log
	for i in 1 2 3 4 5 6 7 8; do cat big.log; done > bigger.log   # ~280 MB
	pipeline p.yaml <<'EOF'
stages:
  - filter: {pattern: 'x', invert: true}
    workers: 2
  - map: {case: upper}
    workers: 3
  - compress: gzip
    workers: 2
EOF
	bound=$("$CSPIPE" validate p.yaml | sed -n 's/.*memory bound \([0-9.]*\)\(B\|KiB\|MiB\|GiB\)$/\1 \2/p')
	bytes=$(python3 -c 'import sys; v, u = sys.argv[1], sys.argv[2]; print(int(float(v) * {"B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}[u]))' $bound)
	python3 "$BATS_TEST_DIRNAME/lib/maxrss.py" rss "$CSPIPE" run -o out.gz p.yaml bigger.log
	peak=$(( $(cat rss) * 1024 ))
	# Sanitizers keep shadow memory beside every byte (up to 8 times as
	# much, for ThreadSanitizer): the bound is about the program itself.
	case $CSPIPE in
	*/build/thread/*|*/build/address-undefined/*) bytes=$((bytes * 8)) ;;
	esac
	echo "peak $peak bound $bytes"
	[ "$peak" -lt "$bytes" ]
	gzip -t out.gz
}

@test "validate warns about a merge whose memory the bound cannot cover" {
	branches='{stages: [{generate: {count: 10}},
		{name: r, route: {cases: {odd: "[13579]$"}, default: rest}},
		{name: m, from: [r.odd, r.rest], merge: MODE}]}'
	for mode in concat sorted; do
		run --separate-stderr cspipe validate -e "${branches/MODE/$mode}"
		[ "$status" -eq 0 ]
		[[ $output =~ ^-e:\ ok:\ 4\ stages,\ memory\ bound\  ]]
		[ "$stderr" = "cspipe: warning: -e: m: not within the memory bound: its inputs share an upstream stage, so it keeps in memory what one sends while it waits for another (see merge in cspipe-pipeline(5))" ]
	done
	# interleave takes from whichever input is ready; inputs of their
	# own are read one at a time: both within the bound.
	run --separate-stderr cspipe validate -e "${branches/MODE/interleave}"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run --separate-stderr cspipe validate -e '{stages: [{name: a, generate: {count: 3}},
		{name: b, generate: {count: 3}}, {from: [a, b], merge: concat}]}'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "bash completion completes commands, options, kinds and pipeline files" {
	source "$TOP/completion/cspipe.bash"
	PATH=$(dirname "$CSPIPE"):$PATH
	mkdir sub && touch a.yaml b.yml notes.txt
	complete_words() {
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMPREPLY=()
		_cspipe
		printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
	}
	[ "$(complete_words cspipe va)" = "validate " ]
	[ "$(complete_words cspipe run --st)" = "--stats --stats-interval --stats=json --stats=json: " ]
	[ "$(complete_words cspipe te)" = "test " ]
	[ "$(complete_words cspipe stages com)" = "compress " ]
	[ "$(complete_words cspipe run '')" = "a.yaml b.yml sub " ]
	[ "$(complete_words cspipe run a.yaml no)" = "notes.txt " ]
}
