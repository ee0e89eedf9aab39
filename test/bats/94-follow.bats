#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# files: {follow: true}: tail -F's behaviour (appends, rotation by rename,
# copytruncate, deletion and re-creation, new files matching a pattern),
# the partial last line, polling, stopping by signal, and no CPU when idle.
# Each step waits for the output it causes (never a fixed sleep).

bats_require_minimum_version 1.5.0
load helpers
load lib/longrun

# follow_start YAML_PATHS [EXTRA]: follow the given paths (a YAML list),
# output to out.
follow_start() {
	bg_start out run -e "{stages: [{files: {paths: $1, follow: true${2:+, $2}}}]}"
}

# has_lines N: out has N lines.
has_lines() {
	[ "$(wc -l < out)" -eq "$1" ]
}

# read_to_end FILE: cspipe ($pid) has read FILE to its current end (the
# offset of its descriptor, from /proc, is the file's size).
read_to_end() {
	local fd size
	size=$(stat -c %s "$1")
	for fd in /proc/"$pid"/fd/*; do
		[ "$(readlink "$fd")" = "$PWD/$1" ] || continue
		[ "$(awk '/^pos:/ {print $2}' "/proc/$pid/fdinfo/${fd##*/}")" = "$size" ] && return 0
	done
	return 1
}

# out_is TEXT...: out is these lines.
out_is() {
	[ "$(cat out)" = "$(printf '%s\n' "$@")" ]
}

@test "follow: reads to the end, then what is appended" {
	printf 'one\ntwo\n' > app.log
	follow_start '[app.log]'
	wait_for "the first two lines" has_lines 2
	printf 'three\n' >> app.log
	wait_for "the appended line" has_lines 3
	seq 1 5000 >> app.log
	wait_for "5000 more lines" has_lines 5003
	bg_stop INT
	[ "$rc" -eq 130 ]
	[ "$(cat out)" = "$(cat app.log)" ]
}

@test "follow: a partial last line waits for its newline, or for flush_partial_after" {
	printf 'one\n' > app.log
	follow_start '[app.log]'
	wait_for "the first line" has_lines 1
	printf 'par' >> app.log
	wait_for "the partial line read" read_to_end app.log
	printf 'tial\ntwo\n' >> app.log
	wait_for "the completed line" has_lines 3
	out_is one partial two
	bg_stop TERM
	[ "$rc" -eq 143 ]

	printf 'one\n' > b.log
	bg_start out run -e '{stages: [{files: {paths: [b.log], follow: true, flush_partial_after: 100ms}}]}'
	wait_for "the first line" has_lines 1
	printf 'no newline yet' >> b.log
	wait_for "the partial line, sent after 100ms" has_lines 2
	out_is one 'no newline yet'
	# What the writer adds to the line afterwards is a record of its own,
	# and the lines after it are whole.
	printf ', now the rest\nthree\n' >> b.log
	wait_for "the rest of the line and the next" has_lines 4
	out_is one 'no newline yet' ', now the rest' three
	bg_stop TERM
	[ "$rc" -eq 143 ]
}

@test "follow: rotation by rename finishes the old file, then reads the new one from its start" {
	printf 'old 1\n' > app.log
	follow_start '[app.log]'
	wait_for "the first line" has_lines 1
	# As logrotate does: the writer adds a last line, the file is renamed,
	# a new one is created and written.
	printf 'old 2\n' >> app.log
	mv app.log app.log.1
	printf 'new 1\nnew 2\n' > app.log
	wait_for "the new file's lines" has_lines 4
	out_is 'old 1' 'old 2' 'new 1' 'new 2'
	printf 'new 3\n' >> app.log
	wait_for "an append to the new file" has_lines 5
	bg_stop TERM
	[ "$rc" -eq 143 ]
}

@test "follow: copytruncate starts the file over, with a warning" {
	printf 'a 1\na 2\na 3\n' > app.log
	follow_start '[app.log]'
	wait_for "three lines" has_lines 3
	cp app.log app.log.1
	: > app.log
	wait_for "the warning" grep -q 'file truncated' err
	printf 'b 1\n' >> app.log
	wait_for "the line after the truncation" has_lines 4
	out_is 'a 1' 'a 2' 'a 3' 'b 1'
	bg_stop TERM
	[ "$rc" -eq 143 ]
	[ "$(cat err)" = "cspipe: warning: app.log: file truncated: reading it again from its start" ]
}

