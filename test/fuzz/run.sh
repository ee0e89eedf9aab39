#!/bin/sh
# SPDX-License-Identifier: MIT
# ninja fuzz: run each libFuzzer target for FUZZ_SECONDS (default 60) on its
# seed corpus.  New inputs go to a scratch copy, so the committed corpus
# stays small; a crash leaves its input in the build folder to be turned
# into a regression test.  Prints `N passed, N failed`.
dir=$1
secs=${FUZZ_SECONDS:-60}
pass=0
fail=0
for f in "$dir"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus=test/fuzz/corpus/${name#fuzz_}
	work=$(mktemp -d /tmp/cspipe-fuzz.XXXXXX)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$dir/$name-" "$work" >"$dir/$name.log" 2>&1; then
		pass=$((pass + 1))
		echo "ok   fuzz: $name ($secs s)"
	else
		fail=$((fail + 1))
		echo "FAIL fuzz: $name"
		tail -n 40 "$dir/$name.log"
	fi
	rm -rf "$work"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
