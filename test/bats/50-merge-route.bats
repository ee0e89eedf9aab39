#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# merge and route on the real logs, against sort -m, cat, grep and grep -v.

load helpers

# sorted_halves FILE SORT-OPTIONS...: FILE cut in three, each third sorted
# with the options, as a.txt, b.txt and c.txt.
sorted_halves() {
	local f=$1 n h
	shift
	with_final_newline "$f" > whole.txt
	n=$(wc -l < whole.txt)
	h=$((n / 3))
	head -n "$h" whole.txt | sort "$@" > a.txt
	sed -n "$((h + 1)),$((2 * h))p" whole.txt | sort "$@" > b.txt
	tail -n +"$((2 * h + 1))" whole.txt | sort "$@" > c.txt
}

# merge3 KEY-YAML: the sorted merge of a.txt, b.txt and c.txt into out.
merge3() {
	pipeline m.yaml <<EOF
stages:
  - {name: a, files: [a.txt]}
  - {name: b, files: [b.txt]}
  - {name: c, files: [c.txt]}
  - merge: {mode: sorted$1}
    from: [a, b, c]
EOF
	cspipe run m.yaml > out
}

# ---- merge: interleave ------------------------------------------------

@test "merge interleave passes every record of every input exactly once" {
	pipeline m.yaml <<EOF
stages:
  - {name: hdfs, files: ['$LOGHUB/HDFS_2k.log']}
  - {name: linux, files: ['$LOGHUB/Linux_2k.log']}
  - {name: mac, files: ['$LOGHUB/Mac_2k.log']}
  - merge: interleave
    from: [hdfs, linux, mac]
EOF
	cspipe run m.yaml > out
	with_final_newline "$LOGHUB/HDFS_2k.log" "$LOGHUB/Linux_2k.log" "$LOGHUB/Mac_2k.log" |
		sort > want
	sort out | cmp - want
	[ "$(wc -l < out)" -eq 6000 ]
}

@test "merge interleave is the default and keeps each input's own order" {
	pipeline m.yaml <<'EOF'
stages:
  - {name: a, generate: {count: 100000, template: 'a $n'}}
  - {name: b, generate: {count: 70000, template: 'b $n'}}
  - merge:
    from: [a, b]
EOF
	cspipe run m.yaml > out
	grep '^a ' out | cmp - <(seq 1 100000 | sed 's/^/a /')
	grep '^b ' out | cmp - <(seq 1 70000 | sed 's/^/b /')
	[ "$(wc -l < out)" -eq 170000 ]
}

# ---- merge: concat ----------------------------------------------------

@test "merge concat is cat of its inputs, in from order" {
	pipeline m.yaml <<EOF
stages:
  - {name: hdfs, files: ['$LOGHUB/HDFS_2k.log']}
  - {name: spark, files: ['$LOGHUB/Spark_2k.log']}
  - merge: concat
    from: [spark, hdfs]
EOF
	cspipe run m.yaml > out
	cat "$LOGHUB/Spark_2k.log" "$LOGHUB/HDFS_2k.log" | cmp - out
}

@test "merge concat ends every input's last record, as cat of whole lines" {
	# Linux_2k.log has no final newline: cat would glue the files.
	pipeline m.yaml <<EOF
stages:
  - {name: linux, files: ['$LOGHUB/Linux_2k.log']}
  - {name: zk, files: ['$LOGHUB/Zookeeper_2k.log']}
  - {name: ssh, files: ['$LOGHUB/OpenSSH_2k.log']}
  - merge: {mode: concat}
    from: [linux, zk, ssh]
EOF
	cspipe run m.yaml > out
	with_final_newline "$LOGHUB/Linux_2k.log" "$LOGHUB/Zookeeper_2k.log" \
		"$LOGHUB/OpenSSH_2k.log" | cmp - out
}

@test "merge concat of two readers of one source does not deadlock" {
	# y is read first while x fills its channel: both read src, so merge
	# must take x's batches while it waits for y.
	seq 1 300000 > n.txt
	pipeline m.yaml <<'EOF'
stages:
  - {name: src, files: [n.txt]}
  - {name: x, filter: '5$', from: src}
  - {name: y, filter: '7$', from: src}
  - merge: concat
    from: [y, x]
EOF
	CSPIPE_TIMEOUT=20 cspipe run m.yaml > out
	{ grep '7$' n.txt; grep '5$' n.txt; } | cmp - out
}

