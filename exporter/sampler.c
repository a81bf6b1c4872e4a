// SPDX-License-Identifier: Apache-2.0
/*
 * sampler: 1-in-N systematic count-based selection with a countdown of the frames still
 * to skip; one compare and one decrement per frame, no clock, no randomness. The IPFIX
 * side (the selector report that tells collectors the interval) is in ipfix.c.
 */
#include <stdlib.h>

#include "log.h"
#include "sampler.h"

struct sampler {
	uint32_t interval;
	uint32_t skip; /* frames to skip before the next one taken; 0: take the next */
	struct sampler_stats stats;
};

struct sampler *sampler_new(uint32_t interval)
{
	struct sampler *s;

	if (interval == 0 || interval > SAMPLER_MAX_INTERVAL) {
		log_error("sampler: sampling interval %u is not 1..%u", interval,
			  SAMPLER_MAX_INTERVAL);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("sampler: out of memory");
		return NULL;
	}
	s->interval = interval;
	return s;
}

void sampler_free(struct sampler *s)
{
	free(s);
}

bool sampler_take(struct sampler *s)
{
	s->stats.observed++;
	if (s->skip) {
		s->skip--;
		return false;
	}
	s->skip = s->interval - 1;
	s->stats.selected++;
	return true;
}

uint32_t sampler_interval(const struct sampler *s)
{
	return s->interval;
}

const struct sampler_stats *sampler_get_stats(const struct sampler *s)
{
	return &s->stats;
}
