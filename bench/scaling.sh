#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/scaling.sh: the scaling measurement of bench/run --workers, in
# bash alone, for a machine without python3 or a compiler.  Expects, under
# build/device/: cspipe and pigz (with their libraries in lib/) and
# corpus/logs.gz (the loghub logs, concatenated and gzipped).  COPIES
# (default 60) sets the corpus size, NS the worker counts.  Results also
# go to $OUT/scaling.txt.
set -u
D=$PWD/build/device
export LD_LIBRARY_PATH=$D/lib
C=$D/cspipe P=$D/pigz
OUTF=${OUT:-/tmp}/scaling.txt
T=/dev/shm/scale; mkdir -p $T 2>/dev/null || T=/tmp/scale; mkdir -p $T
say() { echo "$@" | tee -a "$OUTF"; }
say "host: $(nproc) cpus; $(grep -m1 'model name' /proc/cpuinfo)"
$C --version >> "$OUTF" 2>&1 || { say "cspipe does not run:"; ldd $C | tee -a "$OUTF"; exit 1; }
$P -dc $D/corpus/logs.gz > $T/one.log || exit 1
[ -z "$(tail -c 1 $T/one.log)" ] || echo >> $T/one.log   # a final newline, as cspipe writes
for i in $(seq ${COPIES:-60}); do cat $T/one.log; done > $T/corpus.log
say "corpus: $(stat -c %s $T/corpus.log) bytes"
us() { local t=${EPOCHREALTIME/./}; echo $t; }
# med3 CMD...: median wall time of 3 runs, in ms
med3() {
	local a=() t0 t1
	for r in 1 2 3; do t0=$(us); "$@"; t1=$(us); a+=($(( (t1 - t0) / 1000 ))); done
	printf '%s\n' "${a[@]}" | sort -n | sed -n 2p
}
cz() { $C run -e "{stages: [{compress: {format: gzip, level: 6}, workers: $1}]}" < $T/corpus.log > $T/c.gz; }
pz() { $P -6 -p $1 -c < $T/corpus.log > $T/p.gz; }
mp() { $C run -e "{stages: [{map: [{replace: '\\b\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\b', with: x.x.x.x}], workers: $1}]}" < $T/corpus.log > $T/m.out; }
say "N  cspipe_gz_ms  pigz_ms  ratio  gz_bytes  pigz_bytes  map_ms  ok"
for n in ${NS:-1 2 4 8 16}; do
	c=$(med3 cz $n); p=$(med3 pz $n); m=$(med3 mp $n)
	ok=yes
	$P -dc $T/c.gz | cmp -s - $T/corpus.log || ok=gz-BAD
	if [ $n = 1 ]; then cp $T/m.out $T/m1.out; else cmp -s $T/m.out $T/m1.out || ok="$ok map-BAD"; fi
	say "$n  $c  $p  $(( c * 1000 / p ))e-3  $(stat -c %s $T/c.gz)  $(stat -c %s $T/p.gz)  $m  $ok"
done
rm -rf $T
