#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write build.ninja for cspipe.

    ./configure.py [--install-deps[=GROUPS]] [--debug] [--sanitize=thread]
                   [--sanitize=address,undefined] [--cc CC] [--prefix DIR]
                   [--bindir DIR] [--mandir DIR] [--datadir DIR]
                   [--no-harden] [--werror]

CFLAGS, CPPFLAGS and LDFLAGS from the environment are added after our own
flags (so that they win, as dpkg-buildflags expects), and recorded so that
build.ninja regenerates itself with them.

The default configuration writes ./build.ninja, builds objects under
build/default and links ./cspipe.  A variant (--debug, --sanitize=...)
writes build/VARIANT/build.ninja and builds everything inside that folder,
so that variants never overwrite one another:  ninja -C build/thread test

Only the Python standard library is used: this script must run on a fresh
Debian machine that has nothing but python3.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys

TOP = os.path.dirname(os.path.abspath(__file__))

# Every source file, listed explicitly.  A new stage kind adds one line here.
RUNTIME = [
    'src/csp/csp.c',
    'src/csp/clock.c',
    'src/csp/wait.c',
    'src/csp/chan.c',
    'src/csp/chan_ring.c',
    'src/csp/chan_slot.c',
    'src/csp/ctx.c',
    'src/csp/sync.c',
    'src/csp/rate.c',
    'src/csp/breaker.c',
    'src/csp/errgroup.c',
    'src/csp/thread.c',
    'src/csp/signal.c',
]

CORE = [
    'src/base/util.c',
    'src/base/units.c',
    'src/base/json.c',
    'src/base/inflate.c',
    'src/pipeline/spec.c',
    'src/pipeline/expand.c',
    'src/pipeline/tree.c',
    'src/pipeline/config.c',
    'src/pipeline/optval.c',
    'src/records/batch.c',
    'src/records/ack.c',
    'src/records/framer.c',
    'src/records/unpack.c',
    'src/records/unpack_zstd.c',
    'src/records/unpack_xz.c',
    'src/records/unpack_bzip2.c',
    'src/core/fdio.c',
    'src/records/pattern.c',
    'src/records/pattern_scan.c',
    'src/records/pattern_lit.c',
    'src/records/template.c',
    'src/records/json_doc.cc',
    'src/records/jpath.c',
    'src/records/jflat.c',
    'src/records/codec.c',
    'src/records/codec_encode.c',
    'src/records/where.c',
    'src/records/jedit.c',
    'src/core/graph.c',
    'src/core/graph_edit.c',
    'src/core/graph_check.c',
    'src/core/graph_shard.c',
    'src/core/stage.c',
    'src/records/shard.c',
    'src/core/engine.c',
    'src/core/engine_flow.c',
    'src/core/engine_collect.c',
    'src/core/engine_io.c',
    'src/core/engine_report.c',
    'src/core/engine_auto.c',
    'src/core/oom.c',
    'src/core/stats.c',
    'src/core/progress.c',
    'src/core/dot.c',
    'src/core/observe.c',
    'src/core/follow.c',
    'src/core/follow_checkpoint.c',
    'src/cli/cli.c',
    'src/cli/pipetest.c',
    'src/cli/pipetest_check.c',
]

# The stage kinds, in the order `cspipe stages` lists them: kind NAME is
# stages/NAME.c, which exports `const struct stage_kind kind_NAME`.  A new
# kind is that file and one line here; the registry that lists them is
# generated (REGISTRY below).
STAGES = [
    'stdin',
    'files',
    'generate',
    'nats_in',
    'filter',
    'map',
    'compress',
    'decompress',
    'merge',
    'route',
    'parse',
    'head',
    'rate',
    'exec',
    'stdout',
    'file',
    'nats_out',
]

# Files a kind splits its work into, private to it (with a header of its
# own in stages/).
STAGE_PARTS = [
    'stages/exec_child.c',
    'stages/nats.c',
    'stages/map_ops.c',
    'stages/merge_sorted.c',
]

STAGE_SRCS = ['stages/%s.c' % k for k in STAGES] + STAGE_PARTS

MAIN = 'src/cli/main.c'

