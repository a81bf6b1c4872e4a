/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvirt_lease: the parser of dnsmasq's lease status files, as libvirt's networks write them
 * (a JSON array of {ip-address, mac-address, expiry-time}): MAC -> IP with its expiry. No
 * I/O: it parses text it is given; internal to the libvirt source.
 */
#ifndef LABELFLOW_LIBVIRT_LEASE_H
#define LABELFLOW_LIBVIRT_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "enrich.h"

struct libvirt_lease {
	struct enrich_addr addr; /* zero-padded */
	uint8_t mac[6];
	gint64 mac_key;	   /* the MAC as a number (libvirt_text_mac_parse) */
	int64_t expiry_ms; /* 0 = never */
};

/*
 * Parse a lease status file of len bytes. Syntax errors and a top level that is not an array
 * reject the file: NULL, with errbuf written. Otherwise returns the leases (a GArray of struct
 * libvirt_lease, owned by the caller); entries without a MAC (DHCPv6) are left out, and bad
 * entries are skipped, added to *entries_bad, and the first one described in warnbuf (left
 * untouched when there is none).
 */
GArray *libvirt_lease_parse(const char *text, size_t len, uint64_t *entries_bad, char *errbuf,
			    size_t errbuf_size, char *warnbuf, size_t warnbuf_size);

#endif
