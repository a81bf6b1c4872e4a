// SPDX-License-Identifier: Apache-2.0
/*
 * sampler unit tests: which frames a 1-in-N sampler takes, its counters, and the limits
 * of its interval.
 */
#include <criterion/criterion.h>

#include "sampler.h"

Test(sampler, takes_the_first_of_every_n)
{
	struct sampler *s = sampler_new(4);

	cr_assert_not_null(s);
	cr_assert_eq(sampler_interval(s), 4);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(sampler_take(s), i % 4 == 0, "frame %d", i);
	cr_assert_eq(sampler_get_stats(s)->observed, 40);
	cr_assert_eq(sampler_get_stats(s)->selected, 10);
	sampler_free(s);
}

Test(sampler, selected_is_ceil_of_observed_over_n)
{
	const uint32_t intervals[] = {1, 2, 3, 7, 10, 100, 997};

	for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
		uint32_t n = intervals[i];
		struct sampler *s = sampler_new(n);
		uint64_t taken = 0;

		cr_assert_not_null(s);
		for (uint64_t k = 1; k <= 5000; k++) {
			taken += sampler_take(s);
			cr_assert_eq(taken, (k + n - 1) / n, "1 in %u after %lu", n,
				     (unsigned long)k);
			cr_assert_eq(sampler_get_stats(s)->selected, taken);
			cr_assert_eq(sampler_get_stats(s)->observed, k);
		}
		sampler_free(s);
	}
}

Test(sampler, interval_one_takes_everything)
{
	struct sampler *s = sampler_new(1);

	for (int i = 0; i < 1000; i++)
		cr_assert(sampler_take(s));
	cr_assert_eq(sampler_get_stats(s)->selected, 1000);
	sampler_free(s);
}

Test(sampler, largest_interval_takes_one_in_a_million)
{
	struct sampler *s = sampler_new(SAMPLER_MAX_INTERVAL);
	uint64_t taken = 0;

	cr_assert_not_null(s);
	for (uint32_t i = 0; i < 2 * SAMPLER_MAX_INTERVAL + 1; i++)
		taken += sampler_take(s);
	cr_assert_eq(taken, 3);
	sampler_free(s);
}

Test(sampler, rejects_zero_and_huge_intervals)
{
	cr_assert_null(sampler_new(0));
	cr_assert_null(sampler_new(SAMPLER_MAX_INTERVAL + 1));
	cr_assert_null(sampler_new(UINT32_MAX));
	sampler_free(NULL);
}
