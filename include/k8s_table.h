/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_table: the labels the Kubernetes store exports. It resolves a pod's labels from the
 * view (workload chain, services, node zone), freezes them into tombstones when a pod gives
 * up an address, and builds the ENRICH_SRC_KUBERNETES table; internal to the store.
 */
#ifndef LABELFLOW_K8S_TABLE_H
#define LABELFLOW_K8S_TABLE_H

#include <stdint.h>

#include <glib.h>

#include "enrich.h"
#include "k8s_view.h"

/* A deleted pod's (or a given-up) address with the labels it had, frozen. */
struct k8s_tomb {
	struct enrich_addr addr;
	uint64_t from_ms, until_ms;
	const char *f[ENRICH_DIM_COUNT]; /* point into blob; NULL = absent */
	char *blob;			 /* owned: the strings, NUL-separated */
};

/*
 * A tombstone for address ip of pod p, labelled as p is now (cluster_name: ENRICH_CLUSTER,
 * borrowed), spanning from ip->since_ms to now_ms (at least 1 ms). scratch is a buffer the
 * call may overwrite. Returns the tombstone (owned by the caller; k8s_table_tomb_free).
 */
struct k8s_tomb *k8s_table_tomb_new(const struct k8s_view *v, const char *cluster_name,
				    GString *scratch, const struct k8s_pod *p,
				    const struct k8s_pod_ip *ip, uint64_t now_ms);
/* Frees a tombstone (a GDestroyNotify). NULL is a no-op. */
void k8s_table_tomb_free(gpointer t);

/*
 * Add every row of the view to b: live pod addresses (and each pod's services remembered in
 * p->services for its tombstones), then the tombstones (struct k8s_tomb * of tombs, borrowed),
 * then services and nodes, whose addresses win over any pod's. scratch is a buffer the call
 * may overwrite. Returns 0 with *ret_pods (pod addresses added), or the builder's -errno.
 * O(pods + services + nodes + tombstones).
 */
int k8s_table_build(struct k8s_view *v, const GQueue *tombs, const char *cluster_name,
		    GString *scratch, struct enrich_table_builder *b, uint64_t *ret_pods);

#endif
