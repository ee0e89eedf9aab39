#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# filter and map against the tools a user would use instead, byte for
# byte on the real logs: grep -P, grep -F, sed -E, awk, cut, tr.

load helpers

# The logs with a final newline, as cspipe writes them; GNU sed, unlike
# cspipe, leaves a missing final newline missing.
logs() {
	all_logs | with_final_newline
}

# Every log, one at a time and all together, through an inline pipeline
# and through the reference command (given as a shell string).
same_as() {
	local stages=$1 ref=$2 f
	for f in "$LOGHUB"/*_2k.log; do
		cspipe run -e "{stages: [$stages]}" "$f" > out
		# grep exits with 1 when nothing matches: not a failure here.
		with_final_newline "$f" | sh -c "$ref" > want || true
		cmp out want || { echo "differs on $f: $stages vs $ref"; return 1; }
	done
	logs > all.log
	cspipe run -e "{stages: [$stages]}" all.log > out
	sh -c "$ref" < all.log > want || true
	cmp out want
}

@test "filter keeps what grep -P keeps" {
	same_as "{filter: '(?i)error|fail(ed|ure)?|denied'}" \
		"grep -aP '(?i)error|fail(ed|ure)?|denied'"
	same_as "{filter: '^\\d+ '}" "grep -aP '^\\d+ '"
	same_as "{filter: 'Connection (closed|reset) by'}" \
		"grep -aP 'Connection (closed|reset) by'"
	same_as "{filter: '(?<!\\d)\\d{3}(?!\\d)'}" "grep -aP '(?<!\\d)\\d{3}(?!\\d)'"
	same_as "{filter: '\\r$'}" "grep -aP '\\r\$'"
	same_as "{filter: 'session (opened|closed) for user \\w+'}" \
		"grep -aP 'session (opened|closed) for user \\w+'"
}

@test "filter invert, ignore_case and fixed match grep -v, -i and -F" {
	same_as "{filter: {pattern: INFO, invert: true}}" "grep -av INFO"
	same_as "{filter: {pattern: 'kernel', ignore_case: true}}" "grep -ai kernel"
	same_as "{filter: {pattern: '[main]', fixed: true}}" "grep -aF '[main]'"
	same_as "{filter: {pattern: 'error', fixed: true, ignore_case: true}}" \
		"grep -aiF error"
	same_as "{filter: {pattern: '.', fixed: true, invert: true}}" "grep -avF ."
}

@test "filter then filter (records with gaps) is grep | grep" {
	same_as "{filter: '(?i)error'}, {filter: {pattern: 'info', ignore_case: true, invert: true}}" \
		"grep -aiP error | grep -aviP info"
}

@test "map replace is sed -E s///g" {
	same_as "{map: {replace: '[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+', with: x.x.x.x}}" \
		"sed -E 's/[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+/x.x.x.x/g'"
	same_as "{map: {replace: '([a-z]+)=([0-9]+)', with: '\$2=\$1'}}" \
		"sed -E 's/([a-z]+)=([0-9]+)/\\2=\\1/g'"
	same_as "{map: {replace: '[0-9]', with: '#', first: true}}" "sed -E 's/[0-9]/#/'"
	same_as "{map: {replace: 'x*', with: '-'}}" "sed -E 's/x*/-/g'"
	same_as "{map: {replace: 'a*', with: '<&>'}}" "sed -E 's/a*/<\\&>/g'"
	same_as "{map: {replace: '^', with: '> '}}" "sed -E 's/^/> /'"
}

