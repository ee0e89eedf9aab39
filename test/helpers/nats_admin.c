/* SPDX-License-Identifier: MIT */
/*
 * nats_admin - what the tests need of a JetStream server and Debian has
 * no command for: make a stream, make a consumer of a given ack policy,
 * and read back a stream's and a consumer's counts.
 *
 *   nats_admin URL stream NAME SUBJECT [DUPLICATE_WINDOW_MS]
 *   nats_admin URL consumer STREAM DURABLE explicit|all|none [MAX_ACK_PENDING]
 *   nats_admin URL info STREAM [DURABLE]
 *
 * info prints "messages N" for the stream, and with a durable also
 * "ack_pending N", "pending N", "redelivered N", "delivered N" and
 * "waiting N" (the pull requests waiting for messages), one per line.
 * Exit 0, or 1 with the library's message on stderr.  For a TLS server,
 * NATS_CA names the file of its certificate authority, and NATS_CERT and
 * NATS_KEY the client's certificate and key.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

static int fail(const char *what, natsStatus s, jsErrCode jerr)
{
	fprintf(stderr, "nats_admin: %s: %s (%d)\n", what, nats_GetLastError(NULL) ?
		nats_GetLastError(NULL) : natsStatus_GetText(s), (int)jerr);
	return 1;
}

int main(int argc, char **argv)
{
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: nats_admin URL stream|consumer|info ARGS...\n");
		return 2;
	}
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, argv[1]);
	if (s == NATS_OK && getenv("NATS_CA"))
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && getenv("NATS_CA"))
		s = natsOptions_LoadCATrustedCertificates(o, getenv("NATS_CA"));
	if (s == NATS_OK && getenv("NATS_CERT"))
		s = natsOptions_LoadCertificatesChain(o, getenv("NATS_CERT"), getenv("NATS_KEY"));
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	if (s != NATS_OK)
		return fail(argv[1], s, 0);
	if (!strcmp(argv[2], "stream") && argc >= 5) {
		jsStreamConfig sc;
		jsStreamInfo *si = NULL;
		const char *subj[1] = { argv[4] };
		jsStreamConfig_Init(&sc);
		sc.Name = argv[3];
		sc.Subjects = subj;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		if (argc > 5)
			sc.Duplicates = strtoll(argv[5], NULL, 10) * 1000000;
		s = js_AddStream(&si, js, &sc, NULL, &jerr);
		jsStreamInfo_Destroy(si);
		if (s != NATS_OK)
			rc = fail("stream", s, jerr);
	} else if (!strcmp(argv[2], "consumer") && argc >= 6) {
		jsConsumerConfig cc;
		jsConsumerInfo *ci = NULL;
		jsConsumerConfig_Init(&cc);
		cc.Durable = argv[4];
		cc.AckPolicy = !strcmp(argv[5], "all") ? js_AckAll :
			       !strcmp(argv[5], "none") ? js_AckNone : js_AckExplicit;
		if (argc > 6)
			cc.MaxAckPending = strtoll(argv[6], NULL, 10);
		s = js_AddConsumer(&ci, js, argv[3], &cc, NULL, &jerr);
		jsConsumerInfo_Destroy(ci);
		if (s != NATS_OK)
			rc = fail("consumer", s, jerr);
	} else if (!strcmp(argv[2], "info")) {
		jsStreamInfo *si = NULL;
		s = js_GetStreamInfo(&si, js, argv[3], NULL, &jerr);
		if (s != NATS_OK) {
			rc = fail("stream info", s, jerr);
		} else {
			printf("messages %" PRIu64 "\n", si->State.Msgs);
			jsStreamInfo_Destroy(si);
		}
		if (rc == 0 && argc > 4) {
			jsConsumerInfo *ci = NULL;
			s = js_GetConsumerInfo(&ci, js, argv[3], argv[4], NULL, &jerr);
			if (s != NATS_OK) {
				rc = fail("consumer info", s, jerr);
			} else {
				printf("ack_pending %" PRId64 "\npending %" PRIu64 "\nredelivered %"
				       PRId64 "\ndelivered %" PRIu64 "\nwaiting %" PRId64 "\n",
				       ci->NumAckPending, ci->NumPending, ci->NumRedelivered,
				       ci->Delivered.Stream, ci->NumWaiting);
				jsConsumerInfo_Destroy(ci);
			}
		}
	} else {
		fprintf(stderr, "nats_admin: unknown command %s\n", argv[2]);
		rc = 2;
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return rc;
}