# C unit tests (cmocka): test/unit/NAME.c -> BUILDDIR/test/NAME
UNIT_TESTS = [
    'test/unit/test_chan.c',
    'test/unit/test_chan_fast.c',
    'test/unit/test_select.c',
    'test/unit/test_ctx.c',
    'test/unit/test_sync.c',
    'test/unit/test_rate.c',
    'test/unit/test_breaker.c',
    'test/unit/test_errgroup.c',
    'test/unit/test_stress.c',
    'test/unit/test_spec.c',
    'test/unit/test_framer.c',
    'test/unit/test_engine.c',
    'test/unit/test_ack.c',
    'test/unit/test_zlib.c',
    'test/unit/test_unpack.c',
    'test/unit/test_pattern.c',
    'test/unit/test_filter.c',
    'test/unit/test_map.c',
    'test/unit/test_where.c',
]

# Programs the bats tests use (built beside the unit tests).
TEST_HELPERS = [
    'test/helpers/nats_admin.c',
]

# Unit tests that exercise only the runtime: CI runs them under both
# sanitizers even when the whole suite is not.
RUNTIME_TESTS = [t for t in UNIT_TESTS
                 if os.path.basename(t)[5:-2] in
                 ('chan', 'select', 'ctx', 'sync', 'rate', 'breaker',
                  'errgroup', 'stress')]

FUZZ_TARGETS = [
    'test/fuzz/fuzz_spec.c',
    'test/fuzz/fuzz_framer.c',
    'test/fuzz/fuzz_decompress.c',
    'test/fuzz/fuzz_records.c',
    'test/fuzz/fuzz_pipeline.c',
    'test/fuzz/fuzz_prefilter.c',
]

LIBS = [
    # (pkg-config name, Debian package, header that proves it is there)
    ('yaml-0.1', 'libyaml-dev', 'yaml.h'),
    ('zlib', 'zlib1g-dev', 'zlib.h'),
    ('libpcre2-8', 'libpcre2-dev', 'pcre2.h'),
    ('simdjson', 'libsimdjson-dev', 'simdjson.h'),
    ('libmicrohttpd', 'libmicrohttpd-dev', 'microhttpd.h'),
    ('libnats', 'libnats-dev', 'nats/nats.h'),
    ('libzstd', 'libzstd-dev', 'zstd.h'),
    ('liblzma', 'liblzma-dev', 'lzma.h'),
    ('libisal', 'libisal-dev', 'isa-l/igzip_lib.h'),
]

# Libraries without a pkg-config file on Debian 12: (name, Debian package,
# header, linker flag), found by compiling and linking a tiny program.
PLAIN_LIBS = [
    ('bzip2', 'libbz2-dev', 'bzlib.h', '-lbz2'),
]

# Debian packages by purpose, for --install-deps.
DEPS = {
    'build': ['gcc', 'g++', 'ninja-build', 'pkg-config', 'libyaml-dev',
              'zlib1g-dev', 'libpcre2-dev', 'libsimdjson-dev', 'libzstd-dev',
              'liblzma-dev', 'libbz2-dev', 'libisal-dev', 'libmicrohttpd-dev',
              'libnats-dev'],
    'test': ['bats', 'libcmocka-dev', 'gzip', 'pigz', 'parallel', 'jq',
             'graphviz', 'mandoc', 'util-linux', 'valgrind', 'zstd',
             'xz-utils', 'bzip2', 'binutils', 'git', 'man-db', 'curl',
             'nats-server'],
    'bench': ['hyperfine', 'ripgrep', 'pigz', 'parallel', 'golang-go',
              'time', 'zstd'],
    'fuzz': ['clang', 'libclang-rt-14-dev', 'libstdc++-12-dev'],
}

WARNINGS = ('-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes '
            '-Wpedantic -Wpointer-arith -Wformat=2 -Wundef -Wvla '
            '-Wno-unused-parameter')


def registry_text():
    """The C source of the registry: every kind of STAGES, in order."""
    lines = ['/* Written by configure.py from its STAGES list; edit that, '
             'not this. */',
             '#include "core/stage.h"',
             '']
    lines += ['extern const struct stage_kind kind_%s;' % k for k in STAGES]
    lines += ['',
              'static const struct stage_kind *const stage_kinds[] = {']
    lines += ['\t&kind_%s,' % k for k in STAGES]
    lines += ['\tNULL,', '};', '',
              'const struct stage_registry stage_registry = {',
              '\tstage_kinds, %d,' % len(STAGES), '};', '']
    return '\n'.join(lines)


