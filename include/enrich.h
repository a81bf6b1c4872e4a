/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enrich: the label layer. Metadata sources (inventory file, later the Kubernetes API,
 * cloud metadata, libvirt) each build an immutable enrich_table and publish it; the
 * layer combines the current tables into one reference-counted snapshot that the export
 * path reads without locks per lookup. Flows are labelled once per export, never per packet.
 */
#ifndef LABELFLOW_ENRICH_H
#define LABELFLOW_ENRICH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Label dimensions, in export order. Each becomes two IPFIX elements named
 * "source" + enrich_dim_name(d) and "destination" + enrich_dim_name(d).
 */
enum enrich_dim {
	ENRICH_CLUSTER = 0,
	ENRICH_NAMESPACE,
	ENRICH_POD,
	ENRICH_POD_UID,
	ENRICH_NODE,
	ENRICH_WORKLOAD_KIND,
	ENRICH_WORKLOAD,
	ENRICH_REPLICASET,
	ENRICH_SERVICE,
	ENRICH_POD_LABELS, /* JSON object text, e.g. {"app":"cart"} */
	ENRICH_ZONE,
	ENRICH_REGION,
	ENRICH_VPC,
	ENRICH_SUBNET,
	ENRICH_VM,
	ENRICH_INSTANCE_ID,
	ENRICH_KIND, /* pod, node, service, vm, external */
	ENRICH_DIM_COUNT,
};

/* "ClusterName", "PodNamespace", ... : the element-name suffix of a dimension. */
const char *enrich_dim_name(enum enrich_dim d);
/* "cluster", "namespace", ... : the inventory JSON key of a dimension. */
const char *enrich_dim_key(enum enrich_dim d);

/* Labels of one address. Strings are borrowed from the snapshot; NULL = unknown. */
struct enrich_labels {
	const char *v[ENRICH_DIM_COUNT];
};

/* An address: family 4 or 6, bytes in network order (IPv4 in addr[0..3]). */
struct enrich_addr {
	uint8_t family;
	uint8_t addr[16];
};

/* Parse "10.0.0.1" or "fd00::1". Returns 0 or -EINVAL. */
int enrich_addr_parse(const char *text, struct enrich_addr *ret_addr);
/* Parse "10.0.0.0/16" or "fd00::/64"; host bits must be zero. Returns 0 or -EINVAL. */
int enrich_prefix_parse(const char *text, struct enrich_addr *ret_addr, uint8_t *ret_len);

/* ---- tables: what one source builds ------------------------------------------------ */

struct enrich_table;
struct enrich_table_builder;

struct enrich_table_builder *enrich_builder_new(void);
void enrich_builder_free(struct enrich_table_builder *b);
/*
 * Add an endpoint (one address) or a subnet (a prefix) with its labels. fields[d] may be
 * NULL; strings are copied. A later entry for the same address/prefix replaces the
 * earlier one. An endpoint added this way is valid always (the span [0, UINT64_MAX)).
 * Returns 0 or -errno.
 */
int enrich_builder_add_endpoint(struct enrich_table_builder *b, const struct enrich_addr *addr,
				const char *const fields[ENRICH_DIM_COUNT]);
/*
 * Add an endpoint valid for [valid_from_ms, valid_until_ms) (0 = since ever, UINT64_MAX =
 * still valid), for sources that know who held an address when (a pod IP reused after a
 * pod died). An address may have several entries; one with the same span as an earlier
 * one replaces it. Times are on the clock of the flows' start times (wall-clock ms since
 * the epoch). Returns 0, -EINVAL (also for valid_from_ms >= valid_until_ms) or -errno.
 * Which entry a lookup picks: see enrich_lookup().
 */
int enrich_builder_add_endpoint_span(struct enrich_table_builder *b, const struct enrich_addr *addr,
				     const char *const fields[ENRICH_DIM_COUNT],
				     uint64_t valid_from_ms, uint64_t valid_until_ms);
int enrich_builder_add_subnet(struct enrich_table_builder *b, const struct enrich_addr *prefix,
			      uint8_t prefix_len, const char *const fields[ENRICH_DIM_COUNT]);
/* Turn the builder into an immutable table (refcount 1) and free the builder. */
struct enrich_table *enrich_builder_finish(struct enrich_table_builder *b);

struct enrich_table *enrich_table_ref(struct enrich_table *t);
void enrich_table_unref(struct enrich_table *t);
/* Distinct endpoint addresses (an address with several spans counts once), and subnets. */
size_t enrich_table_endpoints(const struct enrich_table *t);
size_t enrich_table_subnets(const struct enrich_table *t);

/* ---- the layer: sources publish tables, exporters read snapshots ------------------- */

/* Sources in precedence order: a lower value wins field by field. */
enum enrich_source {
	ENRICH_SRC_KUBERNETES = 0,
	ENRICH_SRC_LIBVIRT,
	ENRICH_SRC_INVENTORY,
	ENRICH_SRC_CLOUD,
	ENRICH_SRC_COUNT,
};

struct enrich;
struct enrich_snapshot;

struct enrich *enrich_new(void);
void enrich_free(struct enrich *e);

/*
 * Replace the table of one source (NULL withdraws it); takes over the caller's
 * reference. Thread-safe; readers holding the previous snapshot keep it until they
 * release it.
 */
void enrich_publish(struct enrich *e, enum enrich_source src, struct enrich_table *table);

/* Take a reference to the current snapshot (never NULL). Cheap; call once per batch. */
struct enrich_snapshot *enrich_snapshot_acquire(struct enrich *e);
void enrich_snapshot_release(struct enrich_snapshot *s);
/* Generation of the current snapshot, without taking a reference or a lock. */
uint64_t enrich_generation(struct enrich *e);
/* Generation number, bumped by every publish: tells whether a held snapshot is stale. */
uint64_t enrich_snapshot_generation(const struct enrich_snapshot *s);

/*
 * Label one address as of at_ms (the flow's start; sources with history use it).
 * Endpoint fields (any source, by precedence) win over the longest-prefix-matching
 * subnet's fields; remaining fields stay NULL. Returns true if anything matched.
 * ret_labels is always written (all NULL when nothing matched). No allocation, no lock.
 *
 * Where a source's table has several entries for the address, exactly one of them is
 * used, chosen by at_ms:
 *   1. an entry with valid_from <= at_ms < valid_until; if several, the one that started
 *      last (the newest holder: its IP was handed out after the older one let go);
 *   2. else the entry that starts first after at_ms (a flow seen before its holder was:
 *      watch latency, or a gap between the old holder's death and the new one's sighting);
 *   3. else the entry that ended last (a late flow to an address nobody holds any more).
 * Ties go to the entry added later. Cost: O(entries of the address) in that table.
 */
bool enrich_lookup(const struct enrich_snapshot *s, const struct enrich_addr *addr, uint64_t at_ms,
		   struct enrich_labels *ret_labels);

#endif
