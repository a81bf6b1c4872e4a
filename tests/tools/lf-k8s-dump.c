// SPDX-License-Identifier: Apache-2.0
/*
 * lf-k8s-dump: runs the Kubernetes client (k8s.c + k8s_store.c) against a real or fake API
 * server and prints what the published enrich table says about addresses, and the client's
 * counters. A test tool: one line per lookup, "key value" lines for stats, stable formats.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enrich.h"
#include "k8s.h"
#include "log.h"

#define DUMP_MAX_LOOKUPS 64

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lf-k8s-dump [--kubeconfig FILE] [--context NAME] [--sa-dir DIR]\n"
		"                   [--server URL] [--wait-sync MS] [--lookup IP]...\n"
		"                   [--watch-seconds N] [--stats] [--cluster NAME]\n"
		"                   [--label-key KEY]... [--page-limit N] [--watch-timeout S]\n"
		"                   [--token-reread S] [--backoff-max-ms MS] [--tombstone-ms MS]\n"
		"                   [--max-page-bytes N] [--max-object-bytes N]\n"
		"                   [--log-level error|warn|info|debug]\n"
		"Prints 'lookup IP key=value ...' (or 'lookup IP -' when unknown) per lookup,\n"
		"'t=N' before each round of --watch-seconds, and 'key value' lines for --stats.\n"
		"Exit: 0 ok, 1 error, 2 --wait-sync timed out (lookups and stats still "
		"printed).\n");
}

static void print_lookups(struct enrich *e, char *const *ips, size_t n)
{
	struct enrich_snapshot *snap = enrich_snapshot_acquire(e);
	struct timespec ts;
	uint64_t now_ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (size_t i = 0; i < n; i++) {
		struct enrich_labels l;
		struct enrich_addr a;

		if (enrich_addr_parse(ips[i], &a) < 0) {
			printf("lookup %s invalid\n", ips[i]);
			continue;
		}
		if (!enrich_lookup(snap, &a, now_ms, &l)) {
			printf("lookup %s -\n", ips[i]);
			continue;
		}
		printf("lookup %s", ips[i]);
		for (int d = 0; d < ENRICH_DIM_COUNT; d++)
			if (l.v[d])
				printf(" %s=%s", enrich_dim_key((enum enrich_dim)d), l.v[d]);
		printf("\n");
	}
	enrich_snapshot_release(snap);
	fflush(stdout);
}

static void print_stats(struct k8s *k)
{
	struct k8s_stats st;

	k8s_get_stats(k, &st);
	printf("synced %d\n", st.synced ? 1 : 0);
	printf("sync_ms %" PRIu64 "\n", st.sync_ms);
	printf("token_reads %" PRIu64 "\n", st.token_reads);
	printf("auth_failures %" PRIu64 "\n", st.auth_failures);
	printf("metadata_age_ms %" PRIu64 "\n", st.metadata_age_ms);
	for (int i = 0; i < K8S_KIND_COUNT; i++) {
		const struct k8s_resource_stats *r = &st.res[i];
		const char *n = k8s_kind_name((enum k8s_kind)i);

#define DUMP_RES(field) printf("%s.%s %" PRIu64 "\n", n, #field, (uint64_t)r->field)
		DUMP_RES(synced);
		DUMP_RES(lists);
		DUMP_RES(list_pages);
		DUMP_RES(relists);
		DUMP_RES(watches);
		DUMP_RES(gone);
		DUMP_RES(bookmarks);
		DUMP_RES(events);
		DUMP_RES(errors);
		DUMP_RES(reconnects);
		DUMP_RES(backoffs);
		DUMP_RES(backoff_ms);
		DUMP_RES(bytes);
		DUMP_RES(malformed);
		DUMP_RES(oversized);
#undef DUMP_RES
		printf("store.%s.objects %" PRIu64 "\n", n, st.store.objects[i]);
		printf("store.%s.events %" PRIu64 "\n", n, st.store.events[i]);
	}
	printf("store.rejected %" PRIu64 "\n", st.store.rejected);
	printf("store.oversized %" PRIu64 "\n", st.store.oversized);
	printf("store.over_limit %" PRIu64 "\n", st.store.over_limit);
	printf("store.tombstones %" PRIu64 "\n", st.store.tombstones);
	printf("store.publishes %" PRIu64 "\n", st.store.publishes);
	printf("store.pods_indexed %" PRIu64 "\n", st.store.pods_indexed);
	fflush(stdout);
}

static int parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_KUBECONFIG = 256,
		OPT_CONTEXT,
		OPT_SA_DIR,
		OPT_SERVER,
		OPT_WAIT_SYNC,
		OPT_LOOKUP,
		OPT_WATCH_SECONDS,
		OPT_STATS,
		OPT_CLUSTER,
		OPT_LABEL_KEY,
		OPT_PAGE_LIMIT,
		OPT_WATCH_TIMEOUT,
		OPT_TOKEN_REREAD,
		OPT_BACKOFF_MAX,
		OPT_TOMBSTONE,
		OPT_MAX_PAGE_BYTES,
		OPT_MAX_OBJECT_BYTES,
		OPT_LOG_LEVEL,
		OPT_HELP,
	};
	static const struct option opts[] = {
		{"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
		{"context", required_argument, NULL, OPT_CONTEXT},
		{"sa-dir", required_argument, NULL, OPT_SA_DIR},
		{"server", required_argument, NULL, OPT_SERVER},
		{"wait-sync", required_argument, NULL, OPT_WAIT_SYNC},
		{"lookup", required_argument, NULL, OPT_LOOKUP},
		{"watch-seconds", required_argument, NULL, OPT_WATCH_SECONDS},
		{"stats", no_argument, NULL, OPT_STATS},
		{"cluster", required_argument, NULL, OPT_CLUSTER},
		{"label-key", required_argument, NULL, OPT_LABEL_KEY},
		{"page-limit", required_argument, NULL, OPT_PAGE_LIMIT},
		{"watch-timeout", required_argument, NULL, OPT_WATCH_TIMEOUT},
		{"token-reread", required_argument, NULL, OPT_TOKEN_REREAD},
		{"backoff-max-ms", required_argument, NULL, OPT_BACKOFF_MAX},
		{"tombstone-ms", required_argument, NULL, OPT_TOMBSTONE},
		{"max-page-bytes", required_argument, NULL, OPT_MAX_PAGE_BYTES},
		{"max-object-bytes", required_argument, NULL, OPT_MAX_OBJECT_BYTES},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	struct k8s_config cfg = {0};
	char *lookups[DUMP_MAX_LOOKUPS];
	size_t n_lookups = 0;
	uint32_t wait_sync_ms = 0, watch_s = 0;
	bool stats = false, timed_out = false;
	struct enrich *e = NULL;
	struct k8s *k = NULL;
	enum log_level lvl;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;

		switch (opt) {
		case OPT_KUBECONFIG:
			cfg.kubeconfig = optarg;
			break;
		case OPT_CONTEXT:
			cfg.context = optarg;
			break;
		case OPT_SA_DIR:
			cfg.sa_dir = optarg;
			break;
		case OPT_SERVER:
			cfg.api_server = optarg;
			break;
		case OPT_WAIT_SYNC:
			bad = parse_u32(optarg, &wait_sync_ms);
			break;
		case OPT_LOOKUP:
			if (n_lookups == DUMP_MAX_LOOKUPS)
				bad = -E2BIG;
			else
				lookups[n_lookups++] = optarg;
			break;
		case OPT_WATCH_SECONDS:
			bad = parse_u32(optarg, &watch_s);
			break;
		case OPT_STATS:
			stats = true;
			break;
		case OPT_CLUSTER:
			cfg.store.cluster_name = optarg;
			break;
		case OPT_LABEL_KEY:
			if (cfg.store.n_label_keys == K8S_MAX_EXPORTED_LABELS)
				bad = -E2BIG;
			else
				cfg.store.label_keys[cfg.store.n_label_keys++] = optarg;
			break;
		case OPT_PAGE_LIMIT:
			bad = parse_u32(optarg, &cfg.page_limit);
			break;
		case OPT_WATCH_TIMEOUT:
			bad = parse_u32(optarg, &cfg.watch_timeout_s);
			break;
		case OPT_TOKEN_REREAD:
			bad = parse_u32(optarg, &cfg.token_reread_s);
			break;
		case OPT_BACKOFF_MAX:
			bad = parse_u32(optarg, &cfg.backoff_max_ms);
			break;
		case OPT_TOMBSTONE:
			bad = parse_u32(optarg, &cfg.store.tombstone_ms);
			break;
		case OPT_MAX_PAGE_BYTES:
			bad = parse_u32(optarg, &cfg.max_page_bytes);
			break;
		case OPT_MAX_OBJECT_BYTES:
			bad = parse_u32(optarg, &cfg.store.max_object_bytes);
			break;
		case OPT_LOG_LEVEL:
			bad = log_parse_level(optarg, &lvl);
			if (!bad)
				log_set_level(lvl);
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
		if (bad) {
			fprintf(stderr, "lf-k8s-dump: bad value '%s'\n", optarg);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	if (!k8s_available(&cfg)) {
		fprintf(stderr, "lf-k8s-dump: no --kubeconfig and not in a cluster\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	e = enrich_new();
	if (!e)
		goto out;
	k = k8s_new(&cfg, e);
	if (!k || k8s_start(k) < 0)
		goto out;
	if (wait_sync_ms && k8s_wait_synced(k, wait_sync_ms) < 0) {
		fprintf(stderr, "lf-k8s-dump: not synced after %u ms\n", wait_sync_ms);
		timed_out = true;
	}
	print_lookups(e, lookups, n_lookups);
	for (uint32_t t = 1; t <= watch_s && !stop_requested; t++) {
		sleep(1);
		printf("t=%u\n", t);
		print_lookups(e, lookups, n_lookups);
	}
	if (stats)
		print_stats(k);
	rc = timed_out ? 2 : 0;
out:
	k8s_free(k);
	enrich_free(e);
	return rc;
}
