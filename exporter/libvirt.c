// SPDX-License-Identifier: Apache-2.0
/*
 * libvirt: KVM guests as an enrich source. Each runtime domain XML (GMarkup) and each
 * dnsmasq lease file (jansson) is parsed on its own and kept in its last good version, so one
 * bad file never hides the others. Any file change rebuilds three small views (interface by
 * name, by ifindex, by MAC); addresses come from leases and from flows on the VM's tap, and a
 * table is published only when the address -> VM mapping (compared by SHA-256) changed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "decode.h"
#include "libvirt.h"
#include "log.h"

/* Largest domain XML or lease file read; larger versions are rejected. */
#define LIBVIRT_MAX_FILE_BYTES (16u << 20)
/* Most *.xml or *.status files followed per directory; the rest are counted and skipped. */
#define LIBVIRT_MAX_FILES 4096u
/* Most interfaces one domain may list; a domain with more is rejected. */
#define LIBVIRT_MAX_IFACES 256u
/* Longest domain name or uuid accepted. */
#define LIBVIRT_MAX_NAME_BYTES 1024u
/* Interface names are looked up again this often: a tap may appear after its XML. */
#define LIBVIRT_RESOLVE_MS  10000u
#define LIBVIRT_ERRBUF	    512u
#define LIBVIRT_QUOTE_BYTES 128u

/* What identifies one version of a file or directory. */
struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_sec;
	long mtime_nsec;
};

struct lv_domain;

struct lv_iface {
	char *dev; /* owned: the host-side interface, e.g. "vnet0" */
	uint8_t mac[6];
	bool has_mac;
	gint64 mac_key;	       /* the MAC as a number: key of the by-MAC view */
	uint32_t ifindex;      /* 0 = not resolved (the interface does not exist here) */
	struct lv_domain *dom; /* borrowed: the domain that holds this interface */
};

struct lv_domain {
	char *name;	   /* owned */
	char *uuid;	   /* owned; NULL when the XML has none */
	GPtrArray *ifaces; /* owned, of owned struct lv_iface * */
};

struct lv_lease {
	struct enrich_addr addr; /* zero-padded */
	uint8_t mac[6];
	gint64 mac_key;
	int64_t expiry_ms; /* 0 = never */
};

/* One watched file and the last good version of what it says. */
struct lv_file {
	char *path; /* owned */
	struct file_sig sig;
	bool have_sig;	       /* sig is of the last load attempt: a bad version is reported once */
	bool seen;	       /* listed by the last directory scan */
	struct lv_domain *dom; /* owned: last good domain (XML files); NULL before one */
	GArray *leases;	       /* owned: last good leases (lease files), of struct lv_lease */
};

struct lv_dir {
	char *path;	    /* owned */
	const char *suffix; /* static: ".xml" or ".status" */
	bool xml;
	struct file_sig sig;
	bool have_sig;
	bool missing;	   /* its absence has been logged */
	bool over_limit;   /* LIBVIRT_MAX_FILES reached in the last scan (logged once) */
	GHashTable *files; /* owned: base name (owned) -> struct lv_file * (owned) */
};

/* An address learned from traffic on a VM's interface. */
struct lv_learned {
	struct enrich_addr addr; /* key, zero-padded */
	char *dev;		 /* owned: identity of the VM it belongs to, checked at rebuild */
	char *vm;		 /* owned */
	char *uuid;		 /* owned; NULL when the domain has none */
	const struct lv_iface *iface; /* borrowed from the views; revalidated at each rebuild */
	uint64_t last_seen_ms;	      /* poll clock when last seen */
	bool ingress;		      /* seen sent by the VM (not only sent to it) */
};

