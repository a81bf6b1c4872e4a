/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s: the Kubernetes API client. One background thread lists and watches pods, services,
 * endpointslices, nodes, namespaces, replicasets and jobs (the last two metadata only) over
 * verified TLS and feeds them into a k8s_store, which publishes the ENRICH_SRC_KUBERNETES
 * table. The main thread only starts, waits for the first sync, reads stats and frees it.
 */
#ifndef LABELFLOW_K8S_H
#define LABELFLOW_K8S_H

#include <stdbool.h>
#include <stdint.h>

#include "enrich.h"
#include "k8s_store.h"

/* A zero field means its default. Strings are borrowed until k8s_new() returns. */
struct k8s_config {
	const char *kubeconfig; /* kubeconfig path; NULL = in-cluster service account */
	const char *context;	/* kubeconfig context; NULL = current-context */
	const char *sa_dir;	/* service-account dir (token, ca.crt); NULL = the standard one */
	const char *api_server; /* overrides the server URL (https:// only); NULL = as configured */
	/* Store settings; its strings stay borrowed for the client's lifetime (k8s_store.h). */
	struct k8s_store_config store;
	uint32_t page_limit;	      /* LIST page size, limit= (default 500) */
	uint32_t watch_timeout_s;     /* timeoutSeconds of each WATCH (default 300) */
	uint32_t token_reread_s;      /* re-read token files this often (default 60) */
	uint32_t max_page_bytes;      /* largest LIST page body accepted (default 64 MiB) */
	uint32_t backoff_min_ms;      /* first retry delay after a failure (default 200) */
	uint32_t backoff_max_ms;      /* retry delay cap (default 30000) */
	uint32_t publish_interval_ms; /* shortest gap between two table publishes (default 100) */
	uint32_t connect_timeout_ms;  /* TCP+TLS connect (default 10000) */
};

#define K8S_DEFAULT_PAGE_LIMIT		500u
#define K8S_DEFAULT_WATCH_TIMEOUT_S	300u
#define K8S_DEFAULT_TOKEN_REREAD_S	60u
#define K8S_DEFAULT_MAX_PAGE_BYTES	(64u << 20)
#define K8S_DEFAULT_BACKOFF_MIN_MS	200u
#define K8S_DEFAULT_BACKOFF_MAX_MS	30000u
#define K8S_DEFAULT_PUBLISH_INTERVAL_MS 100u
#define K8S_DEFAULT_CONNECT_TIMEOUT_MS	10000u

/*
 * True when the client has something to connect to: cfg->kubeconfig is set, or the
 * in-cluster service account is present (KUBERNETES_SERVICE_HOST/PORT and sa_dir/token).
 */
bool k8s_available(const struct k8s_config *cfg);

/*
 * Resolve the connection (kubeconfig or in-cluster; errors are logged with file and line)
 * and create the store, which publishes into e (borrowed for the client's lifetime).
 * Does no network I/O. Returns NULL on error.
 */
struct k8s *k8s_new(const struct k8s_config *cfg, struct enrich *e);

/* Start the background thread. Returns 0 or -errno. Call once. */
int k8s_start(struct k8s *k);

/*
 * Block until every resource finished its first LIST and that view is published, or
 * timeout_ms passed. Returns 0 or -ETIMEDOUT.
 */
int k8s_wait_synced(struct k8s *k, uint32_t timeout_ms);
bool k8s_synced(struct k8s *k);

struct k8s_resource_stats {
	uint64_t lists;	     /* full LISTs completed (first sync and relists) */
	uint64_t list_pages; /* LIST pages received */
	uint64_t relists;    /* LISTs after the first (410 Gone, errors) */
	uint64_t watches;    /* WATCH requests started */
	uint64_t gone;	     /* 410: expired resourceVersion or continue token */
	uint64_t bookmarks;  /* BOOKMARK events */
	uint64_t events;     /* ADDED/MODIFIED/DELETED events applied */
	uint64_t errors;     /* failed requests: network, HTTP status, bad body, ERROR event */
	uint64_t reconnects; /* WATCHes re-established after an error or a stream end */
	uint64_t backoffs;   /* retries delayed by the backoff */
	uint64_t backoff_ms; /* the current retry delay; 0 when healthy */
	uint64_t bytes;	     /* response body bytes */
	uint64_t malformed;  /* bad watch lines and unknown event types */
	uint64_t oversized;  /* watch lines over max_object_bytes, LIST pages over max_page_bytes */
	uint64_t last_event_ms; /* wall-clock ms of the last event/bookmark/LIST; 0 = never */
	bool synced;		/* first LIST done */
};

struct k8s_stats {
	struct k8s_resource_stats res[K8S_KIND_COUNT];
	struct k8s_store_stats store;
	uint64_t token_reads;	  /* token file (re)reads that changed the token */
	uint64_t auth_failures;	  /* HTTP 401 responses */
	uint64_t metadata_age_ms; /* since the last sign of life from any watch; 0 = never */
	uint64_t sync_ms;	  /* time from k8s_start to the first full sync; 0 = not yet */
	bool synced;
};

/* A consistent copy of the counters. Thread-safe. */
void k8s_get_stats(struct k8s *k, struct k8s_stats *ret);

/* Stop the thread (promptly, even mid-watch) and free everything. NULL is a no-op. */
void k8s_free(struct k8s *k);

#endif
