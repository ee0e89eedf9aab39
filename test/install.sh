#!/bin/sh
# SPDX-License-Identifier: MIT
# ninja install / ninja uninstall: the binary, the man pages, the bash
# completion (where bash-completion looks for it) and the example
# pipelines.  DESTDIR is honoured, as packagers expect.
#
#   sh test/install.sh [-u] PREFIX BINARY [BINDIR [MANDIR [DATADIR]]]
#
# BINDIR, MANDIR and DATADIR default to PREFIX/bin, PREFIX/share/man and
# PREFIX/share.  -u removes what an install put there, and the folders
# that are left empty (never PREFIX itself).
set -eu
uninstall=
if [ "${1:-}" = -u ]; then
	uninstall=1
	shift
fi
prefix=$1
binary=$2
bindir=${3:-$prefix/bin}
mandir=${4:-$prefix/share/man}
datadir=${5:-$prefix/share}
d=${DESTDIR:-}
compdir=$datadir/bash-completion/completions
exdir=$datadir/doc/cspipe/examples

if [ -n "$uninstall" ]; then
	rm -f "$d$bindir/cspipe" "$d$mandir/man1/cspipe.1" \
		"$d$mandir/man5/cspipe-pipeline.5" "$d$compdir/cspipe"
	for f in pipelines/*.yaml; do
		rm -f "$d$exdir/${f##*/}"
	done
	# Folders the install may have made, deepest first, if now empty.
	for dir in "$exdir" "$datadir/doc/cspipe" "$compdir" \
		"$datadir/bash-completion" "$mandir/man1" "$mandir/man5" \
		"$bindir"; do
		[ "$dir" = "$prefix" ] || rmdir "$d$dir" 2>/dev/null || true
	done
	echo "removed cspipe from $d$prefix"
	exit 0
fi
install -d "$d$bindir" "$d$mandir/man1" "$d$mandir/man5" "$d$compdir" "$d$exdir"
install -m 755 "$binary" "$d$bindir/cspipe"
install -m 644 man/cspipe.1 "$d$mandir/man1/cspipe.1"
install -m 644 man/cspipe-pipeline.5 "$d$mandir/man5/cspipe-pipeline.5"
install -m 644 completion/cspipe.bash "$d$compdir/cspipe"
install -m 644 pipelines/*.yaml "$d$exdir"
echo "installed cspipe in $d$bindir"
