#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run every test and end with one line: `N passed, N failed`.

    python3 test/run.py --binary ./cspipe --unit-dir build/default/test
                        [--runtime-only] [--filter REGEX] [BATS_FILE...]

C unit tests (cmocka) report in TAP; bats files run with --tap.  A skipped
test counts as failed: a test that does not run proves nothing.
Environment: CSPIPE (set here to --binary), LOGHUB (../shared/data/loghub by
default), TEST_JOBS (parallel test files, default: number of CPUs).
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


def parse_tap(text):
    passed, failed, names = 0, 0, []
    planned = None
    for line in text.splitlines():
        m = re.match(r'^1\.\.(\d+)', line)
        if m:
            planned = (planned or 0) + int(m.group(1))
            continue
        m = TAP_RESULT.match(line)
        if not m:
            continue
        status, _, desc = m.groups()
        skipped = re.search(r'#\s*skip', desc, re.I)
        if status == 'ok' and not skipped:
            passed += 1
        else:
            failed += 1
            names.append(desc + (' (skipped)' if skipped else ''))
    return passed, failed, names, planned


def run_one(kind, path, env, timeout):
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
    passed, failed, names, planned = parse_tap(out)
    ran = passed + failed
    if planned is not None and ran < planned:
        failed += planned - ran
        names.append('%d planned tests did not report' % (planned - ran))
    if rc != 0 and failed == 0:
        failed += 1
        names.append('exited %d' % rc)
    if ran == 0 and failed == 0:
        failed = 1
        names.append('ran no test')
    return path, passed, failed, names, out, time.time() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', default='./cspipe')
    ap.add_argument('--unit-dir', default='build/default/test')
    ap.add_argument('--runtime-only', action='store_true')
    ap.add_argument('--filter', help='run only test files matching REGEX')
    ap.add_argument('--timeout', type=int, default=1200)
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
    total_p = total_f = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, n)) as ex:
        futs = [ex.submit(run_one, k, p, env, a.timeout) for k, p in jobs]
        for f in futs:
            path, p, fl, names, out, secs = f.result()
            total_p += p
            total_f += fl
            mark = 'ok  ' if fl == 0 else 'FAIL'
            print('%s %-40s %4d passed %3d failed  %6.1fs'
                  % (mark, path, p, fl, secs), flush=True)
            if fl:
                print('---- output of %s ----' % path)
                print(out.rstrip())
                print('---- failed: %s' % '; '.join(names))
    print('%d passed, %d failed' % (total_p, total_f))
    sys.exit(1 if total_f or not jobs else 0)


if __name__ == '__main__':
    main()
