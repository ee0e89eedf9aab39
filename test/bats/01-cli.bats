#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The command line: subcommands, options, usage errors, and the ways the
# command line reshapes a pipeline (INPUT, -o, -s, -t, -e).

bats_require_minimum_version 1.5.0
load helpers

@test "--version and --help" {
	run cspipe --version
	[ "$status" -eq 0 ]
	[[ $output =~ ^cspipe\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	run cspipe --help
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "usage: cspipe COMMAND [ARGS]" ]]
	run cspipe help run
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "usage: cspipe run [OPTIONS] PIPELINE [INPUT...]" ]]
	run cspipe run --help
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "usage: cspipe run [OPTIONS] PIPELINE [INPUT...]" ]]
}

@test "usage errors exit 2 with one line saying what was wrong" {
	run --separate-stderr cspipe
	[ "$status" -eq 2 ]
	run --separate-stderr cspipe frobnicate
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "cspipe: unknown command 'frobnicate'" ]
	run --separate-stderr cspipe rnu p.yaml
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "cspipe: unknown command 'rnu' (did you mean 'run'?)" ]
	run --separate-stderr cspipe run --bogus p.yaml
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "cspipe: run: unknown option '--bogus'" ]
	[ "${stderr_lines[1]}" = "Try 'cspipe help run'." ]
	run --separate-stderr cspipe run
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "cspipe: run: no pipeline given (a file, or -e YAML)" ]
	run --separate-stderr cspipe run -t 5 p.yaml
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "cspipe: run: -t: bad duration '5': missing unit (e.g. 5s)" ]
	run --separate-stderr cspipe run -s nodot p.yaml
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "cspipe: run: -s expects STAGE.KEY=VALUE, got 'nodot'" ]
}

@test "a missing pipeline file is a usage error naming it" {
	run --separate-stderr cspipe run nope.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: nope.yaml: cannot open: No such file or directory" ]
}

@test "run with no source reads stdin and with no sink writes stdout" {
	pipeline p.yaml <<'EOF'
stages:
  - filter: sshd
EOF
	cspipe run p.yaml < "$LOGHUB/OpenSSH_2k.log" > out
	grep -a sshd "$LOGHUB/OpenSSH_2k.log" | with_final_newline | cmp - out
}

@test "INPUT files replace the source, in order, gzip included" {
	pipeline p.yaml <<'EOF'
stages:
  - files: [does-not-exist.log]
  - filter: {pattern: 'x', invert: true}
EOF
	gzip -c "$LOGHUB/Apache_2k.log" > apache.log.gz
	cspipe run p.yaml "$LOGHUB/Linux_2k.log" apache.log.gz > out
	{ with_final_newline "$LOGHUB/Linux_2k.log"; with_final_newline "$LOGHUB/Apache_2k.log"; } |
		grep -av x | cmp - out
}

@test "-e runs an inline pipeline; INPUT may come before or after it" {
	cspipe run -e '{stages: [filter: ERROR]}' "$LOGHUB/Hadoop_2k.log" > a
	cspipe run "$LOGHUB/Hadoop_2k.log" -e '{stages: [filter: ERROR]}' > b
	grep -a ERROR "$LOGHUB/Hadoop_2k.log" | cmp - a
	cmp a b
}

@test "-o replaces the sink with a file" {
	pipeline p.yaml <<'EOF'
stages:
  - map: {case: upper}
EOF
	cspipe run -o out.txt p.yaml "$LOGHUB/Zookeeper_2k.log" > stdout.txt
	[ ! -s stdout.txt ]
	with_final_newline "$LOGHUB/Zookeeper_2k.log" | tr a-z A-Z | cmp - out.txt
}

@test "-o writes where a shell's > would: through links, into a FIFO; - is stdout" {
	echo old > real.txt
	ln -s real.txt link.txt
	cspipe run -o link.txt -e '{stages: [{generate: {count: 3}}]}'
	[ -L link.txt ]
	[ "$(cat real.txt)" = "$(printf '1\n2\n3')" ]
	# A link to a file not yet there: the file is made, the link stays.
	mkdir sub
	ln -s sub/new.txt dangling
	cspipe run -o dangling -e '{stages: [{generate: {count: 2}}]}'
	[ -L dangling ]
	[ "$(cat sub/new.txt)" = "$(printf '1\n2')" ]
	# A FIFO is written, not replaced by a file.
	mkfifo fifo
	cat fifo > from-fifo &
	cspipe run -o fifo -e '{stages: [{generate: {count: 3}}]}'
	wait
	[ -p fifo ]
	[ "$(cat from-fifo)" = "$(printf '1\n2\n3')" ]
	# The same for a file sink naming /dev/stdout.
	cspipe run -e '{stages: [{generate: {count: 2}}, {file: /dev/stdout}]}' | cat > piped
	[ "$(cat piped)" = "$(printf '1\n2')" ]
	# -o - is standard output, in place of the pipeline's file sink.
	pipeline p.yaml <<'YAML'
stages:
  - generate: {count: 2}
  - file: out.txt
YAML
	cspipe run -o - p.yaml > stdout.txt
	[ "$(cat stdout.txt)" = "$(printf '1\n2')" ]
	[ ! -e out.txt ]
	[ ! -e ./- ]
}

