#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# cspipe test: a pipeline file's tests: cases; `-` as the pipeline file;
# ${VAR:?message} and ${VAR-default}.

bats_require_minimum_version 1.5.0
load helpers

# run_cases STATUS [FILE] <<'YAML' ... : write the pipeline FILE (p.yaml)
# from standard input, run `cspipe test FILE` (setting status, output and
# lines as run does) and check that it exited STATUS.
run_cases() {
	local f=${2:-p.yaml}
	pipeline "$f"
	run cspipe test "$f"
	[ "$status" -eq "$1" ] || { echo "exit $status, not $1: $output"; return 1; }
}

# lines_are FIRST <<'EOF' ... : the output's lines from index FIRST on are
# the lines given, in order (the lines after them are not looked at).
lines_are() {
	local i=$1 want
	while IFS= read -r want; do
		[ "${lines[i]}" = "$want" ] ||
			{ echo "line $i: expected '$want', got '${lines[i]:-}'"; return 1; }
		i=$((i + 1))
	done
}

@test "test: passing cases print ok and exit 0" {
	run_cases 0 <<'YAML'
stages:
  - filter: 'error'
  - map: [{case: upper}]
tests:
  - name: keeps errors
    input: [a error, b ok, c error]
    expect: [A ERROR, C ERROR]
  - input: []
    expect: []
YAML
	[ "${lines[0]}" = "ok   p.yaml: keeps errors" ]
	[ "${lines[1]}" = "ok   p.yaml: case 2 (line 8)" ]
	[ "${lines[-1]}" = "2 passed, 0 failed" ]
}

@test "test: a failing case prints a diff and exits 1" {
	run_cases 1 <<'YAML'
stages:
  - filter: 'error'
tests:
  - name: wrong
    input: [a error, b ok, c error]
    expect: [a error, b ok, c error, d error]
  - name: right
    input: [x error]
    expect: [x error]
YAML
	lines_are 0 <<'EOF'
FAIL p.yaml: wrong
    sink stdout: expected 4 records, got 2 (- expected, + got):
        a error
      - b ok
        c error
      - d error
ok   p.yaml: right
EOF
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}

@test "test: records the pipeline made but the case did not expect show with +" {
	run_cases 1 <<'YAML'
stages:
  - map: [{replace: 'o', with: '0'}]
tests:
  - input: [foo, "tab	here"]
    expect: [foo]
YAML
	lines_are 1 <<'EOF'
    sink stdout: expected 1 record, got 2 (- expected, + got):
      - foo
      + f00
      + tab\x09here
EOF
}

@test "test: several sinks, each named; sinks write no file" {
	run_cases 1 <<'YAML'
stages:
  - name: split
    route: {cases: {err: 'ERROR', warn: 'WARN'}}
  - {name: errs, from: split.err, file: {path: errs.out}}
  - {name: warns, from: split.warn, file: {path: warns.out}}
tests:
  - name: routes
    input: [x ERROR 1, y WARN 2, z INFO]
    expect:
      errs: [x ERROR 1]
      warns: [y WARN 2]
  - name: only one sink checked
    input: [q ERROR]
    expect: {errs: [q ERROR]}
  - name: a wrong branch
    input: [q ERROR]
    expect: {warns: [q ERROR]}
YAML
	lines_are 0 <<'EOF'
ok   p.yaml: routes
ok   p.yaml: only one sink checked
FAIL p.yaml: a wrong branch
    sink warns: expected 1 record, got 0 (- expected, + got):
EOF
	[ "${lines[-1]}" = "2 passed, 1 failed" ]
	[ ! -e errs.out ]
	[ ! -e warns.out ]
	[ "$(ls -A)" = "p.yaml" ]
}

@test "test: input_file and expect_file, relative to the pipeline file" {
	mkdir sub
	head -200 "$LOGHUB/Hadoop_2k.log" > sub/in.log
	grep 'RMContainerAllocator' sub/in.log > sub/want.log
	[ -s sub/want.log ]
	run_cases 0 sub/p.yaml <<'YAML'
stages:
  - filter: RMContainerAllocator
    workers: 2
tests:
  - input_file: in.log
    expect_file: want.log
YAML
	[ "${lines[-1]}" = "1 passed, 0 failed" ]
	echo extra >> sub/want.log
	run cspipe test sub/p.yaml
	[ "$status" -eq 1 ]
	[ "${lines[2]}" = "      ..." ]
	[ "${lines[-2]}" = "      - extra" ]
}

@test "test: several files; a run that fails is a failed case" {
	pipeline a.yaml <<'YAML'
stages: [{filter: x}]
tests: [{input: [x], expect: [x]}]
YAML
	pipeline b.yaml <<'YAML'
stages: [{exec: {command: 'exit 3'}}]
tests: [{input: [x], expect: [x]}]
YAML
	run --separate-stderr cspipe test a.yaml b.yaml
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "ok   a.yaml: case 1 (line 2)" ]
	[ "${lines[1]}" = "FAIL b.yaml: case 1 (line 2)" ]
	[[ ${lines[2]} == "    the run failed (exit 1; its error is above)" ]]
	[[ $stderr == *"exec"* ]]
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}

