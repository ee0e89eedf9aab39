#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# compress and decompress against gzip, zcat, pigz and Python's gzip and
# zlib modules, on the real logs and on random bytes.

load helpers

# The logs as cspipe writes them (a final newline), in a file.
logs_file() {
	all_logs | with_final_newline > all.log
}

# decompress reading raw bytes (chunks: no framing, no gunzip by the source).
unz() {
	cspipe run -e "{stages: [{stdin: {format: chunk}}, {name: unz, decompress: ${1:-auto}}]}"
}

@test "compress: gzip of the real logs passes gzip -t, zcat, pigz -d and python" {
	logs_file
	cspipe run -e '{stages: [{compress: gzip}]}' < all.log > out.gz
	gzip -t out.gz
	zcat out.gz | cmp - all.log
	pigz -dc out.gz | cmp - all.log
	python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())' out.gz |
		cmp - all.log
}

@test "compress on 1, 2 and 4 workers: one valid stream, same bytes back" {
	logs_file
	for w in 1 2 4; do
		cspipe run -e "{stages: [{compress: gzip, workers: $w}]}" < all.log > out$w.gz
		gzip -t out$w.gz
		pigz -t out$w.gz
		zcat out$w.gz > back$w
	done
	cmp back1 all.log
	cmp back1 back4
	cmp back2 back4
}

@test "compress -6 on 2 workers is within 1% of pigz -p2 -6" {
	logs_file
	cspipe run -e '{stages: [{compress: {format: gzip, level: 6}, workers: 2}]}' \
		< all.log > ours.gz
	pigz -p2 -6 -c < all.log > pigz.gz
	ours=$(wc -c < ours.gz) theirs=$(wc -c < pigz.gz)
	echo "cspipe $ours bytes, pigz $theirs bytes"
	[ $((ours * 100)) -le $((theirs * 101)) ]
	[ $((theirs * 100)) -le $((ours * 101)) ]
}

@test "compress levels 0, 1 and 9 are valid gzip; 9 is smallest, 0 stores" {
	logs_file
	for l in 0 1 9; do
		cspipe run -e "{stages: [{compress: {level: $l}, workers: 3}]}" < all.log > l$l.gz
		gzip -t l$l.gz
		zcat l$l.gz | cmp - all.log
	done
	[ "$(wc -c < l9.gz)" -lt "$(wc -c < l1.gz)" ]
	[ "$(wc -c < l0.gz)" -gt "$(wc -c < all.log)" ]
}

@test "compress zlib and deflate formats are what python's zlib reads" {
	logs_file
	cspipe run -e '{stages: [{compress: zlib, workers: 2}]}' < all.log > out.zz
	cspipe run -e '{stages: [{compress: deflate, workers: 2}]}' < all.log > out.raw
	python3 -c 'import zlib, sys; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1], "rb").read()))' \
		out.zz | cmp - all.log
	python3 -c 'import zlib, sys; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1], "rb").read(), -15))' \
		out.raw | cmp - all.log
}

@test "compress of empty input is a valid empty gzip stream" {
	cspipe run -e '{stages: [{compress: gzip, workers: 2}]}' < /dev/null > e.gz
	gzip -t e.gz
	[ "$(zcat e.gz | wc -c)" -eq 0 ]
	[ "$(wc -c < e.gz)" -eq 20 ]
}

@test "compress and decompress of binary data in chunks, byte for byte" {
	head -c 1000000 /dev/urandom > bin
	cspipe run -e '{stages: [{stdin: {format: chunk}}, {compress: gzip, workers: 3}]}' \
		< bin > bin.gz
	gzip -t bin.gz
	zcat bin.gz | cmp - bin
	cspipe run -e '{stages: [{stdin: {format: chunk}}, {decompress: {framing: chunk, chunk_size: 4KiB}}]}' \
		< bin.gz > back
	cmp back bin
	# and in one pipeline
	cspipe run -e '{stages: [{stdin: {format: chunk}}, {compress: gzip, workers: 4}, {decompress: {framing: chunk}}]}' \
		< bin > back2
	cmp back2 bin
}

