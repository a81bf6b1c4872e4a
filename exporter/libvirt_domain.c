// SPDX-License-Identifier: Apache-2.0
/*
 * libvirt_domain: a GMarkup parser that tracks the open elements by position
 * ([domstatus/]domain/{name,uuid,devices/interface/{mac,target}}) and ignores everything
 * else, so that libvirt's many other elements never matter. Our own errors are placed like
 * GMarkup's, with line and column, and every count and length is bounded.
 */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "libvirt_domain.h"
#include "libvirt_text.h"
#include "log.h"

/* Most interfaces one domain may list; a domain with more is rejected. */
#define LIBVIRT_MAX_IFACES 256u
/* Longest domain name or uuid accepted. */
#define LIBVIRT_MAX_NAME_BYTES 1024u

static void iface_free(gpointer p)
{
	struct libvirt_iface *i = p;

	if (!i)
		return;
	g_free(i->dev);
	g_free(i);
}

void libvirt_domain_free(struct libvirt_domain *d)
{
	if (!d)
		return;
	g_free(d->name);
	g_free(d->uuid);
	if (d->ifaces)
		g_ptr_array_unref(d->ifaces);
	g_free(d);
}

/* Elements the parser cares about, by position: [domstatus/]domain/{name,uuid,devices/...}. */
enum xml_elem {
	XML_OTHER = 0,
	XML_DOMSTATUS,
	XML_DOMAIN,
	XML_NAME,
	XML_UUID,
	XML_DEVICES,
	XML_INTERFACE,
};

#define XML_STACK 8u

struct xml_ctx {
	struct libvirt_domain *dom;  /* owned until handed out */
	struct libvirt_iface *iface; /* owned: the <interface> being read */
	GString *text;		     /* owned: text of the current <name> or <uuid> */
	unsigned depth;
	uint8_t stack[XML_STACK]; /* enum xml_elem of the open elements (deeper ones: OTHER) */
	bool have_root;
	bool have_domain;
};

static enum xml_elem xml_top(const struct xml_ctx *x)
{
	if (!x->depth || x->depth > XML_STACK)
		return XML_OTHER;
	return x->stack[x->depth - 1];
}

/* Our own errors, placed like GMarkup's: "Error on line L char C: what". */
static void __attribute__((format(printf, 3, 4)))
xml_fail(GMarkupParseContext *pc, GError **error, const char *fmt, ...)
{
	char what[LIBVIRT_ERRBUF / 2];
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	g_markup_parse_context_get_position(pc, &line, &col);
	g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
		    "Error on line %d char %d: %s", line, col, what);
}

static const char *xml_attr(const char **names, const char **values, const char *want)
{
	size_t i;

	for (i = 0; names[i]; i++)
		if (strcmp(names[i], want) == 0)
			return values[i];
	return NULL;
}

static void xml_start(GMarkupParseContext *pc, const char *name, const char **attr_names,
		      const char **attr_values, gpointer user, GError **error)
{
	struct xml_ctx *x = user;
	enum xml_elem parent = xml_top(x), kind = XML_OTHER;
	char q[LIBVIRT_QUOTE_BYTES + 8];
	const char *v;

	if (x->depth == 0 && x->have_root) {
		xml_fail(pc, error, "a second root element <%s>", log_quote(name, q, sizeof(q)));
		return;
	}
	if (x->depth == 0) {
		x->have_root = true;
		if (strcmp(name, "domstatus") == 0) {
			kind = XML_DOMSTATUS;
		} else if (strcmp(name, "domain") == 0) {
			kind = XML_DOMAIN;
		} else {
			xml_fail(pc, error, "the root element is <%s>, not <domstatus> or <domain>",
				 log_quote(name, q, sizeof(q)));
			return;
		}
	} else if (parent == XML_DOMSTATUS && strcmp(name, "domain") == 0 && !x->have_domain) {
		kind = XML_DOMAIN;
	} else if (parent == XML_DOMAIN) {
		if (strcmp(name, "name") == 0)
			kind = XML_NAME;
		else if (strcmp(name, "uuid") == 0)
			kind = XML_UUID;
		else if (strcmp(name, "devices") == 0)
			kind = XML_DEVICES;
	} else if (parent == XML_DEVICES && strcmp(name, "interface") == 0) {
		kind = XML_INTERFACE;
	} else if (parent == XML_INTERFACE && x->iface) {
		if (strcmp(name, "mac") == 0 && !x->iface->has_mac) {
			v = xml_attr(attr_names, attr_values, "address");
			if (!v ||
			    libvirt_text_mac_parse(v, x->iface->mac, &x->iface->mac_key) < 0) {
				xml_fail(pc, error, "<mac address='%s'> is not a MAC address",
					 v ? log_quote(v, q, sizeof(q)) : "");
				return;
			}
			x->iface->has_mac = true;
		} else if (strcmp(name, "target") == 0 && !x->iface->dev) {
			v = xml_attr(attr_names, attr_values, "dev");
			/* Longer names cannot be a Linux interface: the tap is not ours to see. */
			if (v && *v && strlen(v) < IF_NAMESIZE)
				x->iface->dev = g_strdup(v);
		}
	}

	if (kind == XML_DOMAIN)
		x->have_domain = true;
	if ((kind == XML_NAME && x->dom->name) || (kind == XML_UUID && x->dom->uuid)) {
		xml_fail(pc, error, "<domain> has two <%s> elements", name);
		return;
	}
	if (kind == XML_NAME || kind == XML_UUID)
		g_string_truncate(x->text, 0);
	if (kind == XML_INTERFACE)
		x->iface = g_new0(struct libvirt_iface, 1);
	if (x->depth < XML_STACK)
		x->stack[x->depth] = (uint8_t)kind;
	x->depth++;
}

