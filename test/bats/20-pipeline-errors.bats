#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Bad pipeline files: every error of a file reported in one run, each as
# `cspipe: FILE:LINE:COL: message`, exit 2, nothing run; the same from
# `cspipe validate`, from -s overrides and from -e inline YAML.

bats_require_minimum_version 1.5.0
load helpers
load lib/reliability

# same_lines TEXT: $stderr holds exactly these lines, in any order (errors
# are found in several passes: YAML, keys, graph).
same_lines() {
	diff <(printf '%s\n' "$1" | sort) <(printf '%s\n' "$stderr" | sort)
}

@test "an empty pipeline file is an error at 1:1" {
	: > empty.yaml
	run --separate-stderr cspipe validate empty.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: empty.yaml:1:1: empty pipeline (expected a mapping with a 'stages' list)" ]
	rejected empty.yaml
}

@test "a file of comments and blank lines is an empty pipeline, positioned" {
	printf '# nothing here\n\n   \n' > comments.yaml
	rejected comments.yaml
	[[ $stderr =~ ^cspipe:\ comments.yaml:[0-9]+:[0-9]+:\ empty\ pipeline\ \(expected\ a\ mapping\ with\ a\ \'stages\'\ list\)$ ]]
}

@test "text that is not YAML is a syntax error with libyaml's reason" {
	printf 'stages: [filter: x\n' > bad.yaml
	rejected bad.yaml
	[ "$stderr" = "cspipe: bad.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:9)" ]
}

@test "binary garbage as a pipeline file is rejected, positioned" {
	head -c 4096 /dev/urandom | gzip -c > garbage.yaml
	rejected garbage.yaml
}

@test "a pipeline that is a list or a scalar says what it should be" {
	printf -- '- filter: x\n- map: {case: upper}\n' > list.yaml
	rejected list.yaml
	[ "$stderr" = "cspipe: list.yaml:1:1: a pipeline is a mapping with a 'stages' list, not a list" ]
	printf 'hello\n' > scalar.yaml
	rejected scalar.yaml
	[ "$stderr" = "cspipe: scalar.yaml:1:1: a pipeline is a mapping with a 'stages' list, not a string" ]
}

@test "tabs used for indentation are an error at the tab" {
	printf 'stages:\n\t- filter: x\n' > tabs.yaml
	rejected tabs.yaml
	[ "$stderr" = "cspipe: tabs.yaml:2:1: tab characters are not allowed for indentation (use spaces)" ]
	printf 'stages:\n    - filter: x\n  \t- filter: y\n' > tabs2.yaml
	rejected tabs2.yaml
	[ "$stderr" = "cspipe: tabs2.yaml:3:3: tab characters are not allowed for indentation (use spaces)" ]
}

@test "duplicate keys name both positions, at every level" {
	pipeline dup.yaml <<-'EOF'
	timeout: 5s
	stages:
	  - filter: x
	    filter: y
	  - map: {case: upper, case: lower}
	timeout: 6s
	EOF
	rejected dup.yaml
	same_lines "cspipe: dup.yaml:4:5: duplicate key 'filter' (first at 3:5)
cspipe: dup.yaml:5:24: duplicate key 'case' (first at 5:11)
cspipe: dup.yaml:6:1: duplicate key 'timeout' (first at 1:1)"
}

@test "an unknown stage kind suggests the close one" {
	pipeline kind.yaml <<-'EOF'
	stages:
	  - fliter: x
	  - frobnicate: y
	EOF
	rejected kind.yaml
	has_line "cspipe: kind.yaml:2:5: unknown key 'fliter' (did you mean 'filter'?)"
	has_line "cspipe: kind.yaml:3:5: unknown key 'frobnicate'"
}

@test "a stage with no kind lists every kind there is" {
	pipeline nokind.yaml <<-'EOF'
	stages:
	  - {name: x, workers: 2}
	EOF
	rejected nokind.yaml
	line=$(grep -F "cspipe: nokind.yaml:2:5: stage has no kind (give one of: " <<<"$stderr")
	# Each kind `cspipe stages` lists is offered, parse and the NATS ones too.
	for kind in $("$CSPIPE" stages | awk '/^[a-z_]+ / {print $1}'); do
		[[ $line =~ [\ \(]$kind[,\)] ]] || { echo "missing $kind: $line"; return 1; }
	done
}

@test "an alias copies an anchored value; a merge key is an error at its position" {
	pipeline alias.yaml <<-'EOF'
	stages:
	  - filter: &pat '(?i)error'
	    workers: &w 2
	  - map: &upper [{case: upper}]
	    workers: *w
	  - filter: *pat
	  - map: *upper
	EOF
	run cspipe run alias.yaml <<<$'an Error\nok'
	[ "$status" -eq 0 ]
	[ "$output" = "AN ERROR" ]
	pipeline merge.yaml <<-'EOF'
	defaults: &d {workers: 2}
	stages:
	  - filter: x
	    <<: *d
	EOF
	rejected merge.yaml
	has_line "cspipe: merge.yaml:4:5: merge keys (<<) are not supported"
}

@test "unknown options and keys say 'did you mean'" {
	pipeline opt.yaml <<-'EOF'
	stgaes:
	  - filter: x
	timout: 5s
	EOF
	rejected opt.yaml
	same_lines "cspipe: opt.yaml:1:1: unknown key 'stgaes' (did you mean 'stages'?)
cspipe: opt.yaml:3:1: unknown key 'timout' (did you mean 'timeout'?)
cspipe: opt.yaml:1:1: no 'stages' list"
	pipeline opt2.yaml <<-'EOF'
	stages:
	  - filter: {patern: x}
	  - filter: y
	    wrokers: 2
	  - filter: {pattern: x, ignorecase: true}
	EOF
	rejected opt2.yaml
	has_line "cspipe: opt2.yaml:2:14: unknown option 'patern' for filter (did you mean 'pattern'?)"
	has_line "cspipe: opt2.yaml:4:5: unknown key 'wrokers' (did you mean 'workers'?)"
	has_line "cspipe: opt2.yaml:5:26: unknown option 'ignorecase' for filter (did you mean 'ignore_case'?)"
}

@test "wrong types and out-of-range values are all reported in one run" {
	pipeline types.yaml <<-'EOF'
	stages:
	  - filter: x
	    workers: two
	  - filter: y
	    buffer: -1
	  - filter: z
	    workers: 0
	  - filter: {pattern: w, invert: 3}
	    ordered: maybe
	  - compress: {level: 12}
	EOF
	rejected types.yaml
	same_lines "cspipe: types.yaml:3:14: workers: expected an integer or auto, got 'two'
cspipe: types.yaml:5:13: buffer: -1 is out of range 0..65536
cspipe: types.yaml:7:14: workers: 0 is out of range 1..10000
cspipe: types.yaml:8:34: invert: expected true or false, got '3'
cspipe: types.yaml:9:14: ordered: expected true or false, got 'maybe'
cspipe: types.yaml:10:23: level: 12 is out of range 0..9"
}

@test "bad durations and sizes are reported at the value" {
	pipeline dur.yaml <<-'EOF'
	timeout: 5
	shutdown_timeout: 1x
	stages:
	  - files: {paths: [in.log], max_record: 12QB}
	  - filter: x
	    timeout: -3s
	  - filter: z
	    timeout: 1h30
	  - decompress: {max_record: 0}
	  - decompress: {chunk_size: 2GiB}
	  - file: {path: out.log}
	EOF
	rejected dur.yaml
	same_lines "cspipe: dur.yaml:1:10: timeout: bad duration '5': missing unit (e.g. 5s)
cspipe: dur.yaml:2:19: shutdown_timeout: bad duration '1x': unknown unit (use ns, us, ms, s, m or h)
cspipe: dur.yaml:4:42: max_record: bad size '12QB': unknown unit (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)
cspipe: dur.yaml:6:14: timeout: bad duration '-3s': negative durations are not allowed
cspipe: dur.yaml:8:14: timeout: bad duration '1h30': missing unit (e.g. 5s)
cspipe: dur.yaml:9:30: max_record: 0 is out of range 1..1GiB
cspipe: dur.yaml:10:30: chunk_size: 2GiB is out of range 1..1GiB"
	[ ! -e out.log ]
}

@test "\${UNSET} without a default is an error at the variable" {
	unset CSPIPE_T_UNSET CSPIPE_T_NAME
	pipeline env.yaml <<-'EOF'
	name: ${CSPIPE_T_NAME}
	stages:
	  - filter: "${CSPIPE_T_UNSET}"
	EOF
	rejected env.yaml
	same_lines "cspipe: env.yaml:1:7: environment variable 'CSPIPE_T_NAME' is not set
cspipe: env.yaml:3:14: environment variable 'CSPIPE_T_UNSET' is not set"
	printf 'stages:\n  - filter: "${CSPIPE_T_UNSET"\n' > open.yaml
	rejected open.yaml
	[ "$stderr" = "cspipe: open.yaml:2:14: unterminated '\${' (add '}', or write '\$\${' for a literal '\${')" ]
}

@test "every unset variable of one value is reported, not only the first" {
	unset CSPIPE_T_A CSPIPE_T_B
	pipeline env2.yaml <<-'EOF'
	stages:
	  - filter: "${CSPIPE_T_A} and ${CSPIPE_T_B}"
	EOF
	rejected env2.yaml
	same_lines "cspipe: env2.yaml:2:14: environment variable 'CSPIPE_T_A' is not set
cspipe: env2.yaml:2:32: environment variable 'CSPIPE_T_B' is not set"
}

@test "\${UNSET:-x} takes the default, \${SET} the value, \$\${ is a literal" {
	unset CSPIPE_T_UNSET
	pipeline env.yaml <<-'EOF'
	stages:
	  - filter: ${CSPIPE_T_UNSET:-b}
	  - map: {prefix: "$${x} ${CSPIPE_T_UNSET:-dflt} ${CSPIPE_T_SET} "}
	EOF
	run --separate-stderr env CSPIPE_T_SET=value "$CSPIPE" validate env.yaml
	[ "$status" -eq 0 ]
	run --separate-stderr env CSPIPE_T_SET=value "$CSPIPE" run env.yaml <<<$'a\nb\nc'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = '${x} dflt value b' ]
}

@test "a cycle names its stages in the order records flow" {
	pipeline cycle.yaml <<-'EOF'
	stages:
	  - name: a
	    filter: x
	    from: b
	  - name: b
	    filter: y
	EOF
	rejected cycle.yaml
	[[ $stderr =~ ^cspipe:\ cycle.yaml:4:11:\ cycle:\ (a\ ->\ b\ ->\ a|b\ ->\ a\ ->\ b)$ ]]
	pipeline cycle3.yaml <<-'EOF'
	stages:
	  - name: a
	    filter: x
	    from: c
	  - name: b
	    filter: y
	  - name: c
	    filter: z
	EOF
	rejected cycle3.yaml
	[[ $stderr =~ ^cspipe:\ cycle3.yaml:4:11:\ cycle:\ (a\ ->\ b\ ->\ c\ ->\ a|b\ ->\ c\ ->\ a\ ->\ b|c\ ->\ a\ ->\ b\ ->\ c)$ ]]
}

@test "a stage reading itself is a cycle at its from" {
	pipeline self.yaml <<-'EOF'
	stages:
	  - name: a
	    filter: x
	    from: a
	EOF
	rejected self.yaml
	[ "$stderr" = "cspipe: self.yaml:4:11: a reads from itself" ]
}

@test "an unknown from is an error, with a suggestion when one is close" {
	pipeline from.yaml <<-'EOF'
	stages:
	  - name: errors
	    filter: x
	  - name: b
	    filter: y
	    from: nowhere
	  - name: c
	    filter: z
	    from: [b, erors]
	EOF
	rejected from.yaml
	same_lines "cspipe: from.yaml:6:11: from: no stage named 'nowhere'
cspipe: from.yaml:9:15: from: no stage named 'erors' (did you mean 'errors'?)"
}

@test "invalid and duplicate stage names and unknown route branches are errors" {
	pipeline names.yaml <<-'EOF'
	stages:
	  - route: {cases: {errors: ERROR}, default: rest}
	  - from: route.eror
	    file: e.log
	  - name: x y
	    filter: a
	    from: route.rest
	  - name: dup
	    filter: b
	    from: route.rest
	  - name: dup
	    filter: c
	    from: route.rest
	EOF
	rejected names.yaml
	has_line "cspipe: names.yaml:5:11: invalid stage name 'x y' (use letters, digits, '_' and '-', starting with a letter or '_')"
	has_line "cspipe: names.yaml:11:11: duplicate stage name 'dup' (first at 8:5)"
	has_line "cspipe: names.yaml:3:11: route has no branch 'eror'"
	[ ! -e e.log ]
}

@test "a stage that cannot reach a sink is an error" {
	pipeline sink.yaml <<-'EOF'
	stages:
	  - name: a
	    filter: x
	  - name: dead
	    filter: y
	    from: a
	  - file: out.txt
	    from: a
	EOF
	rejected sink.yaml
	[ "$stderr" = "cspipe: sink.yaml:4:5: dead has no path to a sink (no stage reads its output)" ]
	[ ! -e out.txt ]
}

@test "a 10 MB pipeline file of comments and one long value validates promptly" {
	python3 - <<-'EOF'
	with open('big.yaml', 'w') as f:
	    f.write('stages:\n  - map: {prefix: "%s"}\n' % ('p' * 4000000))
	    while f.tell() < 10 * 1024 * 1024:
	        f.write('# ' + 'c' * 100 + '\n')
	EOF
	t0=$(now)
	run --separate-stderr cspipe validate big.yaml
	within "$t0" $((10 * $(slowdown)))
	[ "$status" -eq 0 ]
	[[ $output =~ ^big.yaml:\ ok:\ 3\ stages, ]]
	run --separate-stderr cspipe run big.yaml <<<"x"
	[ "$status" -eq 0 ]
	[ "${#output}" -eq 4000001 ]
}

@test "a 10 MB pipeline file of 190000 stages is validated or rejected promptly" {
	python3 - <<-'EOF'
	with open('many.yaml', 'w') as f:
	    f.write('stages:\n')
	    i = 0
	    while f.tell() < 10 * 1024 * 1024:
	        f.write('  - filter: "pattern number %d with some padding"\n' % i)
	        i += 1
	EOF
	# validate is one thread: sanitizers slow it less than a run.
	limit=30
	if sanitized; then
		limit=90
	fi
	t0=$(now)
	CSPIPE_TIMEOUT=$limit run --separate-stderr cspipe validate many.yaml
	within "$t0" "$limit"
	echo "status $status"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	if [ "$status" -eq 2 ]; then
		all_positioned many.yaml
	fi
}

@test "a 10 MB pattern is rejected promptly with PCRE2's reason" {
	python3 -c "print('stages:\n  - filter: \"' + 'a' * (10 * 1024 * 1024) + '\"')" > bigre.yaml
	t0=$(now)
	rejected bigre.yaml
	within "$t0" $((20 * $(slowdown)))
	[[ $stderr =~ ^cspipe:\ bigre.yaml:2:13:\ bad\ pattern:\ .+\ at\ offset\ [0-9]+$ ]]
}

@test "an alias bomb is rejected in bounded memory" {
	pipeline bomb.yaml <<-'EOF'
	a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
	b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
	c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
	d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
	e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
	f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
	g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
	h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
	i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
	stages:
	  - filter: *i
	EOF
	# 1 GB of address space, where a sanitizer's shadow memory allows it.
	if ! sanitized; then
		run --separate-stderr bash -c 'ulimit -v 1000000 && exec "$0" validate bomb.yaml' "$CSPIPE"
		[ "$status" -eq 2 ]
		[ "$stderr" = "cspipe: bomb.yaml:6:8: alias expansion too large (more than 100000 nodes)" ]
	fi
	run --separate-stderr maxrss rss "$CSPIPE" validate bomb.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: bomb.yaml:6:8: alias expansion too large (more than 100000 nodes)" ]
	echo "peak RSS $(cat rss) KiB"
	[ "$(cat rss)" -lt $((100000 * $(slowdown))) ]
	rejected bomb.yaml
}

@test "an alias bomb in a key or a nested mapping is rejected too" {
	pipeline bomb2.yaml <<-'EOF'
	x: &a {k1: lol, k2: lol, k3: lol, k4: lol, k5: lol, k6: lol, k7: lol, k8: lol}
	y: &b {k1: *a, k2: *a, k3: *a, k4: *a, k5: *a, k6: *a, k7: *a, k8: *a}
	z: &c {k1: *b, k2: *b, k3: *b, k4: *b, k5: *b, k6: *b, k7: *b, k8: *b}
	w: &d {k1: *c, k2: *c, k3: *c, k4: *c, k5: *c, k6: *c, k7: *c, k8: *c}
	v: &e {k1: *d, k2: *d, k3: *d, k4: *d, k5: *d, k6: *d, k7: *d, k8: *d}
	u: &f {k1: *e, k2: *e, k3: *e, k4: *e, k5: *e, k6: *e, k7: *e, k8: *e}
	t: &g {k1: *f, k2: *f, k3: *f, k4: *f, k5: *f, k6: *f, k7: *f, k8: *f}
	s: &h {k1: *g, k2: *g, k3: *g, k4: *g, k5: *g, k6: *g, k7: *g, k8: *g}
	stages:
	  - map: *h
	EOF
	t0=$(now)
	rejected bomb2.yaml
	within "$t0" $((10 * $(slowdown)))
	has_line "cspipe: bomb2.yaml:6:12: alias expansion too large (more than 100000 nodes)"
}

@test "many errors of one file are all reported in one run, nothing runs" {
	pipeline multi.yaml <<-'EOF'
	name: many
	timeout: 5
	stages:
	  - filter: {patern: x}
	  - map: {case: sideways}
	    workers: 0
	  - nosuch: 1
	  - name: out
	    from: nowhere
	    file: out.txt
	EOF
	rejected multi.yaml
	same_lines "cspipe: multi.yaml:2:10: timeout: bad duration '5': missing unit (e.g. 5s)
cspipe: multi.yaml:4:14: unknown option 'patern' for filter (did you mean 'pattern'?)
cspipe: multi.yaml:4:13: missing required option 'pattern' for filter
cspipe: multi.yaml:6:14: workers: 0 is out of range 1..10000
cspipe: multi.yaml:5:17: unknown case 'sideways' (expected upper or lower)
cspipe: multi.yaml:7:5: unknown key 'nosuch'
cspipe: multi.yaml:9:11: from: no stage named 'nowhere'"
	[ ! -e out.txt ]
}

@test "bad patterns and templates are positioned with PCRE2's message and offset" {
	pipeline re.yaml <<-'EOF'
	stages:
	  - filter: "a(b"
	  - filter: {pattern: "x[z"}
	  - map: {replace: "a**", with: b}
	  - map: {replace: "(a)(b)", with: "$3"}
	EOF
	rejected re.yaml
	same_lines "cspipe: re.yaml:2:13: bad pattern: missing closing parenthesis at offset 3
cspipe: re.yaml:3:23: bad pattern: missing terminating ] for character class at offset 3
cspipe: re.yaml:4:20: bad pattern: quantifier does not follow a repeatable item at offset 2
cspipe: re.yaml:5:36: bad replacement: group \$3 does not exist (the pattern has 2) at offset 0"
}

@test "-s overrides are validated like the file, positioned at the option" {
	pipeline ok.yaml <<-'EOF'
	stages:
	  - name: f
	    filter: x
	EOF
	for v in validate run; do
		run --separate-stderr cspipe $v -s f.workers=0 ok.yaml < /dev/null
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[ "$stderr" = "cspipe: -s f.workers:1:1: workers: 0 is out of range 1..10000" ]
		run --separate-stderr cspipe $v -s f.workers=two -s f.pattern='(' ok.yaml < /dev/null
		[ "$status" -eq 2 ]
		same_lines "cspipe: -s f.workers:1:1: workers: expected an integer or auto, got 'two'
cspipe: -s f.pattern:1:1: bad pattern: missing closing parenthesis at offset 1"
		run --separate-stderr cspipe $v -s 'f.workers=[1' ok.yaml < /dev/null
		[ "$status" -eq 2 ]
		[ "$stderr" = "cspipe: -s f.workers:1:3: did not find expected ',' or ']' (while parsing a flow sequence at 1:1)" ]
		run --separate-stderr cspipe $v -s f.patern=x ok.yaml < /dev/null
		[ "$status" -eq 2 ]
		[ "$stderr" = "cspipe: -s f.patern:1:1: unknown option 'patern' for filter (did you mean 'pattern'?)" ]
		run --separate-stderr cspipe $v -s timeout=5 ok.yaml < /dev/null
		[ "$status" -eq 2 ]
		[ "$stderr" = "cspipe: -s timeout:1:1: timeout: bad duration '5': missing unit (e.g. 5s)" ]
		run --separate-stderr cspipe $v -s g.workers=2 ok.yaml < /dev/null
		[ "$status" -eq 2 ]
		[ "$stderr" = "cspipe: -s g.workers: no stage named 'g'" ]
		run --separate-stderr cspipe $v -s 'stages=[{generate: 5}]' ok.yaml < /dev/null
		[ "$status" -eq 2 ]
		[ "$stderr" = "cspipe: -s stages: the stages cannot be set with -s: set their keys (-s STAGE.KEY=VALUE), or give the pipeline with -e" ]
	done
}

@test "-s with a misspelt common key suggests it, as the file does" {
	pipeline ok.yaml <<-'EOF'
	stages:
	  - name: f
	    filter: x
	EOF
	run --separate-stderr cspipe validate -s f.wrokers=2 ok.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -s f.wrokers:1:1: unknown key 'wrokers' (did you mean 'workers'?)" ]
}

@test "-s defaults.KEY says how to set defaults, which is no stage" {
	pipeline ok.yaml <<-'EOF'
	stages:
	  - filter: x
	EOF
	run --separate-stderr cspipe validate -s defaults.workers=2 ok.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -s defaults.workers: no stage named 'defaults' (defaults is set whole: -s 'defaults={workers: VALUE}')" ]
	run --separate-stderr cspipe validate -s 'defaults={workers: 2}' ok.yaml
	[ "$status" -eq 0 ]
}

@test "-e inline YAML errors are positioned at -e:LINE:COL" {
	run --separate-stderr cspipe run -e '{stages: [{filter: {patern: x}}]}' < /dev/null
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	same_lines "cspipe: -e:1:21: unknown option 'patern' for filter (did you mean 'pattern'?)
cspipe: -e:1:20: missing required option 'pattern' for filter"
	run --separate-stderr cspipe run -e $'stages:\n  - filter: x\n    workers: two' < /dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:3:14: workers: expected an integer or auto, got 'two'" ]
	run --separate-stderr cspipe run -e '{stages: [filter: "("]}' < /dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:19: bad pattern: missing closing parenthesis at offset 1" ]
	run --separate-stderr cspipe run -e '[1' < /dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:3: did not find expected ',' or ']' (while parsing a flow sequence at 1:1)" ]
}

@test "-e with empty YAML is an error at -e:1:1" {
	run --separate-stderr cspipe run -e '' < /dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:1: empty pipeline (expected a mapping with a 'stages' list)" ]
}

@test "a stage's bad boolean or choice does not hide its bad pattern" {
	pipeline two.yaml <<-'EOF'
	stages:
	  - filter: {pattern: '(', invert: 2}
	  - filter: {pattern: '*a', on_error: maybe}
	EOF
	run --separate-stderr cspipe validate two.yaml
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	same_lines "cspipe: two.yaml:2:36: invert: expected true or false, got '2'
cspipe: two.yaml:2:23: bad pattern: missing closing parenthesis at offset 1
cspipe: two.yaml:3:39: unknown on_error 'maybe' (expected fail, drop or keep)
cspipe: two.yaml:3:23: bad pattern: quantifier does not follow a repeatable item at offset 0"
}

@test "two file sinks that write one file are refused, however the path is written" {
	mkdir sub
	ln -s out.txt link.txt
	for second in out.txt ./out.txt sub/../out.txt link.txt "$PWD/out.txt"; do
		cat > p.yaml <<-EOF
		stages:
		  - generate: {count: 3}
		  - {name: a, file: out.txt}
		  - {name: b, from: generate, file: '$second'}
		EOF
		rejected p.yaml
		[ "${#stderr_lines[@]}" -eq 1 ]
		[ "$stderr" = "cspipe: p.yaml:4:37: 'b' writes the same file as 'a' (3:21): $(pwd -P)/out.txt; one output would replace the other" ]
	done
	[ ! -e out.txt ]
	# -s makes it so.
	cat > p.yaml <<-EOF
	stages:
	  - generate: {count: 3}
	  - {name: a, file: out.txt}
	  - {name: b, from: generate, file: other.txt}
	EOF
	run --separate-stderr cspipe run -s b.path=./out.txt p.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: p.yaml:4:37: 'b' writes the same file as 'a' (3:21): $(pwd -P)/out.txt; one output would replace the other" ]
	# Devices are written by any number of sinks; other files are fine.
	run cspipe run -e '{stages: [{generate: {count: 3}}, {name: a, file: /dev/null},
		{name: b, from: generate, file: /dev/null}]}'
	[ "$status" -eq 0 ]
	run cspipe run p.yaml
	[ "$status" -eq 0 ]
	[ "$(cat out.txt)" = "$(cat other.txt)" ]
}
