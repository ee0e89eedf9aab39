#!/bin/sh
# SPDX-License-Identifier: MIT
# ninja fuzz: run each libFuzzer target for FUZZ_SECONDS (default 60) on its
# corpus.  The committed seeds (test/fuzz/corpus/NAME) stay small; what a
# run finds is kept between runs in FUZZ_CORPUS (default: the build
# folder's fuzz/corpus, which CI may cache), so each run starts where the
# last one stopped.  A crash, an ASan report or a UBSan report stops the
# target and leaves its input in the build folder to be turned into a
# regression test.  Prints `N passed, N failed`.
dir=$1
secs=${FUZZ_SECONDS:-60}
keep=${FUZZ_CORPUS:-$dir/corpus}
pass=0
fail=0
# Whatever the caller set: any report ends the target with an error.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}halt_on_error=1"
for f in "$dir"/fuzz_*; do
	[ -x "$f" ] || continue
	case $f in *.o|*.log) continue ;; esac
	name=$(basename "$f")
	seeds=test/fuzz/corpus/${name#fuzz_}
	work=$keep/${name#fuzz_}
	mkdir -p "$work"
	[ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$dir/$name-" "$work" >"$dir/$name.log" 2>&1; then
		pass=$((pass + 1))
		echo "ok   fuzz: $name ($secs s, $(ls "$work" | wc -l) inputs kept)"
	else
		fail=$((fail + 1))
		echo "FAIL fuzz: $name"
		tail -n 40 "$dir/$name.log"
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