struct libvirt {
	struct enrich *e; /* borrowed: must outlive the source */
	struct lv_dir domains;
	struct lv_dir leases;
	bool leases_on;
	uint32_t max_learned;
	uint32_t learned_ttl_ms;
	uint32_t (*ifindex_of)(const char *ifname, void *user);
	void *ifindex_user; /* borrowed */
	/* Views over the domains' interfaces, rebuilt when a file changes. Borrowed pointers. */
	GHashTable *by_name;  /* dev -> struct lv_iface * */
	GHashTable *by_index; /* ifindex -> struct lv_iface * */
	GHashTable *by_mac;   /* &mac_key -> struct lv_iface * */
	GHashTable *learned;  /* &addr -> struct lv_learned * (owned); at most max_learned */
	bool views_stale;     /* a domain or lease set was replaced or freed since the rebuild */
	bool dirty;	      /* the mapping may have changed since the last publish */
	uint64_t clock_ms;    /* now_ms of the last poll */
	uint64_t next_resolve_ms;
	uint64_t next_lease_expiry_ms; /* earliest expiry of a lease in use; 0 = none */
	uint8_t digest[32];	       /* SHA-256 of the published mapping */
	bool published;
	uint64_t logged_domains; /* counts of the last info message */
	uint64_t logged_interfaces;
	struct libvirt_stats stats;
};

/* ---- small helpers ------------------------------------------------------------------ */

/* A user value made safe to print: control bytes become '?', long values are cut. */
static const char *quote(const char *s, char *buf, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] && n + 4 < size && i < LIBVIRT_QUOTE_BYTES; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (s[i]) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static void sig_of(struct file_sig *s, const struct stat *st)
{
	memset(s, 0, sizeof(*s));
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = st->st_size;
	s->mtime_sec = st->st_mtim.tv_sec;
	s->mtime_nsec = st->st_mtim.tv_nsec;
}

