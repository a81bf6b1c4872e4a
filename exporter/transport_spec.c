// SPDX-License-Identifier: Apache-2.0
/*
 * transport_spec: export targets in text form. A target is file:PATH or SCHEME:HOST:PORT,
 * with IPv6 hosts in brackets; parsing checks the scheme, the host's length and the port's
 * range and never resolves names (transport.c does, when it connects).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "transport_spec.h"

static const char *const scheme_names[] = {
	[TRANSPORT_FILE] = "file",	   [TRANSPORT_UDP] = "udp",
	[TRANSPORT_TCP] = "tcp",	   [TRANSPORT_TLS] = "tls",
	[TRANSPORT_NETFLOW9] = "netflow9", [TRANSPORT_NETFLOW5] = "netflow5",
};
#define N_SCHEMES (sizeof(scheme_names) / sizeof(scheme_names[0]))

__attribute__((format(printf, 3, 4))) static int parse_fail(char *errbuf, size_t errbuf_size,
							    const char *fmt, ...)
{
	va_list ap;

	if (errbuf && errbuf_size) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errbuf_size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool valid_port(const char *p)
{
	unsigned long v = 0;

	if (!*p || strlen(p) > 5)
		return false;
	for (const char *c = p; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	return v >= 1 && v <= 65535;
}

int transport_parse(const char *text, struct transport_spec *ret_spec, char *errbuf,
		    size_t errbuf_size)
{
	struct transport_spec s;
	const char *colon, *rest, *host, *port;
	size_t host_len, scheme_len;
	size_t k;

	memset(&s, 0, sizeof(s));
	if (!text || !(colon = strchr(text, ':')))
		return parse_fail(
			errbuf, errbuf_size,
			"expected file:PATH or SCHEME:HOST:PORT (udp, tcp, tls, netflow9, "
			"netflow5)");
	rest = colon + 1;
	scheme_len = (size_t)(colon - text);
	for (k = 0; k < N_SCHEMES; k++)
		if (strlen(scheme_names[k]) == scheme_len &&
		    strncmp(text, scheme_names[k], scheme_len) == 0)
			break;
	if (k == N_SCHEMES)
		return parse_fail(
			errbuf, errbuf_size,
			"unknown scheme '%.*s' (use file:, udp:, tcp:, tls:, netflow9: or "
			"netflow5:)",
			(int)scheme_len, text);
	s.kind = (enum transport_kind)k;
	if (s.kind == TRANSPORT_FILE) {
		if (!*rest)
			return parse_fail(errbuf, errbuf_size, "missing file path");
		if (strlen(rest) >= sizeof(s.path))
			return parse_fail(errbuf, errbuf_size, "file path too long");
		memcpy(s.path, rest, strlen(rest) + 1);
		*ret_spec = s;
		return 0;
	}

	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');

		if (!close)
			return parse_fail(errbuf, errbuf_size, "missing ']' after IPv6 address");
		host = rest + 1;
		host_len = (size_t)(close - host);
		if (close[1] != ':' || !close[2])
			return parse_fail(errbuf, errbuf_size, "missing port (HOST:PORT)");
		port = close + 2;
	} else {
		const char *last = strrchr(rest, ':');

		if (!last)
			return parse_fail(errbuf, errbuf_size, "missing port (HOST:PORT)");
		host = rest;
		host_len = (size_t)(last - rest);
		if (memchr(host, ':', host_len))
			return parse_fail(errbuf, errbuf_size,
					  "IPv6 addresses go in brackets: [ADDR]:PORT");
		port = last + 1;
		if (!*port)
			return parse_fail(errbuf, errbuf_size, "missing port (HOST:PORT)");
	}
	if (host_len == 0)
		return parse_fail(errbuf, errbuf_size, "missing host");
	if (host_len >= sizeof(s.host))
		return parse_fail(errbuf, errbuf_size, "host name too long");
	if (!valid_port(port))
		return parse_fail(errbuf, errbuf_size, "bad port '%s' (1-65535)", port);
	memcpy(s.host, host, host_len);
	memcpy(s.port, port, strlen(port) + 1);
	*ret_spec = s;
	return 0;
}

const char *transport_spec_str(const struct transport_spec *spec, char *buf, size_t buf_size)
{
	const char *scheme = (size_t)spec->kind < N_SCHEMES ? scheme_names[spec->kind] : "?";

	if (spec->kind == TRANSPORT_FILE)
		snprintf(buf, buf_size, "file:%s", spec->path);
	else if (strchr(spec->host, ':'))
		snprintf(buf, buf_size, "%s:[%s]:%s", scheme, spec->host, spec->port);
	else
		snprintf(buf, buf_size, "%s:%s:%s", scheme, spec->host, spec->port);
	return buf;
}
