// SPDX-License-Identifier: Apache-2.0
/*
 * inventory: the JSON inventory file as an enrich source. The whole document is parsed with
 * jansson and validated before one enrich_table is built, so a half-valid file never becomes
 * visible: any error rejects the file and the last good table stays published. Watching
 * costs one stat() per poll; the file is re-read only when its inode, size or mtime changed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "filesig.h"
#include "inventory.h"
#include "log.h"

/* Largest inventory file accepted; larger files are rejected as a whole. */
#define INVENTORY_MAX_FILE_BYTES (64u << 20)
/* Longest string value (and label key, value and serialised label object) accepted. */
#define INVENTORY_MAX_STRING_BYTES 4096u
/* User values are quoted in messages up to this many bytes. */
#define INVENTORY_QUOTE_BYTES  64u
#define INVENTORY_ERRBUF_BYTES 1024u

static const char *const entity_kinds[] = {"pod", "node", "service", "vm", "external"};

struct parse_ctx {
	const char *name; /* borrowed: the path or name used in messages */
	char *errbuf;	  /* borrowed, may be NULL */
	size_t errbuf_size;
};

static void __attribute__((format(printf, 2, 3)))
fail(const struct parse_ctx *c, const char *fmt, ...)
{
	char what[INVENTORY_ERRBUF_BYTES];
	va_list ap;

	if (!c->errbuf || !c->errbuf_size)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->errbuf, c->errbuf_size, "%s: %s", c->name, what);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static bool kind_known(const char *s)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(entity_kinds); i++)
		if (strcmp(s, entity_kinds[i]) == 0)
			return true;
	return false;
}

/* "labels": an object of strings, stored as compact JSON text with sorted keys. */
static int parse_labels(const struct parse_ctx *c, const char *where, const json_t *v,
			char **ret_text)
{
	char q[INVENTORY_QUOTE_BYTES + 8];
	char *text;
	void *it;

	if (!json_is_object(v)) {
		fail(c, "%s.labels: must be an object of strings, not %s", where, type_name(v));
		return -EINVAL;
	}
	for (it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
		const char *key = json_object_iter_key(it);
		const json_t *val = json_object_iter_value(it);

		if (strlen(key) > INVENTORY_MAX_STRING_BYTES) {
			fail(c, "%s.labels: key '%s' is longer than %u bytes", where,
			     log_quote(key, q, sizeof(q)), INVENTORY_MAX_STRING_BYTES);
			return -EINVAL;
		}
		if (!json_is_string(val)) {
			fail(c, "%s.labels.%s: must be a string, not %s", where,
			     log_quote(key, q, sizeof(q)), type_name(val));
			return -EINVAL;
		}
		if (json_string_length(val) > INVENTORY_MAX_STRING_BYTES) {
			fail(c, "%s.labels.%s: value is longer than %u bytes", where,
			     log_quote(key, q, sizeof(q)), INVENTORY_MAX_STRING_BYTES);
			return -EINVAL;
		}
	}
	*ret_text = NULL;
	if (!json_object_size(v))
		return 0; /* {} is absent, like "" */
	text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		fail(c, "%s.labels: out of memory", where);
		return -ENOMEM;
	}
	if (strlen(text) > INVENTORY_MAX_STRING_BYTES) {
		fail(c, "%s.labels: %zu bytes as JSON text, longer than %u", where, strlen(text),
		     INVENTORY_MAX_STRING_BYTES);
		free(text);
		return -EINVAL;
	}
	*ret_text = text;
	return 0;
}

/*
 * The label fields of one entry (endpoint or subnet: both accept every dimension). Strings
 * in fields[] are borrowed from the JSON document, *ret_labels is malloc'd (free() it).
 * null and "" mean absent. Returns 0 or -errno with errbuf written.
 */