@test "-s sets a stage option, a common key or a top-level key" {
	pipeline p.yaml <<'EOF'
stages:
  - name: keep
    filter: ERROR
EOF
	cspipe run -s keep.pattern=WARN -s keep.workers=3 p.yaml "$LOGHUB/Hadoop_2k.log" > out
	grep -a WARN "$LOGHUB/Hadoop_2k.log" | cmp - out
	run --separate-stderr cspipe run -s timeout=100ms -e '{stages: [{generate: {}}, {head: 1000000000}]}'
	[ "$status" -eq 124 ]
	run --separate-stderr cspipe run -s nope.pattern=x p.yaml /dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -s nope.pattern: no stage named 'nope'" ]
	run --separate-stderr cspipe run -s keep.workers=zero p.yaml /dev/null
	[ "$status" -eq 2 ]
	[[ $stderr == "cspipe: -s keep.workers"*"workers: expected an integer or auto, got 'zero'" ]]
}

@test "-s sets the options of the stages cspipe adds, named after their kind" {
	pipeline p.yaml <<'EOF'
stages:
  - map: {case: upper}
EOF
	printf 'a\0b\nc\0' | cspipe run -s stdin.format=nul p.yaml > out
	printf 'A\0B\nC\0' | cmp - out
	printf 'x\0y\0' > in.bin
	cspipe run -s files.format=nul p.yaml in.bin > out
	printf 'X\0Y\0' | cmp - out
	printf 'old\n' > log.txt
	echo new | cspipe run -o log.txt -s file.append=true p.yaml
	[ "$(cat log.txt)" = "$(printf 'old\nNEW')" ]
	# Their common keys cannot be set: they are not in the file.
	run --separate-stderr cspipe run -s stdin.buffer=4 p.yaml < /dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -s stdin.buffer: 'buffer' cannot be set on the implicit stdin stage; name it in the file (- stdin: {}) to set it" ]
	run --separate-stderr cspipe run -s stdin.formt=nul p.yaml < /dev/null
	[ "$status" -eq 2 ]
	[[ $stderr == "cspipe: -s stdin.formt"*"unknown option 'formt' for stdin (did you mean 'format'?)" ]]
	# Given files, the source is files, not stdin.
	run --separate-stderr cspipe run -s stdin.format=nul p.yaml in.bin
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -s stdin.format: no stage named 'stdin' (given INPUT files, the source is 'files')" ]
	# A stage of the file with the name already: the added ones are renamed.
	cspipe run --stats=json -e '{stages: [{name: stdout, map: {case: upper}}]}' < in.bin 2> stats.json > out
	[ "$(jq -r '[.stages[].name] | join(" ")' stats.json)" = "stdin stdout stdout-output" ]
	cspipe run --stats=json -e '{stages: [{name: stdin, map: {case: upper}}]}' < in.bin 2> stats.json > out
	[ "$(jq -r '[.stages[].name] | join(" ")' stats.json)" = "stdin-input stdin stdout" ]
}

@test "-t is a deadline: exit 124 and a message" {
	run --separate-stderr cspipe run -t 200ms -e '{stages: [{generate: {}}, {head: 1000000000}]}'
	[ "$status" -eq 124 ]
	[ "$stderr" = "cspipe: deadline exceeded (-t 200ms)" ]
}

@test "validate says ok with the memory bound, and warns above --max-memory" {
	pipeline p.yaml <<'EOF'
stages:
  - filter: x
    workers: 4
EOF
	run --separate-stderr cspipe validate p.yaml
	[ "$status" -eq 0 ]
	[[ $output =~ ^p\.yaml:\ ok:\ 3\ stages,\ memory\ bound\ [0-9.]+(KiB|MiB|GiB)$ ]]
	[ -z "$stderr" ]
	run --separate-stderr cspipe validate --max-memory 1MiB p.yaml
	[ "$status" -eq 0 ]
	[[ $stderr == "cspipe: warning: p.yaml: the pipeline can hold up to "*", more than --max-memory 1MiB" ]]
}

@test "validate reports every error of a file and exits 2" {
	pipeline bad.yaml <<'EOF'
stages:
  - filter: {patern: x}
  - map: {case: sideways}
  - nosuchkind: 1
EOF
	run --separate-stderr cspipe validate bad.yaml
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	grep -Fxq "cspipe: bad.yaml:2:14: unknown option 'patern' for filter (did you mean 'pattern'?)" <<<"$stderr"
	grep -Fq "cspipe: bad.yaml:3:" <<<"$stderr"
	grep -Fq "cspipe: bad.yaml:4:5: unknown key 'nosuchkind'" <<<"$stderr"
}

@test "the stdout reader going away ends the run quietly with exit 0" {
	run --separate-stderr bash -c "set -o pipefail; '$CSPIPE' run -e '{stages: [{generate: {}}]}' | head -n 1"
	[ "$status" -eq 0 ]
	[ "$output" = "1" ]
	[ -z "$stderr" ]
}

