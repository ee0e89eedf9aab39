#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# What a packager relies on: hardening flags in the binary, CFLAGS,
# CPPFLAGS and LDFLAGS from the environment, --prefix/--bindir/--mandir
# and DESTDIR, ninja install/uninstall/clean, and ninja dist's tarball
# building with its own README's commands.

load helpers
bats_require_minimum_version 1.5.0

# The build.ninja that made $CSPIPE (the default build or a variant's).
build_dir() {
	dirname "$CSPIPE"
}

# The sources configure.py needs, copied, so that configuring does not
# touch the tree's own build.ninja.
copy_tree() {
	mkdir -p "$1"
	(cd "$TOP" && tar -cf - configure.py src stages test man completion pipelines) |
		tar -xf - -C "$1"
}

@test "the binary is hardened: PIE, full RELRO, stack protector, _FORTIFY_SOURCE" {
	command -v readelf
	run readelf -hW "$CSPIPE"
	[[ $output == *"Type:"*"DYN"* ]]
	run readelf -dW "$CSPIPE"
	[[ $output == *"BIND_NOW"* ]]
	[[ $output == *"PIE"* ]]
	run readelf -lW "$CSPIPE"
	[[ $output == *"GNU_RELRO"* ]]
	run readelf --dyn-syms -W "$CSPIPE"
	[[ $output == *"__stack_chk_fail"* ]]
	# _FORTIFY_SOURCE only where the build asked for it (not -O0 or the
	# sanitizer builds): then glibc's checked functions are imported.
	if grep -q '^cflags = .*-D_FORTIFY_SOURCE=2' "$(build_dir)/build.ninja"; then
		[[ $output == *"__memcpy_chk"* || $output == *"__snprintf_chk"* ]]
	fi
}

@test "configure.py puts CFLAGS, CPPFLAGS and LDFLAGS after its own and keeps them" {
	copy_tree src
	cd src
	CFLAGS='-O3 -DFROM_CFLAGS' CPPFLAGS=-DFROM_CPPFLAGS LDFLAGS=-Wl,-O1 \
		python3 configure.py 2> log
	grep -q '^cflags = -std=c11 .* -O2 .*-D_FORTIFY_SOURCE=2 .*-DFROM_CPPFLAGS -O3 -DFROM_CFLAGS$' build.ninja
	grep -q '^ldflags = -pthread .*-Wl,-z,now -Wl,-O1$' build.ninja
	# A regeneration (ninja runs it when configure.py changes) keeps them.
	grep -q "^  command = cd . && CFLAGS='-O3 -DFROM_CFLAGS' CPPFLAGS=-DFROM_CPPFLAGS LDFLAGS=-Wl,-O1 python3 configure.py" build.ninja
	# -O0 last: no _FORTIFY_SOURCE, which would only warn; the debug and
	# sanitizer builds go without it too; --no-harden drops it all.
	CFLAGS=-O0 python3 configure.py 2> log
	run grep -q FORTIFY build.ninja
	[ "$status" -eq 1 ]
	grep -q 'fstack-protector-strong' build.ninja
	python3 configure.py --sanitize=address,undefined 2> log
	run grep -q FORTIFY build/address-undefined/build.ninja
	[ "$status" -eq 1 ]
	python3 configure.py --debug 2> log
	run grep -q FORTIFY build/debug/build.ninja
	[ "$status" -eq 1 ]
	python3 configure.py --no-harden 2> log
	run grep -Eq 'FORTIFY|stack-protector|relro' build.ninja
	[ "$status" -eq 1 ]
}