@test "map fields is awk and cut" {
	same_as "{map: {fields: [1, 3]}}" "awk '{print \$1, \$3}'"
	same_as "{map: {fields: [-1]}}" "awk '{print \$NF}'"
	# A line without the delimiter passes whole, as with cut (awk would
	# print an empty field); only_delimited drops it, as cut -s.
	same_as "{map: {fields: [2, 5], delimiter: ',', join: ','}}" \
		"awk -F, -v OFS=, 'index(\$0, \",\") {print \$2,\$5; next} 1'"
	same_as "{map: {fields: [2, 5], delimiter: ',', join: ',', only_delimited: true}}" \
		"awk -F, -v OFS=, 'index(\$0, \",\") {print \$2,\$5}'"
	same_as "{map: {fields: '2-5', delimiter: ',', join: ','}}" "cut -d, -f2-5"
	same_as "{map: {fields: '2-5', delimiter: ',', join: ',', only_delimited: true}}" \
		"cut -s -d, -f2-5"
	same_as "{filter: ' '}, {map: {fields: ['2-4'], delimiter: ' '}}" \
		"grep -a ' ' | cut -d' ' -f2-4"
	same_as "{map: {fields: ['2-4'], delimiter: ' '}}" "cut -d' ' -f2-4"
	same_as "{filter: ':'}, {map: {fields: '3-', delimiter: ':', join: ':'}}" \
		"grep -a : | cut -d: -f3-"
}

@test "map case, trim, prefix and suffix are tr and sed" {
	same_as "{map: {case: upper}}" "tr a-z A-Z"
	same_as "{map: {case: lower}}" "tr A-Z a-z"
	same_as "{map: {trim: true}}" "sed -E 's/^[[:space:]]+//; s/[[:space:]]+\$//'"
	same_as "{map: [{prefix: '<'}, {suffix: '>'}]}" "sed -E 's/.*/<&>/'"
}

@test "map template takes the first match; drop filters" {
	same_as "{map: {template: '\$1', pattern: '(\\d+)', on_nomatch: drop}}" \
		"sed -nE 's/^[^0-9]*([0-9]+).*\$/\\1/p'"
	same_as "{map: {template: '\$1', pattern: '(\\d+)'}}" \
		"sed -E 's/^[^0-9]*([0-9]+).*\$/\\1/'"
}

@test "map operations run in order" {
	same_as "{map: [{replace: '\\s+', with: ' '}, {fields: [2, 1]}, {case: upper}]}" \
		"sed -E 's/[[:space:]]+/ /g' | awk '{print \$2, \$1}' | tr a-z A-Z"
	# The same list under the option's name.
	same_as "{map: {ops: [{replace: '\\s+', with: ' '}, {fields: [2, 1]}, {case: upper}]}}" \
		"sed -E 's/[[:space:]]+/ /g' | awk '{print \$2, \$1}' | tr a-z A-Z"
}

@test "named groups in a pipeline file, \$\${name} included" {
	pipeline p.yaml <<'YAML'
stages:
  - map:
      - template: '$${user}s at $host'
        pattern: 'user=(?<user>\w+) host=(?<host>\w+)'
YAML
	printf 'x user=bob host=h1 y\nnone\n' | cspipe run p.yaml > out
	printf 'bobs at h1\nnone\n' > want
	cmp out want
}

@test "a bad pattern is reported at its position" {
	pipeline p.yaml <<'YAML'
stages:
  - filter: '(abc'
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"p.yaml:2:13: bad pattern: missing closing parenthesis at offset 4"* ]]
}

@test "a bad replacement reference is reported at its position" {
	pipeline p.yaml <<'YAML'
stages:
  - map: {replace: '(\d+)', with: 'n=$2'}
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"p.yaml:2:35: bad replacement: group \$2 does not exist (the pattern has 1) at offset 2"* ]]
}

@test "a pattern past its match limit fails the run naming the record" {
	{ echo ok; printf 'a%.0s' $(seq 1 40); echo b; } > in.log
	run cspipe run -e "{stages: [{filter: {pattern: '(a+)+\$', match_limit: 1000}}]}" in.log
	[ "$status" -eq 1 ]
	[[ "$output" == *"in.log: record 2: match limit exceeded (match_limit 1000, depth_limit 100000)"* ]]
	run cspipe run -e "{stages: [{filter: {pattern: '(a+)+\$', match_limit: 1000, on_error: drop}}]}" in.log
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
}