static void xml_end(GMarkupParseContext *pc, const char *name, gpointer user, GError **error)
{
	struct xml_ctx *x = user;
	enum xml_elem kind = xml_top(x);
	char q[LIBVIRT_QUOTE_BYTES + 8];
	char *s;

	(void)name;
	x->depth--;
	switch (kind) {
	case XML_NAME:
	case XML_UUID:
		s = g_strstrip(g_strdup(x->text->str));
		if (!*s) {
			g_free(s);
			xml_fail(pc, error, "<%s> is empty", kind == XML_NAME ? "name" : "uuid");
			return;
		}
		if (kind == XML_UUID && !g_uuid_string_is_valid(s)) {
			xml_fail(pc, error, "<uuid>%s</uuid> is not a UUID",
				 log_quote(s, q, sizeof(q)));
			g_free(s);
			return;
		}
		if (kind == XML_NAME)
			x->dom->name = s;
		else
			x->dom->uuid = s;
		break;
	case XML_INTERFACE:
		/* No host-side device (hostdev, not started): nothing to follow. */
		x->iface->dom = x->dom;
		if (x->iface->dev && x->dom->ifaces->len >= LIBVIRT_MAX_IFACES) {
			xml_fail(pc, error, "more than %u interfaces with a target dev",
				 LIBVIRT_MAX_IFACES);
			return;
		}
		if (x->iface->dev)
			g_ptr_array_add(x->dom->ifaces, x->iface);
		else
			iface_free(x->iface);
		x->iface = NULL;
		break;
	default:
		break;
	}
}

static void xml_text(GMarkupParseContext *pc, const char *text, gsize len, gpointer user,
		     GError **error)
{
	struct xml_ctx *x = user;
	enum xml_elem kind = xml_top(x);

	if (kind != XML_NAME && kind != XML_UUID)
		return;
	if (x->text->len + len > LIBVIRT_MAX_NAME_BYTES) {
		xml_fail(pc, error, "<%s> is longer than %u bytes",
			 kind == XML_NAME ? "name" : "uuid", LIBVIRT_MAX_NAME_BYTES);
		return;
	}
	g_string_append_len(x->text, text, (gssize)len);
}

/* Parse one domain document. Returns the domain, or NULL with errbuf written. */
struct libvirt_domain *libvirt_domain_parse(const char *text, size_t len, char *errbuf,
					    size_t errbuf_size)
{
	static const GMarkupParser parser = {
		.start_element = xml_start,
		.end_element = xml_end,
		.text = xml_text,
	};
	struct xml_ctx x = {0};
	GMarkupParseContext *pc;
	struct libvirt_domain *d = NULL;
	GError *err = NULL;

	x.dom = g_new0(struct libvirt_domain, 1);
	x.dom->ifaces = g_ptr_array_new_with_free_func(iface_free);
	x.text = g_string_new(NULL);
	pc = g_markup_parse_context_new(&parser, 0, &x, NULL);
	if (!g_markup_parse_context_parse(pc, text, (gssize)len, &err) ||
	    !g_markup_parse_context_end_parse(pc, &err)) {
		snprintf(errbuf, errbuf_size, "%s", err->message);
		goto out;
	}
	if (!x.have_domain) {
		snprintf(errbuf, errbuf_size, "no <domain> element");
		goto out;
	}
	if (!x.dom->name) {
		snprintf(errbuf, errbuf_size, "<domain> has no <name>");
		goto out;
	}
	d = x.dom;
	x.dom = NULL;
out:
	g_clear_error(&err);
	g_markup_parse_context_free(pc);
	iface_free(x.iface);
	libvirt_domain_free(x.dom);
	g_string_free(x.text, TRUE);
	return d;
}