@test "ninja install honours --prefix, --bindir, --mandir and DESTDIR; uninstall removes it all" {
	copy_tree src
	cd src
	python3 configure.py --prefix=/usr --bindir=/usr/sbin --mandir=share/man 2> log
	grep -q '^bindir = /usr/sbin$' build.ninja
	grep -q '^mandir = /usr/share/man$' build.ninja
	# The install command this build.ninja runs, with the tested binary.
	cmd=$(ninja -t commands install | tail -n 1 | sed "s|cspipe\"* \"/usr/sbin|\"$CSPIPE\" \"/usr/sbin|")
	[[ $cmd == *"test/install.sh"*"$CSPIPE"* ]]
	DESTDIR="$TMP/root" sh -c "$cmd" > out
	(cd "$TMP/root" && find . -type f | sort) > tree
	{
		printf '%s\n' ./usr/sbin/cspipe \
			./usr/share/bash-completion/completions/cspipe \
			./usr/share/man/man1/cspipe.1 ./usr/share/man/man5/cspipe-pipeline.5
		# every example the tree ships
		ls "$TOP"/pipelines/*.yaml | sed 's|.*/|./usr/share/doc/cspipe/examples/|'
	} | sort > want
	diff want tree
	[ -x "$TMP/root/usr/sbin/cspipe" ]
	"$TMP/root/usr/sbin/cspipe" validate "$TMP/root/usr/share/doc/cspipe/examples/demo.yaml"
	# man finds the pages where they went.
	[ "$(man -M "$TMP/root/usr/share/man" -w cspipe-pipeline)" = "$TMP/root/usr/share/man/man5/cspipe-pipeline.5" ]
	man -M "$TMP/root/usr/share/man" 1 cspipe | grep -q 'cspipe run'
	# bash-completion loads completions/NAME for command NAME.
	run bash -c "source '$TMP/root/usr/share/bash-completion/completions/cspipe' && complete -p cspipe"
	[ "$status" -eq 0 ]
	[[ $output == "complete "*"-F _cspipe cspipe" ]]
	# uninstall: nothing is left, not even the folders it made.
	ucmd=$(ninja -t commands uninstall | tail -n 1)
	DESTDIR="$TMP/root" sh -c "$ucmd" > out
	[ -z "$(find "$TMP/root" -type f)" ]
	[ ! -e "$TMP/root/usr/share/doc/cspipe" ]
	[ ! -e "$TMP/root/usr/share/bash-completion" ]
}

@test "ninja install from the build puts everything under DESTDIR and the configured prefix" {
	# The real target of the build that made $CSPIPE (nothing to rebuild).
	prefix=$(sed -n 's/^prefix = //p' "$(build_dir)/build.ninja")
	[ -n "$prefix" ]
	DESTDIR="$TMP/root" ninja -C "$(build_dir)" install > out
	[ -x "$TMP/root$prefix/bin/cspipe" ]
	cmp "$TMP/root$prefix/bin/cspipe" "$CSPIPE"
	[ -f "$TMP/root$prefix/share/man/man5/cspipe-pipeline.5" ]
	[ -f "$TMP/root$prefix/share/doc/cspipe/examples/demo.yaml" ]
	DESTDIR="$TMP/root" ninja -C "$(build_dir)" uninstall > out
	[ -z "$(find "$TMP/root" -type f)" ]
}

@test "ninja dist makes cspipe-VERSION.tar.gz whose README commands build and run it" {
	git -C "$TOP" rev-parse --git-dir > /dev/null 2>&1 ||
		skip "not a git checkout: ninja dist needs git archive"
	version=$("$CSPIPE" --version | cut -d' ' -f2)
	ninja -C "$TOP" dist > out
	tarball="$TOP/cspipe-$version.tar.gz"
	[ -f "$tarball" ]
	mv "$tarball" .
	tar -xzf "cspipe-$version.tar.gz"
	cd "cspipe-$version"
	[ -f README.md ]
	[ -f configure.py ]
	[ ! -e .git ]
	# The README's quick start, exactly (at -O0 from CFLAGS, to be quick).
	cmd=$(sed -n 's/^    \(\.\/configure\.py .*ninja && \.\/cspipe run .*\)$/\1/p' README.md | head -n 1)
	[ -n "$cmd" ]
	CFLAGS=-O0 bash -c "$cmd" > out 2> err
	# ninja's lines, then the demo's twenty records; --stats on stderr
	[ "$(tail -n 20 out | grep -c '^GET /api/items/<[0-9]*7> HTTP/1.1 200 user=\*\*\*$')" -eq 20 ]
	grep -q '^total: read .*, written 20,' err
	./cspipe --version | grep -qx "cspipe $version"
	# The packager's recipe: prefix /usr, DESTDIR.
	cmd=$(sed -n 's/^    \(\.\/configure\.py --prefix=\/usr.*\)$/\1/p' README.md | head -n 1)
	[ -n "$cmd" ]
	CFLAGS=-O0 DESTDIR="$TMP/pkg" bash -c "$cmd" > out 2>&1
	[ -x "$TMP/pkg/usr/bin/cspipe" ]
	# ninja clean removes what the build made, and only that.
	ninja clean > out
	[ ! -e cspipe ]
	[ ! -e build/default/obj ]
	[ -f configure.py ]
	[ -f build.ninja ]
}