@test "test: bad tests: entries are positioned errors, exit 2, for test and validate" {
	pipeline p.yaml <<'YAML'
stages:
  - name: split
    route: {cases: {err: 'ERROR', warn: 'WARN'}}
  - {name: errs, from: split.err, file: {path: errs.out}}
  - {name: warns, from: split.warn, file: {path: warns.out}}
tests:
  - input: [a]
    expect: {errs: [], warnz: []}
  - input: x
    expect: [a]
    bogus: 1
  - name: empty
  - input: [a, ~]
    input_file: f
    expect: {errs: [a]}
YAML
	for cmd in test validate; do
		run --separate-stderr cspipe $cmd p.yaml
		[ "$status" -eq 2 ]
		[ "${stderr_lines[0]}" = "cspipe: p.yaml:8:24: expect: 'warnz' is not a sink of the pipeline (did you mean 'warns'?)" ]
		[ "${stderr_lines[1]}" = "cspipe: p.yaml:9:12: input: expected a list of records, got a string" ]
		[ "${stderr_lines[2]}" = "cspipe: p.yaml:10:13: expect: the pipeline has 2 sinks: say which gets what (expect: {errs: [...], ...})" ]
		[ "${stderr_lines[3]}" = "cspipe: p.yaml:11:5: unknown key 'bogus' in a test case (known: name, input, input_file, expect, expect_file)" ]
		[ "${stderr_lines[4]}" = "cspipe: p.yaml:12:5: a test case needs input: [records] or input_file:" ]
		[ "${stderr_lines[5]}" = "cspipe: p.yaml:12:5: a test case needs expect: [records] or expect_file:" ]
		[ "${stderr_lines[6]}" = "cspipe: p.yaml:13:16: input: a record is a string, got null (write '' for an empty record)" ]
		[ "${stderr_lines[7]}" = "cspipe: p.yaml:14:17: input_file: a case has input: or input_file:, not both" ]
	done
	run cspipe test p.yaml
	[ "${lines[-1]}" = "0 passed, 0 failed" ]
}

@test "test: a file without tests, or missing, is exit 2" {
	pipeline p.yaml <<'YAML'
stages: [{filter: x}]
YAML
	run --separate-stderr cspipe test p.yaml nothere.yaml
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "cspipe: p.yaml: no tests: section (nothing to test)" ]
	[[ ${stderr_lines[1]} == "cspipe: nothere.yaml: cannot open: No such file or directory" ]]
}

@test "- reads the pipeline from stdin for run, validate, graph and test" {
	printf 'a error\nb ok\n' > in.log
	yaml='{stages: [{filter: error}], tests: [{input: [x error, y], expect: [x error]}]}'
	run cspipe run - in.log <<<"$yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "a error" ]
	run cspipe validate - <<<"$yaml"
	[ "$status" -eq 0 ]
	[[ $output == "stdin: ok: 3 stages, memory bound "* ]]
	run cspipe graph - <<<"$yaml"
	[ "$status" -eq 0 ]
	[[ $output == "digraph"* ]]
	run cspipe test - <<<"$yaml"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "ok   stdin: case 1 (line 1)" ]
	run --separate-stderr cspipe validate - <<<'{stages: [{filtr: x}]}'
	[ "$status" -eq 2 ]
	[[ ${stderr_lines[0]} == "cspipe: stdin:1:12: "* ]]
}

@test "run - cannot also read its records from standard input" {
	# The pipeline took standard input: a source reading it would get
	# nothing and the run would end with no output and exit 0.
	run --separate-stderr cspipe run - <<<'{stages: [{filter: error}]}'
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "${stderr_lines[0]}" = "cspipe: run: the pipeline is read from standard input, so the stage 'stdin' cannot read records from it: give INPUT files or use -e" ]
	printf 'a error\n' > in.log
	run --separate-stderr cspipe run - in.log - <<<'{stages: [{filter: error}]}'
	[ "$status" -eq 2 ]
	[[ ${stderr_lines[0]} == "cspipe: run: the pipeline is read from standard input, so the stage 'files' cannot "* ]]
	run --separate-stderr cspipe run - <<<'{stages: [{files: [in.log, "-"]}]}'
	[ "$status" -eq 2 ]
	[[ ${stderr_lines[0]} == "cspipe: run: the pipeline is read from standard input, so the stage 'files' cannot "* ]]
	# A source of its own is fine.
	run cspipe run - <<<'{stages: [{generate: 2}]}'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1\n2')" ]
}

@test "\${VAR:?message} stops with the message; \${VAR-default} defaults only when unset" {
	pipeline p.yaml <<'YAML'
stages:
  - filter: '${CSPIPE_T_PAT:?set it to the pattern to keep}'
  - map: [{replace: x, with: '${CSPIPE_T_WITH-y}'}]
YAML
	printf 'ax\nb\n' > in.log
	run --separate-stderr env -u CSPIPE_T_PAT "$CSPIPE" run p.yaml in.log
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: p.yaml:2:14: CSPIPE_T_PAT: set it to the pattern to keep" ]
	run env -u CSPIPE_T_WITH CSPIPE_T_PAT=a "$CSPIPE" run p.yaml in.log
	[ "$status" -eq 0 ]
	[ "$output" = "ay" ]
	run env CSPIPE_T_PAT=a CSPIPE_T_WITH= "$CSPIPE" run p.yaml in.log
	[ "$status" -eq 0 ]
	[ "$output" = "a" ]
}