static int parse_fields(const struct parse_ctx *c, const char *where, const json_t *entry,
			const char *fields[ENRICH_DIM_COUNT], char **ret_labels)
{
	char q[INVENTORY_QUOTE_BYTES + 8];
	unsigned d;
	int r;

	*ret_labels = NULL;
	for (d = 0; d < ENRICH_DIM_COUNT; d++) {
		const json_t *v = json_object_get(entry, enrich_dim_key(d));

		fields[d] = NULL;
		if (!v || json_is_null(v))
			continue;
		if (d == ENRICH_POD_LABELS) {
			r = parse_labels(c, where, v, ret_labels);
			if (r < 0)
				return r;
			fields[d] = *ret_labels;
			continue;
		}
		if (!json_is_string(v)) {
			fail(c, "%s.%s: must be a string, not %s", where, enrich_dim_key(d),
			     type_name(v));
			return -EINVAL;
		}
		if (json_string_length(v) > INVENTORY_MAX_STRING_BYTES) {
			fail(c, "%s.%s: value is %zu bytes, longer than %u", where,
			     enrich_dim_key(d), json_string_length(v), INVENTORY_MAX_STRING_BYTES);
			return -EINVAL;
		}
		fields[d] = json_string_value(v);
	}
	if (fields[ENRICH_KIND] && *fields[ENRICH_KIND] && !kind_known(fields[ENRICH_KIND])) {
		fail(c, "%s.kind: '%s' is not one of pod, node, service, vm, external", where,
		     log_quote(fields[ENRICH_KIND], q, sizeof(q)));
		return -EINVAL;
	}
	return 0;
}

/* The required address member ("ip" or "cidr") of an entry, as a string. */
static const char *required_string(const struct parse_ctx *c, const char *where,
				   const json_t *entry, const char *key)
{
	const json_t *v = json_object_get(entry, key);

	if (!v) {
		fail(c, "%s: missing \"%s\"", where, key);
		return NULL;
	}
	if (!json_is_string(v)) {
		fail(c, "%s.%s: must be a string, not %s", where, key, type_name(v));
		return NULL;
	}
	return json_string_value(v);
}

/* Why a CIDR did not parse: a more useful message than "invalid". */
static void fail_cidr(const struct parse_ctx *c, const char *where, const char *text)
{
	char q[INVENTORY_QUOTE_BYTES + 8], addr[64], net[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	unsigned long len, max;
	struct enrich_addr a;
	char *end;
	size_t i;
	size_t n = slash ? (size_t)(slash - text) : 0;

	log_quote(text, q, sizeof(q));
	if (!slash) {
		fail(c, "%s.cidr: '%s' has no /length (e.g. 10.0.0.0/16)", where, q);
		return;
	}
	if (n < sizeof(addr)) {
		memcpy(addr, text, n);
		addr[n] = '\0';
	}
	if (n >= sizeof(addr) || enrich_addr_parse(addr, &a) < 0) {
		fail(c, "%s.cidr: '%s': the address is not an IPv4 or IPv6 address", where, q);
		return;
	}
	max = a.family == 4 ? 32 : 128;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || !g_ascii_isdigit(slash[1]) || len > max) {
		fail(c, "%s.cidr: '%s': the length must be a number from 0 to %lu", where, q, max);
		return;
	}
	/* The length is fine, so host bits are set: suggest the network address. */
	for (i = 0; i < sizeof(a.addr); i++) {
		unsigned keep = len >= (i + 1) * 8 ? 8 : len > i * 8 ? (unsigned)(len - i * 8) : 0;

		a.addr[i] &= (uint8_t)(0xff00u >> keep);
	}
	if (!inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.addr, net, sizeof(net)))
		net[0] = '\0';
	fail(c, "%s.cidr: '%s': host bits are set (the network is %s/%lu)", where, q, net, len);
}