# ---- merge: sorted ----------------------------------------------------

@test "merge sorted of whole records is sort -m" {
	sorted_halves "$LOGHUB/OpenStack_2k.log"
	merge3 ""
	sort -m a.txt b.txt c.txt | cmp - out
	sort whole.txt | cmp - out
}

@test "merge sorted by a blank-separated field is sort -s -m -k N,N" {
	local f
	for f in Linux Mac Thunderbird HealthApp; do
		sorted_halves "$LOGHUB/${f}_2k.log" -s -k 2,2
		merge3 ", key: {field: 2}"
		sort -s -m -k 2,2 a.txt b.txt c.txt | cmp - out
	done
	# The test means something: without -s, sort breaks ties otherwise.
	if sort -m -k 2,2 a.txt b.txt c.txt | cmp -s - out; then false; fi
}

@test "merge sorted keeps leading blanks in a field, as sort without -b" {
	printf 'x  b\nx c\n' > a.txt
	printf 'x  a\nx b\n' > b.txt
	: > c.txt
	merge3 ", key: {field: 2}"
	printf 'x  a\nx  b\nx b\nx c\n' | cmp - out
	sort -s -m -k 2,2 a.txt b.txt | cmp - out
}

@test "merge sorted with a delimiter is sort -s -m -t D -k N,N" {
	sorted_halves "$LOGHUB/Apache_2k.log" -s -t ']' -k 2,2
	merge3 ", key: {field: 2, delimiter: ']'}"
	sort -s -m -t ']' -k 2,2 a.txt b.txt c.txt | cmp - out
	sorted_halves "$LOGHUB/Spark_2k.log" -s -t : -k 3,3
	merge3 ", key: {field: 3, delimiter: ':'}"
	sort -s -m -t : -k 3,3 a.txt b.txt c.txt | cmp - out
}

@test "merge sorted numeric and reverse are sort -n and -r" {
	sorted_halves "$LOGHUB/HDFS_2k.log" -s -k 3,3n
	merge3 ", key: {field: 3, numeric: true}"
	sort -s -m -k 3,3n a.txt b.txt c.txt | cmp - out
	# The test means something (HDFS's ties do not show it): without -s,
	# sort breaks ties by the whole line.
	printf 'x 1 b\n' > a.txt
	printf 'x 1 a\n' > b.txt
	: > c.txt
	merge3 ", key: {field: 2, numeric: true}"
	sort -s -m -k 2,2n a.txt b.txt c.txt | cmp - out
	if sort -m -k 2,2n a.txt b.txt c.txt | cmp -s - out; then false; fi

	# A key with its own options takes none of the global ones: -k 3,3nr,
	# or -n -r -k 3,3, not -r -k 3,3n.
	sorted_halves "$LOGHUB/HDFS_2k.log" -s -k 3,3nr
	merge3 ", key: {field: 3, numeric: true, reverse: true}"
	sort -s -m -k 3,3nr a.txt b.txt c.txt | cmp - out
	sort -s -m -n -r -k 3,3 a.txt b.txt c.txt | cmp - out

	sorted_halves "$LOGHUB/Zookeeper_2k.log" -s -r -t , -k 2,2
	merge3 ", key: {field: 2, delimiter: ',', reverse: true}"
	sort -s -m -r -t , -k 2,2 a.txt b.txt c.txt | cmp - out
}

@test "merge sorted numeric reads numbers as sort -n does" {
	printf -- '-5\n+8\n-0\n0.0\n007\n7.50\n' > a.txt
	printf -- '-10\nx\n0\n.5\n7.5\n12\n' > b.txt
	printf -- '-1.5\n\n1e9\n3\n' > c.txt
	sort -s -n a.txt | cmp - a.txt
	sort -s -n b.txt | cmp - b.txt
	sort -s -n c.txt | cmp - c.txt
	merge3 ", key: {numeric: true}"
	sort -s -m -n a.txt b.txt c.txt | cmp - out
}

