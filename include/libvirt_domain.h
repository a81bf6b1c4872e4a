/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvirt_domain: the parser of libvirt's runtime domain XML (<domstatus> or <domain>): the
 * VM's name and uuid and, per interface with a host-side device, that device and its MAC.
 * No I/O: it parses text it is given; internal to the libvirt source.
 */
#ifndef LABELFLOW_LIBVIRT_DOMAIN_H
#define LABELFLOW_LIBVIRT_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

struct libvirt_domain;

struct libvirt_iface {
	char *dev; /* owned: the host-side interface, e.g. "vnet0" */
	uint8_t mac[6];
	bool has_mac;
	gint64 mac_key;		    /* the MAC as a number: key of the by-MAC view */
	uint32_t ifindex;	    /* 0 = not resolved (the interface does not exist here) */
	struct libvirt_domain *dom; /* borrowed: the domain that holds this interface */
};

struct libvirt_domain {
	char *name;	   /* owned */
	char *uuid;	   /* owned; NULL when the XML has none */
	GPtrArray *ifaces; /* owned, of owned struct libvirt_iface *, each with a dev */
};

/*
 * Parse one domain document of len bytes. Returns the domain (owned by the caller;
 * libvirt_domain_free), or NULL with the reason written to errbuf ("Error on line L char C:
 * ..." for XML errors).
 */
struct libvirt_domain *libvirt_domain_parse(const char *text, size_t len, char *errbuf,
					    size_t errbuf_size);
/* NULL is a no-op. */
void libvirt_domain_free(struct libvirt_domain *d);

#endif