/* An optional top-level array; NULL (and no error) when absent or null. */
static int get_array(const struct parse_ctx *c, const json_t *root, const char *key,
		     const json_t **ret)
{
	const json_t *v = json_object_get(root, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		fail(c, "%s: must be an array, not %s", key, type_name(v));
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_entries(const struct parse_ctx *c, struct enrich_table_builder *b,
			 const json_t *arr, bool subnets)
{
	const char *section = subnets ? "subnets" : "endpoints";
	char where[64], q[INVENTORY_QUOTE_BYTES + 8];
	const char *fields[ENRICH_DIM_COUNT];
	size_t i;
	int r;

	for (i = 0; i < json_array_size(arr); i++) {
		const json_t *entry = json_array_get(arr, i);
		struct enrich_addr a;
		uint8_t len = 0;
		const char *text;
		char *labels;

		snprintf(where, sizeof(where), "%s[%zu]", section, i);
		if (!json_is_object(entry)) {
			fail(c, "%s: must be an object, not %s", where, type_name(entry));
			return -EINVAL;
		}
		text = required_string(c, where, entry, subnets ? "cidr" : "ip");
		if (!text)
			return -EINVAL;
		if (subnets && enrich_prefix_parse(text, &a, &len) < 0) {
			fail_cidr(c, where, text);
			return -EINVAL;
		}
		if (!subnets && enrich_addr_parse(text, &a) < 0) {
			fail(c, "%s.ip: '%s' is not an IPv4 or IPv6 address", where,
			     log_quote(text, q, sizeof(q)));
			return -EINVAL;
		}
		r = parse_fields(c, where, entry, fields, &labels);
		if (r < 0)
			return r;
		r = subnets ? enrich_builder_add_subnet(b, &a, len, fields)
			    : enrich_builder_add_endpoint(b, &a, fields);
		free(labels);
		if (r < 0) {
			fail(c, "%s: cannot add: %s", where, g_strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Line and column (1-based, in bytes) of the first non-blank byte: where the top level starts. */
static void first_value_pos(const char *text, size_t len, unsigned *ret_line, unsigned *ret_col)
{
	unsigned line = 1, col = 1;
	size_t i;

	for (i = 0; i < len && strchr(" \t\r\n", text[i]) && text[i]; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	*ret_line = line;
	*ret_col = col;
}

static struct enrich_table *parse_doc(const struct parse_ctx *c, const json_t *root,
				      const char *text, size_t len)
{
	const json_t *subnets, *endpoints;
	struct enrich_table_builder *b;
	unsigned line, col;

	if (!json_is_object(root)) {
		first_value_pos(text, len, &line, &col);
		fail(c, "line %u column %u: the top level must be an object, not %s", line, col,
		     type_name(root));
		return NULL;
	}
	if (get_array(c, root, "subnets", &subnets) < 0 ||
	    get_array(c, root, "endpoints", &endpoints) < 0)
		return NULL;
	b = enrich_builder_new();
	if (!b) {
		fail(c, "out of memory");
		return NULL;
	}
	if ((subnets && parse_entries(c, b, subnets, true) < 0) ||
	    (endpoints && parse_entries(c, b, endpoints, false) < 0)) {
		enrich_builder_free(b);
		return NULL;
	}
	return enrich_builder_finish(b);
}

/* jansson's syntax errors carry a position: "NAME: line L column C: what". */
static struct enrich_table *parse_buffer(const struct parse_ctx *c, const char *text, size_t len)
{
	struct enrich_table *t;
	json_error_t jerr;
	json_t *root;

	if (len > INVENTORY_MAX_FILE_BYTES) {
		fail(c, "%zu bytes, larger than the %u MiB limit", len,
		     INVENTORY_MAX_FILE_BYTES >> 20);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		fail(c, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	t = parse_doc(c, root, text, len);
	json_decref(root);
	return t;
}

struct enrich_table *inventory_parse_string(const char *text, const char *name, char *errbuf,
					    size_t errbuf_size)
{
	struct parse_ctx c = {name ? name : "<string>", errbuf, errbuf_size};

	if (!text) {
		fail(&c, "no text");
		return NULL;
	}
	return parse_buffer(&c, text, strlen(text));
}

/*
 * Read and parse path. *ret_st is the identity of the file actually read (valid when
 * *ret_have_st). Returns 0 with *ret_table set, or -errno with errbuf written.
 */
static int load_file(const char *path, char *errbuf, size_t errbuf_size, struct stat *ret_st,
		     bool *ret_have_st, struct enrich_table **ret_table)
{
	struct parse_ctx c = {path, errbuf, errbuf_size};
	struct enrich_table *t = NULL;
	size_t got = 0, size;
	char *buf = NULL;
	int fd, r = 0;

	*ret_have_st = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		fail(&c, "cannot open: %s", g_strerror(-r));
		return r;
	}
	if (fstat(fd, ret_st) < 0) {
		r = -errno;
		fail(&c, "cannot stat: %s", g_strerror(-r));
		goto out;
	}
	*ret_have_st = true;
	if (!S_ISREG(ret_st->st_mode)) {
		fail(&c, "not a regular file");
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)ret_st->st_size > INVENTORY_MAX_FILE_BYTES) {
		fail(&c, "%jd bytes, larger than the %u MiB limit", (intmax_t)ret_st->st_size,
		     INVENTORY_MAX_FILE_BYTES >> 20);
		r = -EINVAL;
		goto out;
	}
	size = (size_t)ret_st->st_size;
	buf = g_try_malloc(size + 1);
	if (!buf) {
		fail(&c, "out of memory reading %zu bytes", size);
		r = -ENOMEM;
		goto out;
	}
	/* A file rewritten in place may be cut short here: it then fails to parse, and the
	 * next poll sees the new size or mtime. Writers should rename() a complete file in. */
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			fail(&c, "read error: %s", g_strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	t = parse_buffer(&c, buf, got);
	if (!t)
		r = -EINVAL;
out:
	g_free(buf);
	close(fd);
	*ret_table = t;
	return r;
}

struct enrich_table *inventory_parse_file(const char *path, char *errbuf, size_t errbuf_size)
{
	struct enrich_table *t = NULL;
	struct stat st;
	bool have_st;

	if (!path) {
		struct parse_ctx c = {"<null>", errbuf, errbuf_size};

		fail(&c, "no path");
		return NULL;
	}
	load_file(path, errbuf, errbuf_size, &st, &have_st, &t);
	return t;
}

/* ---- the watched source ------------------------------------------------------------- */

struct inventory {
	struct enrich *e; /* borrowed: must outlive the inventory */
	char *path;	  /* owned */
	struct inventory_stats stats;
	struct filesig sig; /* of the last load attempt, valid when have_sig */
	bool have_sig;
	bool missing; /* the file's disappearance has been logged */
};

struct inventory *inventory_new(struct enrich *e, const char *path)
{
	struct inventory *inv;

	if (!e || !path || !*path)
		return NULL;
	inv = g_try_new0(struct inventory, 1);
	if (!inv)
		return NULL;
	inv->e = e;
	inv->path = g_strdup(path);
	return inv;
}

/* The published table stays in the enrich layer: it is released by a later publish or
 * by enrich_free(). */
void inventory_free(struct inventory *inv)
{
	if (!inv)
		return;
	g_free(inv->path);
	g_free(inv);
}

int inventory_reload(struct inventory *inv)
{
	char err[INVENTORY_ERRBUF_BYTES];
	struct enrich_table *t = NULL;
	struct stat st;
	bool have_st;
	int r;

	if (!inv)
		return -EINVAL;
	r = load_file(inv->path, err, sizeof(err), &st, &have_st, &t);
	if (have_st) {
		filesig_of(&inv->sig, &st);
		inv->have_sig = true;
	}
	if (r < 0) {
		inv->stats.loads_failed++;
		if (r == -ENOENT)
			inv->missing = true;
		log_error("inventory: %s; keeping the last good table (%" PRIu64
			  " endpoints, %" PRIu64 " subnets)",
			  err, inv->stats.endpoints, inv->stats.subnets);
		return r;
	}
	inv->missing = false;
	inv->stats.loads_ok++;
	inv->stats.endpoints = enrich_table_endpoints(t);
	inv->stats.subnets = enrich_table_subnets(t);
	log_info("inventory '%s': %" PRIu64 " endpoints, %" PRIu64 " subnets", inv->path,
		 inv->stats.endpoints, inv->stats.subnets);
	enrich_publish(inv->e, ENRICH_SRC_INVENTORY, t);
	return 0;
}

int inventory_poll(struct inventory *inv)
{
	struct filesig now;
	struct stat st;
	int r;

	if (!inv)
		return -EINVAL;
	if (stat(inv->path, &st) < 0) {
		r = -errno;
		if (!inv->missing)
			log_warn("inventory '%s': %s; keeping the last good table (%" PRIu64
				 " endpoints, %" PRIu64 " subnets)",
				 inv->path, g_strerror(-r), inv->stats.endpoints,
				 inv->stats.subnets);
		inv->missing = true;
		inv->have_sig = false;
		return r;
	}
	inv->missing = false;
	filesig_of(&now, &st);
	if (inv->have_sig && filesig_eq(&inv->sig, &now))
		return 0;
	/* Remember this version even if loading it fails, so a bad file is reported once. */
	inv->sig = now;
	inv->have_sig = true;
	r = inventory_reload(inv);
	return r < 0 ? r : 1;
}

const struct inventory_stats *inventory_get_stats(const struct inventory *inv)
{
	static const struct inventory_stats none;

	return inv ? &inv->stats : &none;
}
