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
vg() {
	name=$1
	shift
	if valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		"$@" >"$tmp/out" 2>"$tmp/err"; [ $? -ne 99 ]; then
		pass=$((pass + 1))
		echo "ok   valgrind: $name"
	else
		fail=$((fail + 1))
		echo "FAIL valgrind: $name"
		cat "$tmp/err"
	fi
}
if ! command -v valgrind >/dev/null; then
	echo "valgrind is not installed (./configure.py --install-deps)"
	echo "0 passed, 1 failed"
	exit 1
fi
cat "$logs"/*_2k.log > "$tmp/all.log"
vg "filter and map to stdout" "$bin" run -e \
	'{stages: [{filter: "(?i)error|fail"}, {map: {replace: "\\d+", with: "N"}}]}' "$tmp/all.log"
vg "compress with workers to a file" "$bin" run -o "$tmp/all.gz" -e \
	'{stages: [{compress: gzip, workers: 3}]}' "$tmp/all.log"
vg "head stops the source early" "$bin" run -e '{stages: [{head: 5}]}' "$tmp/all.log"
vg "bad pipeline file" "$bin" run -e '{stages: [{filter: "("}]}'
vg "route, merge and stats" "$bin" run --stats=json -e '{stages: [
	{files: ['"$tmp"'/all.log]},
	{name: r, route: {cases: {err: "(?i)error"}, default: rest}},
	{name: a, from: r.err, map: {case: upper}},
	{name: b, from: r.rest, head: 100},
	{from: [a, b], merge: concat}]}'
structured=${LOGHUB_STRUCTURED:-$logs/../loghub-structured}
vg "structured records: codecs, where, field edits, parse" "$bin" run -e '{stages: [
	{files: {paths: ['"$structured"'/Hadoop_2k.jsonl], codec: json}},
	{filter: {where: ".Level != \"INFO\" || .Content =~ \"(?i)fail\""}, workers: 2},
	{map: [{set: {.where: "$.Component/$.Process"}}, {delete: [.EventTemplate]},
	       {rename: {.Content: .msg}}, {replace: "\\d+", with: N, field: .msg}]},
	{parse: {regex: "(?<first>\\S+)", field: .msg, on_error: keep}},
	{stdout: {codec: csv, columns: [.LineId, .Level, .where, .msg.first]}}]}'
vg "structured records: CSV in, logfmt out" "$bin" run -e '{stages: [
	{files: {paths: ['"$structured"'/Mac_2k.log_structured.csv], codec: csv}},
	{stdout: logfmt}]}'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
