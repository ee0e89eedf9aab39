#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The parse stage: named groups of a regex, json, csv and logfmt text, and
# a field parsed in place; checked against python3's re, json and csv on
# the real Loghub logs.

load helpers

@test "parse regex makes one field per named group, as python3's re" {
	pipeline p.yaml <<'YAML'
stages:
  - parse: {regex: '^(?<month>\w+) +(?<day>\d+) (?<time>\S+) (?<host>\S+) (?<proc>[^[]+)\[(?<pid>\d+)\]: (?<msg>.*)', on_error: drop}
YAML
	cspipe run --stats=json p.yaml "$LOGHUB/OpenSSH_2k.log" > out 2> stats
	python3 - "$LOGHUB/OpenSSH_2k.log" <<'PY'
import json, re, sys
rx = re.compile(r'^(?P<month>\w+) +(?P<day>\d+) (?P<time>\S+) (?P<host>\S+) (?P<proc>[^[]+)\[(?P<pid>\d+)\]: (?P<msg>.*)')
lines = open(sys.argv[1], 'rb').read().decode('utf-8', 'surrogateescape').split('\n')
if lines[-1] == '':
    lines.pop()
exp = [m.groupdict() for m in map(rx.match, lines) if m]
got = [json.loads(l) for l in open('out', encoding='utf-8', errors='surrogateescape')]
assert exp == got, (len(exp), len(got))
assert list(got[0]) == ['month', 'day', 'time', 'host', 'proc', 'pid', 'msg'], list(got[0])
stats = json.load(open('stats'))
assert stats['records_dropped'] == len(lines) - len(exp), stats
PY
	accounting_adds_up stats
}

@test "parse regex: a record that does not match fails the run with its number" {
	printf 'k=1\nnothing here\n' > in
	run cspipe run <(printf "stages:\n  - parse: '(?<k>\\\\w+)=(?<v>\\\\d+)'\n") < in
	[ "$status" -eq 1 ]
	[[ "$output" == *"stdin: record 2: no match for the regex"* ]]
	run cspipe run <(printf "stages:\n  - parse: {regex: '(?<k>\\\\w+)=(?<v>\\\\d+)', on_error: keep}\n") < in
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '{"k":"k","v":"1"}' ]
	[ "${lines[1]}" = 'nothing here' ]
}

@test "parse codec csv with columns reads each record as one row, as python3's csv" {
	f="$STRUCT/Apache_2k.log_structured.csv"
	pipeline p.yaml <<'YAML'
stages:
  - parse: {codec: csv, columns: [.LineId, .Time, .Level, .Content, .EventId, .EventTemplate]}
YAML
	tail -n +2 "$f" | cspipe run p.yaml > out
	python3 - "$f" <<'PY'
import csv, json, sys
exp = list(csv.DictReader(open(sys.argv[1], newline='')))
got = [json.loads(l) for l in open('out')]
assert exp == got, (len(exp), len(got))
PY
}

@test "parse codec json and logfmt on a field, in place" {
	printf '%s\n' '{"id":1,"msg":"level=warn code=7 text=\"disk full\""}' \
		'{"id":2,"msg":"{\"a\":[1,2],\"b\":\"\\u00e9\"}"}' > in
	cspipe run <(printf 'stages:\n  - parse: {codec: logfmt, field: .msg, on_error: keep}\n') < in > out
	head -1 out | jq -c -S . > got
	echo '{"id":1,"msg":{"code":"7","level":"warn","text":"disk full"}}' | cmp - got
	cspipe run <(printf 'stages:\n  - parse: {codec: json, field: .msg, on_error: drop}\n') < in > out
	[ "$(wc -l < out)" -eq 1 ]
	jq -c -S . out | cmp - <(echo '{"id":2,"msg":{"a":[1,2],"b":"é"}}')
}

@test "parse regex on a field of the structured HDFS file, as jq capture" {
	pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$STRUCT/HDFS_2k.jsonl'], codec: json}
  - parse: {regex: '(?<blk>blk_-?\\d+)', field: .Content, on_error: keep}
YAML
	cspipe run p.yaml | jq -c -S . > got
	jq -c -S '(.Content | capture("(?<blk>blk_-?[0-9]+)")) as $c | .Content = $c' \
		"$STRUCT/HDFS_2k.jsonl" > want
	[ "$(wc -l < want)" -eq 2000 ]
	cmp want got
}

@test "parse: bad options are reported by validate at their position" {
	pipeline p.yaml <<'YAML'
stages:
  - parse: {regex: '(\d+)'}
  - parse: {codec: csv}
  - parse: {regex: '(?<a>x', codec: json}
  - parse: {regex: '(?<a>x)', field: '.a[0]'}
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"p.yaml:2:20: regex: no named group"* ]]
	[[ "$output" == *"p.yaml:3:20: codec csv needs columns"* ]]
	[[ "$output" == *"p.yaml:4:12: parse takes regex or codec, not both"* ]]
	[[ "$output" == *"p.yaml:5:38: field: '.a[0]' is not a member path"* ]]
}
