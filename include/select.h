/* SPDX-License-Identifier: Apache-2.0 */
/*
 * select: flow selection, the operator's "service profile". A list of rules; a flow
 * record is exported when either of its ends matches at least one rule, and a rule
 * matches an end when all of its conditions (namespace, pod label selector, workload,
 * service, address prefix) hold for that end. Records not selected are counted, not
 * encoded. Conditions see the labels the export stage attached (docs/export.md).
 */
#ifndef LABELFLOW_SELECT_H
#define LABELFLOW_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enrich.h"
#include "flowtab.h"

#define SELECT_MAX_RULES	64 /* rules per selection */
#define SELECT_MAX_REQUIREMENTS 16 /* requirements in one label selector */
#define SELECT_MAX_SET_VALUES	16 /* values in one "in" / "notin" set */

struct select_stats {
	uint64_t selected;	     /* records that matched a rule (exported) */
	uint64_t unselected;	     /* records that matched none (not exported) */
	uint64_t unselected_packets; /* their packets, both directions */
	uint64_t unselected_octets;
	uint64_t bad_labels; /* records with a PodLabels text that was not a JSON object of
				strings (its label conditions did not match) */
};

struct select;

/* An empty selection (it selects everything until a rule is added). NULL on OOM. */
struct select *select_new(void);
void select_free(struct select *s);

/*
 * Add one rule from its settings: keys[i] = values[i] for i < n, each key at most once
 * and at least one key. The keys and what their values mean:
 *   namespace  the end's namespace, exactly
 *   labels     a Kubernetes label selector over the end's pod labels: requirements joined
 *              by "," (all must hold): "k=v" (or "k==v"), "k!=v", "k in (a,b)",
 *              "k notin (a,b)", "k" (present), "!k" (absent). Only Pods match; only
 *              the label keys the daemon exports (kubernetes.label_keys) are visible
 *   workload   "Kind/name" (kind case-insensitive, e.g. "Deployment/cart") or "name"
 *   service    a Service name the end backs (or is the ClusterIP of)
 *   cidr       "10.0.0.0/8", "fd00::/64" or one address: the end's address is inside
 * Values are copied. Returns 0, or -EINVAL (-E2BIG past a limit) with the reason, the
 * key and the value quoted, in errbuf.
 */
int select_add_rule(struct select *s, const char *const *keys, const char *const *values, size_t n,
		    char *errbuf, size_t errbuf_size);
size_t select_n_rules(const struct select *s);

/*
 * Is the record selected? src/dst are the labels of its ends (NULL: unknown end). With no
 * rule, always. Pure: counts nothing. No allocation.
 */
bool select_match(const struct select *s, const struct flow_record *rec,
		  const struct enrich_labels *src, const struct enrich_labels *dst);
/* select_match() for the export path: also counts the record in the stats. */
bool select_flow(struct select *s, const struct flow_record *rec, const struct enrich_labels *src,
		 const struct enrich_labels *dst);

const struct select_stats *select_get_stats(const struct select *s);

#endif
