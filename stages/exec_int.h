/* SPDX-License-Identifier: MIT */
/*
 * exec_int.h - what the exec stage's two files share: exec.c (options,
 * retries, the breaker, batches) and exec_child.c (one attempt: a child
 * process fed a batch and read to its end).  Private to those two.
 */
#ifndef CSPIPE_EXEC_INT_H
#define CSPIPE_EXEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/fdio.h"
#include "core/stage.h"

#define KILL_GRACE (1 * CSP_NS_PER_S)   /* SIGTERM to SIGKILL */
#define WAIT_TICK (10 * CSP_NS_PER_MS)  /* polling where nothing can wake us */
#define READ_WANT 65536
#define WHY_MAX 320                     /* a failure's cause, for messages */

/* The command: argv (NULL-terminated) and how messages show it. */
struct exec_cmd {
	char **argv;
	char *show;      /* the words joined by spaces, or the shell string */
};

/* Exit statuses that count as success: a bitmap of 0..255. */
struct exit_set {
	unsigned char ok[32];
};

/* Given or not: failures is 1 or more when the mapping is given, 0 when
 * the breaker is off. */
struct breaker_conf {
	int64_t failures;
	int64_t cooldown;
	int64_t probes;
};

struct exec_conf {
	struct exec_cmd command;
	int64_t timeout;
	int64_t retries;
	struct breaker_conf breaker;
	struct exit_set success;
	uint64_t max_record;
	uint64_t max_output;
};

struct exec_worker {
	struct fdwait fw;
	int fw_errno;                   /* why fw could not be made (fw.efd < 0) */
};

/* The verdict of one attempt. */
enum { ATT_OK, ATT_FAILED, ATT_FATAL, ATT_CANCELED };

/* Where the output of one attempt goes until its verdict. */
struct held {
	struct batch *head, **tail;
	uint64_t bytes;
};

/* Free what h holds and leave it empty. */
void exec_held_free(struct held *h);

/* Whether status counts as success. */
int exec_exit_ok(const struct exit_set *s, int status);

/*
 * Run the command once on batch `in`.  Its output records go to h (the
 * caller frees them whatever the result).  Returns ATT_OK; ATT_FAILED
 * with why set to the cause ("'cmd' exited with status 3"); ATT_FATAL
 * with e set (an output error, or no pipe could be made); or
 * ATT_CANCELED when the worker's context was cancelled.  The process is
 * reaped and every descriptor it used closed, whatever the result.
 */
int exec_run_attempt(struct exec_worker *xw, const struct exec_conf *c,
		     const struct batch *in, struct held *h, char *why, size_t nwhy,
		     struct err *e);

#endif
