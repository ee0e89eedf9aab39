/* SPDX-License-Identifier: MIT */
/*
 * nats.h - what nats_in and nats_out share: the connection options
 * (servers, TLS, credentials, timeouts) as rows of their tables, and one
 * connection to a NATS server with JetStream, kept up across a lost
 * server by reconnecting with backoff.
 */
#ifndef CSPIPE_STAGES_NATS_H
#define CSPIPE_STAGES_NATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include <nats/nats.h>

#include "pipeline/config.h"

struct err;
struct diags;
struct stage;

struct nats_conf {
	struct strlist url;
	char *ca, *cert, *key;
	char *user, *password, *token, *creds;
	int64_t connect_timeout;
	int64_t reconnect_timeout;
};

#define NATS_OPTIONS(T)                                                           \
	{ .name = "url", .type = OPT_STRLIST, .offset = offsetof(T, nc.url),          \
	  .def = "nats://127.0.0.1:4222",                                             \
	  .doc = "the server, or a list of servers of one cluster (nats:// or tls://)" }, \
	{ .name = "ca", .type = OPT_STRING, .offset = offsetof(T, nc.ca),             \
	  .doc = "file of the certificate authorities that sign the server's certificate" }, \
	{ .name = "cert", .type = OPT_STRING, .offset = offsetof(T, nc.cert),         \
	  .doc = "file of the client certificate, for servers that verify clients" },  \
	{ .name = "key", .type = OPT_STRING, .offset = offsetof(T, nc.key),           \
	  .doc = "file of the client certificate's private key" },                    \
	{ .name = "user", .type = OPT_STRING, .offset = offsetof(T, nc.user),         \
	  .doc = "user name, with password" },                                        \
	{ .name = "password", .type = OPT_STRING, .offset = offsetof(T, nc.password), \
	  .doc = "password of user" },                                                \
	{ .name = "token", .type = OPT_STRING, .offset = offsetof(T, nc.token),       \
	  .doc = "authentication token" },                                            \
	{ .name = "creds", .type = OPT_STRING, .offset = offsetof(T, nc.creds),       \
	  .doc = "credentials file (JWT and NKey seed)" },                            \
	{ .name = "connect_timeout", .type = OPT_DURATION,                            \
	  .offset = offsetof(T, nc.connect_timeout), .def = "5s", .min = 1000000,      \
	  .max = INT64_MAX, .doc = "how long the first connection may take; past it the run fails" }, \
	{ .name = "reconnect_timeout", .type = OPT_DURATION,                          \
	  .offset = offsetof(T, nc.reconnect_timeout), .def = "1m", .min = 0,          \
	  .max = INT64_MAX,                                                           \
	  .doc = "how long to keep reconnecting to a lost server before failing (0: forever)" }

/* A connection with its JetStream context. */
struct nats_link {
	natsConnection *nc;
	jsCtx *js;
	char *urls;                  /* as written, for messages */
	int64_t reconnect_timeout;
	_Atomic int64_t down_since;  /* 0 while connected */
	_Atomic uint64_t reconnects;
	/* The library's closed callback has run: no callback of the
	 * connection runs after it, so l may go. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int closed;
};

/* Check the connection options (user with password, cert with key,
 * URL schemes). */
int nats_conf_check(const struct nats_conf *c, struct stage *st, struct diags *d);
/* Connect within connect_timeout.  Fills l, or returns -1 after err_set
 * naming the server. */
int nats_link_open(struct nats_link *l, const struct nats_conf *c,
		   const jsOptions *jo, struct err *e);
void nats_link_close(struct nats_link *l);
/* 1 when the server has been lost for longer than reconnect_timeout, or
 * for good; then err_set says so. */
int nats_link_gone(struct nats_link *l, struct err *e);
/* The text of the library's last error for status s. */
const char *nats_errtext(natsStatus s);

#endif
