#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# What users of other tools type first: the bash completion's values,
# durations the clock cannot hold, and stage keys named after grep, sed,
# gzip and the like.

load helpers
bats_require_minimum_version 1.5.0

# complete WORD... : what the completion offers for the last word, one a
# line (CWORD=N completes word N instead, with words after it).
complete_words() {
	mkdir -p "$TMP/.bin"
	ln -sf "$CSPIPE" "$TMP/.bin/cspipe"
	PATH="$TMP/.bin:$PATH" bash -c '
		source "$1/completion/cspipe.bash"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=${CWORD:-$(( ${#COMP_WORDS[@]} - 1 ))}
		_cspipe
		printf "%s\n" "${COMPREPLY[@]}"' complete "$TOP" "$@"
}

@test "completion offers --stats= and --progress= values" {
	# bash splits --stats=j at the = (COMP_WORDBREAKS)
	[ "$(complete_words cspipe run --stats = '' | sort | tr '\n' ' ')" = "json table " ]
	[ "$(complete_words cspipe run --stats = j)" = json ]
	[ "$(complete_words cspipe run --stats =)" = "$(printf 'table\njson')" ]
	[ "$(complete_words cspipe run --progress = '')" = always ]
	touch figures.json other.txt
	[ "$(complete_words cspipe graph --stats = f)" = figures.json ]
}

@test "completion after -e YAML offers inputs of any name, not only pipelines" {
	mkdir w && cd w
	touch a.yaml b.log
	[ "$(complete_words cspipe run '')" = a.yaml ]
	[ "$(complete_words cspipe run -e '{stages: []}' '' | sort | tr '\n' ' ')" = "a.yaml b.log " ]
	[ "$(complete_words cspipe run -e '{stages: []}' b)" = b.log ]
}

@test "completion of -s offers the stages of the pipeline on the line, then their keys" {
	pipeline p.yaml <<-'EOF'
	stages:
	  - name: errors
	    filter: ERROR
	  - map: {case: upper}
	EOF
	[ "$(complete_words cspipe run p.yaml -s '' | tr '\n' ' ')" = \
		"stdin. errors. map. stdout. timeout= shutdown_timeout= name= max_workers= " ]
	# the pipeline may come after the cursor
	[ "$(CWORD=3 complete_words cspipe run -s er p.yaml)" = errors. ]
	[ "$(complete_words cspipe run p.yaml -s errors.inv)" = errors.invert= ]
	[ "$(complete_words cspipe run p.yaml -s errors.wo)" = errors.workers= ]
	# no pipeline file: only the top-level keys
	[ "$(complete_words cspipe run -s t)" = timeout= ]
	[ "$(complete_words cspipe run -s max)" = max_workers= ]
}

@test "completion of -s offers an added source or sink only the keys -s can set on it" {
	pipeline p.yaml <<-'EOF'
	stages:
	  - name: errors
	    filter: ERROR
	EOF
	# stdin and stdout are added by cspipe: -s sets their options, and
	# refuses their common keys (name them in the file to set those).
	[ "$(complete_words cspipe run p.yaml -s stdin.fo)" = stdin.format= ]
	[ -z "$(complete_words cspipe run p.yaml -s stdin.wo)" ]
	[ -z "$(complete_words cspipe run p.yaml -s stdout.na)" ]
	run --separate-stderr cspipe run -s stdin.workers=2 p.yaml
	[ "$status" -eq 2 ]
	# A stage the file names takes both.
	[ "$(complete_words cspipe run p.yaml -s errors.wo)" = errors.workers= ]
}

@test "completion of stages and help offers one word, as they take one" {
	[ "$(complete_words cspipe stages filt)" = filter ]
	[ "$(complete_words cspipe help va)" = validate ]
	# A second word is a usage error ('too many arguments'): none offered.
	[ -z "$(complete_words cspipe stages filter '')" ]
	[ -z "$(complete_words cspipe help run '')" ]
	run cspipe stages filter map
	[ "$status" -eq 2 ]
}

@test "a duration the clock cannot hold is refused, on the command line and in the file" {
	run --separate-stderr cspipe run -t 2562047h -e '{stages: [head: 1]}'
	[ "$status" -eq 2 ]
	[ "${stderr%%$'\n'*}" = "cspipe: run: -t: bad duration '2562047h': duration too large for the clock (at most 1281023h)" ]
	pipeline t.yaml <<-'EOF'
	timeout: 2562047h
	stages:
	  - head: 1
	    timeout: 9223372036854775807ns
	EOF
	run --separate-stderr cspipe validate t.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: t.yaml:1:10: timeout: bad duration '2562047h': duration too large for the clock (at most 1281023h)
cspipe: t.yaml:4:14: timeout: bad duration '9223372036854775807ns': duration too large for the clock (at most 1281023h)" ]
	# The longest one runs, and its deadline is not reached at once.
	echo line | cspipe run -t 1281023h -e '{stages: [head: 1]}' > out
	[ "$(cat out)" = line ]
}

@test "a stage key named after another tool suggests the cspipe kind" {
	for pair in 'grep|filter: PATTERN' 'sed|map: {replace: PATTERN, with: TEXT}' \
		'replace|map: {replace: PATTERN, with: TEXT}' 'gzip|compress: gzip' \
		'cut|map: {fields: LIST, delimiter: D}' 'awk|map: {fields: LIST}' \
		'zcat|decompress: auto' 'gunzip|decompress: gzip' 'xz|decompress: xz'; do
		key=${pair%%|*}
		run --separate-stderr cspipe validate -e "{stages: [{$key: x}]}"
		[ "$status" -eq 2 ]
		[ "$stderr" = "cspipe: -e:1:12: unknown key '$key' (did you mean '${pair#*|}'?)" ]
	done
	# head is a kind of its own; a misspelt kind still gets the near one.
	run cspipe validate -e '{stages: [head: 1]}'
	[ "$status" -eq 0 ]
	run --separate-stderr cspipe validate -e '{stages: [{fitler: x}]}'
	[ "$stderr" = "cspipe: -e:1:12: unknown key 'fitler' (did you mean 'filter'?)" ]
}
