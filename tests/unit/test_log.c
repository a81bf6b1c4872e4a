// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <glib.h>

#include "log.h"

Test(log, parses_every_level_name)
{
	enum log_level l = LOG_LVL_ERROR;

	cr_assert_eq(log_parse_level("debug", &l), 0);
	cr_assert_eq(l, LOG_LVL_DEBUG);
	cr_assert_eq(log_parse_level("warn", &l), 0);
	cr_assert_eq(l, LOG_LVL_WARN);
	cr_assert_eq(log_parse_level("error", &l), 0);
	cr_assert_eq(l, LOG_LVL_ERROR);
	cr_assert_eq(log_parse_level("info", &l), 0);
	cr_assert_eq(l, LOG_LVL_INFO);
}

Test(log, rejects_unknown_level_and_keeps_output)
{
	enum log_level l = LOG_LVL_WARN;

	cr_assert_eq(log_parse_level("verbose", &l), -EINVAL);
	cr_assert_eq(log_parse_level(NULL, &l), -EINVAL);
	cr_assert_eq(l, LOG_LVL_WARN);
}

Test(log, filters_below_threshold, .init = cr_redirect_stderr)
{
	char buf[512] = {0};
	FILE *f;

	log_set_level(LOG_LVL_WARN);
	log_info("hidden %d", 1);
	log_warn("shown '%s'", "veth0");
	fflush(stderr);
	f = cr_get_redirected_stderr();
	cr_assert(fgets(buf, sizeof(buf), f) != NULL);
	cr_assert(strstr(buf, "[warn]: shown 'veth0'") != NULL, "got: %s", buf);
	cr_assert(fgets(buf, sizeof(buf), f) == NULL, "unexpected second line: %s", buf);
	log_set_level(LOG_LVL_INFO);
}

Test(log, writes_level_and_message, .init = cr_redirect_stderr)
{
	char buf[512] = {0};
	FILE *f;

	log_set_level(LOG_LVL_DEBUG);
	log_debug("value=%u", 42u);
	fflush(stderr);
	f = cr_get_redirected_stderr();
	cr_assert(fgets(buf, sizeof(buf), f) != NULL);
	cr_assert(strstr(buf, "[debug]: value=42") != NULL, "got: %s", buf);
}

Test(log, routes_glib_warnings, .init = cr_redirect_stderr)
{
	char buf[512] = {0};
	FILE *f;

	log_set_level(LOG_LVL_INFO);
	log_route_glib();
	g_log("fixbuf", G_LOG_LEVEL_WARNING, "template %d missing", 256);
	fflush(stderr);
	f = cr_get_redirected_stderr();
	cr_assert(fgets(buf, sizeof(buf), f) != NULL);
	cr_assert(strstr(buf, "[warn]: fixbuf: template 256 missing") != NULL, "got: %s", buf);
}

Test(log, quotes_user_values_safely)
{
	char buf[12];

	cr_assert_str_eq(log_quote("veth1a2b", buf, sizeof(buf)), "veth1a2b");
	cr_assert_eq(log_quote("a\nb\tc\x7f", buf, sizeof(buf)), buf);
	cr_assert_str_eq(buf, "a?b?c?", "control bytes become '?'");
	/* 12 bytes: up to 8 bytes of the value fit; a longer one keeps 8, then "..." */
	cr_assert_str_eq(log_quote("0123456789abcdef", buf, sizeof(buf)), "01234567...");
	cr_assert_str_eq(log_quote("01234567", buf, sizeof(buf)), "01234567", "fits: not cut");
	cr_assert_str_eq(log_quote("", buf, sizeof(buf)), "");
}
