#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Watching a long run: --stats=json:FILE (atomic, whatever the outcome),
# --stats-interval, and the metrics server of --metrics-addr (/metrics in
# Prometheus text, /healthz, /stats), its shutdown and a port in use.

bats_require_minimum_version 1.5.0
load helpers
load lib/longrun

# A run reading the fifo `in` (BG_IN), kept open by this shell on fd 5,
# so that it lasts until the test closes it.
fifo_open() {
	mkfifo in
	exec 5<> in
	BG_IN=in
}

@test "--stats=json:FILE: the stats object in a file; graph --stats reads it" {
	cspipe run --stats=json:s.json -e '{stages: [{filter: ERROR}]}' "$LOGHUB/Hadoop_2k.log" > out
	accounting_adds_up s.json
	[ "$(jq -r .outcome s.json)" = ok ]
	[ "$(jq .records_read s.json)" -eq 2000 ]
	[ "$(jq .records_written s.json)" -eq "$(wc -l < out)" ]
	# Only the two files: no temporary file left behind.
	[ "$(ls -A | tr '\n' ' ')" = "out s.json " ]
	run cspipe graph --stats s.json -e '{stages: [{filter: ERROR}]}'
	[ "$status" -eq 0 ]
	[[ $output == *"2000"* ]]
}

@test "--stats=json:FILE is written when the run fails, at start or later" {
	run cspipe run --stats=json:s.json -e '{stages: [{exec: {command: "exit 3"}}]}' \
		"$LOGHUB/Hadoop_2k.log"
	[ "$status" -eq 1 ]
	[ "$(jq -r .outcome s.json)" = error ]
	[ "$(jq .exit_code s.json)" -eq 1 ]
	run cspipe run --stats=json:s2.json -o "$TMP/no/such/dir/out" -e '{stages: [{filter: x}]}' \
		"$LOGHUB/Hadoop_2k.log"
	[ "$status" -eq 1 ]
	[ "$(jq -r .outcome s2.json)" = error ]
	run cspipe graph --stats s2.json -e '{stages: [{filter: x}]}' -o x
	run cspipe graph --stats s.json -e '{stages: [{exec: {command: "exit 3"}}]}'
	[ "$status" -eq 0 ]
}

@test "--stats-interval rewrites the file during the run" {
	fifo_open
	bg_start out run --stats=json:s.json --stats-interval 50ms -e '{stages: [{filter: a}]}'
	printf 'a1\nb\na2\n' >&5
	wait_for "3 records in the stats file" \
		sh -c '[ "$(jq .records_read s.json 2>/dev/null)" = 3 ]'
	[ "$(jq -r .outcome s.json)" = running ]
	printf 'a3\n' >&5
	wait_for "4 records in the stats file" \
		sh -c '[ "$(jq .records_read s.json 2>/dev/null)" = 4 ]'
	exec 5>&-
	bg_wait
	[ "$rc" -eq 0 ]
	[ "$(jq -r .outcome s.json)" = ok ]
	[ "$(jq .records_written s.json)" -eq 3 ]
	[ "$(cat out)" = "$(printf 'a1\na2\na3')" ]
}

@test "--stats-interval needs a file; bad values are usage errors" {
	run cspipe run --stats-interval 1s -e '{stages: [{filter: a}]}'
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: run: --stats-interval needs --stats=json:FILE" ]
	run cspipe run --stats=json:s.json --stats-interval 0s -e '{stages: [{filter: a}]}'
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "cspipe: run: --stats-interval: bad duration '0s'"* ]]
	run cspipe run --stats=jsn -e '{stages: [{filter: a}]}'
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "cspipe: run: --stats takes 'json', 'json:FILE' or 'table', got 'jsn'" ]
}