def write_if_changed(path, text):
    """Write text to path unless it holds it already (keeps ninja quiet)."""
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if old != text:
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


def die(msg):
    sys.stderr.write('configure.py: %s\n' % msg)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def install_deps(groups, cc):
    pkgs = []
    for g in groups:
        if g not in DEPS:
            die('--install-deps: unknown group %r (known: %s)'
                % (g, ', '.join(sorted(DEPS))))
        pkgs += DEPS[g]
    if cc and os.path.basename(cc).startswith('clang'):
        pkgs.append('clang')
    missing = []
    for p in dict.fromkeys(pkgs):
        r = run(['dpkg-query', '-W', '-f=${Status}', p])
        if r.returncode != 0 or 'install ok installed' not in r.stdout:
            missing.append(p)
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ['sudo']
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    sys.stderr.write('configure.py: installing %s\n' % ' '.join(missing))
    # A fresh machine may have no package lists yet.
    subprocess.run(sudo + ['apt-get', 'update', '-qq'], env=env)
    r = subprocess.run(sudo + ['apt-get', 'install', '-y', '-qq',
                               '--no-install-recommends'] + missing, env=env)
    if r.returncode != 0:
        die('apt-get install failed for: %s' % ' '.join(missing))


def find_cc(cc):
    cands = [cc] if cc else [os.environ.get('CC'), 'cc', 'gcc', 'clang']
    for c in cands:
        if c and shutil.which(c):
            return c
    die('no C compiler found; install one with: sudo apt-get install gcc'
        ' (or run ./configure.py --install-deps)')


def find_cxx(cc):
    """The C++ compiler that goes with cc (json_doc.cc is cspipe's only
    C++: simdjson is a C++ library)."""
    base = os.path.basename(cc)
    cands = [os.environ.get('CXX')]
    if base.startswith('clang'):
        cands.append(cc.replace('clang', 'clang++', 1))
    elif base.startswith('gcc'):
        cands.append(cc.replace('gcc', 'g++', 1))
    cands += ['c++', 'g++', 'clang++']
    for c in cands:
        if c and shutil.which(c):
            return c
    die('no C++ compiler found (simdjson is C++); install one with: '
        'sudo apt-get install g++ (or run ./configure.py --install-deps)')


