/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_view: the cluster view the Kubernetes store holds: per kind, only the fields labelling
 * needs, in one hash per kind keyed by (namespace, name), plus the index pod/address ->
 * services kept in step with endpointslices. Internal to the store (k8s_store.c, k8s_parse.c,
 * k8s_table.c); not thread-safe.
 */
#ifndef LABELFLOW_K8S_VIEW_H
#define LABELFLOW_K8S_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "enrich.h"
#include "k8s_store.h"

/* status.podIPs holds at most one address per family. */
#define K8S_MAX_POD_IPS 2

/*
 * Interned strings (glib's GRefString: one copy, reference-counted). k8s_view_istr_new
 * returns NULL for NULL or ""; k8s_view_istr_put(NULL) is a no-op.
 */
const char *k8s_view_istr_new(const char *v);
void k8s_view_istr_put(const char *v);

/* Identity of every object; first member of each kind's struct. The hash of a kind maps a
 * struct k8s_key (the object itself) to itself; hash and equality read only ns and name. */
struct k8s_key {
	const char *ns; /* interned; NULL for cluster-scoped kinds */
	char *name;	/* owned */
	uint32_t mark;	/* list generation that last saw the object (objects only) */
};

struct k8s_pod_ip {
	uint64_t since_ms; /* first seen on this pod with this address */
	struct enrich_addr addr;
};

struct k8s_pod {
	struct k8s_key key;
	char *uid;		/* owned; NULL = absent */
	const char *node;	/* interned: spec.nodeName */
	const char *labels;	/* interned: allow-listed labels as compact JSON; NULL = none */
	const char *owner_kind; /* interned: the controlling (else first) ownerReference */
	const char *owner_name; /* interned */
	const char *services;	/* interned: ENRICH_SERVICE as last published (for tombstones) */
	/* Addresses the pod holds for labelling: none while it has no IP, runs on the host
	 * network, or has ended (Succeeded/Failed). */
	struct k8s_pod_ip ips[K8S_MAX_POD_IPS];
	uint8_t n_ips;
};

/* A ReplicaSet or Job: only who controls it. */
struct k8s_owned {
	struct k8s_key key;
	const char *owner_kind; /* interned; NULL = no owner */
	const char *owner_name; /* interned */
};

struct k8s_service {
	struct k8s_key key;
	struct enrich_addr *addrs; /* owned: cluster IPs and load-balancer IPs, distinct */
	uint32_t n_addrs;
};

struct k8s_node {
	struct k8s_key key;
	const char *zone;	   /* interned */
	const char *region;	   /* interned */
	char *instance_id;	   /* owned; from spec.providerID */
	struct enrich_addr *addrs; /* owned: InternalIP and ExternalIP addresses, distinct */
	uint32_t n_addrs;
};

struct k8s_namespace {
	struct k8s_key key;
	const char **labels; /* owned array of 2 * n_labels interned strings: key, value, ... */
	uint32_t n_labels;
};

/* A pod an endpointslice points at (targetRef kind Pod). */
struct k8s_slice_target {
	const char *ns; /* interned */
	char *name;	/* owned */
};

struct k8s_slice {
	struct k8s_key key;
	const char *service; /* interned: label kubernetes.io/service-name; NULL = none */
	struct k8s_slice_target *targets; /* owned */
	struct enrich_addr *addrs;	  /* owned: endpoint addresses without a Pod targetRef */
	uint32_t n_targets, n_addrs;
};

/* How many endpointslice entries put a pod (or an address) in one service. */
struct k8s_svc_count {
	const char *svc; /* interned */
	uint32_t n;
};

struct k8s_svc_set {
	struct k8s_svc_count *v; /* owned */
	uint32_t n, cap;
};

/* Index entry: the services of one pod (by namespace/name) through slice targets. */
struct k8s_pod_svcs {
	struct k8s_key key;
	struct k8s_svc_set set;
};

/* Index entry: the services of one address through targetless slice endpoints. */
struct k8s_addr_svcs {
	struct enrich_addr addr;
	struct k8s_svc_set set;
};

struct k8s_view {
	/* owned: per kind, the objects (key == value), freed by the table's key destructor */
	GHashTable *objs[K8S_KIND_COUNT];
	GHashTable *pod_svcs;  /* owned: struct k8s_pod_svcs (key == value) */
	GHashTable *addr_svcs; /* owned: struct k8s_addr_svcs (key == value) */
};

/* Create the empty hashes. Aborts on no memory, as glib does. */
void k8s_view_init(struct k8s_view *v);
/* Free every object and index entry. Accepts a zeroed view. */
void k8s_view_done(struct k8s_view *v);

/* The object of kind with (ns, name), or NULL (also for a NULL name). O(1). */
void *k8s_view_find(const struct k8s_view *v, enum k8s_kind kind, const char *ns, const char *name);

/*
 * Add (add) or remove the service references of endpointslice sl to the index: its Pod
 * targets into pod_svcs, its targetless addresses into addr_svcs. A slice without a
 * service label changes nothing. O(targets + addresses).
 */
void k8s_view_index_slice(struct k8s_view *v, const struct k8s_slice *sl, bool add);

/* Address hashing and equality (family and its 4 or 16 bytes), for GHashTable and others. */
guint k8s_view_addr_hash(gconstpointer p);
gboolean k8s_view_addr_equal(gconstpointer a, gconstpointer b);
bool k8s_view_addr_eq(const struct enrich_addr *x, const struct enrich_addr *y);

#endif