@test "merge sorted by a pattern's first group, or its whole match" {
	# The reference: the same key put in front (awk), sort, key removed.
	local deco='{ k = ""; if (match($0, /blk_-?[0-9]+/)) k = substr($0, RSTART + 4, RLENGTH - 4); print k "\t" $0 }'
	with_final_newline "$LOGHUB/HDFS_2k.log" | head -n 1000 | awk "$deco" |
		sort -s -t "$(printf '\t')" -k 1,1n > a.dec
	with_final_newline "$LOGHUB/HDFS_2k.log" | tail -n +1001 | awk "$deco" |
		sort -s -t "$(printf '\t')" -k 1,1n > b.dec
	cut -f 2- a.dec > a.txt
	cut -f 2- b.dec > b.txt
	: > c.txt
	merge3 ", key: {pattern: 'blk_(-?\\d+)', numeric: true}"
	sort -s -m -t "$(printf '\t')" -k 1,1n a.dec b.dec | cut -f 2- | cmp - out

	# No group: the whole match; no match: an empty key (first).
	printf 'no digits\nb 1\na 22\nz 3x\n' > a.txt
	printf 'other\nc 10\n' > b.txt
	merge3 ", key: {pattern: '\\d+'}"
	printf 'no digits\nother\nb 1\nc 10\na 22\nz 3x\n' | cmp - out
}

@test "merge sorted of one input checks it and passes it on" {
	sort "$LOGHUB/Proxifier_2k.log" > s.txt
	pipeline m.yaml <<'EOF'
stages:
  - files: [s.txt]
  - merge: sorted
EOF
	cspipe run m.yaml > out
	cmp s.txt out
}

@test "merge sorted of two route branches gives the sorted input back" {
	# The branches share route: merge must take one while it waits for
	# the other, or the run would hang.
	seq -w 1 300000 | awk '{ print $1, ($1 % 1000 < 900 ? "common" : "rare") }' > big.txt
	pipeline m.yaml <<'EOF'
stages:
  - files: [big.txt]
  - route:
      cases: {rare: rare}
      default: common
  - merge: sorted
    from: [route.rare, route.common]
EOF
	CSPIPE_TIMEOUT=20 cspipe run m.yaml > out
	cmp big.txt out
}

@test "merge sorted: an input out of order fails the run, naming it" {
	printf '1\n5\n9\n' > a.txt
	printf '2\n3\n1\n4\n' > b.txt
	: > c.txt
	pipeline m.yaml <<'EOF'
stages:
  - {name: a, files: [a.txt]}
  - {name: b, files: [b.txt]}
  - name: m
    merge: sorted
    from: [a, b]
  - file: out.txt
EOF
	run cspipe run m.yaml
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: m: input 'b' is not sorted at record 3" ]
	[ ! -e out.txt ]
}

@test "merge sorted: after a filter the message also gives the record in its file" {
	printf 'a 1\nb 2\na 3\nb 1\na 4\n' > b.txt
	: > a.txt
	pipeline m.yaml <<'EOF'
stages:
  - {name: a, files: [a.txt]}
  - {name: src, files: [b.txt]}
  - {name: bees, filter: '^b', from: src}
  - merge: {mode: sorted, key: {field: 2}}
    from: [a, bees]
EOF
	run cspipe run m.yaml
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: merge: input 'bees' is not sorted at record 2 (b.txt record 4)" ]
}

@test "merge sorted: on_unsorted warn warns once and writes what sort -m writes" {
	printf '1\n5\n3\n9\n7\n' > a.txt
	printf '2\n0\n4\n' > b.txt
	: > c.txt
	pipeline m.yaml <<'EOF'
stages:
  - {name: a, files: [a.txt]}
  - {name: b, files: [b.txt]}
  - {name: c, files: [c.txt]}
  - merge: {mode: sorted, on_unsorted: warn}
    from: [a, b, c]
EOF
	cspipe run m.yaml > out 2> err
	printf '%s\n' "cspipe: merge: warning: input 'b' is not sorted at record 2; the output is not sorted either" | cmp - err
	sort -s -m a.txt b.txt c.txt | cmp - out
}

