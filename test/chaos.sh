#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# chaos.sh [CSPIPE] [RUNS]: run one pipeline (two workers per stage, gzip
# into a file) RUNS times (default 200), each with a fault chosen at random
# and struck at a random moment once cspipe runs: SIGINT, SIGTERM, a second signal, a
# deadline, a full disk (a small tmpfs; needs root), a closed standard
# output (the reader goes away), a killed exec child.  After each run:
#
#   - the exit status is one the fault allows;
#   - the target is either the old file, byte for byte, or a valid gzip
#     stream of whole records in input order (all of them after exit 0);
#   - no temporary file is left beside the target;
#   - the --stats=json report adds up, in total and per stage.
#
# Prints the figure (runs, faults of each kind, failures) and ends with
# `N passed, N failed`; exits 1 on any failure.
set -uo pipefail

cspipe=$(realpath "${1:-./cspipe}")
runs=${2:-200}
records=100000

work=$(mktemp -d /tmp/cspipe-chaos.XXXXXX)
disk=$work/disk
cleanup() {
	if mountpoint -q "$disk" 2>/dev/null; then
		umount "$disk"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

can_mount=0
mkdir "$disk"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k tmpfs "$disk" 2>/dev/null; then
	can_mount=1
	umount "$disk"
fi

printf 'old 1\nold 2\n' | gzip -c > old.gz

faults=(sigint sigterm second deadline full closed killchild)
declare -A count=() fails=()
for f in "${faults[@]}"; do
	count[$f]=0
	fails[$f]=0
done
passed=0
failed=0

pipeline() {
	local sink=$1
	printf '%s\n' \
		"shutdown_timeout: 10s" \
		"stages:" \
		"  - generate: {count: $records, template: 'line \$n'}" \
		"  - {filter: line, workers: 2}" \
		"  - {map: {case: upper}, workers: 2}" \
		"  - {exec: {command: [cat], retries: 0}, workers: 2}" \
		"  - {compress: gzip, workers: 2}" \
		"  - $sink"
}
pipeline "file: {path: out.gz}" > file.yaml
pipeline "stdout: {}" > stdout.yaml

# check_stats ERRFILE: the JSON report (the last line of stderr that is
# one) adds up.
check_stats() {
	python3 - "$1" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1], errors="replace") if l.startswith("{")]
if not lines:
    sys.exit("no --stats=json report")
s = json.loads(lines[-1])
if s["records_read"] + s["records_created"] != \
   s["records_written"] + s["records_filtered"] + s["records_dropped"]:
    sys.exit("totals do not add up: %s" % lines[-1].strip())
for st in s["stages"]:
    if st["records_in"] + st["created"] != st["records_out"] + st["filtered"] + st["dropped"]:
        sys.exit("stage %s does not add up" % st["name"])
PY
}

# check_target FILE STATUS ERRFILE: FILE is the old file, or a valid gzip
# stream of LINE 1, LINE 2, ... (all of them when STATUS is 0).
check_target() {
	local f=$1 st=$2 n
	if cmp -s old.gz "$f"; then
		[ "$st" -ne 0 ] || { echo "exit 0 but the target is the old file"; return 1; }
		return 0
	fi
	gzip -t "$f" 2>/dev/null || { echo "the target is not a valid gzip stream"; return 1; }
	n=$(zcat "$f" | awk '$0 != "LINE " NR { print "record " NR ": " $0; exit 1 } END { print NR }') ||
		{ echo "the target is not whole records in order: $n"; return 1; }
	if [ "$st" -eq 0 ] && [ "$n" -ne "$records" ]; then
		echo "exit 0 but $n of $records records"
		return 1
	fi
	if [ "$st" -eq 1 ]; then
		echo "exit 1 but the target was replaced"
		return 1
	fi
}

no_temp() {
	local left
	left=$(find "$1" -maxdepth 1 -name '.*.cspipe-*')
	[ -z "$left" ] || { echo "temporary files left: $left"; return 1; }
}