@test "follow: a deleted file is finished; one created later at its path is read" {
	printf 'first\n' > app.log
	follow_start '[app.log, later.log]'
	wait_for "the first line" has_lines 1
	grep -q 'later.log: No such file or directory: following it from when it appears' err
	rm app.log
	printf 'second\n' > app.log
	wait_for "the re-created file" has_lines 2
	printf 'third\n' > later.log
	wait_for "the file that appeared" has_lines 3
	out_is first second third
	bg_stop TERM
	[ "$rc" -eq 143 ]
}

@test "follow: a pattern picks up files created later, in folders created later" {
	mkdir logs
	printf 'a 1\n' > logs/a.log
	follow_start '["logs/*.log", "more/*.log"]'
	wait_for "a.log" has_lines 1
	printf 'b 1\n' > logs/b.log
	wait_for "b.log, created later" has_lines 2
	printf 'skip\n' > logs/b.txt
	mkdir more
	printf 'c 1\n' > more/c.log
	wait_for "more/c.log, in a folder created later (polled)" has_lines 3
	bg_stop TERM
	[ "$rc" -eq 143 ]
	out_is 'a 1' 'b 1' 'c 1'
}

@test "follow: a renamed file that the pattern still matches is not read twice" {
	printf 'x 1\n' > app.log
	follow_start '["app.log*"]'
	wait_for "the first line" has_lines 1
	mv app.log app.log.1
	printf 'y 1\n' > app.log
	printf 'x 2\n' >> app.log.1
	wait_for "both files' new lines" has_lines 3
	bg_stop TERM
	[ "$rc" -eq 143 ]
	[ "$(sort out | tr '\n' ' ')" = "x 1 x 2 y 1 " ]
}

@test "follow: poll_interval looks for changes without inotify" {
	printf 'one\n' > app.log
	follow_start '[app.log]' 'poll_interval: 50ms'
	wait_for "the first line" has_lines 1
	printf 'two\n' >> app.log
	wait_for "the appended line" has_lines 2
	mv app.log app.log.1
	printf 'three\n' > app.log
	wait_for "the rotated file" has_lines 3
	bg_stop INT
	[ "$rc" -eq 130 ]
}

@test "follow: an idle follow uses (almost) no CPU" {
	printf 'one\n' > app.log
	follow_start '[app.log]'
	wait_for "the first line" has_lines 1
	ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
	t0=$(ticks)
	sleep 5
	t1=$(ticks)
	bg_stop TERM
	# Clock ticks (1/100 s): a busy loop would take ~500; allow 0.25 s for
	# a loaded machine and a sanitizer build.
	echo "CPU over 5 s: $((t1 - t0)) ticks"
	[ $((t1 - t0)) -le 25 ]
}

@test "follow: options that need follow, and standard input, are errors" {
	run --separate-stderr cspipe validate -e '{stages: [{files: {paths: [a], checkpoint: c}}]}'
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:44: files: checkpoint needs follow: true" ]
	run --separate-stderr cspipe validate -e '{stages: [{files: {paths: [a, "-"], follow: true}}]}'
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:31: files: cannot follow standard input (-)" ]
}

@test "follow: a FIFO or a folder named to follow is an error, not silence" {
	# Follow reads regular files by their size; a FIFO would be passed
	# over for ever with nothing said.
	mkfifo pipe
	mkdir dir
	run --separate-stderr cspipe run -t 30s -e '{stages: [{files: {paths: [pipe], follow: true}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: pipe: not a regular file: follow reads regular files (read a FIFO or a device without follow)" ]
	run --separate-stderr cspipe run -t 30s -e '{stages: [{files: {paths: [dir], follow: true}}]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: dir: is a directory" ]
	[ -z "$output" ]
}

@test "follow: INPUT files on the command line are read, not followed" {
	printf 'a\nb\n' > in.log
	run cspipe run -e '{stages: [{files: {paths: [app.log], follow: true}}]}' in.log
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'a\nb')" ]
}
