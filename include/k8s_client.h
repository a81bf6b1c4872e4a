/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_client: the state the Kubernetes client's parts share (the client and one struct k8s_res
 * per resource) and the bookkeeping they all do: clocks, the bearer token, retry backoff and
 * failure logging. Internal to k8s.c, k8s_http.c and k8s_res.c; runs on the client thread.
 */
#ifndef LABELFLOW_K8S_CLIENT_H
#define LABELFLOW_K8S_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <glib.h>

#include "k8s.h"
#include "k8s_store.h"
#include "k8s_watch.h"
#include "kubeconfig.h"

/* Longest part of a server's value printed; quote buffers are K8S_QUOTE_BYTES + 8. */
#define K8S_QUOTE_BYTES 160u

/* One resource the client lists and watches. */
struct k8s_res_def {
	const char *name; /* resource, for messages */
	const char *path; /* collection URL path, cluster-wide */
	bool meta_only;	  /* ask for PartialObjectMetadata */
	bool optional;	  /* a 404 before the first sync counts as an empty list */
};

enum k8s_phase {
	K8S_PHASE_IDLE = 0, /* waiting for retry_at_ms, then runs next */
	K8S_PHASE_LIST,
	K8S_PHASE_WATCH,
};

/* Why the thread cut a transfer short from inside a callback. */
enum k8s_cut {
	K8S_CUT_NONE = 0,
	K8S_CUT_GONE,	     /* ERROR event with code 410 */
	K8S_CUT_ERROR_EVENT, /* any other ERROR event */
	K8S_CUT_TOO_BIG,     /* LIST page over max_page_bytes */
};

struct k8s_body {
	char *data; /* owned; len bytes used of cap */
	size_t len;
	size_t cap;
};

/* One resource's requests and counters; a member of struct k8s. */
struct k8s_res {
	struct k8s *k; /* borrowed: the owner */
	enum k8s_kind kind;
	const struct k8s_res_def *def; /* static */
	CURL *easy;		       /* owned */
	struct curl_slist *headers;    /* owned; of the request in flight */
	struct k8s_watch_parser *wp;   /* owned */
	struct k8s_body body;	       /* LIST page, or the head of a non-200 body */

	enum k8s_phase phase; /* the request in flight, or IDLE */
	enum k8s_phase next;  /* what IDLE starts: LIST or WATCH */
	uint64_t retry_at_ms; /* monotonic; when IDLE may start next */
	char *rv;	      /* owned; last resourceVersion seen, NULL before a LIST */
	char *cont;	      /* owned; continue token of the next LIST page, or NULL */
	bool req_cont;	      /* the LIST in flight carries a continue token */
	uint32_t page_limit;

	long http_code;	    /* of the response in flight; 0 until known */
	long retry_after_s; /* Retry-After of the response in flight, -1 if none */
	enum k8s_cut cut;
	char *error_text;		/* owned; message of an ERROR event that cut a watch */
	uint64_t started_ms;		/* monotonic, request start */
	uint64_t req_events;		/* events and bookmarks in the watch in flight */
	uint32_t backoff_ms;		/* current backoff step; 0 = healthy */
	uint32_t failures;		/* since the last success */
	uint32_t short_ends;		/* watches in a row that ended at once, empty */
	uint32_t gone_in_row;		/* 410s with no working watch in between */
	bool logged;			/* this resource's current failure was logged */
	bool logged_shrink;		/* a page size reduction was logged */
	char curl_err[CURL_ERROR_SIZE]; /* libcurl's detailed message of the last transfer */
	bool auth_retried;		/* a 401 already triggered a token re-read and retry */
	bool synced_once;

	struct k8s_resource_stats st; /* under k->lock */
};

struct k8s {
	struct k8s_config cfg;	 /* defaults filled; only cfg.store's strings kept (borrowed) */
	struct kubeconfig kc;	 /* owned */
	struct k8s_store *store; /* owned; touched under lock only */
	CURLM *multi;		 /* owned; used by the thread only once started */
	GThread *thread;	 /* owned; NULL until k8s_start */
	atomic_bool stop;

	pthread_mutex_t lock;	    /* guards store, stats, synced, res[].st */
	pthread_cond_t synced_cond; /* CLOCK_MONOTONIC; signalled when synced becomes true */
	bool synced;
	uint64_t start_ms; /* monotonic, k8s_start */
	uint64_t sync_ms;
	unsigned n_synced;
	uint64_t token_reads;
	uint64_t auth_failures;

	/* thread-only state */
	char *token; /* owned; current bearer token, or NULL */
	uint64_t token_read_ms;
	bool logged_token_error;
	bool logged_outage; /* a server-wide failure (network, 5xx, 429) was logged */
	bool dirty;	    /* events applied since the last publish */
	uint64_t publish_ms;

	struct k8s_res res[K8S_KIND_COUNT];
};

/* Monotonic ms (timers) and wall-clock ms (the store's clock, the time base of flows). */
uint64_t k8s_client_mono_ms(void);
uint64_t k8s_client_wall_ms(void);

/* Replace *field (malloc'd) by a copy of value (NULL clears); out of memory keeps the old. */
void k8s_client_set_str(char **field, const char *value);

/*
 * Re-read the token file (if any); a failure keeps the old token and is logged once (always
 * when forced). Returns true when the token changed.
 */
bool k8s_client_reread_token(struct k8s *k, bool forced);

/* Wait before the next attempt (next): jittered exponential backoff, at least Retry-After. */
void k8s_client_backoff(struct k8s *k, struct k8s_res *r, enum k8s_phase next);
/* Run next at the next turn of the loop. */
void k8s_client_schedule_now(struct k8s_res *r, enum k8s_phase next);
/* A request succeeded (a LIST, or a WATCH answered 200): failures are over. */
void k8s_client_recovered(struct k8s *k, struct k8s_res *r);
/* The connection proved stable (a full LIST, a watch with events or a long one). */
void k8s_client_healthy(struct k8s *k, struct k8s_res *r);
/* Count a failed request of r (errors). */
void k8s_client_count_error(struct k8s *k, struct k8s_res *r);
/*
 * Count a failure of r; the first after a success is logged, the rest are only counted. A
 * server-wide failure (network, 5xx, 429: every resource sees it at once) is logged by one
 * resource only.
 */
void k8s_client_log_failure(struct k8s *k, struct k8s_res *r, bool server_wide, const char *fmt,
			    ...) __attribute__((format(printf, 4, 5)));

#endif
