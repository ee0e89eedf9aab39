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

@test "every stage option has its entry in cspipe-pipeline(5)" {
	missing=
	for k in $(kinds); do
		sec=$(man_section "$k")
		for o in $(options_of "$k"); do
			# map's single option is the list of operations itself.
			[ "$k/$o" = map/ops ] && continue
			grep -Eq "^\.It Ic $o( |$)|^\.It Ic [a-z_ ,]*\b$o\b" <<<"$sec" ||
				missing="$missing $k.$o"
		done
	done
	[ -z "$missing" ] || { echo "undocumented options:$missing"; false; }
}

@test "the documentation check catches an undocumented option" {
	# The check above must be able to fail: a made-up option is missing.
	sec=$(man_section filter)
	! grep -Eq "^\.It Ic no_such_option( |$)" <<<"$sec"
	grep -Eq "^\.It Ic pattern( |$)" <<<"$sec"
}

@test "every stage kind is exercised by a test" {
	for k in $(kinds); do
		grep -lq -- "$k" "$TOP"/test/bats/[2-9]*.bats ||
			{ echo "no test mentions $k"; false; }
	done
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
	grep -q '^  level  *integer 0\.\.9, default 6$' <<<"$output"
	grep -q '^  format  *one of gzip, zlib, deflate, default gzip$' <<<"$output" ||
		grep -q '^  format  .*gzip.*zlib.*deflate.*default gzip$' <<<"$output"
}

@test "cspipe stages with an unknown kind suggests the near one" {
	run "$CSPIPE" stages filtr
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: stages: unknown stage kind 'filtr' (did you mean 'filter'?)" ]
}