static bool sig_eq(const struct file_sig *a, const struct file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

static bool str_eq0(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* "52:54:00:6b:3c:58" (either case). Returns 0 or -EINVAL. */
static int mac_parse(const char *text, uint8_t mac[6], gint64 *ret_key)
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

static guint addr_hash(gconstpointer p)
{
	const struct enrich_addr *a = p;
	uint32_t h = 2166136261u ^ a->family;
	size_t i;

	for (i = 0; i < sizeof(a->addr); i++)
		h = (h ^ a->addr[i]) * 16777619u;
	return h;
}

static gboolean addr_equal(gconstpointer a, gconstpointer b)
{
	const struct enrich_addr *x = a, *y = b;

	return x->family == y->family && memcmp(x->addr, y->addr, sizeof(x->addr)) == 0;
}

static int addr_cmp(const struct enrich_addr *x, const struct enrich_addr *y)
{
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/*
 * Could this address be one host's? Not unspecified, loopback, multicast, broadcast or
 * reserved (IPv4 0/8, 127/8, 224/4, 240/4; IPv6 ::, ::1, ff00::/8).
 */
static bool addr_is_host(const struct enrich_addr *a)
{
	static const uint8_t zero[16];

	if (a->family == 4)
		return a->addr[0] != 0 && a->addr[0] != 127 && a->addr[0] < 224;
	if (a->addr[0] == 0xff)
		return false;
	if (memcmp(a->addr, zero, 15) == 0 && (a->addr[15] == 0 || a->addr[15] == 1))
		return false;
	return true;
}

/*
 * Read a whole regular file of at most LIBVIRT_MAX_FILE_BYTES. *ret_st describes the file
 * read (valid when *ret_have_st). Returns 0 with *ret_buf (g_free it; NUL-terminated) or
 * -errno with errbuf written.
 */
static int read_file(const char *path, char **ret_buf, size_t *ret_len, struct stat *ret_st,
		     bool *ret_have_st, char *errbuf, size_t errbuf_size)
{
	size_t got = 0, size;
	char *buf = NULL;
	int fd, r = 0;

	*ret_have_st = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errbuf_size, "cannot open: %s", g_strerror(-r));
		return r;
	}
	if (fstat(fd, ret_st) < 0) {
		r = -errno;
		snprintf(errbuf, errbuf_size, "cannot stat: %s", g_strerror(-r));
		goto out;
	}
	*ret_have_st = true;
	if (!S_ISREG(ret_st->st_mode)) {
		snprintf(errbuf, errbuf_size, "not a regular file");
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)ret_st->st_size > LIBVIRT_MAX_FILE_BYTES) {
		snprintf(errbuf, errbuf_size, "%jd bytes, larger than the %u MiB limit",
			 (intmax_t)ret_st->st_size, LIBVIRT_MAX_FILE_BYTES >> 20);
		r = -EFBIG;
		goto out;
	}
	size = (size_t)ret_st->st_size;
	buf = g_try_malloc(size + 1);
	if (!buf) {
		snprintf(errbuf, errbuf_size, "out of memory reading %zu bytes", size);
		r = -ENOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(errbuf, errbuf_size, "read error: %s", g_strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret_buf = buf;
	*ret_len = got;
	buf = NULL;
out:
	g_free(buf);
	close(fd);
	return r;
}

/* ---- domain XML --------------------------------------------------------------------- */

static void iface_free(gpointer p)
{
	struct lv_iface *i = p;

	if (!i)
		return;
	g_free(i->dev);
	g_free(i);
}

static void domain_free(struct lv_domain *d)
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
	struct lv_domain *dom;	/* owned until handed out */
	struct lv_iface *iface; /* owned: the <interface> being read */
	GString *text;		/* owned: text of the current <name> or <uuid> */
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
		xml_fail(pc, error, "a second root element <%s>", quote(name, q, sizeof(q)));
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
				 quote(name, q, sizeof(q)));
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
			if (!v || mac_parse(v, x->iface->mac, &x->iface->mac_key) < 0) {
				xml_fail(pc, error, "<mac address='%s'> is not a MAC address",
					 v ? quote(v, q, sizeof(q)) : "");
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
		x->iface = g_new0(struct lv_iface, 1);
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
				 quote(s, q, sizeof(q)));
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
static struct lv_domain *domain_parse(const char *text, size_t len, char *errbuf,
				      size_t errbuf_size)
{
	static const GMarkupParser parser = {
		.start_element = xml_start,
		.end_element = xml_end,
		.text = xml_text,
	};
	struct xml_ctx x = {0};
	GMarkupParseContext *pc;
	struct lv_domain *d = NULL;
	GError *err = NULL;

	x.dom = g_new0(struct lv_domain, 1);
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
	domain_free(x.dom);
	g_string_free(x.text, TRUE);
	return d;
}

/* ---- dnsmasq lease status ----------------------------------------------------------- */

/*
 * One lease entry. Returns 1 if taken into *ret, 0 if it names no MAC (a DHCPv6 lease
 * keyed by DUID: skipped, not an error), -EINVAL with why written.
 */
static int lease_parse(const json_t *entry, struct lv_lease *ret, char *why, size_t why_size)
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
			 json_is_string(ip) ? quote(json_string_value(ip), q, sizeof(q))
					    : "(missing or not a string)");
		return -EINVAL;
	}
	if (!json_is_string(mac) ||
	    mac_parse(json_string_value(mac), ret->mac, &ret->mac_key) < 0) {
		snprintf(why, why_size, "\"mac-address\" %s is not a MAC address",
			 json_is_string(mac) ? quote(json_string_value(mac), q, sizeof(q))
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
static GArray *leases_parse(struct libvirt *lv, const char *text, size_t len, char *errbuf,
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
	out = g_array_new(FALSE, FALSE, sizeof(struct lv_lease));
	for (i = 0; i < json_array_size(root); i++) {
		char why[LIBVIRT_ERRBUF / 4];
		struct lv_lease l;
		int r = lease_parse(json_array_get(root, i), &l, why, sizeof(why));

		if (r > 0)
			g_array_append_val(out, l);
		if (r < 0 && bad++ == 0)
			snprintf(first, sizeof(first), "[%zu]: %s", i, why);
	}
	if (bad)
		snprintf(warnbuf, warnbuf_size, "%zu lease entries skipped, the first %s", bad,
			 first);
	lv->stats.lease_entries_bad += bad;
	json_decref(root);
	return out;
}

/* ---- watched files ------------------------------------------------------------------ */

static void file_free(gpointer p)
{
	struct lv_file *f = p;

	if (!f)
		return;
	g_free(f->path);
	domain_free(f->dom);
	if (f->leases)
		g_array_unref(f->leases);
	g_free(f);
}

static bool file_has_content(const struct lv_file *f)
{
	return f->dom || f->leases;
}

/* Load the version of f on disk; on failure keep the last good one and log once. */
static void file_load(struct libvirt *lv, struct lv_dir *dir, struct lv_file *f)
{
	char err[LIBVIRT_ERRBUF], warn[LIBVIRT_ERRBUF] = "", q[LIBVIRT_QUOTE_BYTES + 8];
	struct lv_domain *dom = NULL;
	GArray *leases = NULL;
	char *buf = NULL;
	bool have_st;
	struct stat st;
	size_t len = 0;
	int r;

	r = read_file(f->path, &buf, &len, &st, &have_st, err, sizeof(err));
	if (have_st) {
		sig_of(&f->sig, &st);
		f->have_sig = true;
	}
	if (r == -ENOENT) /* gone since the scan: the next poll removes it */
		return;
	if (r >= 0 && dir->xml)
		dom = domain_parse(buf, len, err, sizeof(err));
	else if (r >= 0)
		leases = leases_parse(lv, buf, len, err, sizeof(err), warn, sizeof(warn));
	g_free(buf);
	if (!dom && !leases) {
		lv->stats.files_bad++;
		log_warn("libvirt: '%s': %s; %s", quote(f->path, q, sizeof(q)), err,
			 file_has_content(f) ? "keeping its last good version" : "ignored");
		return;
	}
	if (*warn)
		log_warn("libvirt: '%s': %s", quote(f->path, q, sizeof(q)), warn);
	lv->stats.files_loaded++;
	domain_free(f->dom);
	f->dom = dom;
	if (f->leases)
		g_array_unref(f->leases);
	f->leases = leases;
	lv->views_stale = true;
}

static void dir_remove_file(struct libvirt *lv, struct lv_dir *dir, const char *name)
{
	struct lv_file *f = g_hash_table_lookup(dir->files, name);

	if (f && file_has_content(f))
		lv->views_stale = true;
	g_hash_table_remove(dir->files, name);
}

static bool name_matches(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return name[0] != '.' && n > s && strcmp(name + n - s, suffix) == 0;
}

/* List the directory again: follow new files, forget removed ones. */
static void dir_scan(struct libvirt *lv, struct lv_dir *dir)
{
	char q[LIBVIRT_QUOTE_BYTES + 8];
	GHashTableIter it;
	struct dirent *de;
	gpointer k, v;
	size_t skipped = 0;
	DIR *d;

	d = opendir(dir->path);
	if (!d) {
		/* Logged once per version of the directory: it is listed again when it changes. */
		log_warn("libvirt: cannot list '%s': %s", quote(dir->path, q, sizeof(q)),
			 g_strerror(errno));
		return;
	}
	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v))
		((struct lv_file *)v)->seen = false;
	while ((de = readdir(d))) {
		struct lv_file *f;

		if (!name_matches(de->d_name, dir->suffix))
			continue;
		f = g_hash_table_lookup(dir->files, de->d_name);
		if (!f && g_hash_table_size(dir->files) >= LIBVIRT_MAX_FILES) {
			skipped++;
			continue;
		}
		if (!f) {
			f = g_new0(struct lv_file, 1);
			f->path = g_build_filename(dir->path, de->d_name, NULL);
			g_hash_table_insert(dir->files, g_strdup(de->d_name), f);
		}
		f->seen = true;
	}
	closedir(d);
	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		if (((struct lv_file *)v)->seen)
			continue;
		if (file_has_content(v))
			lv->views_stale = true;
		g_hash_table_iter_remove(&it);
	}
	lv->stats.files_skipped += skipped;
	if (skipped && !dir->over_limit)
		log_warn("libvirt: '%s' has more than %u *%s files; %zu not followed",
			 quote(dir->path, q, sizeof(q)), LIBVIRT_MAX_FILES, dir->suffix, skipped);
	dir->over_limit = skipped > 0;
}

