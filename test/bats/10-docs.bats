#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The documentation and the registry agree: every stage kind and every
# option that `cspipe stages` shows has its entry in cspipe-pipeline(5),
# every kind has a test, the man pages are clean, the examples validate.

load helpers

kinds() {
	"$CSPIPE" stages | awk 'NF && $1 !~ /^(Every|See)$/ && !/^ / {print $1}'
}

options_of() {
	"$CSPIPE" stages "$1" | awk '/^options:/ {on = 1; next} on && /^  [a-z_]+  / {print $1}'
}

# The lines of the man page's subsection for a kind.
man_section() {
	awk -v k="$1" '/^\.Ss / {on = ($2 == k)} on' "$TOP/man/cspipe-pipeline.5"
}

@test "cspipe stages lists every kind the design names" {
	run kinds
	[ "$status" -eq 0 ]
	for k in stdin files generate stdout file filter map compress decompress \
		 merge route head rate exec; do
		grep -qx "$k" <<<"$output" || { echo "missing kind $k"; false; }
	done
}

@test "every stage kind has a section in cspipe-pipeline(5)" {
	for k in $(kinds); do
		[ -n "$(man_section "$k")" ] || { echo "no .Ss $k in the man page"; false; }
	done
}

# undocumented MANPAGE: the options `cspipe stages` shows that MANPAGE has
# no entry for, as KIND.OPTION, one a line.
undocumented() {
	local k o sec
	for k in $(kinds); do
		sec=$(awk -v k="$k" '/^\.Ss / {on = ($2 == k)} on' "$1")
		for o in $(options_of "$k"); do
			# map's single option is the list of operations itself.
			if [ "$k/$o" = map/ops ]; then
				continue
			fi
			grep -Eq "^\.It Ic $o( |$)|^\.It Ic [a-z_ ,]*\b$o\b" <<<"$sec" ||
				echo "$k.$o"
		done
	done
}

@test "every stage option has its entry in cspipe-pipeline(5)" {
	run undocumented "$TOP/man/cspipe-pipeline.5"
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "undocumented options: $output"; false; }
}

@test "the documentation check catches an undocumented option" {
	# The check above must be able to fail: without filter's entry for
	# invert, it names filter.invert and nothing else.
	grep -q '^\.It Ic invert ' "$TOP/man/cspipe-pipeline.5"
	awk '/^\.Ss / {sec = $2} !(sec == "filter" && /^\.It Ic invert /)' \
		"$TOP/man/cspipe-pipeline.5" > less.5
	run undocumented less.5
	[ "$status" -eq 0 ]
	[ "$output" = filter.invert ]
}

# unexercised KIND...: the kinds that no test in test/bats uses as a stage
# (the kind as a key: `- KIND:`, `{KIND:`, `, KIND:`), one a line.
unexercised() {
	local k
	for k in "$@"; do
		grep -Eq -- "(^|[-{,[:space:]])$k:" "$TOP"/test/bats/[2-9]*.bats || echo "$k"
	done
}

@test "every stage kind is exercised by a test" {
	run unexercised $(kinds)
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "no test uses: $output"; false; }
	# The check can fail: a kind no test uses is named.
	run unexercised filter no_such_kind
	[ "$output" = no_such_kind ]
}

@test "every common key is documented" {
	for key in name from workers buffer ordered timeout shard_by; do
		grep -q "^\.It Ic $key " "$TOP/man/cspipe-pipeline.5" ||
			{ echo "missing $key"; false; }
	done
	for key in name timeout shutdown_timeout defaults stages tests metrics_addr; do
		grep -q "^\.It Ic $key " "$TOP/man/cspipe-pipeline.5" ||
			{ echo "missing top-level $key"; false; }
	done
}

@test "the man pages are clean under mandoc -Tlint" {
	command -v mandoc
	run mandoc -Tlint -W warning "$TOP/man/cspipe.1" "$TOP/man/cspipe-pipeline.5"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "every example pipeline validates" {
	for f in "$TOP"/pipelines/*.yaml; do
		run "$CSPIPE" validate "$f"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ $output == "$f: ok: "* ]]
	done
}

@test "cspipe stages KIND shows type, default and description from the table" {
	run "$CSPIPE" stages compress
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "compress - "* ]]
	grep -q '^  level  *integer -7\.\.19, default 6$' <<<"$output"
	grep -q '^  format  *one of gzip, zlib, deflate, default gzip$' <<<"$output" ||
		grep -q '^  format  .*gzip.*zlib.*deflate.*default gzip$' <<<"$output"
}

@test "cspipe stages with an unknown kind suggests the near one" {
	run "$CSPIPE" stages filtr
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: stages: unknown stage kind 'filtr' (did you mean 'filter'?)" ]
}

@test "lint-bats rejects tests that cannot fail, and passes the suite" {
	printf '%s\n' '@test "x" {' '	! grep -q a b' '	[ -s a ] && [ -s b ]' \
		'	[ -s a ] && continue' '	run ! grep -q a b' '}' > bad.bats
	run "$TOP/test/lint-bats" bad.bats
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} == "bad.bats:2: "* ]]
	[[ ${lines[1]} == "bad.bats:3: "* ]]
	run "$TOP/test/lint-bats"
	echo "$output"
	[ "$status" -eq 0 ]
}
