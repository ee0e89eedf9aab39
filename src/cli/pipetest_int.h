/* SPDX-License-Identifier: MIT */
/*
 * pipetest_int.h - a test case as pipetest_check.c finds it in the tests:
 * section and pipetest.c runs it; private to those two files.
 */
#ifndef CSPIPE_PIPETEST_INT_H
#define CSPIPE_PIPETEST_INT_H

struct node;

/* One case of the tests: section: its nodes in the pipeline file's tree. */
struct tcase {
	const struct node *at;
	const char *name;
	const struct node *input;        /* a list, or NULL */
	const struct node *input_file;   /* a string, or NULL */
	const struct node *expect;       /* a list or a mapping, or NULL */
	const struct node *expect_file;  /* a string, or NULL */
};

#endif
