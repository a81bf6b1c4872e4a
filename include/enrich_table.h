/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enrich_table: one source's immutable label table, built through the enrich_builder_*
 * calls of enrich.h, and its lookups (endpoint spans, longest-prefix subnets). Internal to
 * the enrich layer: other modules use enrich.h.
 */
#ifndef LABELFLOW_ENRICH_TABLE_H
#define LABELFLOW_ENRICH_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "enrich.h"

/* True for the address families a table holds (4 and 6). */
bool enrich_table_family_ok(uint8_t family);

/*
 * Copy into labels the fields it still lacks from t's endpoint entry for addr (family 4 or
 * 6), the entry picked by at_ms as enrich_lookup() describes. Returns the number of fields
 * filled (>= 0), or -ENOENT when t has no entry for addr. No allocation, no lock.
 */
int enrich_table_fill_endpoint(const struct enrich_table *t, const struct enrich_addr *addr,
			       uint64_t at_ms, struct enrich_labels *labels);
/*
 * The same with t's longest subnet that contains addr. Returns the number of fields filled,
 * or -ENOENT when no subnet matches. O(prefix lengths present in t).
 */
int enrich_table_fill_subnet(const struct enrich_table *t, const struct enrich_addr *addr,
			     struct enrich_labels *labels);

/* Reference counts of tables and snapshots (C11 atomics, so thread sanitizers see them). */
static inline void enrich_ref_inc(atomic_uint *r)
{
	atomic_fetch_add_explicit(r, 1, memory_order_relaxed);
}

/* True when this dropped the last reference: the caller frees. The acquire/release pair
 * orders every other holder's reads before the free. */
static inline bool enrich_ref_dec(atomic_uint *r)
{
	return atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel) == 1;
}

#endif