/* One stat() for the directory, one per file; re-read only what changed. */
static void dir_poll(struct libvirt *lv, struct lv_dir *dir)
{
	char q[LIBVIRT_QUOTE_BYTES + 8];
	struct file_sig now;
	GHashTableIter it;
	GPtrArray *gone = NULL;
	struct stat st;
	gpointer k, v;
	size_t i;
	int r;

	r = stat(dir->path, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0) {
		if (!dir->missing)
			log_warn("libvirt: directory '%s': %s; no %s until it appears",
				 quote(dir->path, q, sizeof(q)), g_strerror(-r),
				 dir->xml ? "VM interfaces" : "DHCP leases");
		dir->missing = true;
		dir->have_sig = false;
		if (g_hash_table_size(dir->files))
			lv->views_stale = true;
		g_hash_table_remove_all(dir->files);
		return;
	}
	if (dir->missing)
		log_info("libvirt: directory '%s' is back", quote(dir->path, q, sizeof(q)));
	dir->missing = false;
	sig_of(&now, &st);
	if (!dir->have_sig || !sig_eq(&now, &dir->sig)) {
		dir->sig = now;
		dir->have_sig = true;
		dir_scan(lv, dir);
	}
	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct lv_file *f = v;

		if (stat(f->path, &st) < 0) {
			if (!gone)
				gone = g_ptr_array_new_with_free_func(g_free);
			g_ptr_array_add(gone, g_strdup(k));
			continue;
		}
		sig_of(&now, &st);
		if (f->have_sig && sig_eq(&now, &f->sig))
			continue;
		f->sig = now; /* so a bad version is reported once, even if it cannot be opened */
		f->have_sig = true;
		file_load(lv, dir, f);
	}
	for (i = 0; gone && i < gone->len; i++)
		dir_remove_file(lv, dir, g_ptr_array_index(gone, i));
	if (gone)
		g_ptr_array_unref(gone);
}

