/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudmeta: the cloud metadata source. A background GThread asks the instance metadata
 * service (AWS IMDSv2, GCP, Azure IMDS) for the node's instance id, zone, region, VPC and
 * subnets, and publishes them as ENRICH_SRC_CLOUD: the node's own address as an endpoint,
 * its subnets as prefixes. Nothing here blocks the caller; off unless configured.
 */
#ifndef LABELFLOW_CLOUDMETA_H
#define LABELFLOW_CLOUDMETA_H

#include <stdint.h>

#include "enrich.h"

#define CLOUDMETA_DEFAULT_URL	     "http://169.254.169.254"
#define CLOUDMETA_DEFAULT_TIMEOUT_MS 1000u
#define CLOUDMETA_DEFAULT_REFRESH_MS (5u * 60u * 1000u)
#define CLOUDMETA_DEFAULT_RETRY_MS   30000u

enum cloudmeta_provider {
	CLOUDMETA_OFF = 0,
	CLOUDMETA_AWS,
	CLOUDMETA_GCP,
	CLOUDMETA_AZURE,
	CLOUDMETA_AUTO, /* try AWS, GCP, Azure once each; the first that answers is kept */
};

/* Parse "off", "aws", "gcp", "azure" or "auto". Returns 0 or -EINVAL. */
int cloudmeta_parse_provider(const char *name, enum cloudmeta_provider *ret_provider);
/* "off", "aws", ... ; NULL for a value out of range. */
const char *cloudmeta_provider_name(enum cloudmeta_provider p);

/* 0/NULL fields mean defaults. Strings are copied by cloudmeta_new(). */
struct cloudmeta_config {
	enum cloudmeta_provider provider; /* must not be CLOUDMETA_OFF */
	const char *base_url;		  /* default http://169.254.169.254 (tests: a fake) */
	uint32_t timeout_ms;		  /* whole request, connect included (default 1000) */
	uint32_t refresh_ms;		  /* after a good fetch (default 5 min) */
	uint32_t retry_ms;		  /* after a failed fetch (default 30 s, at most refresh) */
};

struct cloudmeta_stats {
	uint64_t fetches_ok;	 /* complete fetches (every request of one round answered) */
	uint64_t fetches_failed; /* rounds that failed: timeout, refused, HTTP error, bad data */
	uint64_t publishes;	 /* tables published: only when the answer changed */
	uint64_t last_ok_ms;	 /* wall clock of the last good fetch; 0 = never */
	enum cloudmeta_provider provider; /* the one answering; CLOUDMETA_AUTO until detected */
};

struct cloudmeta;

/*
 * Start the background thread; its first fetch begins at once. e is borrowed and must
 * outlive the source. Returns NULL if the provider is CLOUDMETA_OFF or out of range, the
 * URL is not http(s)://, or libcurl or the thread cannot start (logged).
 */
struct cloudmeta *cloudmeta_new(struct enrich *e, const struct cloudmeta_config *config);
/*
 * Stop the thread (aborting a request in flight within about a second) and free. The
 * published table stays in e until the next publish or enrich_free(). NULL is a no-op.
 */
void cloudmeta_free(struct cloudmeta *cm);
/* Fetch again now instead of at the next refresh (SIGHUP). Does not block. */
void cloudmeta_refresh(struct cloudmeta *cm);
/* A consistent copy of the counters (they are written by the thread). */
void cloudmeta_get_stats(const struct cloudmeta *cm, struct cloudmeta_stats *ret_stats);

#endif
