#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# filter where: expressions over JSON records, checked against jq's select
# on the real structured Loghub files (values compared, not formatting).

load helpers

# same WHERE JQ: cspipe's where keeps what jq's select keeps.
same() {
	pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$STRUCT/*_2k.jsonl'], codec: json}
  - filter: {where: '$1'}
    workers: 2
YAML
	cspipe run p.yaml | jq -c -S . > got
	cat "$STRUCT"/*_2k.jsonl | jq -c -S "select($2)" > want
	[ -s want ]
	cmp want got
}

@test "where: a string equality keeps what jq select keeps" {
	same '.Level == "ERROR"' '.Level == "ERROR"'
}

@test "where: numbers, && and != as jq" {
	same '.Pid > 1000 && .Level != "INFO"' '.Pid > 1000 and .Level != "INFO"'
}

@test "where: =~, || and in [..] as jq" {
	same '.Content =~ "(?i)fail" || .system in ["HDFS", "Mac"]' \
	     '(.Content | test("(?i)fail")) or .system == "HDFS" or .system == "Mac"'
}

@test "where: exists, ! and nested parentheses as jq" {
	same '!exists(.Level) && (.LineId <= 10 || .LineId > 1995)' \
	     '(has("Level") | not) and (.LineId <= 10 or .LineId > 1995)'
}

@test "where: a numeric string compares with a number (awk's rule) on CSV fields" {
	f="$STRUCT/HDFS_2k.log_structured.csv"
	pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$f'], codec: csv}
  - filter: {where: '.Pid > 1000 && .Level == "INFO"'}
YAML
	cspipe run p.yaml > out
	python3 - "$f" <<'PY'
import csv, json, sys
exp = [r for r in csv.DictReader(open(sys.argv[1], newline='')) if int(r['Pid']) > 1000 and r['Level'] == 'INFO']
got = [json.loads(l) for l in open('out')]
assert exp == got and exp, (len(exp), len(got))
PY
}

@test "where: escapes in keys and values are decoded before comparing" {
	printf '{"\\u0041":"caf\\u00e9 \\ud83d\\ude00"}\n{"A":"other"}\n' > in
	cspipe run <(printf "stages:\n  - filter: {where: '.A == \"caf\xc3\xa9 \xf0\x9f\x98\x80\"'}\n") < in > out
	head -1 in | cmp - out
}

@test "where: a record that is not JSON fails, or is dropped with on_error drop" {
	printf '{"a":1}\nplain text\n{"a":2}\n' > in
	run cspipe run <(printf "stages:\n  - filter: {where: '.a == 2'}\n") < in
	[ "$status" -eq 1 ]
	[[ "$output" == *"stdin: record 2: not JSON"* ]]
	cspipe run --stats=json <(printf "stages:\n  - filter: {where: '.a >= 1', on_error: drop}\n") < in > out 2> stats
	printf '{"a":1}\n{"a":2}\n' | cmp - out
	accounting_adds_up stats
}

@test "where: validate reports a bad expression at file:line:col and its column" {
	pipeline p.yaml <<'YAML'
stages:
  - filter:
      where: '.Level == && .Pid'
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: p.yaml:3:14: bad where expression at column 11: expected a path (.name), a value or '(', got '&&'" ]
	pipeline q.yaml <<'YAML'
stages:
  - filter: {where: '.a =~ "(x"'}
YAML
	run cspipe validate q.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"q.yaml:2:"*"bad where expression at column"*"bad regex"* ]]
	pipeline r.yaml <<'YAML'
stages:
  - filter: {where: '.a == 1', pattern: x}
YAML
	run cspipe validate r.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"filter takes pattern or where, not both"* ]]
}