@test "merge accounts for every record" {
	sorted_halves "$LOGHUB/BGL_2k.log"
	pipeline m.yaml <<'EOF'
stages:
  - {name: a, files: [a.txt]}
  - {name: b, files: [b.txt]}
  - merge: sorted
    from: [a, b]
  - head: 100
EOF
	cspipe run --stats=json m.yaml > out 2> stats.json
	accounting_adds_up stats.json
	[ "$(jq .records_written stats.json)" -eq 100 ]
	# Stopped by head, not aborted: nothing is dropped.
	[ "$(jq .records_dropped stats.json)" -eq 0 ]
	# Behind a filter, merge takes in the bytes the filter kept.
	cspipe run --stats=json -e '{stages: [{filter: a}, {merge: {}}]}' "$LOGHUB/Apache_2k.log" > out 2> stats.json
	accounting_adds_up stats.json
	[ "$(jq '.stages[] | select(.kind == "merge") | .bytes_in' stats.json)" -eq "$(wc -c < out)" ]
}

@test "merge: bad options are reported at their position" {
	run cspipe validate -e '{stages: [{merge: {mode: sortd}}]}'
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: -e:1:26: unknown mode 'sortd' (expected interleave, concat or sorted; did you mean 'sorted'?)" ]

	pipeline m.yaml <<'EOF'
stages:
  - merge: {mode: concat, key: {field: 2}}
  - merge: {mode: sorted, key: {field: 2, pattern: x}}
  - merge: {mode: sorted, key: {pattern: '(x'}}
  - merge: {mode: sorted, key: {delimiter: ','}}
  - merge: {mode: sorted, key: {feild: 2}}
  - merge: {mode: sorted, key: 2}
  - merge: {mode: sorted, key: {field: 1, delimiter: ', '}}
  - merge: interleave
    workers: 2
EOF
	run cspipe validate m.yaml
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: m.yaml:2:32: key: only for mode: sorted (this merge is concat)" ]
	[ "${lines[1]}" = "cspipe: m.yaml:3:52: key: give either field or pattern, not both" ]
	[ "${lines[2]}" = "cspipe: m.yaml:4:42: key: bad pattern: missing closing parenthesis at offset 2" ]
	[ "${lines[3]}" = "cspipe: m.yaml:5:44: key: delimiter goes with field" ]
	[ "${lines[4]}" = "cspipe: m.yaml:6:33: unknown option 'feild' for key (did you mean 'field'?)" ]
	[ "${lines[5]}" = "cspipe: m.yaml:7:32: key: expected a mapping (e.g. {field: 2, numeric: true}), got a string" ]
	[ "${lines[6]}" = "cspipe: m.yaml:8:54: delimiter: expected a single character (one byte), got ', '" ]
	[ "${lines[7]}" = "cspipe: m.yaml:10:14: merge runs on one worker (workers: 2)" ]
	[ "${#lines[@]}" -eq 8 ]
}

# ---- route ------------------------------------------------------------

@test "route sends each record to the first case that matches, like grep and grep -v" {
	pipeline r.yaml <<EOF
stages:
  - files: ['$LOGHUB/Linux_2k.log']
  - route:
      cases:
        auth: 'authentication failure'
        sshd: 'sshd'
        kernel: '^\\w+ +\\d+ [\\d:]+ \\S+ kernel'
      default: other
  - {from: route.auth, file: auth.out}
  - {from: route.sshd, file: sshd.out}
  - {from: route.kernel, file: kernel.out}
  - {from: route.other, file: other.out}
EOF
	cspipe run r.yaml
	with_final_newline "$LOGHUB/Linux_2k.log" > in.txt
	grep -aP 'authentication failure' in.txt | cmp - auth.out
	grep -avP 'authentication failure' in.txt | grep -aP sshd | cmp - sshd.out
	grep -avP 'authentication failure|sshd' in.txt |
		grep -aP '^\w+ +\d+ [\d:]+ \S+ kernel' | cmp - kernel.out
	grep -avP 'authentication failure|sshd|^\w+ +\d+ [\d:]+ \S+ kernel' in.txt |
		cmp - other.out
	[ -s auth.out ]
	[ -s sshd.out ]
	[ -s kernel.out ]
	[ -s other.out ]
}