# children PID: the processes whose parent is PID (from /proc, so that
# no procps is needed).
children() {
	local s pid ppid rest
	for s in /proc/[0-9]*/stat; do
		# The command name may hold spaces: the fields after it count.
		{ read -r rest < "$s"; } 2>/dev/null || continue
		pid=${rest%% *}
		rest=${rest##*) }
		read -r _ ppid _ <<<"$rest"
		if [ "$ppid" = "$1" ]; then
			echo "$pid"
		fi
	done
}

# ready PID: wait until PID runs cspipe and holds SIGINT and SIGTERM for
# its signal thread (blocked in /proc/PID/status), as every signal test
# does: a signal before that meets the default action, as for any program
# not yet started, and is not a fault of cspipe's.
ready() {
	local i blk
	for ((i = 0; i < 2000; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		if [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$cspipe" ]; then
			blk=$(awk '/^SigBlk:/ {print $2}' "/proc/$1/status" 2>/dev/null)
			# Bits 1 and 14: SIGINT (2) and SIGTERM (15).
			[ -n "$blk" ] && (((0x$blk & 0x4002) == 0x4002)) && return 0
		fi
		sleep 0.005
	done
}

for ((i = 1; i <= runs; i++)); do
	fault=${faults[RANDOM % ${#faults[@]}]}
	if [ "$fault" = full ] && [ "$can_mount" = 0 ]; then
		fault=sigint
	fi
	count[$fault]=$((count[$fault] + 1))
	delay=$(printf '0.%03d' $((RANDOM % 250)))
	dir=.
	allowed="0"
	rm -f out.gz err
	cp old.gz out.gz
	case $fault in
	sigint|second) allowed="0 130" ;;
	sigterm) allowed="0 143" ;;
	deadline) allowed="0 124" ;;
	full) allowed="1"
		mount -t tmpfs -o size=64k tmpfs "$disk"
		cp old.gz "$disk/out.gz"
		dir=$disk ;;
	closed) allowed="0" ;;
	killchild) allowed="0 1" ;;
	esac

	if [ "$fault" = closed ]; then
		timeout -k 5 60 "$cspipe" run --stats=json stdout.yaml 2> err |
			head -c $((RANDOM * 8)) > /dev/null
		st=${PIPESTATUS[0]}
	elif [ "$fault" = full ]; then
		timeout -k 5 60 "$cspipe" run --stats=json -o "$disk/out.gz" file.yaml 2> err
		st=$?
	else
		args=()
		[ "$fault" = deadline ] && args=(-t "$((RANDOM % 250 + 1))ms")
		"$cspipe" run --stats=json "${args[@]}" file.yaml 2> err &
		pid=$!
		case $fault in
		sigint|sigterm|second|killchild) ready "$pid"; sleep "$delay" ;;
		esac
		case $fault in
		sigint) kill -INT "$pid" 2>/dev/null ;;
		sigterm) kill -TERM "$pid" 2>/dev/null ;;
		second)
			kill -INT "$pid" 2>/dev/null
			sleep 0.3
			kill -INT "$pid" 2>/dev/null ;;
		killchild)
			for c in $(children "$pid"); do
				kill -KILL "$c" 2>/dev/null
			done ;;
		esac
		wait "$pid"
		st=$?
	fi

	why=""
	case " $allowed " in
	*" $st "*) ;;
	*) why="exit $st, expected one of: $allowed" ;;
	esac
	if [ -z "$why" ] && [ "$fault" != closed ]; then
		why=$(check_target "$dir/out.gz" "$st" err) || true
	fi
	if [ -z "$why" ]; then
		why=$(no_temp "$dir") || true
	fi
	if [ -z "$why" ]; then
		why=$(check_stats err 2>&1) || true
	fi
	if [ "$fault" = full ]; then
		umount "$disk"
	fi
	if [ -n "$why" ]; then
		failed=$((failed + 1))
		fails[$fault]=$((fails[$fault] + 1))
		echo "run $i ($fault after ${delay}s): $why"
		sed 's/^/    /' err | head -n 5
	else
		passed=$((passed + 1))
	fi
done

line="chaos: $runs runs;"
for f in "${faults[@]}"; do
	line="$line $f ${count[$f]} (${fails[$f]} failed),"
done
[ "$can_mount" = 1 ] || line="$line full disk not tried (needs root),"
echo "${line%,}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