@test "records from a slow writer come out as they arrive (tail -f | cspipe)" {
	# The writer sends its second line only once the reader has seen the
	# first: a cspipe that held records for a full batch would never let
	# that happen, and the writer would give up after 20 s.
	{
		printf 'first\n'
		for i in $(seq 200); do [ -e seen ] && break; sleep 0.1; done
		[ -e seen ] && printf 'second\n' || printf 'gave up\n'
	} | cspipe run -e '{stages: [{map: {prefix: "> "}}]}' | {
		read -r line && echo "$line" > got && touch seen
		cat >> got
	}
	[ "$(cat got)" = $'> first\n> second' ]
}

@test "install puts the binary, the man pages and the completion under the prefix" {
	# Exactly what `ninja install` runs, under DESTDIR: the files land
	# under the prefix configure.py recorded.
	prefix=$(sed -n 's/^prefix = //p' "$TOP/build.ninja")
	echo "prefix: $prefix"
	[[ $prefix == /?* ]]
	cmd=$(cd "$TOP" && ninja -t commands install | tail -n 1)
	echo "command: $cmd"
	[[ $cmd == *"test/install.sh"* ]]
	(cd "$TOP" && DESTDIR="$TMP/root" sh -c "$cmd") > log
	[ -x "$TMP/root$prefix/bin/cspipe" ]
	[ -f "$TMP/root$prefix/share/man/man1/cspipe.1" ]
	[ -f "$TMP/root$prefix/share/man/man5/cspipe-pipeline.5" ]
	[ -f "$TMP/root$prefix/share/bash-completion/completions/cspipe" ]
	# The examples, nothing else, and nothing outside the prefix.
	for f in "$TOP"/pipelines/*.yaml; do
		cmp "$f" "$TMP/root$prefix/share/doc/cspipe/examples/${f##*/}"
	done
	n=$(ls "$TOP"/pipelines/*.yaml | wc -l)
	[ "$(cd "$TMP/root" && find . -type f | wc -l)" -eq $((4 + n)) ]
	[ -z "$(cd "$TMP/root" && find . -type f | grep -v "^\.$prefix/")" ]
	"$TMP/root$prefix/bin/cspipe" --version
}

@test "generate counts from start as seq does, negative numbers too" {
	cspipe run -e '{stages: [{generate: {count: 5, start: -2, template: "n=$n"}}]}' > out
	seq -2 2 | sed 's/^/n=/' | cmp - out
	cspipe run -e '{stages: [{generate: {count: 2, start: -9223372036854775808}}]}' > out
	[ "$(cat out)" = "$(printf -- '-9223372036854775808\n-9223372036854775807')" ]
	cspipe run -e '{stages: [{generate: {count: 2, start: 9223372036854775806}}]}' > out
	[ "$(cat out)" = "$(printf '9223372036854775806\n9223372036854775807')" ]
	run --separate-stderr cspipe run -e '{stages: [{generate: {count: 3, start: 9223372036854775806}}]}'
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:22: generate: the counter would pass 9223372036854775807 (start 9223372036854775806, count 3)" ]
}

@test "INPUT arguments are taken literally, never as glob patterns" {
	echo bracket > 'weird[1].log'
	echo star > 'star*.log'
	echo other > star-x.log
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' 'weird[1].log' 'star*.log'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'bracket\nstar')" ]
	# Even where the file's own source would glob.
	run --separate-stderr cspipe run -e '{stages: [files: ["*.log"]]}' 'star*.log'
	[ "$status" -eq 0 ]
	[ "$output" = star ]
	run --separate-stderr cspipe run -e '{stages: [filter: ""]}' 'nothing*.log'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: files: nothing*.log: No such file or directory" ]
	# The pipeline file's paths are patterns, unless glob is false.
	run --separate-stderr cspipe run -e '{stages: [files: ["star*.log"]]}'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'star\nother')" ]
	run --separate-stderr cspipe run -e '{stages: [files: {paths: ["star*.log"], glob: false}]}'
	[ "$status" -eq 0 ]
	[ "$output" = star ]
}

@test "a timeout of 0s means no deadline, in the file, with -s and with -t" {
	# The file's deadline would stop this run; -t 0s removes it.
	cspipe run -t 0s -e '{timeout: 1ms, stages: [{generate: {count: 200000}}, {filter: "", workers: 2}]}' > out 2> err
	[ "$(wc -l < out)" -eq 200000 ]
	[ ! -s err ]
	for how in "-t 0s" "-s timeout=0s"; do
		# shellcheck disable=SC2086
		run --separate-stderr cspipe run $how -e '{stages: [{generate: {count: 3}}]}'
		[ "$status" -eq 0 ]
		[ "$output" = "$(printf '1\n2\n3')" ]
	done
	run --separate-stderr cspipe run -e '{timeout: 0s, stages: [{generate: {count: 3}, timeout: 0s}]}'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1\n2\n3')" ]
	run --separate-stderr cspipe run -t -1s -e '{stages: [{generate: {count: 3}}]}'
	[ "$status" -eq 2 ]
}