@test "metrics: a scrape during the run; its figures are those of --stats=json at the end" {
	fifo_open
	bg_start out run --metrics-addr 127.0.0.1:0 --stats=json:s.json \
		-e '{name: errs, stages: [{name: errors, filter: ERROR, workers: 2}, {map: {case: upper}}]}'
	metrics_addr
	want=$(grep -c ERROR "$LOGHUB/Hadoop_2k.log")
	awk 1 "$LOGHUB/Hadoop_2k.log" >&5
	wait_for "$want records written, per /metrics" sh -c \
		"curl -sf http://$addr/metrics | grep -qx 'cspipe_records_written_total $want'"
	curl -sf -o metrics.txt "http://$addr/metrics"
	run curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz"
	[ "$output" = 200 ]
	curl -sf "http://$addr/stats" > live.json
	[ "$(jq -r .outcome live.json)" = running ]
	[ "$(jq .records_read live.json)" -eq 2000 ]
	# Every family has its HELP and TYPE lines, every sample its labels.
	for fam in $(awk '$1 !~ /^#/ {sub(/\{.*/, "", $1); print $1}' metrics.txt | sort -u); do
		grep -q "^# HELP $fam " metrics.txt
		grep -Eq "^# TYPE $fam (counter|gauge)$" metrics.txt
	done
	grep -q '^cspipe_stage_workers{stage="errors",kind="filter"} 2$' metrics.txt
	grep -q '^cspipe_info{pipeline="errs",state="running",bottleneck="[a-z]*"} 1$' metrics.txt
	[ "$(metric cspipe_stage_channel_capacity 'stage="errors",kind="filter"')" -eq 16 ]
	exec 5>&-
	bg_wait
	[ "$rc" -eq 0 ]
	[ "$(wc -l < out)" -eq "$want" ]
	accounting_adds_up s.json
	# Nothing arrived after the scrape: the counts are the final ones.
	for st in stdin errors map stdout; do
		kind=$(jq -r ".stages[] | select(.name == \"$st\") | .kind" s.json)
		for pair in records_in:records_in records_out:records_out bytes_in:bytes_in \
			    bytes_out:bytes_out filtered:records_filtered dropped:records_dropped; do
			j=${pair%%:*} m=${pair#*:}
			[ "$(jq ".stages[] | select(.name == \"$st\") | .$j" s.json)" = \
			  "$(metric "cspipe_stage_${m}_total" "stage=\"$st\",kind=\"$kind\"")" ] ||
				{ echo "$st $j differs"; false; }
		done
	done
	[ "$(metric cspipe_records_read_total)" -eq "$(jq .records_read s.json)" ]
	[ "$(metric cspipe_records_filtered_total)" -eq "$(jq .records_filtered s.json)" ]
}

@test "metrics: unknown paths are 404, other methods 405; metrics_addr in the file" {
	fifo_open
	pipeline p.yaml <<'YAML'
metrics_addr: 127.0.0.1:0
stages: [{filter: a}]
YAML
	bg_start out run p.yaml
	metrics_addr
	run curl -s -o /dev/null -w '%{http_code}' "http://$addr/nothing"
	[ "$output" = 404 ]
	run curl -s -o /dev/null -w '%{http_code}' -X POST "http://$addr/metrics"
	[ "$output" = 405 ]
	exec 5>&-
	bg_wait
	[ "$rc" -eq 0 ]
}

@test "metrics: during the drain /healthz is 503 and every scrape is a whole response" {
	# A command that never ends keeps the drain going until it is cut,
	# three quarters into shutdown_timeout.
	pipeline p.yaml <<'YAML'
shutdown_timeout: 4s
stages:
  - generate: {count: 0}
  - rate: 5000/s
  - exec: [sh, -c, "cat; sleep 60"]
YAML
	bg_start /dev/null run --metrics-addr 127.0.0.1:0 p.yaml
	metrics_addr
	curl -sf -o /dev/null "http://$addr/metrics"
	# Scrape without pause until the process is gone: each answer is
	# whole (curl checks the length; the last family is there) or the
	# connection is refused once the server has closed.
	(
		n=0
		while kill -0 "$pid" 2> /dev/null; do
			c=0
			curl -s --max-time 10 -o "scrape.$n" "http://$addr/metrics" || c=$?
			echo "$c $n" >> scrapes
			n=$((n + 1))
		done
	) &
	scraper=$!
	wait_for "a few scrapes" sh -c '[ "$(cat scrapes 2>/dev/null | wc -l)" -ge 3 ]'
	kill -TERM "$pid"
	wait_for "/healthz to say draining" sh -c \
		"[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$addr/healthz)\" = 503 ]"
	curl -sf -o metrics.txt "http://$addr/metrics"
	grep -q 'state="draining"' metrics.txt
	bg_wait
	[ "$rc" -eq 143 ]
	wait "$scraper"
	# A connection that reaches the listening socket in the instant it is
	# closed is reset (curl 52 or 56), as by any server that stops; after
	# that every scrape is refused (7).  Before it, every answer is whole.
	local closed=
	while read -r c n; do
		case $c in
		0) [ -z "$closed" ] || { echo "scrape $n answered after the server closed"; false; }
		   [[ $(tail -n 1 "scrape.$n") == "cspipe_info{"*"} 1" ]] ||
			{ echo "scrape $n torn"; tail -c 200 "scrape.$n"; false; } ;;
		7) closed=1 ;;
		52|56) [ -z "$closed" ] || { echo "scrape $n: curl exit $c after refusals"; false; }
		   closed=1 ;;
		*) echo "scrape $n: curl exit $c"; false ;;
		esac
	done < scrapes
}

@test "metrics: a port past 65535 is an error, not another port" {
	echo a > input
	for port in 65536 99999 -1 8x; do
		run --separate-stderr cspipe run --metrics-addr "127.0.0.1:$port" -e '{stages: [{filter: a}]}' input
		[ "$status" -eq 1 ]
		[ "$stderr" = "cspipe: metrics: bad address '127.0.0.1:$port' (the port is a number, 0 to 65535)" ]
		[ -z "$output" ]
	done
}

@test "metrics: a port in use is an error naming the address, exit 1, nothing run" {
	fifo_open
	bg_start out run --metrics-addr 127.0.0.1:0 -e '{stages: [{filter: a}]}'
	metrics_addr
	echo a > input
	run --separate-stderr cspipe run --metrics-addr "$addr" -e '{stages: [{filter: a}]}' input
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: metrics: cannot listen on $addr: Address already in use" ]
	[ -z "$output" ]
	run --separate-stderr cspipe run --metrics-addr nonsense -e '{stages: [{filter: a}]}' input
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: metrics: bad address 'nonsense' (expected HOST:PORT, e.g. 127.0.0.1:9100)" ]
	exec 5>&-
	bg_wait
	[ "$rc" -eq 0 ]
}
