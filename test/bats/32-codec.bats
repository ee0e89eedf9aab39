#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Codecs on sources and sinks (JSON Lines, CSV), checked against python3's
# json and csv modules and jq on the real structured Loghub files,
# comparing values, not formatting.

load helpers
bats_require_minimum_version 1.5.0

# values MODE SRC OUT: the records of OUT are those of SRC, as values.
values() {
	python3 - "$@" <<'PY'
import csv, json, sys
mode, src, out = sys.argv[1:4]
def text(v):
    return '' if v is None else v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))
def jsonl(p):
    return [json.loads(l) for l in open(p, encoding='utf-8', errors='surrogateescape') if l.strip()]
def csvrows(p):
    with open(p, newline='', encoding='utf-8', errors='surrogateescape') as f:
        return [dict(r) for r in csv.DictReader(f)]
if mode == 'csv2json':
    exp, got = csvrows(src), jsonl(out)
elif mode == 'json2csv':
    exp = [{k: text(v) for k, v in r.items()} for r in jsonl(src)]
    got = csvrows(out)
else:
    exp, got = jsonl(src), jsonl(out)
if exp != got:
    for i, (a, b) in enumerate(zip(exp, got)):
        if a != b:
            print('record', i + 1, 'expected', a, 'got', b)
            break
    print(src, len(exp), 'records expected,', len(got), 'got')
    sys.exit(1)
PY
}

# decode FILE OPTIONS [ARG...]: cspipe run [ARG...] on a pipeline of one
# files stage reading FILE with OPTIONS ('codec: csv, on_error: drop'),
# the records going to standard output.
decode() {
	local f=$1 o=$2
	shift 2
	cspipe run "$@" -e "{stages: [{files: {paths: ['$f'], $o}}]}"
}

# decode_fails FILE OPTIONS MESSAGE: decode FILE with OPTIONS exits 1 with
# an error holding MESSAGE.
decode_fails() {
	run decode "$1" "$2"
	[ "$status" -eq 1 ] || { echo "exit $status, not 1: $output"; return 1; }
	[[ $output == *"$3"* ]] || { echo "no '$3' in: $output"; return 1; }
}

