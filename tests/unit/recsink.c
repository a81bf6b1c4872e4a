// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "recsink.h"

void recsink_collect(const struct flow_record *rec, void *user)
{
	struct recsink *s = user;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
		cr_assert_not_null(s->recs);
	}
	s->recs[s->n++] = *rec;
}

void recsink_reset(struct recsink *s)
{
	free(s->recs);
	memset(s, 0, sizeof(*s));
}
