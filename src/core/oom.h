/* SPDX-License-Identifier: MIT */
/*
 * oom.h - what running out of memory does: say which stage, remove the
 * temporary files of file outputs, exit 1.  Targets stay as they were.
 */
#ifndef CSPIPE_OOM_H
#define CSPIPE_OOM_H

/* Install the handler for csp_oom.  Idempotent. */
void oom_install(void);
/* Name the stage whose work this thread does (NULL: none), for the
 * message. */
void oom_set_stage(const char *name);
/* A temporary file to remove should memory run out; path must stay valid
 * until oom_forget.  Returns 0, or -1 when the table is full (the file is
 * then not removed on that path). */
int oom_remember(const char *path);
void oom_forget(const char *path);

#endif
