#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Awkward input: empty, no final newline, CRLF, bare CR, NUL, invalid UTF-8,
# huge records, catastrophic patterns, directories, missing and unreadable
# files, corrupt and truncated gzip, FIFOs.  Records pass byte for byte;
# errors name the stage, the input and the record or byte, and exit 1,
# after everything before the failing record was written.

bats_require_minimum_version 1.5.0
load helpers
load lib/reliability

# stat FIELD FILE: one field of the --stats=json object in FILE.
stat() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "$1" "$2"
}

# ---- catastrophic patterns ------------------------------------------------

# A line of 100k 'a' and a 'b': (a+)+$ backtracks exponentially on it.
catastrophic_input() {
	python3 -c "print('a' * 100000 + 'b'); print('aaa'); print('a' * 100000)" > aaa.txt
}

@test "a catastrophic pattern with on_error fail stops promptly naming the record" {
	catastrophic_input
	t0=$(now)
	run --separate-stderr cspipe run -e "{stages: [{filter: {pattern: '(a+)+\$'}}]}" aaa.txt
	within "$t0" $((10 * $(slowdown)))
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: filter: aaa.txt: record 1: match limit exceeded (match_limit 10000000, depth_limit 100000)" ]
	# No part of a record is written after the error.
	[ -z "$output" ]
}

@test "a catastrophic pattern with on_error drop drops the record and counts it" {
	catastrophic_input
	t0=$(now)
	cspipe run --stats=json -e "{stages: [{filter: {pattern: '(a+)+\$', on_error: drop}, workers: 2}]}" \
		aaa.txt > out 2> stats.json
	within "$t0" $((10 * $(slowdown)))
	sed -n 2,3p aaa.txt | cmp - out
	[ "$(stat records_read stats.json)" -eq 3 ]
	[ "$(stat records_dropped stats.json)" -eq 1 ]
	[ "$(stat records_written stats.json)" -eq 2 ]
	[ "$(stat outcome stats.json)" = ok ]
	accounting_adds_up stats.json
}

@test "a catastrophic pattern with on_error keep keeps the record" {
	catastrophic_input
	t0=$(now)
	cspipe run --stats=json -e "{stages: [{filter: {pattern: '(a+)+\$', on_error: keep}}]}" \
		aaa.txt > out 2> stats.json
	within "$t0" $((10 * $(slowdown)))
	cmp aaa.txt out
	[ "$(stat records_dropped stats.json)" -eq 0 ]
	[ "$(stat records_written stats.json)" -eq 3 ]
	accounting_adds_up stats.json
}

# ---- framing ----------------------------------------------------------------

@test "empty input gives no output and exit 0" {
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' < /dev/null
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	: > empty.log
	cspipe run -e '{stages: [filter: ""]}' empty.log > out
	[ ! -s out ]
	cspipe run -e '{stages: [filter: ""]}' -o out.log empty.log
	[ -f out.log ]
	[ ! -s out.log ]
}

@test "a last line without a newline gets one" {
	printf 'a\nb' | cspipe run -e '{stages: [filter: ""]}' > out
	printf 'a\nb\n' | cmp - out
	printf 'only' | cspipe run -e '{stages: [filter: ""]}' > out
	printf 'only\n' | cmp - out
}

