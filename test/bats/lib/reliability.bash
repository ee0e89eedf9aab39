# SPDX-License-Identifier: MIT
# Helpers for the reliability matrix (20-pipeline-errors, 70-bad-data,
# 75-output-failures, 80-signals).  Load after helpers:
#
#	load helpers
#	load lib/reliability

LIB=$BATS_TEST_DIRNAME/lib

# Sanitizer builds are 5-10x slower and use more memory: bounds for
# "promptly" and "bounded memory" are scaled by slowdown.
sanitized() {
	[[ $CSPIPE == */build/thread/* || $CSPIPE == */build/address* ]]
}
under_tsan() {
	[[ $CSPIPE == */build/thread/* ]]
}
slowdown() {
	if under_tsan; then
		echo 10
	elif sanitized; then
		echo 4
	else
		echo 1
	fi
}

# now: seconds since the epoch, with microseconds.
now() {
	echo "$EPOCHREALTIME"
}

# within T0 LIMIT: true when less than LIMIT seconds (a decimal) passed
# since T0 (from now); prints the time taken for the test's log.
within() {
	local took
	took=$(awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}')
	echo "took ${took}s (limit ${2}s)"
	awk -v t="$took" -v l="$2" 'BEGIN {exit !(t < l)}'
}

# rejected FILE: `cspipe validate FILE` and `cspipe run FILE` both exit 2,
# print nothing on standard output, print the same errors, and every error
# line is `cspipe: FILE:LINE:COL: message`.  Leaves the run's result in
# $status, $output and $stderr (and $stderr_lines) for the caller.
rejected() {
	local f=$1 v
	run --separate-stderr cspipe validate "$f"
	echo "validate: status $status"
	printf '%s\n' "$stderr"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	v=$stderr
	run --separate-stderr cspipe run "$f" < /dev/null
	echo "run: status $status"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "$v" ]
	all_positioned "$f"
}

# all_positioned FILE: every line of $stderr is `cspipe: FILE:LINE:COL: ...`,
# and there is at least one.
all_positioned() {
	local line
	[ "${#stderr_lines[@]}" -gt 0 ]
	for line in "${stderr_lines[@]}"; do
		[[ $line =~ ^cspipe:\ $1:[1-9][0-9]*:[1-9][0-9]*:\ [^\ ] ]] ||
			{ echo "not positioned: $line"; return 1; }
	done
}

# has_line TEXT: $stderr holds exactly this line.
has_line() {
	grep -Fxq -- "$1" <<<"$stderr" || { echo "missing line: $1"; return 1; }
}

# maxrss REPORT COMMAND...: run COMMAND (not under the timeout wrapper: the
# peak measured is the command's own), writing its peak RSS in KiB to REPORT.
maxrss() {
	local report=$1
	shift
	timeout -k 5 "${CSPIPE_TIMEOUT:-120}" python3 "$LIB/maxrss.py" "$report" "$@"
}

# unprivileged COMMAND...: run COMMAND as root without the capabilities
# that let root ignore file permissions (CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH), so that a mode of 000, 444 or 555 on root's own
# files holds for it as for any user.  (Not a switch to another user: on a
# fresh machine the checkout and the libraries it was built against may be
# readable by root alone.)  A user other than root has no such capability.
unprivileged() {
	if [ "$(id -u)" -ne 0 ]; then
		"$@"
		return
	fi
	setpriv --inh-caps=-dac_override,-dac_read_search \
		--bounding-set=-dac_override,-dac_read_search -- "$@"
}

# no_temp_files DIR: the file sink left no .NAME.cspipe-XXXXXX behind.
no_temp_files() {
	local left
	left=$(find "$1" -maxdepth 1 -name '.*.cspipe-*')
	[ -z "$left" ] || { echo "temporary files left: $left"; return 1; }
}

# no_process_with MARKER: no process has MARKER in its command line (reads
# /proc, so that the tests need no procps).  The bracket keeps grep from
# finding its own command line.
no_process_with() {
	local pat="${1:0:1}[${1:1:1}]${1:2}" hits
	hits=$(grep -ls -- "$pat" /proc/[0-9]*/cmdline || true)
	[ -z "$hits" ] || { echo "still running: $hits"; return 1; }
}
