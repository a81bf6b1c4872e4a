// SPDX-License-Identifier: Apache-2.0
/*
 * libvirt_lease: jansson reads the whole file; the file is refused only when it is not an
 * array of leases at all, while a bad entry only costs that entry, so one odd lease never
 * hides the others. Addresses are kept zero-padded so that they can be hashed and compared.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "libvirt_lease.h"
#include "libvirt_text.h"
#include "log.h"

/*
 * One lease entry. Returns 1 if taken into *ret, 0 if it names no MAC (a DHCPv6 lease
 * keyed by DUID: skipped, not an error), -EINVAL with why written.
 */
static int entry_parse(const json_t *entry, struct libvirt_lease *ret, char *why, size_t why_size)
{
	const json_t *ip = json_object_get(entry, "ip-address");
	const json_t *mac = json_object_get(entry, "mac-address");
	const json_t *exp = json_object_get(entry, "expiry-time");
	char q[LIBVIRT_QUOTE_BYTES + 8];

	memset(ret, 0, sizeof(*ret));
	if (!json_is_object(entry)) {
		snprintf(why, why_size, "not an object");
		return -EINVAL;
	}
	if (!mac || json_is_null(mac))
		return 0;
	if (!json_is_string(ip) || enrich_addr_parse(json_string_value(ip), &ret->addr) < 0) {
		snprintf(why, why_size, "\"ip-address\" %s is not an IP address",
			 json_is_string(ip) ? log_quote(json_string_value(ip), q, sizeof(q))
					    : "(missing or not a string)");
		return -EINVAL;
	}
	if (!json_is_string(mac) ||
	    libvirt_text_mac_parse(json_string_value(mac), ret->mac, &ret->mac_key) < 0) {
		snprintf(why, why_size, "\"mac-address\" %s is not a MAC address",
			 json_is_string(mac) ? log_quote(json_string_value(mac), q, sizeof(q))
					     : "(not a string)");
		return -EINVAL;
	}
	if (exp && !json_is_null(exp)) {
		if (!json_is_integer(exp) || json_integer_value(exp) < 0 ||
		    json_integer_value(exp) > INT64_MAX / 1000) {
			snprintf(why, why_size, "\"expiry-time\" is not a time in seconds");
			return -EINVAL;
		}
		ret->expiry_ms = (int64_t)json_integer_value(exp) * 1000;
	}
	return 1;
}

/*
 * Parse a lease status file: a JSON array of leases. Syntax errors and a non-array reject
 * the file (NULL, errbuf written). Bad entries are skipped and counted; the first one is
 * described in warnbuf.
 */
GArray *libvirt_lease_parse(const char *text, size_t len, uint64_t *entries_bad, char *errbuf,
			    size_t errbuf_size, char *warnbuf, size_t warnbuf_size)
{
	char first[LIBVIRT_ERRBUF / 2] = "";
	json_error_t jerr;
	GArray *out;
	json_t *root;
	size_t i, bad = 0;

	root = json_loadb(text, len, 0, &jerr);
	if (!root) {
		snprintf(errbuf, errbuf_size, "line %d column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		return NULL;
	}
	if (!json_is_array(root)) {
		snprintf(errbuf, errbuf_size, "the top level must be an array of leases");
		json_decref(root);
		return NULL;
	}
	out = g_array_new(FALSE, FALSE, sizeof(struct libvirt_lease));
	for (i = 0; i < json_array_size(root); i++) {
		char why[LIBVIRT_ERRBUF / 4];
		struct libvirt_lease l;
		int r = entry_parse(json_array_get(root, i), &l, why, sizeof(why));

		if (r > 0)
			g_array_append_val(out, l);
		if (r < 0 && bad++ == 0)
			snprintf(first, sizeof(first), "[%zu]: %s", i, why);
	}
	if (bad)
		snprintf(warnbuf, warnbuf_size, "%zu lease entries skipped, the first %s", bad,
			 first);
	*entries_bad += bad;
	json_decref(root);
	return out;
}