static void dir_init(struct lv_dir *dir, const char *path, const char *suffix, bool xml)
{
	dir->path = g_strdup(path);
	dir->suffix = suffix;
	dir->xml = xml;
	dir->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, file_free);
}

static void dir_done(struct lv_dir *dir)
{
	if (dir->files)
		g_hash_table_unref(dir->files);
	g_free(dir->path);
}

static int file_cmp(gconstpointer a, gconstpointer b)
{
	const struct lv_file *x = *(const struct lv_file *const *)a;
	const struct lv_file *y = *(const struct lv_file *const *)b;

	return strcmp(x->path, y->path);
}

/* The files of dir in name order, so that duplicates resolve the same way every time. */
static GPtrArray *dir_sorted_files(struct lv_dir *dir)
{
	GPtrArray *a = g_ptr_array_new();
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_ptr_array_add(a, v);
	g_ptr_array_sort(a, file_cmp);
	return a;
}

/* ---- views -------------------------------------------------------------------------- */

static uint32_t default_ifindex_of(const char *ifname, void *user)
{
	(void)user;
	return if_nametoindex(ifname);
}

static void resolve_ifindexes(struct libvirt *lv)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_remove_all(lv->by_index);
	g_hash_table_iter_init(&it, lv->by_name);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct lv_iface *i = v;

		i->ifindex = lv->ifindex_of(i->dev, lv->ifindex_user);
		if (i->ifindex &&
		    !g_hash_table_contains(lv->by_index, GUINT_TO_POINTER(i->ifindex)))
			g_hash_table_insert(lv->by_index, GUINT_TO_POINTER(i->ifindex), i);
	}
	lv->next_resolve_ms = lv->clock_ms + LIBVIRT_RESOLVE_MS;
}

/* Rebuild the interface views from every domain; drop learned addresses of gone VMs. */
static void rebuild_views(struct libvirt *lv)
{
	GPtrArray *files = dir_sorted_files(&lv->domains);
	GHashTableIter it;
	gpointer k, v;
	size_t i, j;

	g_hash_table_remove_all(lv->by_index);
	g_hash_table_remove_all(lv->by_name);
	g_hash_table_remove_all(lv->by_mac);
	lv->stats.domains = 0;
	for (i = 0; i < files->len; i++) {
		struct lv_file *f = g_ptr_array_index(files, i);

		if (!f->dom)
			continue;
		lv->stats.domains++;
		for (j = 0; j < f->dom->ifaces->len; j++) {
			struct lv_iface *ifc = g_ptr_array_index(f->dom->ifaces, j);

			/* A device listed twice (stale file): the first file by name wins. */
			if (g_hash_table_contains(lv->by_name, ifc->dev))
				continue;
			g_hash_table_insert(lv->by_name, ifc->dev, ifc);
			if (ifc->has_mac && !g_hash_table_contains(lv->by_mac, &ifc->mac_key))
				g_hash_table_insert(lv->by_mac, &ifc->mac_key, ifc);
		}
	}
	g_ptr_array_unref(files);
	lv->stats.interfaces = g_hash_table_size(lv->by_name);
	resolve_ifindexes(lv);

	g_hash_table_iter_init(&it, lv->learned);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct lv_learned *l = v;
		const struct lv_iface *ifc = g_hash_table_lookup(lv->by_name, l->dev);

		if (ifc && strcmp(ifc->dom->name, l->vm) == 0 && str_eq0(ifc->dom->uuid, l->uuid)) {
			l->iface = ifc;
			continue;
		}
		lv->stats.learned_expired++;
		g_hash_table_iter_remove(&it);
	}
	lv->stats.learned = g_hash_table_size(lv->learned);
	lv->views_stale = false;
	lv->dirty = true;
}