@test "codec csv reads every structured Loghub file as python3's csv module does" {
	n=0
	for f in "$STRUCT"/*_2k.log_structured.csv; do
		pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$f'], codec: csv}
YAML
		cspipe run p.yaml > out.jsonl
		values csv2json "$f" out.jsonl
		n=$((n + 1))
	done
	[ "$n" -eq 16 ]
}

@test "codec json then codec csv writes the values of every JSON Lines file" {
	for f in "$STRUCT"/*_2k.jsonl; do
		pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$f'], codec: json}
  - stdout: {codec: csv}
YAML
		cspipe run p.yaml > out.csv
		values json2csv "$f" out.csv
	done
}

@test "sink codec json writes compact JSON, equal to jq -c" {
	f="$STRUCT/Apache_2k.jsonl"
	cspipe run <(printf 'stages:\n  - files: {paths: [%s], codec: json}\n  - stdout: json\n' "$f") > out
	# Apache's file has spaces after ',' and ':'; the output has none.
	grep -q '", "' "$f"
	run grep -c '", "' out
	[ "$output" = 0 ]
	jq -c -S . "$f" > want
	jq -c -S . out > got
	cmp want got
}

@test "codec json: blank lines skipped, CRLF accepted, escapes and nesting kept" {
	printf '{"a":"x\\u00e9\\ud83d\\ude00","n":{"b":[1,2,{"c":null}]}}\r\n\n   \n{"k":"q\\"uote,comma"}\n' > in
	cspipe run <(printf 'stages:\n  - stdin: {codec: json}\n') < in > out
	[ "$(wc -l < out)" -eq 2 ]
	run grep -c $'\r' out
	[ "$output" = 0 ]
	jq -c -S . in > want
	jq -c -S . out > got
	cmp want got
}

@test "codec json: an invalid record is an error naming the file, record and line" {
	printf '{"a":1}\n\n{"a":2,}\n{"a":3}\n' > bad.jsonl
	pipeline p.yaml <<'YAML'
stages:
  - files: {paths: [bad.jsonl], codec: json}
  - file: {path: out}
YAML
	run cspipe run p.yaml
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.jsonl: record 2 (line 3): invalid JSON"* ]]
	[ ! -e out ]
}

@test "codec json: numbers beyond 64 bits or the double range, and -0, as jq reads them" {
	printf '%s\n' '{"id":123456789012345678901234567890,"n":1}' \
		'{"id":-98765432109876543210,"n":2,"s":"1e400 in a string"}' \
		'{"id":1e400,"n":3,"v":[-1e999,18446744073709551616]}' \
		'{"id":42,"n":4}' > big.jsonl
	pipeline p.yaml <<'YAML'
stages:
  - files: {paths: [big.jsonl], codec: json}
  - filter: {where: '.id > 1e20 || .id < -1e19'}
  - map: [{set: {.seen: true}}]
  - stdout: {codec: json}
YAML
	cspipe run p.yaml > out
	jq -c -S 'select(.id > 1e20 or .id < -1e19) | .seen = true' big.jsonl > want
	jq -c -S . out > got
	[ "$(wc -l < got)" -eq 3 ]
	cmp want got
	# Minus zero keeps its sign when a record is written again, as in jq.
	printf '{"a":-0.0,"b":[0.0,-0e5]}\n' > zero.jsonl
	cspipe run -e '{stages: [{files: {paths: [zero.jsonl], codec: json}}, {map: [{set: {.c: 1}}]}, {stdout: json}]}' > out
	jq -c -S . out > got
	jq -c -S '.c = 1' zero.jsonl > want
	cmp want got
	# A malformed number is still refused.
	printf '{"id":01}\n' > bad.jsonl
	run cspipe run -e '{stages: [{files: {paths: [bad.jsonl], codec: json}}]}'
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.jsonl: record 1 (line 1): invalid JSON"* ]]
}

@test "codec json: on_error drop counts the invalid records, keep passes them as text" {
	printf '{"a":1}\nnot json\n{"a":3}\n[1,\n' > bad.jsonl
	decode bad.jsonl 'codec: json, on_error: drop' --stats=json > out 2> stats
	printf '{"a":1}\n{"a":3}\n' | cmp - out
	python3 -c 'import json,sys; s=json.load(open("stats")); assert s["records_dropped"] == 2, s; assert s["records_read"] == 4, s'
	accounting_adds_up stats
	decode bad.jsonl 'codec: json, on_error: keep' > out
	cmp bad.jsonl out
}

@test "codec csv: quoted commas, doubled quotes, newlines inside quotes, CRLF" {
	printf 'a,b,c\r\n1,"x, y","say ""hi"""\r\n2,"two\nlines",\r\n"3",,"end"\r\n' > in.csv
	decode in.csv 'codec: csv' > out
	python3 -c '
import csv, json
exp = list(csv.DictReader(open("in.csv", newline="")))
got = [json.loads(l) for l in open("out")]
assert exp == got, (exp, got)
assert got[1]["b"] == "two\nlines"'
	# And back: the CSV written reads as the same rows.
	cspipe run <(printf 'stages:\n  - files: {paths: [in.csv], codec: csv}\n  - stdout: csv\n') > back.csv
	python3 -c '
import csv
a = list(csv.DictReader(open("in.csv", newline="")))
b = list(csv.DictReader(open("back.csv", newline="")))
assert a == b, (a, b)'
	# Quoting only where needed.
	grep -qx '3,,end' back.csv
}

@test "codec csv: a row with the wrong number of fields, an unclosed quote" {
	printf 'a,b\n1,2\n1,2,3\n' > bad.csv
	decode_fails bad.csv 'codec: csv' "bad.csv: record 2 (line 3): invalid CSV: 3 fields, the header has 2"
	printf 'a,b\n1,"open\n2,3\n' > open.csv
	decode_fails open.csv 'codec: csv' "open.csv: record 1 (line 2): invalid CSV: a quoted field is not closed"
	run decode bad.csv 'codec: csv, on_error: drop'
	[ "$status" -eq 0 ]
	[ "$output" = '{"a":"1","b":"2"}' ]
}

@test "codec csv with columns: the first row is data; sink columns pick and order" {
	printf '1,x\n2,y\n' > in.csv
	cspipe run <(printf 'stages:\n  - files: {paths: [in.csv], codec: csv, columns: [.id, .name]}\n  - stdout: {codec: csv, columns: [.name, .id, .missing]}\n') > out
	printf 'name,id,missing\nx,1,\ny,2,\n' | cmp - out
}

@test "sink csv columns with nested paths match jq @csv" {
	f="$STRUCT/Linux_2k.jsonl"
	cspipe run <(printf 'stages:\n  - files: {paths: [%s], codec: json}\n  - stdout: {codec: csv, columns: [.LineId, .Component, .Content]}\n' "$f") > out
	python3 - "$f" <<'PY'
import csv, json, sys
exp = [[str(r["LineId"]), r["Component"], r["Content"]] for r in map(json.loads, open(sys.argv[1]))]
got = list(csv.reader(open("out", newline="")))
assert got[0] == ["LineId", "Component", "Content"], got[0]
assert got[1:] == exp
PY
}

@test "sink csv without columns: a later record with a new key is an error, after the rows before it" {
	printf '{"a":1}\n{"a":2}\n{"a":3,"b":3}\n{"a":4}\n' > in.jsonl
	run --separate-stderr cspipe run <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json}\n  - stdout: csv\n')
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"record 3 of in.jsonl has fields the CSV header"* ]]
	[ "$output" = "$(printf 'a\n1\n2')" ]
}

@test "sink logfmt: a record that is not an object stops the run after the ones before it" {
	printf '{"a":1}\n{"a":"x y"}\n[3]\n{"a":4}\n' > in.jsonl
	run --separate-stderr cspipe run <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json}\n  - stdout: logfmt\n')
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"record 3 of in.jsonl is not a JSON object"* ]]
	[ "$output" = "$(printf 'a=1\na="x y"')" ]
}

@test "a UTF-8 byte order mark opening a CSV, JSON Lines or logfmt input is skipped, as mlr and jq do" {
	printf '\xef\xbb\xbfname,age\r\n"Smith, J",42\r\nDoe,7\r\n' > bom.csv
	cspipe run -e '{stages: [{files: {paths: [bom.csv, bom.csv], codec: csv}}, {filter: {where: ".age > 10"}}, {stdout: json}]}' > out
	mlr --icsv --ojsonl filter '$age > 10' bom.csv bom.csv | jq -c '.age |= tostring' > want
	jq -c . out > got
	cmp want got
	printf '\xef\xbb\xbf{"a":1}\n{"a":2}\n' > bom.jsonl
	cspipe run -e '{stages: [{files: {paths: [bom.jsonl], codec: json}}, {stdout: json}]}' > out
	jq -c . bom.jsonl > want
	cmp want out
	printf '\xef\xbb\xbfa=1\n' | cspipe run -e '{stages: [{stdin: {codec: logfmt}}]}' > out
	[ "$(cat out)" = '{"a":"1"}' ]
	# Text keeps every byte.
	printf '\xef\xbb\xbfa=1\n' > bom.txt
	cspipe run -e '{stages: [{files: [bom.txt]}]}' > out
	cmp bom.txt out
}

@test "codec and columns are checked by validate" {
	pipeline p.yaml <<'YAML'
stages:
  - files: {paths: [x], codec: yaml}
  - stdout: {codec: csv, columns: [.a, 'b']}
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"p.yaml:2:"*"codec"* ]]
	pipeline q.yaml <<'YAML'
stages:
  - files: {paths: [x], codec: json, format: nul}
YAML
	run cspipe validate q.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"codec json reads lines"* ]]
	pipeline r.yaml <<'YAML'
stages:
  - stdin: {}
  - stdout: {codec: csv, columns: [.a, 'b']}
YAML
	run cspipe validate r.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"r.yaml:3:"*"columns: item 2: bad path 'b': a path starts with '.'"* ]]
}

@test "codec logfmt: quoted values with escapes, bare keys, empty values, CRLF" {
	printf 'level=info msg="disk \\"sda\\" failed\\tnow" pid=42 debug path=/var/log empty= u="caf\\u00e9"\r\n\nts=2 msg=ok\n' > in.log
	decode in.log 'codec: logfmt' > out
	printf '%s\n' '{"level":"info","msg":"disk \"sda\" failed\tnow","pid":"42","debug":true,"path":"/var/log","empty":"","u":"café"}' '{"ts":"2","msg":"ok"}' |
		jq -c -S . > want
	jq -c -S . out > got
	cmp want got
}

@test "codec logfmt: a misplaced quote or '=' is an invalid record" {
	printf 'a=1\nb=x=y\nc="open\n' > bad.log
	decode_fails bad.log 'codec: logfmt' "bad.log: record 2 (line 2): invalid logfmt: a '=' inside an unquoted value"
	run decode bad.log 'codec: logfmt, on_error: keep'
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = 'b=x=y' ]
	[ "${lines[2]}" = 'c="open' ]
}

@test "codec logfmt round trip: every JSON Lines file, values as strings" {
	for f in "$STRUCT"/*_2k.jsonl; do
		cspipe run <(printf 'stages:\n  - files: {paths: [%s], codec: json}\n  - stdout: logfmt\n' "$f") > out.log
		decode out.log 'codec: logfmt' | jq -c -S . > got
		jq -c -S 'map_values(tostring)' "$f" > want
		cmp want got
	done
}

@test "invalid UTF-8 in a CSV field is carried into the JSON text, not replaced" {
	printf 'a,b\n1,caf\xe9 \xff\n' > in.csv
	decode in.csv 'codec: csv' > out
	printf '{"a":"1","b":"caf\xe9 \xff"}\n' | cmp - out
	# A sink writing JSON, and a where reading the field, carry it too.
	cspipe run <(printf 'stages:\n  - files: {paths: [in.csv], codec: csv}\n  - filter: {where: %s}\n  - stdout: json\n' "'.b =~ \"^caf\"'") > out
	printf '{"a":"1","b":"caf\xe9 \xff"}\n' | cmp - out
}

@test "an encoding sink counts each record written once (a CSV header is no record)" {
	f="$STRUCT/Hadoop_2k.jsonl"
	for c in csv json logfmt; do
		cspipe run --stats=json:stats.$c -e "{stages: [{files: {paths: ['$f'], codec: json}}, {stdout: {codec: $c}}]}" > out.$c
		python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["records_read"] == 2000 and s["records_written"] == 2000, (s["records_read"], s["records_written"])' stats.$c
		accounting_adds_up stats.$c
	done
	[ "$(wc -l < out.csv)" -eq 2001 ]
	[ "$(wc -l < out.logfmt)" -eq 2000 ]
}

@test "numbers past 64-bit integers are written as the shortest text that reads back the same" {
	printf '{"a":7.77e79,"c":1e19,"e":-1e300,"f":0.1,"g":1.5e-7}\n' > n.jsonl
	run cspipe run -e "{stages: [{files: {paths: [n.jsonl], codec: json}}, {stdout: {codec: csv}}]}"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'a,c,e,f,g\n7.77e+79,10000000000000000000,-1e+300,0.1,1.5e-07')" ]
	run cspipe run -e "{stages: [{files: {paths: [n.jsonl], codec: json}}, {map: {keep: [.a, .e]}}]}"
	[ "$status" -eq 0 ]
	[ "$output" = '{"a":7.77e+79,"e":-1e+300}' ]
	[ "$(echo "$output" | jq -c .)" = "$(jq -c '{a, e}' n.jsonl)" ]
}

# A file of every JSON Lines sample (32,000 records, many batches) with,
# at line LINE, the text BAD; and around it blank lines, a CRLF line and
# values with blanks around them.  Prints the record number of LINE.
json_with() {
	python3 - "$STRUCT" "$1" "$2" <<'PY'
import glob, os, sys
d, line, bad = sys.argv[1], int(sys.argv[2]), os.fsencode(sys.argv[3])
lines = []
for f in sorted(glob.glob(d + '/*_2k.jsonl')):
    lines += open(f, 'rb').read().splitlines()
extra = [b'', b'   ', lines[5] + b'\r', b'  ' + lines[6] + b' \t', b'\t', b'[1, 2]', b'3', b'"s"']
out = lines[:line - 1 - len(extra)] + extra + [bad] + lines[line - 1 - len(extra):]
open('in.jsonl', 'wb').write(b'\n'.join(out) + b'\n')
print(sum(1 for l in out[:line] if l.strip(b' \t\r')))
PY
}

@test "codec json: a bad record among many batches is named by its record and line" {
	for bad in '{"a":1} {"b":2}' '{"a":' '{"a":1}}' '"x" 1' '{"a":tru}' '1 2' '{"a":1},'; do
		for line in 12 9000 31990; do
			rec=$(json_with $line "$bad")
			run cspipe run <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json}\n')
			[ "$status" -eq 1 ]
			[[ "$output" == *"in.jsonl: record $rec (line $line): invalid JSON"* ]] || {
				echo "bad '$bad' at line $line: $output" | tail -c 300; false; }
		done
	done
	# A value cut short on the last line, with no newline after it.
	json_with 20 '{"a":1}' > /dev/null
	printf '{"a":[1,' >> in.jsonl
	run cspipe run <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json}\n')
	[ "$status" -eq 1 ]
	[[ "$output" == *"in.jsonl: record 32007 (line 32010): invalid JSON"* ]]
}

@test "codec json: every good record of many batches passes, as jq reads them" {
	json_with 16000 '{"b": [1, {"c": "\u00e9"}], "a" : -0.5e3}' > /dev/null
	cspipe run <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json}\n  - stdout: json\n') > out
	[ "$(wc -l < out)" -eq 32006 ]
	jq -c . in.jsonl > want
	jq -c . out | cmp want -
}

@test "codec json: on_error drop and keep with a bad record inside a batch" {
	json_with 5000 '{"a":1} {"b":2}' > /dev/null
	cspipe run --stats=json <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json, on_error: drop}\n') > out 2> stats
	python3 -c 'import json,sys; s=json.load(open("stats")); assert s["records_dropped"] == 1, s; assert s["records_read"] == 32006, s'
	accounting_adds_up stats
	grep -v '^{"a":1} {"b":2}$' in.jsonl | jq -c . > want
	jq -c . out | cmp want -
	cspipe run <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json, on_error: keep}\n') > out
	[ "$(wc -l < out)" -eq 32006 ]
	grep -qx '{"a":1} {"b":2}' out
}

@test "codec json: invalid UTF-8 inside a batch is carried, not refused" {
	json_with 300 $'{"a":"caf\xe9"}' > /dev/null
	cspipe run <(printf 'stages:\n  - files: {paths: [in.jsonl], codec: json}\n') > out
	[ "$(wc -l < out)" -eq 32006 ]
	grep -qx $'{"a":"caf\xe9"}' out
}

# Records that take the fast road (flat) and the same records made to
# take the general one (a member with an escape): a sink must write both
# alike.
flat_and_not() {
	printf '%s\n' '{"a":"x","b":12,"c":true}' '{ "b" : -7 , "a" : "q,\"" }' \
		'{"a":"dup","a":"second","b":null}' '{"b":123456789012345678,"a":false}' \
		'{"b":1234567890123456789,"a":"big"}' '{"b":-0,"a":"negzero"}' '{"b":1.5,"a":1e3}' \
		'{"a":"tab\there","b":0}' '{"a":"del\u007f","b":[1,2]}' '{"c":"only c"}' '{}' \
		'{"a":"comma, quote\" end","b":"line\nbreak"}' > flat.jsonl
	sed 's/^{/{"zz":"\\u0041",/; s/,}$/}/' flat.jsonl > slow.jsonl
}

@test "sink csv and json write flat records as they write any other" {
	flat_and_not
	for f in flat slow; do
		cspipe run <(printf 'stages:\n  - files: {paths: [%s.jsonl], codec: json}\n  - stdout: {codec: csv, columns: [.a, .b, .c]}\n' $f) > $f.csv
		cspipe run <(printf 'stages:\n  - files: {paths: [%s.jsonl], codec: json}\n  - stdout: json\n' $f) > $f.out
	done
	cmp flat.csv slow.csv
	jq -c 'del(.zz)' slow.out | cmp - <(jq -c . flat.out)
	jq -c . flat.jsonl | cmp - <(jq -c . flat.out)
	python3 - <<'PY'
import csv, json
rows = list(csv.reader(open("flat.csv", newline="")))
assert rows[0] == ["a", "b", "c"], rows[0]
def text(v):
    return '' if v is None else v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))
# python keeps the last of duplicate keys; cspipe the first, as simdjson.
exp = []
for line in open("flat.jsonl"):
    d = json.loads(line, object_pairs_hook=lambda ps: dict(reversed(ps)))
    exp.append([text(d.get(k)) for k in "abc"])
exp[6][1] = '1.5'; exp[6][0] = '1000'
assert rows[1:] == exp, (rows[1:], exp)
PY
}
