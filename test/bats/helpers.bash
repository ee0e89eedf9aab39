# SPDX-License-Identifier: MIT
# Shared by every bats file: where the binary and the real logs are, a
# fresh folder per test, and the binary run under a generous timeout so a
# hang fails the test instead of the suite.

CSPIPE=${CSPIPE:-$BATS_TEST_DIRNAME/../../cspipe}
LOGHUB=${LOGHUB:-$BATS_TEST_DIRNAME/../../../shared/data/loghub}
TOP=${CSPIPE_TOP:-$BATS_TEST_DIRNAME/../..}
# The same samples in Loghub's structured form: CSV and JSON Lines.
STRUCT=${LOGHUB_STRUCTURED:-$LOGHUB/../loghub-structured}
export LC_ALL=C

setup() {
	needs_loghub_check
	TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/cspipe-test.XXXXXX")
	cd "$TMP" || return 1
}

# The test's folder goes with a test that passed (some hold hundreds of
# MiB); a failed test's stays, to be looked at.  A file with a teardown of
# its own calls this.
teardown() {
	tmp_remove
}

tmp_remove() {
	if [ -n "${BATS_TEST_COMPLETED:-}" ] && [ -n "${TMP:-}" ] && [ -d "$TMP" ]; then
		cd / && rm -rf "$TMP"
	fi
}

# A test that reads the real logs (its body names LOGHUB, or a function
# that does, however indirectly) is skipped with one line saying why when
# they are not there.  test/run.py counts a skip as a failure under CI,
# so CI cannot pass without them.
needs_loghub_check() {
	local fn uses=LOGHUB more=1
	local -A seen=()
	[ -d "$LOGHUB" ] && return 0
	while [ -n "$more" ]; do
		more=
		for fn in $(declare -F | awk '$3 !~ /^(bats_|needs_loghub_check$|setup$|teardown$)/ {print $3}'); do
			[ -n "${seen[$fn]:-}" ] && continue
			if declare -f "$fn" | tail -n +2 | grep -Eq "$uses"; then
				seen[$fn]=1
				uses="$uses|\\b$fn\\b"
				more=1
			fi
		done
	done
	if declare -f "$BATS_TEST_NAME" | tail -n +2 | grep -Eq "$uses"; then
		skip "the real logs are not in $LOGHUB: set LOGHUB to the loghub folder"
	fi
}

# cspipe ARGS...: the binary under a 120 s safety net (sanitizer builds are
# slow; a healthy run takes well under a second).
cspipe() {
	timeout -k 5 "${CSPIPE_TIMEOUT:-120}" "$CSPIPE" "$@"
}

# The logs, all sixteen, concatenated in name order.
all_logs() {
	cat "$LOGHUB"/*_2k.log
}

# What cspipe writes for a log: every record ends with a newline, the last
# one too (as grep, sort and awk do).
with_final_newline() {
	awk 1 "$@"
}

# pipeline NAME <<'YAML' ... writes a pipeline file into the test folder.
pipeline() {
	cat > "$TMP/$1"
}

# The JSON stats accounting: read + created = written + filtered + dropped.
accounting_adds_up() {
	python3 - "$@" <<'PY'
import json, sys
for path in sys.argv[1:]:
    s = json.load(open(path))
    lhs = s["records_read"] + s["records_created"]
    rhs = s["records_written"] + s["records_filtered"] + s["records_dropped"]
    if lhs != rhs:
        # Every stage's counters too, so that a failure says where records went.
        for st in s["stages"]:
            print("  %s (%s): in %d created %d out %d filtered %d dropped %d"
                  % (st["name"], st["kind"], st["records_in"], st["created"],
                     st["records_out"], st["filtered"], st["dropped"]))
        sys.exit("%s: read %d + created %d != written %d + filtered %d + dropped %d"
                 % (path, s["records_read"], s["records_created"], s["records_written"],
                    s["records_filtered"], s["records_dropped"]))
    for st in s["stages"]:
        l = st["records_in"] + st["created"]
        r = st["records_out"] + st["filtered"] + st["dropped"]
        if l != r:
            sys.exit("%s: stage %s: in %d + created %d != out %d + filtered %d + dropped %d"
                     % (path, st["name"], st["records_in"], st["created"], st["records_out"],
                        st["filtered"], st["dropped"]))
    # What a stage sent is what its readers took in, bytes too (where the
    # readers read that stage alone, so that their figures can be split).
    names = {st["name"] for st in s["stages"]}
    readers = {}
    for st in s["stages"]:
        for f in st["from"]:
            if f not in names:
                f = f.rsplit(".", 1)[0]    # a route's port: STAGE.CASE
            readers.setdefault(f, []).append(st)
    for st in s["stages"]:
        rs = readers.get(st["name"], [])
        if rs and all(len(r["from"]) == 1 for r in rs):
            for key in ("records", "bytes"):
                sent = st[key + "_out"]
                took = sum(r[key + "_in"] for r in rs)
                if sent != took:
                    sys.exit("%s: stage %s sent %d %s, its readers took in %d"
                             % (path, st["name"], sent, key, took))
PY
}

# The sixteen logs as cspipe reads them: one file after another, each
# file's last line given its newline.
all_logs_lines() {
	awk 1 "$LOGHUB"/*_2k.log
}