@test "CRLF lines of every real log pass byte for byte" {
	for f in "$LOGHUB"/*_2k.log; do
		cspipe run -e '{stages: [filter: "", map: {prefix: ""}]}' "$f" > out
		with_final_newline "$f" | cmp - out || { echo "differs: $f"; false; }
	done
	# The carriage return is the record's last byte: \r$ matches it.
	cspipe run -e '{stages: [filter: "\\r$"]}' "$LOGHUB/Linux_2k.log" > out
	[ "$(wc -l < out)" -eq "$(grep -c $'\r$' "$LOGHUB/Linux_2k.log")" ]
}

@test "a bare CR is not a line end" {
	printf 'a\rb\rc\nd\r' | cspipe run --stats=json -e '{stages: [filter: "b"]}' > out 2> stats.json
	printf 'a\rb\rc\n' | cmp - out
	[ "$(stat records_read stats.json)" -eq 2 ]
	[ "$(stat records_written stats.json)" -eq 1 ]
}

@test "files without a final newline never join lines across files" {
	# 13 of the 16 logs lack a final newline.
	n=0
	for f in "$LOGHUB"/*_2k.log; do
		[ -n "$(tail -c 1 "$f")" ] && n=$((n + 1))
	done
	[ "$n" -eq 13 ]
	paths=$(printf '"%s",' "$LOGHUB"/*_2k.log)
	cspipe run --stats=json -e "{stages: [{files: [${paths%,}]}]}" > out 2> stats.json
	all_logs_nl=$(mktemp -p "$TMP")
	with_final_newline "$LOGHUB"/*_2k.log > "$all_logs_nl"
	cmp "$all_logs_nl" out
	[ "$(stat records_read stats.json)" -eq "$(wc -l < "$all_logs_nl")" ]
	# The same files as command-line inputs.
	cspipe run -e '{stages: [filter: ""]}' "$LOGHUB"/*_2k.log | cmp "$all_logs_nl" -
	# A record that starts a file is its own record.
	printf 'one' > a.log
	printf 'two\nthree' > b.log
	cspipe run -e '{stages: [filter: "^t"]}' a.log b.log a.log > out
	printf 'two\nthree\n' | cmp - out
}

@test "NUL bytes inside lines pass through and patterns match them" {
	printf 'a\0b\nc\0d\n\0\n' > nul.txt
	cspipe run -e '{stages: [filter: ""]}' nul.txt | cmp nul.txt -
	cspipe run -e '{stages: [filter: "c\\x00d"]}' nul.txt > out
	printf 'c\0d\n' | cmp - out
	cspipe run -e '{stages: [filter: "^\\x00$"]}' nul.txt > out
	printf '\0\n' | cmp - out
}

@test "invalid UTF-8 passes through and patterns match bytes" {
	printf 'a\xff\xfeb\nc\xc3\n\xe2\x82\n\xc3\xa9\n' > bad-utf8.txt
	cspipe run -e '{stages: [filter: ""]}' bad-utf8.txt | cmp bad-utf8.txt -
	cspipe run -e '{stages: [filter: "\\xff\\xfe"]}' bad-utf8.txt > out
	printf 'a\xff\xfeb\n' | cmp - out
	# A dot is one byte: a lone lead byte, or one of the two of an é.
	cspipe run -e '{stages: [filter: "^c.$"]}' bad-utf8.txt > out
	printf 'c\xc3\n' | cmp - out
	cspipe run -e '{stages: [filter: "^..$"]}' bad-utf8.txt > out
	printf 'c\xc3\n\xe2\x82\n\xc3\xa9\n' | cmp - out
	cspipe run -e '{stages: [map: {case: upper}]}' bad-utf8.txt > out
	printf 'A\xff\xfeB\nC\xc3\n\xe2\x82\n\xc3\xa9\n' | cmp - out
}

@test "gzip and plain files mixed never join lines across files" {
	printf 'one' | gzip -c > one.gz
	printf 'two\nthree' > two.log
	printf 'four' | gzip -c > four.gz
	cspipe run -e '{stages: [filter: ""]}' one.gz two.log four.gz one.gz > out
	printf 'one\ntwo\nthree\nfour\none\n' | cmp - out
	# Members of one multi-member file are one stream, as zcat reads it.
	cat one.gz four.gz > multi.gz
	cspipe run -e '{stages: [filter: ""]}' multi.gz > out
	printf 'onefour\n' | cmp - out
}

@test "NUL-framed records keep NUL terminators, the last one added" {
	printf 'a\nb\0c\0d' > recs
	cspipe run -e '{stages: [{stdin: {format: nul}}, {filter: ""}]}' < recs > out
	printf 'a\nb\0c\0d\0' | cmp - out
	cspipe run -e '{stages: [{stdin: {format: nul}}, {filter: ""}]}' recs recs > out
	printf 'a\nb\0c\0d\0a\nb\0c\0d\0' | cmp - out
}

@test "regression: the format of the stdin shorthand is kept when INPUT files replace it" {
	# `stdin: nul` framed standard input at NULs but command-line files at
	# newlines: the shorthand was lost when files replaced the source.
	printf 'a\nb\0c' > recs
	cspipe run -e '{stages: [{stdin: nul}, {filter: ""}]}' < recs > out
	printf 'a\nb\0c\0' | cmp - out
	cspipe run -e '{stages: [{stdin: nul}, {filter: ""}]}' recs > out
	printf 'a\nb\0c\0' | cmp - out
}

# ---- huge records -----------------------------------------------------------

# huge.txt: a short line, a 200 MiB line, a short line.
huge_input() {
	python3 -c "
import sys
with open('huge.txt', 'wb') as f:
    f.write(b'x\n')
    block = b'a' * (1 << 20)
    for _ in range(200):
        f.write(block)
    f.write(b'\nlast\n')"
}

@test "a 200 MiB line over the default max_record is an error in bounded memory" {
	huge_input
	run --separate-stderr maxrss rss "$CSPIPE" run -e '{stages: [filter: a]}' huge.txt
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: huge.txt:2: record longer than max_record (64MiB)" ]
	# No torn record: nothing of the long line is written.
	[ "${#output}" -lt 100 ]
	echo "peak RSS $(cat rss) KiB"
	[ "$(cat rss)" -lt $((300 * 1024 * $(slowdown))) ]
	# The same through standard input, and to a file that is then not made.
	run --separate-stderr cspipe run -o out.txt -e '{stages: [filter: a]}' < huge.txt
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdin:2: record longer than max_record (64MiB)" ]
	[ ! -e out.txt ]
	no_temp_files .
}

@test "a 200 MiB line streams with max_record: 256MiB" {
	huge_input
	cspipe run -e '{stages: [{files: {paths: [huge.txt], max_record: 256MiB}}, {filter: ^a}]}' > out
	[ "$(wc -c < out)" -eq $((200 * 1024 * 1024 + 1)) ]
	cmp out <(sed -n 2p huge.txt)
	rm -f out
	# A command-line input keeps the max_record of the source it replaces.
	cspipe run -e '{stages: [{stdin: {max_record: 256MiB}}, {filter: ""}]}' huge.txt |
		cmp huge.txt -
}

# ---- inputs that cannot be read --------------------------------------------

@test "a directory as input is an error naming it, nothing written" {
	mkdir d
	run --separate-stderr cspipe run -e '{stages: [filter: a]}' d
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: d: is a directory" ]
	[ -z "$output" ]
	echo old > out.txt
	run --separate-stderr cspipe run -e '{stages: [{files: [d]}, {file: out.txt}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: d: is a directory" ]
	[ "$(cat out.txt)" = old ]
	no_temp_files .
}

@test "a missing file is an error naming it, before anything is written" {
	printf 'keep me\n' > first.log
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' first.log nosuch.log
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: nosuch.log: No such file or directory" ]
	[ -z "$output" ]
	run --separate-stderr cspipe run -e '{stages: [{files: [first.log, "nosuch*.log"]}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: nosuch*.log: no file matches this pattern" ]
	[ -z "$output" ]
	run --separate-stderr cspipe run -o out.txt -e '{stages: [filter: ""]}' first.log nosuch.log
	[ "$status" -eq 1 ]
	[ ! -e out.txt ]
	no_temp_files .
}

@test "an unreadable file is an error naming it (without root's override)" {
	echo secret > unreadable.log
	chmod 000 unreadable.log
	echo public > readable.log
	chmod 644 readable.log
	run --separate-stderr unprivileged "$CSPIPE" run -e '{stages: [filter: ""]}' readable.log unreadable.log
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: unreadable.log: Permission denied" ]
	[ -z "$output" ]
}

@test "a closed stdin is an error, not a read of another descriptor" {
	# With descriptor 0 closed, the next descriptor cspipe opens would be 0.
	t0=$(now)
	run --separate-stderr bash -c 'exec timeout -k 5 "$1" "$0" run -e "{stages: [filter: \"\"]}" <&-' \
		"$CSPIPE" $((5 * $(slowdown) + 2))
	within "$t0" $((5 * $(slowdown)))
	echo "status $status: $stderr"
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdin: read error: Bad file descriptor" ]
	[ -z "$output" ]
}

# ---- gzip ---------------------------------------------------------------------

# l.gz: a log gzipped without a name, so the deflate data starts at byte 10.
gz_input() {
	gzip -c < "$LOGHUB/Linux_2k.log" > l.gz
}

@test "gzip input is decompressed by files and stdin alike" {
	gz_input
	cspipe run -e '{stages: [filter: ""]}' l.gz | cmp <(with_final_newline "$LOGHUB/Linux_2k.log") -
	cspipe run -e '{stages: [filter: ""]}' < l.gz | cmp <(with_final_newline "$LOGHUB/Linux_2k.log") -
	# gunzip: false (or no, off) passes the bytes as they are.
	cspipe run -e '{stages: [{stdin: {gunzip: false}}]}' < l.gz > as-is
	cmp <(head -c "$(wc -c < l.gz)" as-is) l.gz
	for no in no off; do
		cspipe run -e "{stages: [{stdin: {gunzip: $no}}]}" < l.gz | cmp - as-is
	done
}

@test "corrupt gzip input is an error with the byte offset" {
	gz_input
	python3 -c "
d = bytearray(open('l.gz', 'rb').read())
d[10] = 0xff   # block type 3 does not exist
open('corrupt.gz', 'wb').write(d)"
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' corrupt.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: corrupt.gz: corrupt gzip data at byte 11: invalid block type" ]
	[ -z "$output" ]
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' < corrupt.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdin: corrupt gzip data at byte 11: invalid block type" ]
	echo old > out.txt
	run --separate-stderr cspipe run -o out.txt -e '{stages: [filter: ""]}' corrupt.gz
	[ "$status" -eq 1 ]
	[ "$(cat out.txt)" = old ]
	no_temp_files .
}

@test "a gzip file with a bad checksum is an error" {
	gz_input
	size=$(wc -c < l.gz)
	python3 -c "
import sys
d = bytearray(open('l.gz', 'rb').read())
d[-8] ^= 0xff   # the CRC-32
open('badcrc.gz', 'wb').write(d)"
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' badcrc.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: badcrc.gz: corrupt gzip data at byte $((size - 4)): incorrect data check" ]
}

@test "truncated gzip input is an error with the byte offset" {
	gz_input
	head -c 10000 l.gz > trunc.gz
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' trunc.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: trunc.gz: truncated gzip data (the stream ends at byte 10000)" ]
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' < trunc.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: stdin: truncated gzip data (the stream ends at byte 10000)" ]
	printf '\x1f\x8b' > magic.gz
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' magic.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: magic.gz: truncated gzip data (the stream ends at byte 2)" ]
}

@test "trailing garbage after gzip data is an error with the byte offset" {
	gz_input
	size=$(wc -c < l.gz)
	{ cat l.gz; echo garbage; } > trail.gz
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' trail.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: trail.gz: trailing garbage after gzip data at byte $size" ]
}

@test "zero bytes after gzip data are padding, ignored as gzip -d does" {
	gz_input
	size=$(wc -c < l.gz)
	{ cat l.gz; head -c 512 /dev/zero; } > padded.gz
	gzip -dc padded.gz | with_final_newline /dev/stdin > want
	cspipe run -e '{stages: [filter: ""]}' padded.gz | cmp - want
	cspipe run -e '{stages: [stdin: {}]}' < padded.gz | cmp - want
	# The decompress stage reads the file's bytes as lines: the newline
	# the source adds after the padding is not garbage either.
	cspipe run -e '{stages: [{files: padded.gz}, {decompress: gzip}]}' | cmp - want
	# Only zero bytes: anything after them is garbage, named where it is.
	{ cat padded.gz; echo x; } > bad.gz
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' bad.gz
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: bad.gz: trailing garbage after gzip data at byte $((size + 512))" ]
	run --separate-stderr cspipe run -e '{stages: [{files: bad.gz}, {decompress: gzip}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: decompress: trailing garbage after gzip data in bad.gz at byte $((size + 512))" ]
}

# ---- everything before an error ---------------------------------------------

# The gzip of every log cut short (trunc.gz), and in `before` what zcat
# writes of it up to its last complete line: what a run must write before
# it fails, as zcat and grep do.
truncated_logs() {
	all_logs | gzip -c > all.gz
	head -c $(($(wc -c < all.gz) * 6 / 10)) all.gz > trunc.gz
	gzip -dc trunc.gz > zcat.out 2> /dev/null || true
	head -n "$(wc -l < zcat.out)" zcat.out > before
	[ "$(wc -l < before)" -gt 10000 ]
}

# each_run_writes WANT INPUT ARGS...: five runs of `cspipe run ARGS`, fed
# INPUT on standard input, each exit 1 and write WANT exactly, which
# --stats counts as written, its accounting adding up.
each_run_writes() {
	local want=$1 input=$2 i rc
	shift 2
	for i in 1 2 3 4 5; do
		rc=0
		cspipe run --stats=json:stats.json "$@" < "$input" > out 2> err || rc=$?
		[ "$rc" -eq 1 ] || { echo "run $i: exit $rc"; cat err; return 1; }
		cmp "$want" out || { echo "run $i: $(wc -l < out) lines, want $(wc -l < "$want")"; return 1; }
		[ "$(stat records_written stats.json)" -eq "$(wc -l < "$want")" ]
		accounting_adds_up stats.json
	done
}

@test "a truncated .gz: every complete record before the cut is written, run after run" {
	truncated_logs
	grep x before | tr a-z A-Z > want
	each_run_writes want /dev/null \
		-e '{stages: [{filter: x, workers: 2}, {map: [case: upper], workers: 2}]}' trunc.gz
	[ "$(cat err)" = "cspipe: files: trunc.gz: truncated gzip data (the stream ends at byte $(wc -c < trunc.gz))" ]
	tr a-z A-Z < before > want
	each_run_writes want trunc.gz -e '{stages: [{stdin: {format: chunk}}, {decompress: gzip},
		{filter: "", workers: 2}, {map: [case: upper], workers: 3}]}'
	[ "$(cat err)" = "cspipe: decompress: truncated gzip data in stdin: stream ends at byte $(wc -c < trunc.gz)" ]
	# Through a compressing stage too: a valid stream of what came before.
	rc=0
	cspipe run -e '{stages: [{filter: "", workers: 2}, {compress: gzip, workers: 2}]}' \
		trunc.gz > out.gz 2> err || rc=$?
	[ "$rc" -eq 1 ]
	gzip -dc out.gz | cmp - before
}

@test "invalid JSON on line N with on_error fail: records 1 to N-1 are written, run after run" {
	cat "$STRUCT"/*.jsonl > all.jsonl
	awk 'NR == 20000 {print "{\"broken\": "} {print}' all.jsonl > bad.jsonl
	head -n 19999 all.jsonl > want
	each_run_writes want /dev/null -e '{stages: [{files: {paths: [bad.jsonl], codec: json}},
		{filter: {where: "exists(.LineId)"}, workers: 2}]}'
	[ "$(head -c 60 err)" = "cspipe: files: bad.jsonl: record 20000 (line 20000): invalid" ]
	# In a parse stage with several workers: what the same run writes of
	# the lines before the bad one.
	pipe='{stages: [{parse: {codec: json}, workers: 3}, {map: [{set: {.x: "1"}}], workers: 2}]}'
	cspipe run -e "$pipe" < want > want.parsed
	each_run_writes want.parsed bad.jsonl -e "$pipe"
	[ "$(head -c 46 err)" = "cspipe: parse: stdin: record 20000: The JSON d" ]
}

# exec fails a batch as a whole: the message names its records A-B.
exec_failing_on_line_20000() {
	all_logs | awk 'NR == 20000 {print "BAD"; next} {print}' > bad.log
	pipe='{stages: [{filter: "", workers: 2},
		{exec: {command: [awk, "{print} /^BAD$/ {exit 3}"]}, workers: 3, ordered: '$1'},
		{map: [case: upper], workers: 2}]}'
}

# The first record of the batch an exec stage failed on, from its message.
failed_batch_start() {
	sed -n 's/.* exited with status 3 on records \([0-9]*\)-\([0-9]*\) of bad.log$/\1 \2/p' err
}

@test "a failing exec command: the output of every batch before its batch is written, run after run" {
	exec_failing_on_line_20000 true
	rc=0
	cspipe run -e "$pipe" bad.log > out 2> err || rc=$?
	[ "$rc" -eq 1 ]
	read -r first last <<< "$(failed_batch_start)"
	[ "$first" -gt 1 ]
	[ "$first" -le 20000 ]
	[ "$last" -ge 20000 ]
	head -n $((first - 1)) bad.log | tr a-z A-Z > want
	each_run_writes want bad.log -e "$pipe"
}

@test "ordered: false: a failing exec stage still writes every batch before the failing one" {
	exec_failing_on_line_20000 false
	for i in 1 2 3; do
		rc=0
		cspipe run --stats=json:stats.json -e "$pipe" bad.log > out 2> err || rc=$?
		[ "$rc" -eq 1 ]
		read -r first last <<< "$(failed_batch_start)"
		[ "$first" -gt 1 ]
		[ "$first" -le 20000 ]
		[ "$last" -ge 20000 ]
		# In any order, and perhaps with batches after it that other
		# workers had in hand; never without one before it.
		head -n $((first - 1)) bad.log | tr a-z A-Z | sort > want
		[ -z "$(sort out | comm -23 want -)" ]
		[ "$(stat records_written stats.json)" -eq "$(wc -l < out)" ]
		accounting_adds_up stats.json
	done
}

# ---- FIFOs ------------------------------------------------------------------

@test "a FIFO as input is read to its end" {
	mkfifo in.fifo
	# The writer gives up rather than hang the suite when nobody opens it.
	timeout 60 sh -c 'cat "$1" > in.fifo' sh "$LOGHUB/Linux_2k.log" 3>&- &
	cspipe run -e '{stages: [filter: ""]}' in.fifo > out
	wait
	with_final_newline "$LOGHUB/Linux_2k.log" | cmp - out
}

@test "a FIFO carrying gzip data, written slowly, is decompressed" {
	mkfifo in.fifo
	gzip -c < "$LOGHUB/Linux_2k.log" > l.gz
	timeout 60 sh -c 'head -c 5000 l.gz; sleep 0.3; tail -c +5001 l.gz' > in.fifo 3>&- &
	cspipe run -e '{stages: [{files: [in.fifo]}, {filter: ""}]}' > out
	wait
	with_final_newline "$LOGHUB/Linux_2k.log" | cmp - out
}
