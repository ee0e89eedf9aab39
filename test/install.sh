#!/bin/sh
# SPDX-License-Identifier: MIT
# ninja install: the binary, the man pages and the bash completion under
# PREFIX (DESTDIR is honoured, as packagers expect).
set -eu
prefix=$1
binary=$2
dest=${DESTDIR:-}$prefix
install -d "$dest/bin" "$dest/share/man/man1" "$dest/share/man/man5" \
	"$dest/share/bash-completion/completions"
install -m 755 "$binary" "$dest/bin/cspipe"
install -m 644 man/cspipe.1 "$dest/share/man/man1/cspipe.1"
install -m 644 man/cspipe-pipeline.5 "$dest/share/man/man5/cspipe-pipeline.5"
install -m 644 completion/cspipe.bash "$dest/share/bash-completion/completions/cspipe"
echo "installed cspipe in $dest/bin"
