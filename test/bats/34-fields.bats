#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# map's structured operations (set, delete, rename, keep; replace and case
# on a field), checked against jq on the real structured Loghub files.

load helpers

# same OPS JQ: map with OPS gives what jq -c JQ gives, as values.
same() {
	pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$STRUCT/*_2k.jsonl'], codec: json}
  - map: $1
    workers: 2
YAML
	cspipe run p.yaml | jq -c -S . > got
	cat "$STRUCT"/*_2k.jsonl | jq -c -S "$2" > want
	[ "$(wc -l < want)" -eq 32000 ]
	cmp want got
}

@test "map set: constants, typed copies, templates and new nested fields as jq" {
	same "[{set: {.host: web1, .n: 5, .ok: true, .pid2: '\$.Pid', .summary: '\$.system/\$(.Level)x: \$.Content', .a.b: x}}]" \
	     '.host = "web1" | .n = 5 | .ok = true | .pid2 = .Pid | .summary = "\(.system)/\(.Level // "")x: \(.Content)" | .a.b = "x"'
}

@test "map delete and rename as jq" {
	same "[{delete: [.EventTemplate, .Date, .nope]}, {rename: {.Content: .message, .Time: .meta.time}}]" \
	     'del(.EventTemplate, .Date) | with_entries(if .key == "Content" then .key = "message" else . end) | if has("Time") then .meta.time = .Time | del(.Time) else . end'
}

@test "map keep: only the listed fields, in order, as mlr cut -o" {
	same "{keep: [.Level, .LineId, .Component]}" \
	     '[["Level", .Level], ["LineId", .LineId], ["Component", .Component]] | map(select(.[1] != null)) | map({(.[0]): .[1]}) | add'
	# And the order is the listed one, not the record's.
	cspipe run p.yaml | head -1 | grep -q '^{"Level":"[A-Z]*","LineId":1,"Component":'
}

@test "map replace and case on a field change only that field" {
	same "[{replace: 'blk_-?[0-9]+', with: BLK, field: .Content}, {case: lower, field: .Level}]" \
	     '(if .Content then .Content |= gsub("blk_-?[0-9]+"; "BLK") else . end) | (if .Level then .Level |= ascii_downcase else . end)'
}

@test "map set on a record that is not a JSON object is an error naming it" {
	printf '{"a":1}\n[1,2]\n' > in
	run cspipe run <(printf 'stages:\n  - map: {set: {.b: 2}}\n') < in
	[ "$status" -eq 1 ]
	[[ "$output" == *"stdin: record 2: it is not a JSON object, so set cannot change it"* ]]
}

@test "map structured operations: bad paths and templates at their position" {
	pipeline p.yaml <<'YAML'
stages:
  - map:
      - {set: {.a: '$x'}}
      - {delete: ['.a[0]']}
      - {rename: {.a: b}}
      - {keep: []}
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"p.yaml:3:20: set: .a: bad template: '\$' must be followed by a path"* ]]
	[[ "$output" == *"p.yaml:4:19: delete: '.a[0]' is not a field"* ]]
	[[ "$output" == *"p.yaml:5:23: rename: bad path 'b': a path starts with '.'"* ]]
	[[ "$output" == *"keep: expected 1 to 64 paths, got 0"* ]]
}

@test "filter pattern with field matches that field's text only, as jq test()" {
	same_filter() {
		pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$STRUCT/*_2k.jsonl'], codec: json}
  - filter: {pattern: '$1', field: $2}
YAML
		cspipe run p.yaml | jq -c -S . > got
		cat "$STRUCT"/*_2k.jsonl | jq -c -S "select($3)" > want
		[ -s want ]
		cmp want got
	}
	same_filter '(?i)error' .Content '.Content | test("(?i)error")'
	# Numbers match by their JSON text; a missing field never matches.
	same_filter '^1[0-9]$' .LineId '.LineId | tostring | test("^1[0-9]$")'
	cspipe run <(printf 'stages:\n  - filter: {pattern: x, field: .NoSuchField}\n') "$STRUCT/HDFS_2k.jsonl" > none
	[ ! -s none ]
	cspipe run <(printf 'stages:\n  - filter: {pattern: x, field: .NoSuchField, invert: true}\n') "$STRUCT/HDFS_2k.jsonl" | cmp - "$STRUCT/HDFS_2k.jsonl"
}

@test "route with field sends each record by that field, as jq select" {
	pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$STRUCT/*_2k.jsonl'], codec: json}
  - name: r
    route: {field: .Level, cases: {err: '^(ERROR|error|E|FATAL)\$', warn: '^(WARN|warning|W)'}, default: rest}
  - {from: r.err, file: {path: err.out}}
  - {from: r.warn, file: {path: warn.out}}
  - {from: r.rest, file: {path: rest.out}}
YAML
	cspipe run p.yaml
	cat "$STRUCT"/*_2k.jsonl > all
	jq -c 'select((.Level // "") | test("^(ERROR|error|E|FATAL)$"))' all > want
	jq -c . err.out | cmp - want
	jq -c 'select((.Level // "") | test("^(ERROR|error|E|FATAL)$") | not) | select((.Level // "") | test("^(WARN|warning|W)"))' all > want
	jq -c . warn.out | cmp - want
	[ "$(cat err.out warn.out rest.out | wc -l)" -eq 32000 ]
	# A record without the field goes to the default.
	[ "$(grep -c '"system":"HealthApp"' rest.out)" -eq 2000 ]
}

@test "shard_by field path keeps every record, in order" {
	pipeline p.yaml <<YAML
stages:
  - files: {paths: ['$STRUCT/*_2k.jsonl'], codec: json}
  - map: {set: {.seen: true}}
    workers: 2
    shard_by: {field: .Component}
YAML
	cspipe run p.yaml | jq -c 'del(.seen)' > got
	cat "$STRUCT"/*_2k.jsonl | jq -c . > want
	cmp want got
}

@test "merge sorted by a numeric field path interleaves as sort_by" {
	pipeline p.yaml <<YAML
stages:
  - {name: a, files: {paths: ['$STRUCT/HDFS_2k.jsonl'], codec: json}}
  - {name: b, files: {paths: ['$STRUCT/Linux_2k.jsonl'], codec: json}}
  - {from: [a, b], merge: {mode: sorted, key: {field: .LineId, numeric: true}}}
YAML
	cspipe run p.yaml | jq -c '[.LineId, .system]' > got
	cat "$STRUCT/HDFS_2k.jsonl" "$STRUCT/Linux_2k.jsonl" |
		jq -s -c 'sort_by(.LineId, (.system != "HDFS"))[] | [.LineId, .system]' > want
	cmp want got
}

@test "field paths are checked by validate at their position" {
	pipeline p.yaml <<'YAML'
stages:
  - filter: {pattern: x, field: Content}
  - {name: r, route: {field: '.a[', cases: {x: y}}}
  - {from: r.x, map: {case: upper}, workers: 2, shard_by: {field: '.b.'}}
YAML
	run cspipe validate p.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"p.yaml:2:33: field: bad path 'Content': a path starts with '.' at column 1"* ]]
	[[ "$output" == *"p.yaml:3:30: field: bad path '.a[': expected an array index or a quoted key at column 4"* ]]
	[[ "$output" == *"shard_by: field: bad path '.b.': expected a key after '.' at column 4"* ]]
}

@test "map keep writes flat records as it writes any other" {
	printf '%s\n' '{"a":"x","b":12,"c":true}' '{ "b" : -7 , "a" : "q,\"" }' \
		'{"a":"dup","a":"second","b":null}' '{"b":123456789012345678,"a":false}' \
		'{"b":1234567890123456789,"a":"big"}' '{"b":-0,"a":"negzero"}' '{"b":1.5,"a":1e3}' \
		'{"a":"del\u007f","b":[1,2]}' '{"c":"only c"}' '{}' '{"a":{"n":1},"b":"x"}' > flat.jsonl
	sed 's/^{/{"zz":"\\u0041",/; s/,}$/}/' flat.jsonl > slow.jsonl
	for f in flat slow; do
		cspipe run <(printf 'stages:\n  - files: {paths: [%s.jsonl], codec: json}\n  - map: {keep: [.b, .a, .nope]}\n' $f) > $f.out
	done
	cmp flat.out slow.out
	# As jq, but for duplicate keys, where the first one counts.
	jq -c '[["b", .b], ["a", .a]] | map(select(.[1] != null or .[0] == "b")) | map({(.[0]): .[1]}) | add // {}' flat.jsonl > want
	sed -n 1,2p want | cmp - <(sed -n 1,2p flat.out)
	[ "$(sed -n 3p flat.out)" = '{"b":null,"a":"dup"}' ]
	[ "$(sed -n 10p flat.out)" = '{}' ]
	run cspipe run <(printf 'stages:\n  - stdin: {codec: json}\n  - map: {keep: [.a]}\n') <<< '[1]'
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a JSON object"* ]]
}