def have_plain_lib(cc, header, flag):
    """Whether a program including header links with flag."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, 't.c')
        with open(c, 'w') as f:
            f.write('#include <%s>\nint main(void) { return 0; }\n' % header)
        r = run([cc, c, '-o', os.path.join(d, 't'), flag])
        return r.returncode == 0


def find_libs(cc):
    """Return (cflags, libs) for the libraries, or stop naming the package."""
    if not shutil.which('pkg-config'):
        die('pkg-config is missing; install it with: sudo apt-get install '
            'pkg-config (or run ./configure.py --install-deps)')
    cflags, libs, missing = [], [], []
    plain = []
    for name, pkg, header, flag in PLAIN_LIBS:
        if have_plain_lib(cc, header, flag):
            plain.append(flag)
        else:
            missing.append((name, pkg))
    for name, pkg, _ in LIBS:
        r = run(['pkg-config', '--cflags', '--libs', name])
        if r.returncode != 0:
            missing.append((name, pkg))
            continue
        c = run(['pkg-config', '--cflags', name]).stdout.split()
        l = run(['pkg-config', '--libs', name]).stdout.split()
        cflags += [x for x in c if x not in cflags]
        libs += [x for x in l if x not in libs]
    if missing:
        die('missing libraries: %s\n  install them with: sudo apt-get install'
            ' %s\n  (or run ./configure.py --install-deps)'
            % (', '.join(n for n, _ in missing),
               ' '.join(p for _, p in missing)))
    return cflags, libs + plain


def have_cmocka():
    return run(['pkg-config', '--exists', 'cmocka']).returncode == 0


class Writer:
    """A small writer for the ninja syntax."""

    def __init__(self):
        self.lines = []

    def comment(self, text):
        self.lines.append('# ' + text)

    def newline(self):
        self.lines.append('')

    def variable(self, key, value, indent=0):
        if isinstance(value, (list, tuple)):
            value = ' '.join(v for v in value if v)
        self.lines.append('  ' * indent + '%s = %s' % (key, value))

    def rule(self, name, command, **kw):
        self.lines.append('rule ' + name)
        self.variable('command', command, 1)
        for k, v in kw.items():
            self.variable(k, v, 1)

    def build(self, outputs, rule, inputs=(), implicit=(), order_only=(),
              variables=None, implicit_outputs=()):
        outs = ' '.join(map(esc, as_list(outputs)))
        if implicit_outputs:
            outs += ' | ' + ' '.join(map(esc, as_list(implicit_outputs)))
        line = 'build %s: %s' % (outs, rule)
        if inputs:
            line += ' ' + ' '.join(map(esc, as_list(inputs)))
        if implicit:
            line += ' | ' + ' '.join(map(esc, as_list(implicit)))
        if order_only:
            line += ' || ' + ' '.join(map(esc, as_list(order_only)))
        self.lines.append(line)
        for k, v in (variables or {}).items():
            self.variable(k, v, 1)

    def default(self, targets):
        self.lines.append('default ' + ' '.join(map(esc, as_list(targets))))

    def text(self):
        return '\n'.join(self.lines) + '\n'


def under(prefix, path):
    """An install folder: absolute as given, relative under prefix."""
    return path if os.path.isabs(path) else os.path.join(prefix, path)


def version():
    """CSPIPE_VERSION from src/cli/cli.c: one place says the version."""
    with open(os.path.join(TOP, 'src/cli/cli.c')) as f:
        for line in f:
            if line.startswith('#define CSPIPE_VERSION '):
                return line.split('"')[1]
    die('src/cli/cli.c: no CSPIPE_VERSION')


def hardening(args, cflags):
    """The hardening flags (compile, link) a distribution builds with.

    _FORTIFY_SOURCE needs optimisation (glibc warns without it) and is at
    odds with the sanitizers' own interceptors, so the debug and sanitizer
    builds, or CFLAGS ending with -O0, go without it.  It is undefined
    first: some compilers define it already, and a redefinition warns.
    """
    if args.no_harden:
        return [], []
    c = ['-fstack-protector-strong', '-fPIE']
    levels = [x for x in cflags if x.startswith('-O')]
    if not args.sanitize and levels and levels[-1] != '-O0':
        c = ['-U_FORTIFY_SOURCE', '-D_FORTIFY_SOURCE=2'] + c
    return c, ['-pie', '-Wl,-z,relro', '-Wl,-z,now']


def as_list(x):
    return [x] if isinstance(x, str) else list(x)


def esc(path):
    return path.replace('$', '$$').replace(' ', '$ ').replace(':', '$:')


def main():
    ap = argparse.ArgumentParser(
        description='Configure the cspipe build (writes build.ninja).')
    ap.add_argument('--install-deps', nargs='?', const='build,test',
                    metavar='GROUPS',
                    help='install missing Debian packages with apt-get; '
                         'GROUPS is a comma list of build,test,bench,fuzz '
                         '(default: build,test)')
    ap.add_argument('--debug', action='store_true',
                    help='no optimisation, assertions on (build/debug)')
    ap.add_argument('--sanitize', choices=['thread', 'address,undefined'],
                    help='sanitizer build (build/thread or '
                         'build/address-undefined)')
    ap.add_argument('--cc', help='C compiler (default: $CC, cc, gcc, clang)')
    ap.add_argument('--prefix', default='/usr/local',
                    help='installation prefix (default: /usr/local)')
    ap.add_argument('--bindir', default='bin',
                    help='where ninja install puts the binary (default: '
                         'PREFIX/bin; a relative path is under PREFIX)')
    ap.add_argument('--mandir', default='share/man',
                    help='where the man pages go (default: PREFIX/share/man)')
    ap.add_argument('--datadir', default='share',
                    help='where the bash completion (DATADIR/bash-completion/'
                         'completions) and the examples (DATADIR/doc/cspipe/'
                         'examples) go (default: PREFIX/share)')
    ap.add_argument('--no-harden', action='store_true',
                    help='build without the default hardening flags '
                         '(_FORTIFY_SOURCE, stack protector, RELRO, PIE)')
    ap.add_argument('--registry', metavar='FILE', help=argparse.SUPPRESS)
    ap.add_argument('--werror', action='store_true',
                    help='treat warnings as errors')
    args = ap.parse_args()
    if args.registry:
        # ninja's rule for the generated registry: write it and stop.
        write_if_changed(os.path.join(TOP, args.registry), registry_text())
        return
    env_flags = {k: os.environ.get(k, '') for k in ('CFLAGS', 'CPPFLAGS',
                                                     'CXXFLAGS', 'LDFLAGS')}

    if args.install_deps:
        install_deps([g.strip() for g in args.install_deps.split(',') if g],
                     args.cc)
    cc = find_cc(args.cc)
    cxx = find_cxx(cc)
    cflags, libs = find_libs(cc)
    cmocka = have_cmocka()
    if not cmocka:
        sys.stderr.write('configure.py: cmocka not found: `ninja test` needs '
                         'it (sudo apt-get install libcmocka-dev, or '
                         './configure.py --install-deps)\n')

    # Which folder, and how to reach the sources from inside it.
    if args.sanitize == 'thread':
        variant = 'thread'
    elif args.sanitize:
        variant = 'address-undefined'
    elif args.debug:
        variant = 'debug'
    else:
        variant = None
    if variant:
        builddir = os.path.join('build', variant)
        src = '../..'          # sources, seen from builddir
        obj = 'obj'
        binary = 'cspipe'
    else:
        builddir = '.'
        src = '.'
        obj = 'build/default/obj'
        binary = 'cspipe'
    testdir = 'test' if variant else 'build/default/test'
    fuzzdir = 'fuzz' if variant else 'build/default/fuzz'

    opt = ['-O0', '-g3'] if args.debug else ['-O2', '-g']
    if args.sanitize == 'thread':
        opt = ['-O1', '-g', '-fsanitize=thread']
    elif args.sanitize:
        opt = ['-O1', '-g', '-fsanitize=address,undefined',
               '-fno-omit-frame-pointer', '-fno-sanitize-recover=all']
    if not args.debug and not args.sanitize:
        opt.append('-DNDEBUG')
    user_cflags = shlex.split(env_flags['CPPFLAGS']) + \
        shlex.split(env_flags['CFLAGS'])
    user_cxxflags = shlex.split(env_flags['CPPFLAGS']) + \
        shlex.split(env_flags['CXXFLAGS'])
    user_ldflags = shlex.split(env_flags['LDFLAGS'])
    harden_c, harden_ld = hardening(args, opt + user_cflags)

    def s(path):
        return path if src == '.' else src + '/' + path

    def o(path):
        return obj + '/' + os.path.splitext(path)[0] + '.o'

    w = Writer()
    w.comment('Written by configure.py; edit that, not this.')
    w.comment('configure arguments: %s' % ' '.join(
        shlex.quote(a) for a in sys.argv[1:]))
    w.newline()
    w.variable('ninja_required_version', '1.10')
    w.variable('cc', cc)
    w.variable('cxx', cxx)
    w.variable('prefix', args.prefix)
    w.variable('bindir', under(args.prefix, args.bindir))
    w.variable('mandir', under(args.prefix, args.mandir))
    w.variable('datadir', under(args.prefix, args.datadir))
    w.variable('cflags', ['-std=c11', '-D_GNU_SOURCE', '-pthread'] + opt +
               harden_c + WARNINGS.split() +
               (['-Werror'] if args.werror else []) +
               ['-I' + s('src')] + cflags + [shlex.quote(x) for x in
                                            user_cflags])
    w.variable('cxxflags', ['-std=c++17', '-D_GNU_SOURCE', '-pthread',
                            '-fno-exceptions', '-fno-rtti'] + opt + harden_c +
               ['-Wall', '-Wextra', '-Wno-unused-parameter'] +
               (['-Werror'] if args.werror else []) +
               ['-I' + s('src')] + cflags + [shlex.quote(x) for x in
                                             user_cxxflags])
    w.variable('ldflags', ['-pthread'] + [x for x in opt if
                                          x.startswith('-fsanitize')] +
               harden_ld + [shlex.quote(x) for x in user_ldflags])
    w.variable('libs', libs + ['-lm'])
    w.variable('cmocka_libs', '-lcmocka')
    w.newline()
    w.rule('cc', '$cc -MMD -MF $out.d $cflags -c $in -o $out',
           depfile='$out.d', deps='gcc', description='CC $out')
    w.rule('cxx', '$cxx -MMD -MF $out.d $cxxflags -c $in -o $out',
           depfile='$out.d', deps='gcc', description='CXX $out')
    w.rule('ar', 'rm -f $out && ar crs $out $in', description='AR $out')
    # Linked by the C++ compiler: json_doc.cc needs the C++ runtime.
    w.rule('link', '$cxx $ldflags -o $out $in $libs',
           description='LINK $out')
    w.rule('link_test', '$cxx $ldflags -o $out $in $cmocka_libs $libs',
           description='LINK $out')
    regen = ' '.join(shlex.quote(a) for a in sys.argv[1:]
                     if not a.startswith('--install-deps'))
    # The environment's flags travel with the command, so that a
    # regeneration keeps them.
    regen_env = ' '.join('%s=%s' % (k, shlex.quote(v))
                         for k, v in sorted(env_flags.items()) if v)
    w.rule('configure', 'cd %s && %spython3 configure.py %s'
           % (s('.'), regen_env + ' ' if regen_env else '', regen),
           generator='1',
           description='CONFIGURE')
    w.rule('registry', 'cd %s && python3 configure.py --registry $out_abs'
           % s('.'), description='GEN $out', restat='1')
    unit_names = ','.join(os.path.splitext(os.path.basename(t))[0]
                          for t in UNIT_TESTS if os.path.exists(os.path.join(TOP, t)))
    w.rule('run_tests', 'cd %s && python3 test/run.py --binary $binary '
           '--unit-dir $unitdir --expect %s $suites' % (s('.'), unit_names),
           pool='console', description='TEST')
    w.rule('bench', 'cd %s && bench/run $binary' % s('.'), pool='console',
           description='BENCH')
    w.rule('install', 'cd %s && sh test/install.sh $how "$prefix" $binary '
           '"$bindir" "$mandir" "$datadir"' % s('.'),
           pool='console', description='INSTALL')
    w.rule('clean', 'rm -rf $out_dirs', description='CLEAN')
    w.rule('dist', 'cd %s && git archive --format=tar.gz '
           '--prefix=cspipe-%s/ -o $out HEAD' % (s('.'), version()),
           description='DIST $out')
    # Fuzz targets: the library built once more with clang's fuzzer
    # instrumentation (-fsanitize=fuzzer-no-link), linked to each target.
    # -fno-sanitize-recover: a UBSan report stops the target, as an ASan
    # one does, instead of scrolling past in the log.
    fuzz_flags = ('-std=c11 -D_GNU_SOURCE -g -O1 -pthread '
                  '-fsanitize=fuzzer-no-link,address,undefined '
                  '-fno-sanitize-recover=all '
                  '-I%s %s' % (s('src'), ' '.join(cflags)))
    w.rule('fuzz_cc', 'clang -MMD -MF $out.d %s -c $in -o $out' % fuzz_flags,
           depfile='$out.d', deps='gcc', description='FUZZ-CC $out')
    w.rule('fuzz_cxx', 'clang++ -MMD -MF $out.d %s -c $in -o $out'
           % fuzz_flags.replace('-std=c11', '-std=c++17 -fno-exceptions '
                                '-fno-rtti'),
           depfile='$out.d', deps='gcc', description='FUZZ-CXX $out')
    w.rule('fuzz_link', 'clang++ -fsanitize=fuzzer,address,undefined '
           '-fno-sanitize-recover=all -pthread '
           '-o $out $in %s -lm' % ' '.join(libs), description='FUZZ-LINK $out')
    w.rule('fuzz_run', 'cd %s && sh test/fuzz/run.sh $fuzzdir' % s('.'),
           pool='console', description='FUZZ')
    w.newline()

    def present(files):
        # While the tree grows, a listed file may not exist yet: say so
        # rather than write a build that cannot succeed.
        have = [f for f in files if os.path.exists(os.path.join(TOP, f))]
        for f in files:
            if f not in have:
                sys.stderr.write('configure.py: warning: %s is listed but '
                                 'missing\n' % f)
        return have

    lib_srcs = present(RUNTIME + CORE + STAGE_SRCS)
    objs = []
    for f in lib_srcs + [MAIN]:
        w.build(o(f), 'cxx' if f.endswith('.cc') else 'cc', s(f))
        if f != MAIN:
            objs.append(o(f))
    # The registry, generated from STAGES into the build folder: written
    # now, and again by ninja should it go missing.  It is made newer than
    # configure.py so that ninja does not regenerate it (and relink
    # everything) on every run.
    registry = obj + '/gen/registry.c'
    reg_path = os.path.join(TOP, builddir, registry)
    write_if_changed(reg_path, registry_text())
    if os.path.getmtime(reg_path) < os.path.getmtime(os.path.join(TOP, 'configure.py')):
        os.utime(reg_path)
    w.build(registry, 'registry', implicit=[s('configure.py')],
            variables={'out_abs': registry if src == '.'
                       else builddir + '/' + registry})
    w.build(o('gen/registry.c'), 'cc', registry)
    objs.append(o('gen/registry.c'))
    lib = obj + '/libcspipe.a'
    w.build(lib, 'ar', objs)
    w.build(binary, 'link', [o(MAIN), lib])
    w.newline()

    tests = []
    if cmocka:
        for t in present(UNIT_TESTS):
            name = os.path.splitext(os.path.basename(t))[0]
            w.build(o(t), 'cc', s(t))
            w.build(testdir + '/' + name, 'link_test', [o(t), lib])
            tests.append(testdir + '/' + name)
    for t in present(TEST_HELPERS):
        name = os.path.splitext(os.path.basename(t))[0]
        w.build(o(t), 'cc', s(t))
        w.build(testdir + '/' + name, 'link_test', [o(t), lib])
        tests.append(testdir + '/' + name)
    runtime_tests = [testdir + '/' + os.path.splitext(os.path.basename(t))[0]
                     for t in present(RUNTIME_TESTS)] if cmocka else []
    binpath = binary if src == '.' else builddir + '/' + binary
    unitpath = testdir if src == '.' else builddir + '/' + testdir
    w.build('test', 'run_tests', implicit=[binary] + tests,
            variables={'binary': binpath, 'unitdir': unitpath,
                       'suites': ''})
    w.build('test-runtime', 'run_tests', implicit=[binary] + runtime_tests,
            variables={'binary': binpath, 'unitdir': unitpath,
                       'suites': '--runtime-only'})
    w.build('bench', 'bench', implicit=[binary],
            variables={'binary': binpath})
    w.build('install', 'install', implicit=[binary],
            variables={'binary': binpath, 'how': ''})
    w.build('uninstall', 'install',
            variables={'binary': binpath, 'how': '-u'})
    dist = 'cspipe-%s.tar.gz' % version()
    w.build('dist', 'phony', s(dist))
    # Always remade: git archive is cheap and HEAD may have moved.
    w.build(s(dist), 'dist', implicit=['always'])
    w.build('always', 'phony')
    w.build('clean', 'clean', variables={'out_dirs': ' '.join(
        shlex.quote(x) for x in [binary, obj, testdir, fuzzdir] +
        ([] if variant else [dist]))})
    fuzzers = []
    fuzz_objs = []
    for f in lib_srcs:
        out = fuzzdir + '/obj/' + os.path.splitext(f)[0] + '.o'
        w.build(out, 'fuzz_cxx' if f.endswith('.cc') else 'fuzz_cc', s(f))
        fuzz_objs.append(out)
    # The generated registry too: fuzz_pipeline loads pipelines with it.
    w.build(fuzzdir + '/obj/gen/registry.o', 'fuzz_cc', registry)
    fuzz_objs.append(fuzzdir + '/obj/gen/registry.o')
    for f in present(FUZZ_TARGETS):
        name = os.path.splitext(os.path.basename(f))[0]
        out = fuzzdir + '/' + name
        w.build(out + '.o', 'fuzz_cc', s(f))
        w.build(out, 'fuzz_link', [out + '.o'] + fuzz_objs)
        fuzzers.append(out)
    w.build('fuzz', 'fuzz_run', implicit=fuzzers,
            variables={'fuzzdir': fuzzdir if src == '.'
                       else builddir + '/' + fuzzdir})
    w.build('build.ninja', 'configure', implicit=[s('configure.py')])
    w.default(binary)

    if variant:
        os.makedirs(os.path.join(TOP, builddir), exist_ok=True)
    path = os.path.join(TOP, builddir, 'build.ninja')
    text = w.text()
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if old != text:
        with open(path, 'w') as f:
            f.write(text)
    else:
        # Unchanged, but newer than configure.py, or ninja's generator rule
        # would run again and again.
        os.utime(path)
    where = 'ninja' if not variant else 'ninja -C ' + builddir
    sys.stderr.write('configure.py: wrote %s; now run `%s`\n'
                     % (os.path.relpath(path, TOP), where))


if __name__ == '__main__':
    main()
