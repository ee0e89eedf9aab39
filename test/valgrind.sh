#!/bin/sh
# SPDX-License-Identifier: MIT
# A few whole runs under valgrind's leak checker: what the sanitizers see
# in pieces, valgrind sees end to end in the ordinary build.
# Prints `N passed, N failed`.
bin=${1:-./cspipe}
logs=${LOGHUB:-../shared/data/loghub}
tmp=$(mktemp -d /tmp/cspipe-vg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
# vg NAME STATUS EXPECT COMMAND...: COMMAND under valgrind exits STATUS,
# with no leak and no error, and its standard output is the file EXPECT
# (or, when EXPECT is -, anything: the caller checks it).
vg() {
	name=$1 want=$2 expect=$3
	shift 3
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		"$@" >"$tmp/out" 2>"$tmp/err"
	st=$?
	why=
	if [ "$st" -eq 99 ]; then
		why="valgrind found errors"
	elif [ "$st" -ne "$want" ]; then
		why="exit $st, expected $want"
	elif [ "$expect" != - ] && ! cmp -s "$expect" "$tmp/out"; then
		why="its output differs from $expect"
	fi
	if [ -z "$why" ]; then
		pass=$((pass + 1))
		echo "ok   valgrind: $name"
	else
		fail=$((fail + 1))
		echo "FAIL valgrind: $name: $why"
		cat "$tmp/err"
	fi
}
if ! command -v valgrind >/dev/null; then
	echo "valgrind is not installed (./configure.py --install-deps)"
	echo "0 passed, 1 failed"
	exit 1
fi
set -- "$logs"/*_2k.log
if [ ! -f "$1" ]; then
	echo "no logs in $logs (set LOGHUB)"
	echo "0 passed, 1 failed"
	exit 1
fi
cat "$@" > "$tmp/all.log"
awk 1 "$tmp/all.log" > "$tmp/want.all"
grep -aiE 'error|fail' "$tmp/all.log" | sed -E 's/[0-9]+/N/g' > "$tmp/want.filter"
vg "filter and map to stdout" 0 "$tmp/want.filter" "$bin" run -e \
	'{stages: [{filter: "(?i)error|fail"}, {map: {replace: "\\d+", with: "N"}}]}' "$tmp/all.log"
vg "compress with workers to a file" 0 /dev/null "$bin" run -o "$tmp/all.gz" -e \
	'{stages: [{compress: gzip, workers: 3}]}' "$tmp/all.log"
if ! gzip -dc "$tmp/all.gz" | cmp -s - "$tmp/want.all"; then
	fail=$((fail + 1))
	echo "FAIL valgrind: compress with workers to a file: all.gz is not the input"
fi
grep -ai 'error' "$tmp/want.all" > "$tmp/want.err"
vg "gzip input read and decompressed (igzip)" 0 "$tmp/want.err" "$bin" run -e \
	'{stages: [{filter: "(?i)error"}]}' "$tmp/all.gz"
cat "$tmp/all.gz" "$tmp/all.gz" > "$tmp/two.gz"
cat "$tmp/want.all" "$tmp/want.all" > "$tmp/want.two"
vg "decompress stage over two members" 0 "$tmp/want.two" "$bin" run -e \
	'{stages: [{stdin: {format: chunk}}, {decompress: gzip}]}' < "$tmp/two.gz"
head -n 5 "$tmp/all.log" > "$tmp/want.head"
vg "head stops the source early" 0 "$tmp/want.head" "$bin" run -e '{stages: [{head: 5}]}' "$tmp/all.log"
vg "bad pipeline file" 2 /dev/null "$bin" run -e '{stages: [{filter: "("}]}'
vg "route, merge and stats" 0 - "$bin" run --stats=json -e '{stages: [
	{files: ['"$tmp"'/all.log]},
	{name: r, route: {cases: {err: "(?i)error"}, default: rest}},
	{name: a, from: r.err, map: {case: upper}},
	{name: b, from: r.rest, head: 100},
	{from: [a, b], merge: concat}]}'
n=$(wc -l < "$tmp/out")
want=$(( $(grep -aic error "$tmp/all.log") + 100 ))
if [ "$n" -ne "$want" ]; then
	fail=$((fail + 1))
	echo "FAIL valgrind: route, merge and stats: $n records, expected $want"
fi
structured=${LOGHUB_STRUCTURED:-$logs/../loghub-structured}
# The structured runs are checked against the same run outside valgrind,
# which the bats suite checks against jq and mlr.
recs='{stages: [
	{files: {paths: ['"$structured"'/Hadoop_2k.jsonl], codec: json}},
	{filter: {where: ".Level != \"INFO\" || .Content =~ \"(?i)fail\""}, workers: 2},
	{map: [{set: {.where: "$.Component/$.Process"}}, {delete: [.EventTemplate]},
	       {rename: {.Content: .msg}}, {replace: "\\d+", with: N, field: .msg}]},
	{parse: {regex: "(?<first>\\S+)", field: .msg, on_error: keep}},
	{stdout: {codec: csv, columns: [.LineId, .Level, .where, .msg.first]}}]}'
"$bin" run -e "$recs" > "$tmp/want.recs"
if [ "$(head -n 1 "$tmp/want.recs")" != "LineId,Level,where,msg.first" ] ||
	[ "$(wc -l < "$tmp/want.recs")" -lt 10 ]; then
	fail=$((fail + 1))
	echo "FAIL valgrind: structured records: the plain run wrote no CSV table"
fi
vg "structured records: codecs, where, field edits, parse" 0 "$tmp/want.recs" "$bin" run -e "$recs"
csv2lf='{stages: [
	{files: {paths: ['"$structured"'/Mac_2k.log_structured.csv], codec: csv}},
	{stdout: logfmt}]}'
"$bin" run -e "$csv2lf" > "$tmp/want.lf"
if [ "$(wc -l < "$tmp/want.lf")" -ne 2000 ]; then
	fail=$((fail + 1))
	echo "FAIL valgrind: structured records: CSV in, logfmt out: not 2000 records"
fi
vg "structured records: CSV in, logfmt out" 0 "$tmp/want.lf" "$bin" run -e "$csv2lf"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
