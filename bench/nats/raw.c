/* SPDX-License-Identifier: MIT */
/*
 * raw - the NATS C client alone, as a user would write it, for bench/nats
 * to measure cspipe's nats_in and nats_out against.
 *
 *   raw URL stream NAME SUBJECT          make a stream (file storage)
 *   raw URL pub SUBJECT FILE             publish each line, async, wait for all acks
 *   raw URL sub STREAM DURABLE BATCH N [IDLE_MS]
 *                                        fetch and ack N messages, or with
 *                                        IDLE_MS until a fetch of that long
 *                                        brings none (two processes on one
 *                                        durable share N)
 *
 * pub and sub print "N messages in S s" on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, natsStatus s)
{
	fprintf(stderr, "raw: %s: %s\n", what, natsStatus_GetText(s));
	return 1;
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsErrCode jerr = 0;
	natsStatus s;

	if (argc < 4)
		return fprintf(stderr, "usage: raw URL stream|pub|sub ARGS...\n"), 2;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 4096;
	if ((s = natsConnection_ConnectTo(&nc, argv[1])) != NATS_OK ||
	    (s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		return die("connect", s);
	if (!strcmp(argv[2], "stream") && argc == 5) {
		jsStreamConfig sc;
		const char *subj[1] = { argv[4] };
		jsStreamConfig_Init(&sc);
		sc.Name = argv[3];
		sc.Subjects = subj;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		if ((s = js_AddStream(NULL, js, &sc, NULL, &jerr)) != NATS_OK)
			return die("stream", s);
	} else if (!strcmp(argv[2], "pub") && argc == 5) {
		FILE *f = fopen(argv[4], "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		long count = 0;
		double t0 = now();
		if (!f)
			return perror(argv[4]), 1;
		while ((n = getline(&line, &cap, f)) > 0) {
			if (line[n - 1] == '\n')
				n--;
			if ((s = js_PublishAsync(js, argv[3], line, (int)n, NULL)) != NATS_OK)
				return die("publish", s);
			count++;
		}
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = 60000;
		if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
			return die("publish complete", s);
		printf("%ld messages in %.3f s\n", count, now() - t0);
		free(line);
		fclose(f);
	} else if (!strcmp(argv[2], "sub") && (argc == 7 || argc == 8)) {
		natsSubscription *sub = NULL;
		jsSubOptions so;
		jsConsumerConfig cc;
		int batch = atoi(argv[5]);
		long want = atol(argv[6]), got = 0;
		int idle = argc == 8 ? atoi(argv[7]) : 0;
		double t0;
		jsConsumerConfig_Init(&cc);
		cc.Durable = argv[4];
		cc.AckPolicy = js_AckExplicit;
		cc.MaxAckPending = 8192;
		if ((s = js_AddConsumer(NULL, js, argv[3], &cc, NULL, &jerr)) != NATS_OK)
			return die("consumer", s);
		jsSubOptions_Init(&so);
		so.Stream = argv[3];
		so.Consumer = argv[4];
		if ((s = js_PullSubscribe(&sub, js, ">", argv[4], NULL, &so, &jerr)) != NATS_OK)
			return die("subscribe", s);
		t0 = now();
		while (!want || got < want) {
			natsMsgList list = { 0 };
			s = natsSubscription_Fetch(&list, sub, batch, idle ? idle : 5000, &jerr);
			if (idle && s == NATS_TIMEOUT && list.Count == 0)
				break;
			if (s != NATS_OK && list.Count == 0)
				return die("fetch", s);
			for (int i = 0; i < list.Count; i++)
				natsMsg_Ack(list.Msgs[i], NULL);
			got += list.Count;
			natsMsgList_Destroy(&list);
		}
		natsConnection_Flush(nc);
		printf("%ld messages in %.3f s\n", got, now() - t0);
		natsSubscription_Destroy(sub);
	} else {
		return fprintf(stderr, "raw: bad arguments\n"), 2;
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return 0;
}
