/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_store: the cluster view behind the Kubernetes source. It keeps the objects the
 * client lists and watches (pods, services, endpointslices, nodes, namespaces, and the
 * metadata of replicasets and jobs), resolves each pod's workload, services, zone and
 * node, and publishes the result as one enrich table (ENRICH_SRC_KUBERNETES). It does no
 * I/O: the client (k8s.c) feeds it parsed JSON. Not thread-safe: one thread feeds it.
 * The model and its rules: docs/kubernetes.md.
 */
#ifndef LABELFLOW_K8S_STORE_H
#define LABELFLOW_K8S_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "enrich.h"

enum k8s_kind {
	K8S_POD = 0,
	K8S_SERVICE,
	K8S_ENDPOINTSLICE, /* discovery.k8s.io/v1 */
	K8S_NODE,
	K8S_NAMESPACE,
	K8S_REPLICASET, /* apps/v1, metadata only */
	K8S_JOB,	/* batch/v1, metadata only: Job -> CronJob */
	K8S_KIND_COUNT,
};

enum k8s_event {
	K8S_EVENT_ADDED = 0,
	K8S_EVENT_MODIFIED,
	K8S_EVENT_DELETED,
};

#define K8S_MAX_EXPORTED_LABELS 32

#define K8S_STORE_DEFAULT_TOMBSTONE_MS	   60000u
#define K8S_STORE_DEFAULT_MAX_OBJECTS	   200000u
#define K8S_STORE_DEFAULT_MAX_OBJECT_BYTES (1024u * 1024u)

struct k8s_store_config {
	const char *cluster_name; /* borrowed; ENRICH_CLUSTER of everything; NULL = none */
	/* Pod label keys exported in ENRICH_POD_LABELS (JSON object); borrowed. */
	const char *label_keys[K8S_MAX_EXPORTED_LABELS];
	size_t n_label_keys;
	/* 0 = the K8S_STORE_DEFAULT_* value for each of these three. */
	uint32_t tombstone_ms;	   /* deleted pods keep their labels this long (default 60000) */
	uint32_t max_objects;	   /* per kind, and tombstones; more is counted and ignored */
	uint32_t max_object_bytes; /* larger objects are counted and ignored (default 1 MiB) */
};

struct k8s_store_stats {
	uint64_t objects[K8S_KIND_COUNT]; /* currently held */
	uint64_t events[K8S_KIND_COUNT];  /* ADDED/MODIFIED/DELETED applied (not LIST items) */
	uint64_t rejected;		  /* malformed objects (missing name, bad pod IP, ...) */
	uint64_t oversized;		  /* over max_object_bytes */
	uint64_t over_limit;		  /* over max_objects */
	uint64_t bad_addresses;		  /* unparsable node/service/endpoint IPs, skipped */
	uint64_t tombstones;		  /* (deleted pod, address) spans still labelled */
	uint64_t tombstones_evicted;	  /* dropped early: more than max_objects of them */
	uint64_t publishes;		  /* tables published */
	uint64_t publish_failed;	  /* table builds that failed (ENOMEM); retried */
	uint64_t last_build_us;		  /* CPU-bound time of the last rebuild (monotonic) */
	uint64_t pods_indexed;		  /* live pod addresses in the last table */
	bool synced[K8S_KIND_COUNT];	  /* first full LIST of the kind done */
};

/*
 * cfg is copied (strings stay borrowed). e is borrowed for the store's lifetime. Returns
 * NULL on a NULL argument or no memory.
 */
struct k8s_store *k8s_store_new(const struct k8s_store_config *cfg, struct enrich *e);
/* Frees the store; the table it published stays with the layer. NULL is a no-op. */
void k8s_store_free(struct k8s_store *s);

/*
 * Apply one watch event. obj is borrowed (a JSON object as the API server sends it; items
 * of a LIST have no kind/apiVersion, watch objects do: neither is required). size_bytes is
 * the object's size on the wire (0 = unknown: not checked) for the max_object_bytes check.
 * now_ms is wall-clock time (ms since the epoch), the clock of flow start times: a pod
 * address is labelled from the first now_ms it was seen with it. Returns 0 (also for a
 * DELETED of an unknown object), or, with the last good view of the object kept:
 * -EINVAL for an object that cannot be used (counted in rejected; logged once per kind),
 * -EMSGSIZE over max_object_bytes (oversized), -ENOSPC over max_objects (over_limit).
 */
int k8s_store_apply(struct k8s_store *s, enum k8s_kind kind, enum k8s_event ev, const json_t *obj,
		    size_t size_bytes, uint64_t now_ms);

/*
 * A full LIST (first sync or relist after 410): begin, one item call per object, end.
 * At end, objects of the kind that the list did not contain are deleted (pods become
 * tombstones), and the kind is marked synced. An item that is rejected but names an
 * object already held keeps that object. list_item returns like k8s_store_apply.
 */
void k8s_store_list_begin(struct k8s_store *s, enum k8s_kind kind);
int k8s_store_list_item(struct k8s_store *s, enum k8s_kind kind, const json_t *obj,
			size_t size_bytes, uint64_t now_ms);
void k8s_store_list_end(struct k8s_store *s, enum k8s_kind kind, uint64_t now_ms);

/*
 * Rebuild and publish the enrich table if anything changed since the last publish, and
 * drop tombstones older than tombstone_ms. Call after a batch of events (the client does,
 * at most every 100 ms). Returns true if a table was published. O(pods + services + nodes
 * + tombstones) when it rebuilds.
 */
bool k8s_store_publish(struct k8s_store *s, uint64_t now_ms);

/* True when every kind has finished its first LIST. */
bool k8s_store_synced(const struct k8s_store *s);
const struct k8s_store_stats *k8s_store_get_stats(const struct k8s_store *s);

const char *k8s_kind_name(enum k8s_kind kind); /* "pods", "services", ... (the resource) */

#endif
