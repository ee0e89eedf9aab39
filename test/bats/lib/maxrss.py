#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""maxrss.py REPORT COMMAND [ARG...]: run COMMAND with this process's
standard input, output and error, then write its peak resident set size in
KiB (the kernel's ru_maxrss for that one child) to the file REPORT.

Exits with the command's status, or 128 + N when signal N killed it, as a
shell does.  python3's standard library only, so the tests need no
/usr/bin/time."""

import os
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: maxrss.py REPORT COMMAND [ARG...]")
    report, argv = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(report, "w") as f:
        f.write("%d\n" % usage.ru_maxrss)
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