/* ---- learning ----------------------------------------------------------------------- */

static void learned_free(gpointer p)
{
	struct lv_learned *l = p;

	if (!l)
		return;
	g_free(l->dev);
	g_free(l->vm);
	g_free(l->uuid);
	g_free(l);
}

static void learned_bind(struct lv_learned *l, const struct lv_iface *ifc)
{
	g_free(l->dev);
	g_free(l->vm);
	g_free(l->uuid);
	l->dev = g_strdup(ifc->dev);
	l->vm = g_strdup(ifc->dom->name);
	l->uuid = g_strdup(ifc->dom->uuid);
	l->iface = ifc;
}

void libvirt_observe(struct libvirt *lv, uint32_t ifindex, uint8_t direction, uint8_t ip_version,
		     const uint8_t src_addr[16], const uint8_t dst_addr[16])
{
	const struct lv_iface *ifc;
	bool ingress = direction == DECODE_DIR_INGRESS;
	struct lv_learned *l;
	struct enrich_addr a;

	if (!lv || !ifindex)
		return;
	ifc = g_hash_table_lookup(lv->by_index, GUINT_TO_POINTER(ifindex));
	if (!ifc)
		return;
	lv->stats.observed++;
	memset(&a, 0, sizeof(a));
	if ((ip_version != 4 && ip_version != 6) || !src_addr || !dst_addr ||
	    (direction != DECODE_DIR_INGRESS && direction != DECODE_DIR_EGRESS)) {
		lv->stats.observe_unusable++;
		return;
	}
	a.family = ip_version;
	memcpy(a.addr, ingress ? src_addr : dst_addr, ip_version == 4 ? 4 : 16);
	if (!addr_is_host(&a)) {
		lv->stats.observe_unusable++;
		return;
	}
	l = g_hash_table_lookup(lv->learned, &a);
	if (l && l->iface == ifc) {
		l->last_seen_ms = lv->clock_ms;
		if (ingress && !l->ingress) {
			l->ingress = true;
			lv->dirty = true;
		}
		return;
	}
	if (l) {
		/* Another VM's address so far: only what the VM itself sent moves it. */
		if (!ingress)
			return;
		learned_bind(l, ifc);
		l->ingress = true;
		l->last_seen_ms = lv->clock_ms;
		lv->stats.learned_moved++;
		lv->dirty = true;
		return;
	}
	if (g_hash_table_size(lv->learned) >= lv->max_learned) {
		lv->stats.learned_full++;
		return;
	}
	l = g_new0(struct lv_learned, 1);
	l->addr = a;
	learned_bind(l, ifc);
	l->ingress = ingress;
	l->last_seen_ms = lv->clock_ms;
	g_hash_table_insert(lv->learned, &l->addr, l);
	lv->stats.learned_new++;
	lv->stats.learned = g_hash_table_size(lv->learned);
	lv->dirty = true;
}

static void expire_learned(struct libvirt *lv)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, lv->learned);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const struct lv_learned *l = v;

		if (l->last_seen_ms + lv->learned_ttl_ms > lv->clock_ms)
			continue;
		g_hash_table_iter_remove(&it);
		lv->stats.learned_expired++;
		lv->dirty = true;
	}
	lv->stats.learned = g_hash_table_size(lv->learned);
}

/* ---- publishing --------------------------------------------------------------------- */

struct lv_entry {
	struct enrich_addr addr;
	const struct lv_domain *dom; /* borrowed from the views */
};

static int entry_cmp(gconstpointer a, gconstpointer b)
{
	return addr_cmp(&((const struct lv_entry *)a)->addr, &((const struct lv_entry *)b)->addr);
}

static void map_put(GHashTable *map, const struct enrich_addr *addr, const struct lv_domain *d)
{
	struct lv_entry *en = g_new(struct lv_entry, 1);

	en->addr = *addr;
	en->dom = d;
	g_hash_table_replace(map, &en->addr, en);
}

