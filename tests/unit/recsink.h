/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recsink: a flow table's export callback for tests, keeping every record it is handed
 * in order, in a growing array.
 */
#ifndef LABELFLOW_TESTS_RECSINK_H
#define LABELFLOW_TESTS_RECSINK_H

#include <stddef.h>

#include "flowtab.h"

struct recsink {
	struct flow_record *recs; /* owned, grows as records arrive */
	size_t n, cap;
};

/* flowtab_export_fn: append *rec to the struct recsink user points to. */
void recsink_collect(const struct flow_record *rec, void *user);
/* Free the records and empty the sink. */
void recsink_reset(struct recsink *s);

#endif