@test "compress stopped by a deadline still ends its stream" {
	status=0
	yes 'a line before the deadline' |
		cspipe run -t 500ms -e '{stages: [{compress: gzip, workers: 2}]}' > dl.gz || status=$?
	[ "$status" -eq 124 ]
	gzip -t dl.gz
	[ "$(zcat dl.gz | sort -u)" = "a line before the deadline" ]
}

@test "compress to a file sink gives a valid gzip file" {
	logs_file
	cspipe run -e '{stages: [{compress: gzip, workers: 2}, {file: {path: out.gz}}]}' < all.log
	gzip -t out.gz
	zcat out.gz | cmp - all.log
}

@test "decompress of gzip and pigz files equals zcat" {
	logs_file
	gzip -c < all.log > g.gz
	pigz -p4 -c < all.log > p.gz
	unz < g.gz | cmp - all.log
	unz < p.gz | cmp - all.log
	unz gzip < p.gz | cmp - all.log
	for f in "$LOGHUB"/*_2k.log; do
		gzip -9 -c < "$f" > one.gz
		unz < one.gz > out
		zcat one.gz | with_final_newline | cmp - out
	done
}

@test "decompress reads a gzip stdin with no source written (stdin must not gunzip for it)" {
	# The implicit stdin must hand decompress the compressed bytes, not
	# gunzip them itself first.
	logs_file
	gzip -c < all.log > g.gz
	cspipe run -e '{stages: [{decompress: auto}]}' < g.gz | cmp - all.log
}

@test "decompress of concatenated members equals zcat" {
	head -n 500 "$LOGHUB/Linux_2k.log" | gzip -c > a.gz
	tail -n 700 "$LOGHUB/HDFS_2k.log" | pigz -c > b.gz
	printf 'no newline at the end' | gzip -c > c.gz
	cat a.gz b.gz c.gz a.gz > cat.gz
	unz < cat.gz > out
	zcat cat.gz | with_final_newline | cmp - out
}

@test "decompress reads what compress wrote, any format" {
	logs_file
	cspipe run -e '{stages: [{compress: gzip, workers: 4}, {decompress: auto}]}' < all.log |
		cmp - all.log
	cspipe run -e '{stages: [{compress: zlib, workers: 2}, {decompress: zlib}]}' < all.log |
		cmp - all.log
	cspipe run -e '{stages: [{compress: deflate}, {decompress: deflate}]}' < all.log |
		cmp - all.log
}

@test "decompress of zlib and raw deflate made by python" {
	logs_file
	python3 -c 'import zlib, sys; sys.stdout.buffer.write(zlib.compress(open("all.log", "rb").read()))' > z.zz
	python3 -c 'import zlib, sys; c = zlib.compressobj(9, zlib.DEFLATED, -15); sys.stdout.buffer.write(c.compress(open("all.log", "rb").read()) + c.flush())' > z.raw
	unz < z.zz | cmp - all.log
	unz zlib < z.zz | cmp - all.log
	unz deflate < z.raw | cmp - all.log
}

@test "decompress of corrupt gzip fails with the offset and no partial record" {
	printf '\037\213\010\000\000\000\000\000\000\003\007\000\000' > bad.gz
	run cspipe run -e '{stages: [{stdin: {format: chunk}}, {name: unz, decompress: auto}]}' < bad.gz
	[ "$status" -eq 1 ]
	[ "$output" = "cspipe: unz: corrupt gzip data in stdin at byte 11: invalid block type" ]

	# a wrong CRC: found at the end, after every record, which goes out
	# first (zcat writes it all too); the error follows
	logs_file
	gzip -c < all.log > g.gz
	python3 -c 'import sys; b = bytearray(open("g.gz", "rb").read()); b[-6] ^= 0x55; sys.stdout.buffer.write(b)' > crc.gz
	run cspipe run -e '{stages: [{stdin: {format: chunk}}, {name: unz, decompress: auto}]}' < crc.gz
	[ "$status" -eq 1 ]
	size=$(wc -c < crc.gz)
	[ "${lines[-1]}" = "cspipe: unz: corrupt gzip data in stdin at byte $((size - 4)): incorrect data check" ]
	cspipe run -e '{stages: [{stdin: {format: chunk}}, {decompress: auto}]}' < crc.gz > part || true
	gzip -dc crc.gz 2> /dev/null | cmp - part
}

@test "decompress of truncated gzip fails naming the end" {
	logs_file
	gzip -c < all.log | head -c 100000 > cut.gz
	run cspipe run -e '{stages: [{stdin: {format: chunk}}, {name: unz, decompress: auto}]}' < cut.gz
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "cspipe: unz: truncated gzip data in stdin: stream ends at byte 100000" ]
}

@test "decompress: a file cut short is named, the next file is a new stream" {
	head -n 300 "$LOGHUB/Apache_2k.log" | gzip -c > a.gz
	head -c 200 a.gz > cut.gz
	head -n 300 "$LOGHUB/Spark_2k.log" | gzip -c > b.gz
	cspipe run -e '{stages: [{files: {paths: [a.gz, b.gz], format: chunk}}, {decompress: auto}]}' > out
	zcat a.gz b.gz | cmp - out
	run cspipe run -e '{stages: [{files: {paths: [cut.gz, b.gz], format: chunk}}, {name: unz, decompress: auto}]}'
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "cspipe: unz: truncated gzip data in cut.gz: stream ends at byte 200" ]
}

@test "decompress: trailing garbage is an error, zero padding is not" {
	printf 'hello\n' | gzip -c > g.gz
	size=$(wc -c < g.gz)
	{ cat g.gz; head -c 512 /dev/zero; } > padded.gz
	unz < padded.gz > out
	[ "$(cat out)" = hello ]
	{ cat g.gz; printf 'junk'; } > junk.gz
	run unz < junk.gz
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "cspipe: unz: trailing garbage after gzip data in stdin at byte $size" ]
}

@test "decompress of input that is not compressed says so" {
	run unz < "$LOGHUB/Linux_2k.log"
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "cspipe: unz: corrupt compressed data in stdin at byte 0: not in gzip, zlib, zstd, xz or bzip2 format" ]
}

@test "decompress of empty input is empty output" {
	unz < /dev/null > out
	[ ! -s out ]
}

@test "decompress of a zip bomb streams, and stops when head has enough" {
	# 64 gzip members of 16 MiB of 1 KiB lines each: 1 GiB from ~1 MiB
	python3 -c '
import gzip, sys
m = gzip.compress((b"a" * 1023 + b"\n") * 16384, 9, mtime=0)
sys.stdout.buffer.write(m * 64)' > bomb.gz
	[ "$(wc -c < bomb.gz)" -lt 4000000 ]
	cspipe run --stats=json -e '{stages: [{stdin: {format: chunk}}, {decompress: auto}, {head: 3}]}' \
		< bomb.gz > out 2> stats.json
	[ "$(wc -l < out)" -eq 3 ]
	[ "$(unz < bomb.gz | wc -c)" -eq 1073741824 ]
	# It stopped early: decompress made a few MiB of the 1 GiB, not all.
	made=$(jq '.stages[] | select(.kind == "decompress") | .bytes_out' stats.json)
	echo "decompress made $made bytes"
	[ "$made" -lt $((64 << 20)) ]
}

@test "compress and decompress account for every record" {
	logs_file
	cspipe run --stats=json -e '{stages: [{compress: gzip, workers: 3}, {decompress: auto}]}' \
		< all.log > out 2> stats.json
	cmp out all.log
	accounting_adds_up stats.json
	gzip -c < all.log > g.gz
	cspipe run --stats=json -e '{stages: [{stdin: {format: chunk}}, {decompress: auto}]}' \
		< g.gz > out 2> stats.json
	cmp out all.log
	accounting_adds_up stats.json
}
