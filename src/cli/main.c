/* SPDX-License-Identifier: MIT */
/*
 * main.c - cspipe: Go's concurrency model for the Unix command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/stage.h"

/*
 * A descriptor 0, 1 or 2 closed by the caller (`cspipe ... >&-`) would be
 * the next one cspipe opens, and output meant for stdout would land in a
 * file it reads.  Hold each closed one with /dev/null opened the wrong way
 * round, so that using it fails with EBADF, as it would have, and the user
 * gets an error instead of lost data.
 */
static void hold_std_descriptors(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
			if (got >= 0 && got != fd)
				close(got);   /* a lower one was free: not ours to fill */
		}
}

#ifdef __SANITIZE_THREAD__
/*
 * ThreadSanitizer asks for this at start-up in a TSan build.  libnats 3.4
 * (Debian 12) calls SSL_read on its reader thread and SSL_write on its
 * flusher thread on one OpenSSL connection without a common lock; the
 * library fixed that in a later release (nats.c pull request 913,
 * "Protect SSL_read/SSL_write with mutex").  Those reports are inside
 * libssl and libcrypto, so they are the only ones left out; every race in
 * cspipe's own code, and in libnats' own frames, is still reported.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:libssl.so.3\n"
	       "race:libcrypto.so.3\n";
}
#endif

int main(int argc, char **argv)
{
	hold_std_descriptors();
	return cli_main(argc, argv, &stage_registry);
}
