/* SPDX-License-Identifier: MIT */
/*
 * nats.c - the connection nats_in and nats_out share.
 *
 * The client library reconnects by itself; we let it try forever, with a
 * delay that doubles from 50 ms to 2 s, and judge ourselves when a server
 * has been gone too long (reconnect_timeout), so that a restarted server
 * is found again and a vanished one is an error with its URL.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csp/csp.h"
#include "base/util.h"
#include "core/stage.h"
#include "nats.h"

/* nats_CloseAndWait ends the library's threads; it may run only once
 * the last connection has gone, so the links are counted. */
static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;
static int lib_users;

/* The library's last error on this thread, without the "(file.c:123): "
 * it begins with and a ": (null)" it may end with. */
const char *nats_errtext(natsStatus s)
{
	static _Thread_local char text[512];
	const char *t = nats_GetLastError(NULL), *p;
	size_t n;

	if (!t || !*t)
		return natsStatus_GetText(s);
	if (t[0] == '(' && (p = strstr(t, "): ")) && !memchr(t, ' ', (size_t)(p - t)))
		t = p + 3;
	snprintf(text, sizeof text, "%s", t);
	n = strlen(text);
	if (n > 8 && !strcmp(text + n - 8, ": (null)"))
		text[n - 8] = '\0';
	return text;
}

int nats_conf_check(const struct nats_conf *c, struct stage *st, struct diags *d)
{
	struct pos at = stage_pos(st);

	for (size_t i = 0; i < c->url.n; i++) {
		const char *u = c->url.v[i];
		if (strncmp(u, "nats://", 7) && strncmp(u, "tls://", 6)) {
			diag_at(d, c->url.at && c->url.at[i].file ? c->url.at[i] : at,
				 "%s: url: expected nats://HOST:PORT or tls://HOST:PORT, got '%s'",
				 st->kind->name, u);
			return -1;
		}
	}
	if (!!c->user != !!c->password) {
		diag_at(d, at, "%s: user and password go together", st->kind->name);
		return -1;
	}
	if (!!c->cert != !!c->key) {
		diag_at(d, at, "%s: cert and key go together", st->kind->name);
		return -1;
	}
	return 0;
}

static int64_t reconnect_delay(natsConnection *nc, int attempts, void *arg)
{
	int64_t ms = 50;

	(void)nc;
	(void)arg;
	for (int i = 1; i < attempts && ms < 2000; i++)
		ms *= 2;
	return ms < 2000 ? ms : 2000;
}

static void on_down(natsConnection *nc, void *arg)
{
	struct nats_link *l = arg;
	int64_t zero = 0;

	(void)nc;
	atomic_compare_exchange_strong(&l->down_since, &zero, csp_now());
}

/* The connection's last callback (on the library's thread). */
static void on_closed(natsConnection *nc, void *arg)
{
	struct nats_link *l = arg;

	(void)nc;
	pthread_mutex_lock(&l->mu);
	l->closed = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void on_up(natsConnection *nc, void *arg)
{
	struct nats_link *l = arg;

	(void)nc;
	atomic_store(&l->down_since, 0);
	atomic_fetch_add(&l->reconnects, 1);
}

/* Asynchronous errors (a slow consumer) show up again as a failed call
 * where it matters; the handler keeps the library from printing them. */
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *arg)
{
	(void)nc;
	(void)sub;
	(void)s;
	(void)arg;
}

/*
 * Connect to the servers of c (in the order given) within
 * connect_timeout, with TLS and credentials as configured, and make the
 * JetStream context with jo.  Returns 0, or -1 after err_set naming the
 * servers and the cause; l is then closed.  l must stay where it is while
 * the connection lives (the callbacks hold it).
 */