@test "route without default filters what no case takes, and counts it" {
	pipeline r.yaml <<EOF
stages:
  - files: ['$LOGHUB/Thunderbird_2k.log']
  - route:
      cases: {err: 'error', warn: 'warn'}
      ignore_case: true
  - {from: route.err, file: err.out}
  - {from: route.warn, file: warn.out}
EOF
	cspipe run --stats=json r.yaml 2> stats.json
	with_final_newline "$LOGHUB/Thunderbird_2k.log" > in.txt
	grep -ai error in.txt | cmp - err.out
	grep -avi error in.txt | grep -ai warn | cmp - warn.out
	accounting_adds_up stats.json
	[ "$(jq .records_read stats.json)" -eq 2000 ]
	[ "$(jq .records_filtered stats.json)" -eq "$(grep -avicE 'error|warn' in.txt)" ]
	[ "$(jq '.stages[] | select(.name == "route") | .filtered' stats.json)" -eq \
	  "$(grep -avicE 'error|warn' in.txt)" ]
}

@test "route with many workers keeps each branch in order; default may name a case" {
	with_final_newline "$LOGHUB"/*_2k.log > in.txt
	pipeline r.yaml <<'EOF'
stages:
  - files: [in.txt]
  - route:
      cases: {info: 'INFO', digits: '\d{5}'}
      default: digits
    workers: 4
    buffer: 2
  - {from: route.info, file: info.out}
  - {from: route.digits, file: digits.out}
EOF
	cspipe run r.yaml
	grep -a INFO in.txt | cmp - info.out
	grep -av INFO in.txt | cmp - digits.out
}

@test "route branches without a sink go to standard output" {
	pipeline r.yaml <<EOF
stages:
  - files: ['$LOGHUB/OpenSSH_2k.log']
  - route:
      cases: {fail: 'Failed password', invalid: 'Invalid user'}
EOF
	cspipe run r.yaml > out
	with_final_newline "$LOGHUB/OpenSSH_2k.log" | grep -aE 'Failed password|Invalid user' |
		sort | cmp - <(sort out)
}

@test "route: bad options and branches are reported at their position" {
	pipeline r.yaml <<'EOF'
stages:
  - route: {cases: {a.b: x, ok: '(x'}}
  - route: {cases: {}}
  - route: {cases: {a: x}, default: '9z'}
  - route: {cases: {a: ~}}
  - route: errors
  - route: {default: x}
EOF
	run cspipe validate r.yaml
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: r.yaml:2:21: cases: invalid branch name 'a.b' (use letters, digits, '_' and '-', starting with a letter or '_')" ]
	[ "${lines[1]}" = "cspipe: r.yaml:3:20: cases: give at least one branch (e.g. {errors: 'ERROR|FATAL'})" ]
	[ "${lines[2]}" = "cspipe: r.yaml:4:37: default: invalid branch name '9z' (use letters, digits, '_' and '-', starting with a letter or '_')" ]
	[ "${lines[3]}" = "cspipe: r.yaml:5:24: cases: a: expected a pattern, got nothing" ]
	[ "${lines[4]}" = "cspipe: r.yaml:6:12: route: expected a mapping of options, got a string" ]
	[ "${lines[5]}" = "cspipe: r.yaml:7:12: missing required option 'cases' for route" ]
	[ "${#lines[@]}" -eq 6 ]

	pipeline r2.yaml <<'EOF'
stages:
  - route: {cases: {a: '(x'}}
EOF
	run cspipe validate r2.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: r2.yaml:2:24: cases: a: bad pattern: missing closing parenthesis at offset 2" ]

	pipeline r3.yaml <<'EOF'
stages:
  - route: {cases: {errors: ERROR, warnings: WARN}}
  - {from: route.error, file: e.out}
  - {from: route, file: w.out}
EOF
	run cspipe validate r3.yaml
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: r3.yaml:3:12: route has no branch 'error' (did you mean 'errors'?)" ]
	[ "${lines[1]}" = "cspipe: r3.yaml:4:12: route has branches (errors, ...); read one with from: route.errors" ]
	[ "${#lines[@]}" -eq 2 ]

	pipeline r4.yaml <<'EOF'
stages:
  - route: {cases: {errors: ERROR, warnings: WARN}}
  - {from: route.errors, file: e.out}
EOF
	run cspipe validate r4.yaml
	[ "$status" -eq 2 ]
	[ "$output" = "cspipe: r4.yaml:2:5: branch route.warnings has no path to a sink (no stage reads it)" ]
}
