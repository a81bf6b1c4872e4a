// SPDX-License-Identifier: Apache-2.0
/*
 * libvirt_text: two small pure functions, kept apart so that the domain XML parser and the
 * lease file parser read MAC addresses the same way and quote what they report the same way.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "libvirt_text.h"

/* Two hex digits per byte, ":" between them. */
int libvirt_text_mac_parse(const char *text, uint8_t mac[6], gint64 *ret_key)
{
	gint64 key = 0;
	size_t i;

	if (strlen(text) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		const char *p = text + i * 3;
		int hi = g_ascii_xdigit_value(p[0]), lo = g_ascii_xdigit_value(p[1]);

		if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
		key = key << 8 | mac[i];
	}
	*ret_key = key;
	return 0;
}
