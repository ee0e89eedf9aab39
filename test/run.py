#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run every test and end with one line: `N passed, N failed`.

    python3 test/run.py --binary ./cspipe --unit-dir build/default/test
                        [--runtime-only] [--filter REGEX] [BATS_FILE...]

C unit tests (cmocka) report in TAP; bats files run with --tap.

Skips.  A test that needs what is not there (the real logs, when LOGHUB
does not name them and ../shared is absent) skips with one line saying
why.  Under CI (the environment variable CI set, and not to 0, false or
no) a skip counts as a failure: a test that does not run proves nothing,
and CI must have everything.  Elsewhere skips are counted apart, on a line
of their own before the last, so that `ninja test` works in a tree
unpacked alone; the last line stays `N passed, N failed`.
Environment: CSPIPE (set here to --binary), LOGHUB (../shared/data/loghub by
default), TEST_JOBS (parallel test files, default: number of CPUs), CI.
"""

import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME = ('test_chan', 'test_select', 'test_ctx', 'test_sync', 'test_rate',
           'test_breaker', 'test_errgroup', 'test_stress')
TAP_RESULT = re.compile(r'^(not ok|ok)\b\s*(\d+)?\s*-?\s*(.*)$')


def in_ci():
    return os.environ.get('CI', '').lower() not in ('', '0', 'false', 'no')


def parse_tap(text, strict=True):
    """(passed, failed, skipped, failed names, skip reasons, planned).
    strict: a skip is a failure (CI)."""
    passed, failed, skipped, names, why = 0, 0, 0, [], []

    planned = None
    said = ''                # the line before, for cmocka's skips
    for line in text.splitlines():
        m = re.match(r'^1\.\.(\d+)', line)
        if m:
            planned = (planned or 0) + int(m.group(1))
            continue
        m = TAP_RESULT.match(line)
        if not m:
            said = line.strip()
            continue
        status, _, desc = m.groups()
        skip = re.search(r'#\s*skip\w*\s*(.*)$', desc, re.I)
        if status == 'ok' and not skip:
            passed += 1
        elif skip and not strict:
            # bats: ok N name # skip REASON; cmocka says the reason on
            # the line before `not ok N # SKIP name`.
            skipped += 1
            why.append(said if desc.startswith('#') else
                       skip.group(1).strip())
        else:
            failed += 1
            names.append(desc + (' (skipped)' if skip else ''))
    return passed, failed, skipped, names, why, planned


def run_one(kind, path, env, timeout, strict):
    start = time.time()
    if kind == 'unit':
        cmd = [path]
        e = dict(env, CMOCKA_MESSAGE_OUTPUT='TAP')
    else:
        cmd = ['bats', '--tap', path]
        e = env
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=e, timeout=timeout,
                           universal_newlines=True, errors='replace')
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as ex:
        out = (ex.stdout or '') if isinstance(ex.stdout, str) else ''
        out += '\n# timed out after %d s\n' % timeout
        rc = 124
    passed, failed, skipped, names, why, planned = parse_tap(out, strict)
    ran = passed + failed + skipped
    if planned is not None and ran < planned:
        failed += planned - ran
        names.append('%d planned tests did not report' % (planned - ran))
    if rc != 0 and failed == 0:
        failed += 1
        names.append('exited %d' % rc)
    if ran == 0 and failed == 0:
        failed = 1
        names.append('ran no test')
    return path, passed, failed, skipped, why, names, out, time.time() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', default='./cspipe')
    ap.add_argument('--unit-dir', default='build/default/test')
    ap.add_argument('--runtime-only', action='store_true')
    ap.add_argument('--filter', help='run only test files matching REGEX')
    ap.add_argument('--timeout', type=int, default=1200)
    ap.add_argument('--expect', default='',
                    help='comma-separated unit tests that must be there: one '
                         'missing (cmocka not installed) counts as failed')
    ap.add_argument('files', nargs='*')
    a = ap.parse_args()

    os.chdir(TOP)
    env = dict(os.environ)
    env['CSPIPE'] = os.path.abspath(a.binary)
    env['CSPIPE_UNIT_DIR'] = os.path.abspath(a.unit_dir)
    env.setdefault('LOGHUB', os.path.abspath(
        os.path.join(TOP, '..', 'shared', 'data', 'loghub')))
    env.setdefault('CSPIPE_TOP', TOP)

    jobs = []
    for t in sorted(glob.glob(os.path.join(a.unit_dir, 'test_*'))):
        name = os.path.basename(t)
        if not os.access(t, os.X_OK) or '.' in name:
            continue
        if a.runtime_only and name not in RUNTIME:
            continue
        jobs.append(('unit', t))
    if not a.runtime_only:
        bats = a.files or sorted(glob.glob('test/bats/*.bats'))
        jobs += [('bats', b) for b in bats]
    if a.filter:
        jobs = [j for j in jobs if re.search(a.filter, j[1])]

    n = int(os.environ.get('TEST_JOBS', os.cpu_count() or 1))
    total_p = total_f = total_s = 0
    reasons = {}
    strict = in_ci()
    # A unit test that was not built does not shrink the count silently.
    for name in [e for e in a.expect.split(',') if e]:
        if a.runtime_only and name not in RUNTIME:
            continue
        if a.filter and not re.search(a.filter, name):
            continue
        t = os.path.join(a.unit_dir, name)
        if not os.access(t, os.X_OK):
            print('FAIL %-40s missing (is cmocka installed? '
                  './configure.py --install-deps)' % t, flush=True)
            total_f += 1
    # The suite's own lint: shapes of a bats test that cannot fail.
    if not a.runtime_only and not a.files and not a.filter:
        lint = subprocess.run(['test/lint-bats'], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True)
        if lint.returncode == 0:
            total_p += 1
            print('ok   %-40s    1 passed   0 failed' % 'test/lint-bats', flush=True)
        else:
            total_f += 1
            print('FAIL %-40s    0 passed   1 failed' % 'test/lint-bats', flush=True)
            print(lint.stdout.rstrip())
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, n)) as ex:
        futs = [ex.submit(run_one, k, p, env, a.timeout, strict)
                for k, p in jobs]
        for f in futs:
            path, p, fl, sk, why, names, out, secs = f.result()
            total_p += p
            total_f += fl
            total_s += sk
            for w in why:
                reasons[w] = reasons.get(w, 0) + 1
            mark = 'ok  ' if fl == 0 else 'FAIL'
            print('%s %-40s %4d passed %3d failed  %6.1fs%s'
                  % (mark, path, p, fl, secs,
                     '  (%d skipped)' % sk if sk else ''), flush=True)
            if fl:
                print('---- output of %s ----' % path)
                print(out.rstrip())
                print('---- failed: %s' % '; '.join(names))
    if total_s:
        print('%d skipped (not under CI, where a skip fails): %s'
              % (total_s, '; '.join('%s (%d)' % (w or 'no reason given', c)
                                    for w, c in sorted(reasons.items()))))
    print('%d passed, %d failed' % (total_p, total_f))
    sys.exit(1 if total_f or not jobs else 0)


if __name__ == '__main__':
    main()
