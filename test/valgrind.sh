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
vg "gzip input read and decompressed (igzip)" "$bin" run -e \
	'{stages: [{filter: "(?i)error"}]}' "$tmp/all.gz"
cat "$tmp/all.gz" "$tmp/all.gz" > "$tmp/two.gz"
vg "decompress stage over two members" "$bin" run -e \
	'{stages: [{stdin: {format: chunk}}, {decompress: gzip}]}' < "$tmp/two.gz"
vg "head stops the source early" "$bin" run -e '{stages: [{head: 5}]}' "$tmp/all.log"
vg "bad pipeline file" "$bin" run -e '{stages: [{filter: "("}]}'
vg "route, merge and stats" "$bin" run --stats=json -e '{stages: [
	{files: ['"$tmp"'/all.log]},
	{name: r, route: {cases: {err: "(?i)error"}, default: rest}},
	{name: a, from: r.err, map: {case: upper}},
	{name: b, from: r.rest, head: 100},
	{from: [a, b], merge: concat}]}'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