static void map_put_learned(struct libvirt *lv, GHashTable *map, bool ingress)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, lv->learned);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const struct lv_learned *l = v;

		if (l->ingress == ingress)
			map_put(map, &l->addr, l->iface->dom);
	}
}

/*
 * address -> domain, by precedence: addresses a VM was only seen receiving, then DHCP
 * leases, then addresses a VM was seen sending from (later replaces earlier).
 */
static GArray *compute_entries(struct libvirt *lv)
{
	GHashTable *map = g_hash_table_new_full(addr_hash, addr_equal, NULL, g_free);
	int64_t now = (int64_t)lv->clock_ms;
	GHashTableIter it;
	GArray *out;
	gpointer k, v;
	size_t i, j;

	lv->next_lease_expiry_ms = 0;
	map_put_learned(lv, map, false);
	if (lv->leases_on) {
		GPtrArray *files = dir_sorted_files(&lv->leases);

		for (i = 0; i < files->len; i++) {
			const struct lv_file *f = g_ptr_array_index(files, i);

			for (j = 0; f->leases && j < f->leases->len; j++) {
				const struct lv_lease *le =
					&g_array_index(f->leases, struct lv_lease, j);
				const struct lv_iface *ifc =
					g_hash_table_lookup(lv->by_mac, &le->mac_key);

				if (!ifc || (le->expiry_ms && le->expiry_ms <= now))
					continue;
				map_put(map, &le->addr, ifc->dom);
				if (le->expiry_ms &&
				    (!lv->next_lease_expiry_ms ||
				     (uint64_t)le->expiry_ms < lv->next_lease_expiry_ms))
					lv->next_lease_expiry_ms = (uint64_t)le->expiry_ms;
			}
		}
		g_ptr_array_unref(files);
	}
	map_put_learned(lv, map, true);

	out = g_array_sized_new(FALSE, FALSE, sizeof(struct lv_entry), g_hash_table_size(map));
	g_hash_table_iter_init(&it, map);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_array_append_vals(out, v, 1);
	g_hash_table_unref(map);
	g_array_sort(out, entry_cmp);
	return out;
}

static void entries_digest(const GArray *entries, uint8_t digest[32])
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	gsize len = 32;
	size_t i;

	for (i = 0; i < entries->len; i++) {
		const struct lv_entry *en = &g_array_index(entries, struct lv_entry, i);
		const char *uuid = en->dom->uuid ? en->dom->uuid : "";

		g_checksum_update(ck, &en->addr.family, 1);
		g_checksum_update(ck, en->addr.addr, sizeof(en->addr.addr));
		g_checksum_update(ck, (const guchar *)en->dom->name, strlen(en->dom->name) + 1);
		g_checksum_update(ck, (const guchar *)uuid, strlen(uuid) + 1);
	}
	g_checksum_get_digest(ck, digest, &len);
	g_checksum_free(ck);
}

/* Publish if the mapping differs from the published one. Returns 1 if published. */
static int publish(struct libvirt *lv)
{
	const char *fields[ENRICH_DIM_COUNT] = {0};
	struct enrich_table_builder *b;
	struct enrich_table *t;
	uint8_t digest[32];
	GArray *entries;
	int r = 0;
	size_t i;

	lv->dirty = false;
	entries = compute_entries(lv);
	entries_digest(entries, digest);
	if (lv->published && memcmp(digest, lv->digest, sizeof(digest)) == 0)
		goto out;
	b = enrich_builder_new();
	if (!b)
		goto fail;
	fields[ENRICH_KIND] = "vm";
	for (i = 0; i < entries->len; i++) {
		const struct lv_entry *en = &g_array_index(entries, struct lv_entry, i);

		fields[ENRICH_VM] = en->dom->name;
		fields[ENRICH_INSTANCE_ID] = en->dom->uuid;
		if (enrich_builder_add_endpoint(b, &en->addr, fields) < 0) {
			enrich_builder_free(b);
			goto fail;
		}
	}
	t = enrich_builder_finish(b);
	if (!t)
		goto fail;
	memcpy(lv->digest, digest, sizeof(digest));
	lv->published = true;
	lv->stats.publishes++;
	lv->stats.endpoints = entries->len;
	/* Learned addresses may change every second: only a new set of VMs is news. */
	if (lv->stats.publishes == 1 || lv->stats.domains != lv->logged_domains ||
	    lv->stats.interfaces != lv->logged_interfaces)
		log_info("libvirt: %" PRIu64 " domains, %" PRIu64 " interfaces, %u addresses",
			 lv->stats.domains, lv->stats.interfaces, entries->len);
	else
		log_debug("libvirt: %u addresses", entries->len);
	lv->logged_domains = lv->stats.domains;
	lv->logged_interfaces = lv->stats.interfaces;
	enrich_publish(lv->e, ENRICH_SRC_LIBVIRT, t);
	r = 1;
	goto out;
fail:
	log_error("libvirt: out of memory building the table; will retry");
	lv->dirty = true;
out:
	g_array_unref(entries);
	return r;
}

