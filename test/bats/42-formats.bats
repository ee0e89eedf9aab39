#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# zstd, xz and bzip2 against their own commands on the real logs: the
# sources' detection, the decompress stage, compress: zstd, and the
# errors for truncated, corrupt and trailing data; gzip's independent
# blocks (pigz -i).

load helpers
bats_require_minimum_version 1.5.0

# Made once for the file, by the commands themselves, in $ENC:
#   cat.CMD    each log compressed on its own, the sixteen concatenated:
#              many frames or streams in one file, as `cat *.zst` makes
#   one.CMD    the logs concatenated, then compressed: one frame or stream
#   want       the logs' bytes as a lines source reads them (a final newline)
setup_file() {
	ENC=$BATS_FILE_TMPDIR/enc
	export ENC
	[ -d "$LOGHUB" ] || return 0
	mkdir -p "$ENC"
	cat "$LOGHUB"/*_2k.log | awk 1 > "$ENC/want"
	cat "$LOGHUB"/*_2k.log > "$ENC/plain"
	for cmd in zstd xz bzip2; do
		for f in "$LOGHUB"/*_2k.log; do
			$cmd -q -c < "$f"
		done > "$ENC/cat.$cmd"
		$cmd -q -c < "$ENC/plain" > "$ENC/one.$cmd"
	done
}

# The encodings above, for a test (its body names LOGHUB, so that it is
# skipped without the logs).
encoded() {
	[ -d "$LOGHUB" ] && cp "$ENC"/* .
}

@test "files and stdin detect zstd, xz and bzip2 and read every frame, as the commands do" {
	encoded
	for cmd in zstd xz bzip2; do
		mv cat.$cmd in.$cmd
		$cmd -dc in.$cmd | awk 1 | cmp - want
		[ "$cmd" != zstd ] || {
			# a skippable frame first, as zstd -d passes over it
			printf '\x50\x2a\x4d\x18\x04\x00\x00\x00skip' | cat - in.zstd > s.zstd
			zstd -q -dc s.zstd | awk 1 | cmp - want
			cspipe run -e '{stages: [{files: [s.zstd]}]}' | cmp - want
		}
		cspipe run -e '{stages: [{files: [in.'$cmd']}]}' > out
		cmp out want
		cspipe run -e '{stages: [{map: {prefix: "+"}}]}' < in.$cmd > out
		sed 's/^/+/' want | cmp - out
	done
}

@test "decompress reads zstd, xz and bzip2 under auto and under its own format" {
	encoded
	for cmd in zstd xz bzip2; do
		mv cat.$cmd in.$cmd
		cspipe run -e '{stages: [{files: [in.'$cmd']}, decompress: auto]}' > out
		cmp out want
		fmt=$cmd
		cspipe run -e '{stages: [{stdin: {format: chunk}}, {decompress: '$fmt'}]}' < in.$cmd > out
		cmp out want
		# The newline a lines source adds after the data is not data.
		(cat in.$cmd; printf '\n') > nl.$cmd
		cspipe run -e '{stages: [{files: [nl.'$cmd']}, decompress: '$fmt']}' > out
		cmp out want
	done
	run --separate-stderr cspipe run -e '{stages: [{files: [in.xz]}, decompress: zstd]}'
	[ "$status" -eq 1 ]
	[ "$stderr" = "cspipe: decompress: corrupt zstd data in in.xz at byte 0: not in zstd format" ]
}

@test "compress: zstd makes frames that zstd -d reads back, on any number of workers" {
	all_logs_lines > want
	for w in 1 3; do
		cspipe run -e "{stages: [{compress: {format: zstd, level: 3}, workers: $w}]}" < want > out.zst
		zstd -q -t out.zst
		zstd -q -dc out.zst | cmp - want
		# and cspipe reads its own output
		cspipe run -e '{stages: [map: {prefix: ""}]}' < out.zst | cmp - want
	done
	# A higher level is smaller, as with the command.
	cspipe run -e '{stages: [{compress: {format: zstd, level: 1}}]}' < want > l1.zst
	cspipe run -e '{stages: [{compress: {format: zstd, level: 19}}]}' < want > l19.zst
	[ "$(stat -c %s l19.zst)" -lt "$(stat -c %s l1.zst)" ]
	# Empty input is one empty frame, not nothing.
	cspipe run -e '{stages: [compress: zstd]}' < /dev/null > empty.zst
	[ -s empty.zst ]
	[ "$(zstd -q -dc empty.zst | wc -c)" -eq 0 ]
}

@test "compress rejects a level its format does not have" {
	run --separate-stderr cspipe validate -e '{stages: [{compress: {format: gzip, level: 12}}]}'
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:44: level: 12 is out of range 0..9" ]
	run --separate-stderr cspipe validate -e '{stages: [{compress: {format: zstd, level: 0}}]}'
	[ "$status" -eq 2 ]
	[ "$stderr" = "cspipe: -e:1:44: level: 0 is not a zstd level (-7..-1 or 1..19)" ]
	run cspipe validate -e '{stages: [{compress: {format: zstd, level: 19}}]}'
	[ "$status" -eq 0 ]
}

@test "truncated, corrupt and trailing zstd, xz and bzip2 data are errors naming the file and the byte" {
	encoded
	for cmd in zstd xz bzip2; do
		mv one.$cmd in.$cmd
		head -c 50000 in.$cmd > trunc.$cmd
		run --separate-stderr cspipe run -e '{stages: [{files: [trunc.'$cmd']}]}'
		[ "$status" -eq 1 ]
		[ "$stderr" = "cspipe: files: trunc.$cmd: truncated $cmd data (the stream ends at byte 50000)" ]
		(cat in.$cmd; echo garbage) > garb.$cmd
		size=$(stat -c %s in.$cmd)
		run --separate-stderr cspipe run -e '{stages: [{files: [garb.'$cmd']}]}'
		[ "$status" -eq 1 ]
		[ "$stderr" = "cspipe: files: garb.$cmd: trailing garbage after $cmd data at byte $size" ]
		run --separate-stderr cspipe run -e '{stages: [{files: [garb.'$cmd']}, decompress: auto]}'
		[ "$status" -eq 1 ]
		[ "$stderr" = "cspipe: decompress: trailing garbage after $cmd data in garb.$cmd at byte $size" ]
		# Bytes changed in the middle: the command fails, and so do we,
		# naming the format and where decoding stopped (zstd may see the
		# damage only at the frame's checksum, after its data went on).
		cp in.$cmd bad.$cmd
		printf 'XXXXXXXX' | dd of=bad.$cmd bs=1 seek=100000 conv=notrunc 2>/dev/null
		run $cmd -dc bad.$cmd
		[ "$status" -ne 0 ]
		run --separate-stderr cspipe run -e '{stages: [{files: [bad.'$cmd']}]}'
		[ "$status" -eq 1 ]
		[[ $stderr =~ ^"cspipe: files: bad.$cmd: corrupt $cmd data at byte "[0-9]+": ". ]]
	done
}

@test "a text line that starts like a bzip2 header is read as text" {
	# (ten bytes decide: "BZh91AY&SY" itself would be bzip2's magic)
	printf 'BZh9 is not bzip2\nBZh91AY&S either\n' > t.log
	cspipe run -e '{stages: [{files: [t.log]}]}' | cmp - t.log
	printf '(\265/ plain\n' > z.log
	cspipe run -e '{stages: [{files: [z.log]}]}' | cmp - z.log
}

@test "compress independent: true is one gzip stream whose batches decode alone, as pigz -i" {
	all_logs_lines > want
	for w in 1 2; do
		cspipe run -e "{stages: [{compress: {independent: true}, workers: $w}]}" < want > ind.gz
		gzip -dc ind.gz | cmp - want
	done
	cspipe run -e '{stages: [compress: gzip]}' < want > dep.gz
	# After each batch's sync flush marker (00 00 ff ff) raw deflate can
	# start again only when no match reaches back across it.
	python3 - ind.gz dep.gz want <<'PY'
import sys, zlib
want = open(sys.argv[3], 'rb').read()
def restarts(path):
    data = open(path, 'rb').read()
    n, at = 0, data.find(b'\x00\x00\xff\xff', 10)
    while at >= 0 and at < len(data) - 20:
        try:
            out = zlib.decompressobj(-15).decompress(data[at + 4:])
            if out and want.endswith(out):
                n += 1
        except zlib.error:
            pass
        at = data.find(b'\x00\x00\xff\xff', at + 1)
    return n
ind, dep = restarts(sys.argv[1]), restarts(sys.argv[2])
# 4.4 MB in batches of 128 KiB: about 34 restart points.
if ind < 20 or dep > 2:
    sys.exit('restart points: independent %d, default %d' % (ind, dep))
PY
}