int nats_link_open(struct nats_link *l, const struct nats_conf *c,
		   const jsOptions *jo, struct err *e)
{
	natsOptions *o = NULL;
	natsStatus s;
	struct buf urls = { 0 };
	int secure = c->ca || c->cert;

	memset(l, 0, sizeof *l);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	pthread_mutex_lock(&lib_mu);
	lib_users++;
	pthread_mutex_unlock(&lib_mu);
	for (size_t i = 0; i < c->url.n; i++) {
		if (i)
			buf_append(&urls, ", ", 2);
		buf_append(&urls, c->url.v[i], strlen(c->url.v[i]));
		secure |= !strncmp(c->url.v[i], "tls://", 6);
	}
	buf_cstr(&urls);
	l->urls = urls.p;
	l->reconnect_timeout = c->reconnect_timeout;
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)c->url.v, (int)c->url.n);
	if (s == NATS_OK)
		s = natsOptions_SetNoRandomize(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, c->connect_timeout / 1000000);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "cspipe");
	if (s == NATS_OK && secure)
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && c->ca && (s = natsOptions_LoadCATrustedCertificates(o, c->ca)) != NATS_OK) {
		err_set(e, "ca %s: %s", c->ca, nats_errtext(s));
		goto fail_quiet;
	}
	if (s == NATS_OK && c->cert &&
	    (s = natsOptions_LoadCertificatesChain(o, c->cert, c->key)) != NATS_OK) {
		err_set(e, "cert %s, key %s: %s", c->cert, c->key, nats_errtext(s));
		goto fail_quiet;
	}
	if (s == NATS_OK && c->user)
		s = natsOptions_SetUserInfo(o, c->user, c->password);
	if (s == NATS_OK && c->token)
		s = natsOptions_SetToken(o, c->token);
	if (s == NATS_OK && c->creds &&
	    (s = natsOptions_SetUserCredentialsFromFiles(o, c->creds, NULL)) != NATS_OK) {
		err_set(e, "creds %s: %s", c->creds, nats_errtext(s));
		goto fail_quiet;
	}
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, l);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(o, 32 * 1024 * 1024);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_down, l);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_up, l);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, on_closed, l);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, l);
	if (s != NATS_OK) {
		err_set(e, "%s: %s", l->urls, nats_errtext(s));
		goto fail_quiet;
	}
	s = natsConnection_Connect(&l->nc, o);
	if (s != NATS_OK) {
		char d[32];
		format_duration(d, sizeof d, c->connect_timeout);
		/* A server that verifies its clients drops one without a
		 * certificate after the handshake, which the library reports
		 * only as a missing PONG. */
		err_set(e, "cannot connect to %s within connect_timeout %s: %s%s", l->urls, d,
			nats_errtext(s), secure && !c->cert && s == NATS_PROTOCOL_ERROR ?
			" (a server that verifies its clients needs cert and key)" : "");
		goto fail_quiet;
	}
	s = natsConnection_JetStream(&l->js, l->nc, (jsOptions *)jo);
	if (s != NATS_OK) {
		err_set(e, "%s: JetStream: %s", l->urls, nats_errtext(s));
		goto fail_quiet;
	}
	natsOptions_Destroy(o);
	return 0;
fail_quiet:
	natsOptions_Destroy(o);
	nats_link_close(l);
	return -1;
}

/* Close the connection (what is buffered is flushed first) and free l's
 * parts.  Harmless on a link closed already. */
void nats_link_close(struct nats_link *l)
{
	int last;

	if (!l->urls && !l->nc)
		return;
	jsCtx_Destroy(l->js);
	l->js = NULL;
	if (l->nc) {
		natsConnection_Close(l->nc);
		/* The disconnected and closed callbacks run later on the
		 * library's thread, and hold l: wait for the last (a few
		 * seconds at most; a library that never calls it leaks
		 * nothing worse than that wait). */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		pthread_mutex_lock(&l->mu);
		while (!l->closed && pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0)
			;
		pthread_mutex_unlock(&l->mu);
		natsConnection_Destroy(l->nc);
		l->nc = NULL;
	}
	free(l->urls);
	l->urls = NULL;
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_lock(&lib_mu);
	last = --lib_users == 0;
	pthread_mutex_unlock(&lib_mu);
	/* Wait for the library's threads to end (every connection is
	 * destroyed by now): one still running at exit would use OpenSSL's
	 * locks while exit frees them. */
	if (last)
		nats_CloseAndWait(5000);
}

int nats_link_gone(struct nats_link *l, struct err *e)
{
	int64_t since = atomic_load(&l->down_since);
	char d[32];

	if (natsConnection_IsClosed(l->nc)) {
		err_set(e, "lost the server %s", l->urls);
		return 1;
	}
	if (!since || !l->reconnect_timeout || csp_now() - since < l->reconnect_timeout)
		return 0;
	format_duration(d, sizeof d, l->reconnect_timeout);
	err_set(e, "lost the server %s and could not reconnect within reconnect_timeout %s",
		l->urls, d);
	return 1;
}