/* ---- the source --------------------------------------------------------------------- */

struct libvirt *libvirt_new(struct enrich *e, const struct libvirt_config *config)
{
	static const struct libvirt_config defaults;
	const struct libvirt_config *c = config ? config : &defaults;
	struct libvirt *lv;

	if (!e)
		return NULL;
	lv = g_try_new0(struct libvirt, 1);
	if (!lv)
		return NULL;
	lv->e = e;
	dir_init(&lv->domains,
		 c->domain_dir && *c->domain_dir ? c->domain_dir : LIBVIRT_DEFAULT_DOMAIN_DIR,
		 ".xml", true);
	lv->leases_on = !c->leases_dir || *c->leases_dir;
	dir_init(&lv->leases, c->leases_dir ? c->leases_dir : LIBVIRT_DEFAULT_LEASES_DIR, ".status",
		 false);
	lv->max_learned = c->max_learned ? c->max_learned : LIBVIRT_DEFAULT_MAX_LEARNED;
	lv->learned_ttl_ms = c->learned_ttl_ms ? c->learned_ttl_ms : LIBVIRT_DEFAULT_LEARNED_TTL_MS;
	lv->ifindex_of = c->ifindex_of ? c->ifindex_of : default_ifindex_of;
	lv->ifindex_user = c->ifindex_user;
	lv->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	lv->by_index = g_hash_table_new(g_direct_hash, g_direct_equal);
	lv->by_mac = g_hash_table_new(g_int64_hash, g_int64_equal);
	lv->learned = g_hash_table_new_full(addr_hash, addr_equal, NULL, learned_free);
	lv->views_stale = true;
	return lv;
}

void libvirt_free(struct libvirt *lv)
{
	if (!lv)
		return;
	/* Views and learned entries borrow from the files: free them first. */
	if (lv->learned)
		g_hash_table_unref(lv->learned);
	if (lv->by_mac)
		g_hash_table_unref(lv->by_mac);
	if (lv->by_index)
		g_hash_table_unref(lv->by_index);
	if (lv->by_name)
		g_hash_table_unref(lv->by_name);
	dir_done(&lv->leases);
	dir_done(&lv->domains);
	g_free(lv);
}

int libvirt_poll(struct libvirt *lv, uint64_t now_ms)
{
	if (!lv)
		return 0;
	lv->clock_ms = now_ms;
	lv->stats.polls++;
	dir_poll(lv, &lv->domains);
	if (lv->leases_on)
		dir_poll(lv, &lv->leases);
	if (lv->views_stale)
		rebuild_views(lv);
	else if (now_ms >= lv->next_resolve_ms)
		resolve_ifindexes(lv);
	expire_learned(lv);
	if (lv->next_lease_expiry_ms && now_ms >= lv->next_lease_expiry_ms)
		lv->dirty = true;
	if (!lv->dirty && lv->published)
		return 0;
	return publish(lv);
}

const char *libvirt_iface_vm(const struct libvirt *lv, const char *ifname)
{
	const struct lv_iface *ifc;

	if (!lv || !ifname)
		return NULL;
	ifc = g_hash_table_lookup(lv->by_name, ifname);
	return ifc ? ifc->dom->name : NULL;
}

const struct libvirt_stats *libvirt_get_stats(const struct libvirt *lv)
{
	static const struct libvirt_stats none;

	return lv ? &lv->stats : &none;
}
