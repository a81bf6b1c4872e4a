/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudmeta_view: what one good round of cloud metadata requests learned (instance, zone,
 * region, VPC, subnets, node addresses), its canonical text for change detection, and the
 * ENRICH_SRC_CLOUD table built from it. Pure data: no I/O, no locking.
 */
#ifndef LABELFLOW_CLOUDMETA_VIEW_H
#define LABELFLOW_CLOUDMETA_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "cloudmeta.h"
#include "enrich.h"

/* Most network interfaces, and CIDRs per list, taken; a view holds at most their product. */
#define CLOUDMETA_MAX_IFACES 16u
#define CLOUDMETA_MAX_CIDRS  16u

/* A prefix of the node's network, with the labels every address in it gets. */
struct cloudmeta_subnet {
	struct enrich_addr net; /* host bits zero */
	uint8_t len;
	char *vpc;    /* owned; NULL = unknown */
	char *subnet; /* owned; NULL = unknown */
	bool zonal;   /* lies in the node's zone (AWS subnets); else regional */
};

/* What one good round learned. Strings owned; NULL = the provider does not say. */
struct cloudmeta_view {
	enum cloudmeta_provider provider;
	char *instance_id;
	char *zone;
	char *region;
	char *vpc;
	char *subnet;
	GArray *node_ips;   /* owned, of struct enrich_addr: the node's primary address(es) */
	GPtrArray *subnets; /* owned, of owned struct cloudmeta_subnet * */
};

/* An empty view of provider p. Never NULL (aborts on no memory, as glib does). */
struct cloudmeta_view *cloudmeta_view_new(enum cloudmeta_provider p);
/* NULL is a no-op. */
void cloudmeta_view_free(struct cloudmeta_view *v);

/*
 * Add the prefix text ("10.0.0.0/24", host bits cleared) with its labels (copied). Returns
 * 0 (also when the view already holds its most subnets: the prefix is then left out), or
 * -EINVAL when text is not a CIDR.
 */
int cloudmeta_view_add_cidr(struct cloudmeta_view *v, const char *text, const char *vpc,
			    const char *subnet, bool zonal);
/* Add a node address. Returns 0 or -EINVAL when text is not an IP address. */
int cloudmeta_view_add_ip(struct cloudmeta_view *v, const char *text);

/* Canonical text of a view (g_free it): equal text, equal table. */
char *cloudmeta_view_text(const struct cloudmeta_view *v);
/*
 * The table of the view: the node's addresses as endpoints with every cloud dimension (KIND
 * left to Kubernetes), its subnets as prefixes. Returns NULL on no memory.
 */
struct enrich_table *cloudmeta_view_table(const struct cloudmeta_view *v);

#endif
