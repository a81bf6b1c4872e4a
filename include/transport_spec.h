/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transport_spec: the export target vocabulary: the kinds of collector target and the
 * parsing and printing of their text form (file:PATH, SCHEME:HOST:PORT).
 */
#ifndef LABELFLOW_TRANSPORT_SPEC_H
#define LABELFLOW_TRANSPORT_SPEC_H

#include <stddef.h>

enum transport_kind {
	TRANSPORT_FILE = 0,
	TRANSPORT_UDP,
	TRANSPORT_TCP,
	TRANSPORT_TLS,	    /* IPFIX over TLS over TCP (tls:HOST:PORT) */
	TRANSPORT_NETFLOW9, /* NetFlow v9 over UDP (netflow9:HOST:PORT) */
	TRANSPORT_NETFLOW5, /* NetFlow v5 over UDP (netflow5:HOST:PORT) */
};

struct transport_spec {
	enum transport_kind kind;
	char host[256];	 /* all but FILE: name or address, brackets removed */
	char port[16];	 /* all but FILE */
	char path[4096]; /* FILE: "-" is standard output */
};

/*
 * Parse "file:PATH" or SCHEME:HOST:PORT with SCHEME udp, tcp, tls, netflow9 or netflow5
 * ("[v6addr]:port" for IPv6). Returns 0 or -EINVAL, writing the reason into errbuf.
 */
int transport_parse(const char *text, struct transport_spec *ret_spec, char *errbuf,
		    size_t errbuf_size);
/* Human form of a spec, e.g. "udp:[::1]:4739", into buf. Returns buf. */
const char *transport_spec_str(const struct transport_spec *spec, char *buf, size_t buf_size);

#endif
