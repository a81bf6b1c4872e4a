/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sampler: systematic count-based 1-in-N packet selection (PSAMP, RFC 5475 section 5.1,
 * selectorAlgorithm 1), applied to captured frames before they are decoded. One counter
 * for the whole daemon, not per interface: of the frames handed to sampler_take() in
 * order, the 1st, (N+1)th, (2N+1)th, ... are taken, so after K frames exactly
 * ceil(K / N) have been taken. Deterministic, so tests can predict every count.
 */
#ifndef LABELFLOW_SAMPLER_H
#define LABELFLOW_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

/* Largest interval accepted (flow.sampling_interval). */
#define SAMPLER_MAX_INTERVAL 1000000u

struct sampler_stats {
	uint64_t observed; /* frames handed to sampler_take() (selectorIdTotalPktsObserved) */
	uint64_t selected; /* frames it took (selectorIdTotalPktsSelected); the rest skipped */
};

struct sampler;

/* 1-in-interval; interval 1 takes every frame. NULL (logged) for 0 or above the maximum. */
struct sampler *sampler_new(uint32_t interval);
void sampler_free(struct sampler *s);

/* Count one frame; true if it is taken (goes on to decode and the flow table). */
bool sampler_take(struct sampler *s);

uint32_t sampler_interval(const struct sampler *s);
const struct sampler_stats *sampler_get_stats(const struct sampler *s);

#endif
