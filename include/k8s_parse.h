/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_parse: turns one Kubernetes API object (jansson JSON: a LIST item or a watch event's
 * object) into the store's form of its kind (k8s_view.h). It checks every field it reads,
 * allocates nothing for an object it refuses, and does no I/O; internal to the store.
 */
#ifndef LABELFLOW_K8S_PARSE_H
#define LABELFLOW_K8S_PARSE_H

#include <stdint.h>

#include <jansson.h>

#include "k8s_store.h"
#include "k8s_view.h"

/* What parsing an object found: its identity and the pieces every kind reads. All pointers
 * are borrowed from the parsed json_t; ns is NULL for cluster-scoped kinds. */
struct k8s_meta {
	const json_t *meta, *labels;
	const char *ns, *name, *uid;
};

/*
 * Read obj's metadata (name, namespace for namespaced kinds, uid, labels) into m. Returns 0,
 * or -EINVAL with *why (a static string) set; m is then filled as far as it was read.
 */
int k8s_parse_meta(enum k8s_kind kind, const json_t *obj, struct k8s_meta *m, const char **why);

/*
 * Parse obj, whose metadata m came from k8s_parse_meta, into a new object of kind (the
 * struct of its kind, which starts with struct k8s_key; mark left 0). cfg gives the pod
 * label keys exported. Unparsable node, service and endpoint addresses are skipped and
 * counted in *bad_addresses. Returns 0 with *ret_obj (owned by the caller, freed by the
 * view's hash of the kind), or -EINVAL with *why (a static string) set.
 */
int k8s_parse_object(enum k8s_kind kind, const json_t *obj, const struct k8s_meta *m,
		     const struct k8s_store_config *cfg, uint64_t *bad_addresses,
		     struct k8s_key **ret_obj, const char **why);

#endif
