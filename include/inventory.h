/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inventory: the JSON inventory file source. Parses {"subnets": [...], "endpoints": [...]}
 * into an enrich_table, and watches the file so a changed or SIGHUP-reloaded file is
 * published. A bad file (syntax, bad ip/cidr, wrong types) is rejected as a whole with
 * file:line context and the last good table stays published.
 */
#ifndef LABELFLOW_INVENTORY_H
#define LABELFLOW_INVENTORY_H

#include <stdint.h>

#include "enrich.h"

/*
 * Parse an inventory document. On error returns NULL and writes "PATH: line L column
 * C: what" into errbuf. name is used only in messages.
 */
struct enrich_table *inventory_parse_file(const char *path, char *errbuf, size_t errbuf_size);
struct enrich_table *inventory_parse_string(const char *text, const char *name, char *errbuf,
					    size_t errbuf_size);

struct inventory;

/* Watch path and publish into e as ENRICH_SRC_INVENTORY. Does not load yet. */
struct inventory *inventory_new(struct enrich *e, const char *path);
void inventory_free(struct inventory *inv);
/* Load now (start-up, SIGHUP). Returns 0, or -EINVAL/-errno and keeps the last good table. */
int inventory_reload(struct inventory *inv);
/*
 * Reload if the file changed (mtime, size or inode) since the last attempt. Cheap: one stat().
 * Returns 1 if a new table was published, 0 if unchanged, -errno if the file is missing
 * (logged once) or the reload failed (last good table kept).
 */
int inventory_poll(struct inventory *inv);

struct inventory_stats {
	uint64_t loads_ok;
	uint64_t loads_failed;
	uint64_t endpoints; /* in the table currently published */
	uint64_t subnets;
};
const struct inventory_stats *inventory_get_stats(const struct inventory *inv);

#endif
