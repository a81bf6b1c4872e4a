// SPDX-License-Identifier: Apache-2.0
/*
 * select: rules are parsed once into fixed arrays (names, prefixes, label requirements);
 * matching a record costs a few string compares per rule and end, plus one scan of the
 * end's PodLabels JSON per label requirement, done in place (no parse tree, no
 * allocation). The JSON comes from metadata sources, so the scanner checks every byte
 * and treats anything but an object of strings as "no labels match".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "select.h"

/* Kubernetes limits: a label name or value is at most 63 characters, a prefix 253. */
#define SELECT_NAME_MAX	  63
#define SELECT_PREFIX_MAX 253

enum select_op {
	SELECT_OP_EXISTS = 0,
	SELECT_OP_NOT_EXISTS,
	SELECT_OP_EQ,
	SELECT_OP_NEQ,
	SELECT_OP_IN,
	SELECT_OP_NOTIN,
};

/* One label requirement: key op values. Strings owned. */
struct requirement {
	char *key;
	enum select_op op;
	size_t n_values; /* 1 for = and !=, 1.. for in/notin, 0 for (not) exists */
	char *values[SELECT_MAX_SET_VALUES];
};

/* One rule: every condition present must hold for the same end. Strings owned. */
struct rule {
	char *namespace; /* NULL: no namespace condition */
	char *wl_kind;	 /* NULL: any workload kind */
	char *wl_name;	 /* NULL: no workload condition */
	char *service;	 /* NULL: no service condition */
	bool has_cidr;	 /* prefix/prefix_len are a condition */
	uint8_t prefix_len;
	struct enrich_addr prefix;
	bool has_labels; /* requirements are a condition (possibly of a pod with no labels) */
	size_t n_req;
	struct requirement req[SELECT_MAX_REQUIREMENTS];
};

struct select {
	struct rule *rules; /* owned: SELECT_MAX_RULES entries, n_rules used */
	size_t n_rules;
	struct select_stats stats;
};

__attribute__((format(printf, 3, 4))) static int fail(char *errbuf, size_t errbuf_size,
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

static void rule_done(struct rule *r)
{
	free(r->namespace);
	free(r->wl_kind);
	free(r->wl_name);
	free(r->service);
	for (size_t i = 0; i < r->n_req; i++) {
		free(r->req[i].key);
		for (size_t j = 0; j < r->req[i].n_values; j++)
			free(r->req[i].values[j]);
	}
	memset(r, 0, sizeof(*r));
}

struct select *select_new(void)
{
	struct select *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->rules = calloc(SELECT_MAX_RULES, sizeof(*s->rules));
	if (!s->rules) {
		free(s);
		return NULL;
	}
	return s;
}

void select_free(struct select *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_rules; i++)
		rule_done(&s->rules[i]);
	free(s->rules);
	free(s);
}

size_t select_n_rules(const struct select *s)
{
	return s ? s->n_rules : 0;
}

const struct select_stats *select_get_stats(const struct select *s)
{
	return &s->stats;
}

/* ------------------------------------------------------------------ label selector syntax */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_name_char(char c)
{
	return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

/* A label name or value: 1..63 of [-_.A-Za-z0-9], alphanumeric at both ends. */
static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > SELECT_NAME_MAX || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

/* A label key: [prefix/]name, the prefix a DNS subdomain of at most 253 characters. */
static bool valid_key(const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t plen;

	if (!slash)
		return valid_name(s, len);
	plen = (size_t)(slash - s);
	if (plen == 0 || plen > SELECT_PREFIX_MAX || !is_alnum(s[0]) || !is_alnum(s[plen - 1]))
		return false;
	for (size_t i = 0; i < plen; i++)
		if (!(is_alnum(s[i]) || s[i] == '-' || s[i] == '.'))
			return false;
	return valid_name(slash + 1, len - plen - 1);
}

static void skip_spaces(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/* Length of the run of key characters at p ([-_./A-Za-z0-9]). */
static size_t key_span(const char *p)
{
	size_t n = 0;

	while (is_name_char(p[n]) || p[n] == '/')
		n++;
	return n;
}

static char *dup_span(const char *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

/* Parse "(a, b, ...)" at *pp into req->values. */
static int parse_set(struct requirement *req, const char **pp, const char *text, char *errbuf,
		     size_t errbuf_size)
{
	const char *p = *pp;

	if (*p != '(')
		return fail(errbuf, errbuf_size, "labels '%s': '(' expected after '%s %s'", text,
			    req->key, req->op == SELECT_OP_IN ? "in" : "notin");
	p++;
	for (;;) {
		size_t len;

		skip_spaces(&p);
		len = key_span(p);
		if (!valid_name(p, len))
			return fail(errbuf, errbuf_size,
				    "labels '%s': bad value in the set of '%s' at '%.20s'", text,
				    req->key, p);
		if (req->n_values == SELECT_MAX_SET_VALUES) {
			fail(errbuf, errbuf_size, "labels '%s': more than %d values for '%s'", text,
			     SELECT_MAX_SET_VALUES, req->key);
			return -E2BIG;
		}
		req->values[req->n_values] = dup_span(p, len);
		if (!req->values[req->n_values])
			return -ENOMEM;
		req->n_values++;
		p += len;
		skip_spaces(&p);
		if (*p == ')')
			break;
		if (*p != ',')
			return fail(errbuf, errbuf_size,
				    "labels '%s': ',' or ')' expected in the set of '%s'", text,
				    req->key);
		p++;
	}
	*pp = p + 1;
	return 0;
}

/* Parse one requirement at *pp (up to the next top-level ',' or the end). */
static int parse_requirement(struct requirement *req, const char **pp, const char *text,
			     char *errbuf, size_t errbuf_size)
{
	const char *p = *pp;
	bool negated = false;
	size_t len;
	int ret;

	skip_spaces(&p);
	if (*p == '!') {
		negated = true;
		p++;
		skip_spaces(&p);
	}
	len = key_span(p);
	if (!valid_key(p, len))
		return fail(errbuf, errbuf_size, "labels '%s': bad label key at '%.20s'", text, p);
	req->key = dup_span(p, len);
	if (!req->key)
		return -ENOMEM;
	p += len;
	skip_spaces(&p);
	if (negated) {
		req->op = SELECT_OP_NOT_EXISTS;
	} else if (*p == ',' || *p == '\0') {
		req->op = SELECT_OP_EXISTS;
	} else if (*p == '=' || (p[0] == '!' && p[1] == '=')) {
		req->op = *p == '=' ? SELECT_OP_EQ : SELECT_OP_NEQ;
		p += *p == '=' ? (p[1] == '=' ? 2 : 1) : 2;
		skip_spaces(&p);
		len = key_span(p);
		/* An empty value is allowed: "k=" is the label present with value "". */
		if (len && !valid_name(p, len))
			return fail(errbuf, errbuf_size,
				    "labels '%s': bad value for '%s' at '%.20s'", text, req->key,
				    p);
		req->values[0] = dup_span(p, len);
		if (!req->values[0])
			return -ENOMEM;
		req->n_values = 1;
		p += len;
	} else if (strncmp(p, "in", 2) == 0 && (p[2] == ' ' || p[2] == '\t' || p[2] == '(')) {
		req->op = SELECT_OP_IN;
		p += 2;
		skip_spaces(&p);
		ret = parse_set(req, &p, text, errbuf, errbuf_size);
		if (ret < 0)
			return ret;
	} else if (strncmp(p, "notin", 5) == 0 && (p[5] == ' ' || p[5] == '\t' || p[5] == '(')) {
		req->op = SELECT_OP_NOTIN;
		p += 5;
		skip_spaces(&p);
		ret = parse_set(req, &p, text, errbuf, errbuf_size);
		if (ret < 0)
			return ret;
	} else {
		return fail(errbuf, errbuf_size,
			    "labels '%s': '=', '!=', 'in' or 'notin' expected after '%s'", text,
			    req->key);
	}
	skip_spaces(&p);
	if (*p != ',' && *p != '\0')
		return fail(errbuf, errbuf_size, "labels '%s': ',' expected at '%.20s'", text, p);
	*pp = p;
	return 0;
}

static int parse_labels(struct rule *r, const char *text, char *errbuf, size_t errbuf_size)
{
	const char *p = text;
	int ret;

	r->has_labels = true;
	for (;;) {
		if (r->n_req == SELECT_MAX_REQUIREMENTS) {
			fail(errbuf, errbuf_size, "labels '%s': more than %d requirements", text,
			     SELECT_MAX_REQUIREMENTS);
			return -E2BIG;
		}
		ret = parse_requirement(&r->req[r->n_req], &p, text, errbuf, errbuf_size);
		r->n_req++; /* also when half-filled: rule_done() frees what it got */
		if (ret < 0)
			return ret;
		if (*p == '\0')
			return 0;
		p++; /* the ',' */
	}
}

/* ------------------------------------------------------------------ rules */

static int parse_value(struct rule *r, const char *key, const char *value, char *errbuf,
		       size_t errbuf_size)
{
	const char *slash;

	if (strcmp(key, "labels") == 0)
		return parse_labels(r, value, errbuf, errbuf_size);
	if (strcmp(key, "cidr") == 0) {
		if (strchr(value, '/')) {
			if (enrich_prefix_parse(value, &r->prefix, &r->prefix_len) < 0)
				return fail(errbuf, errbuf_size,
					    "cidr '%s': not an address prefix with the host bits "
					    "zero (e.g. \"10.0.0.0/8\", \"fd00::/64\")",
					    value);
		} else {
			if (enrich_addr_parse(value, &r->prefix) < 0)
				return fail(errbuf, errbuf_size, "cidr '%s': not an address",
					    value);
			r->prefix_len = r->prefix.family == 4 ? 32 : 128;
		}
		r->has_cidr = true;
		return 0;
	}
	if (!*value)
		return fail(errbuf, errbuf_size, "%s: the value is empty", key);
	if (strcmp(key, "namespace") == 0) {
		r->namespace = strdup(value);
		return r->namespace ? 0 : -ENOMEM;
	}
	if (strcmp(key, "service") == 0) {
		if (strpbrk(value, "/,"))
			return fail(errbuf, errbuf_size,
				    "service '%s': give one Service name (restrict it to a "
				    "namespace with namespace = \"...\" in the same rule)",
				    value);
		r->service = strdup(value);
		return r->service ? 0 : -ENOMEM;
	}
	if (strcmp(key, "workload") == 0) {
		slash = strchr(value, '/');
		if (slash && (slash == value || !slash[1] || strchr(slash + 1, '/')))
			return fail(errbuf, errbuf_size,
				    "workload '%s': give \"Kind/name\" or \"name\"", value);
		r->wl_name = strdup(slash ? slash + 1 : value);
		if (slash)
			r->wl_kind = dup_span(value, (size_t)(slash - value));
		return r->wl_name && (!slash || r->wl_kind) ? 0 : -ENOMEM;
	}
	return fail(errbuf, errbuf_size,
		    "unknown selection key '%s' (namespace, labels, workload, service, cidr)", key);
}

int select_add_rule(struct select *s, const char *const *keys, const char *const *values, size_t n,
		    char *errbuf, size_t errbuf_size)
{
	struct rule *r;
	int ret = 0;

	if (!s || (n && (!keys || !values)))
		return fail(errbuf, errbuf_size, "invalid arguments");
	if (n == 0)
		return fail(errbuf, errbuf_size,
			    "an empty rule: give at least one of namespace, labels, workload, "
			    "service, cidr");
	if (s->n_rules == SELECT_MAX_RULES) {
		fail(errbuf, errbuf_size, "more than %d selection rules", SELECT_MAX_RULES);
		return -E2BIG;
	}
	for (size_t i = 0; i < n; i++) {
		if (!keys[i] || !values[i])
			return fail(errbuf, errbuf_size, "rule setting %zu has no name or value",
				    i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(keys[i], keys[j]) == 0)
				return fail(errbuf, errbuf_size,
					    "'%s' given twice in one rule (use two rules for "
					    "either of two values)",
					    keys[i]);
	}
	r = &s->rules[s->n_rules];
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = parse_value(r, keys[i], values[i], errbuf, errbuf_size);
	if (ret == -ENOMEM)
		fail(errbuf, errbuf_size, "out of memory");
	if (ret < 0) {
		rule_done(r);
		return ret;
	}
	s->n_rules++;
	return 0;
}

/* ------------------------------------------------------------------ JSON labels */

static void json_ws(const char **pp, const char *end)
{
	while (*pp < end && (**pp == ' ' || **pp == '\t' || **pp == '\n' || **pp == '\r'))
		(*pp)++;
}

static int hex4(const char *p, const char *end, unsigned *ret)
{
	unsigned v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = v;
	return 0;
}

/*
 * The next character of a JSON string body at *pp, as UTF-8 bytes in out. Returns their
 * number (1..4), 0 at the closing quote (consumed), -1 if the text is not valid JSON.
 */
static int json_char(const char **pp, const char *end, uint8_t out[4])
{
	const char *p = *pp;
	unsigned cp, lo;

	if (p >= end || (uint8_t)*p < 0x20)
		return -1;
	if (*p == '"') {
		*pp = p + 1;
		return 0;
	}
	if (*p != '\\') {
		out[0] = (uint8_t)*p;
		*pp = p + 1;
		return 1;
	}
	if (++p >= end)
		return -1;
	switch (*p) {
	case '"':
	case '\\':
	case '/':
		out[0] = (uint8_t)*p;
		*pp = p + 1;
		return 1;
	case 'b':
		out[0] = '\b';
		break;
	case 'f':
		out[0] = '\f';
		break;
	case 'n':
		out[0] = '\n';
		break;
	case 'r':
		out[0] = '\r';
		break;
	case 't':
		out[0] = '\t';
		break;
	case 'u':
		if (hex4(p + 1, end, &cp) < 0)
			return -1;
		p += 5;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return -1;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    hex4(p + 2, end, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		*pp = p;
		if (cp < 0x80) {
			out[0] = (uint8_t)cp;
			return 1;
		}
		if (cp < 0x800) {
			out[0] = (uint8_t)(0xc0 | cp >> 6);
			out[1] = (uint8_t)(0x80 | (cp & 0x3f));
			return 2;
		}
		if (cp < 0x10000) {
			out[0] = (uint8_t)(0xe0 | cp >> 12);
			out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			out[2] = (uint8_t)(0x80 | (cp & 0x3f));
			return 3;
		}
		out[0] = (uint8_t)(0xf0 | cp >> 18);
		out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (uint8_t)(0x80 | (cp & 0x3f));
		return 4;
	default:
		return -1;
	}
	*pp = p + 1;
	return 1;
}

/*
 * Consume the JSON string body at *pp (its opening quote already consumed), comparing
 * it with want (NULL: only skip it). Returns 1 equal, 0 different, -1 not valid JSON.
 */
static int json_str_eq(const char **pp, const char *end, const char *want)
{
	size_t i = 0;
	bool equal = want != NULL;
	uint8_t c[4];
	int n;

	while ((n = json_char(pp, end, c)) > 0) {
		for (int k = 0; k < n && equal; k++, i++)
			equal = want[i] != '\0' && (uint8_t)want[i] == c[k];
	}
	if (n < 0)
		return -1;
	return equal && want[i] == '\0';
}

/*
 * Find key in the JSON object of strings obj (the first, if it is there twice). Returns 1
 * and the value's body in *ret_value (just past its opening quote), 0 if absent, -1 if
 * obj is not such an object: the whole text is checked, wherever the key is.
 */
static int json_find(const char *obj, const char *key, const char **ret_value)
{
	const char *p = obj, *end = obj + strlen(obj), *found = NULL;
	int eq;

	json_ws(&p, end);
	if (p >= end || *p++ != '{')
		return -1;
	json_ws(&p, end);
	if (p < end && *p == '}') {
		p++;
		goto done;
	}
	for (;;) {
		if (p >= end || *p++ != '"')
			return -1;
		eq = json_str_eq(&p, end, found ? NULL : key);
		if (eq < 0)
			return -1;
		json_ws(&p, end);
		if (p >= end || *p++ != ':')
			return -1;
		json_ws(&p, end);
		if (p >= end || *p++ != '"')
			return -1; /* label values are strings */
		if (eq && !found)
			found = p;
		if (json_str_eq(&p, end, NULL) < 0)
			return -1;
		json_ws(&p, end);
		if (p < end && *p == '}') {
			p++;
			break;
		}
		if (p >= end || *p++ != ',')
			return -1;
		json_ws(&p, end);
	}
done:
	json_ws(&p, end);
	if (p != end)
		return -1; /* something after the object */
	if (!found)
		return 0;
	*ret_value = found;
	return 1;
}

/* Does the value body at v equal one of the requirement's values? -1: not valid JSON. */
static int value_in(const char *v, const struct requirement *req)
{
	const char *end = v + strlen(v);

	for (size_t i = 0; i < req->n_values; i++) {
		const char *p = v;
		int eq = json_str_eq(&p, end, req->values[i]);

		if (eq != 0)
			return eq;
	}
	return 0;
}

/* All requirements against one end's PodLabels text (NULL: no labels). -1: bad JSON. */
static int labels_match(const struct rule *r, const char *json)
{
	for (size_t i = 0; i < r->n_req; i++) {
		const struct requirement *req = &r->req[i];
		const char *v = NULL;
		int found = json ? json_find(json, req->key, &v) : 0, in = 0;
		bool ok;

		if (found < 0)
			return -1;
		if (found && req->n_values) {
			in = value_in(v, req);
			if (in < 0)
				return -1;
		}
		switch (req->op) {
		case SELECT_OP_EXISTS:
			ok = found;
			break;
		case SELECT_OP_NOT_EXISTS:
			ok = !found;
			break;
		case SELECT_OP_EQ:
		case SELECT_OP_IN:
			ok = found && in;
			break;
		default: /* NEQ, NOTIN: also true when the label is absent */
			ok = !found || !in;
			break;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ matching */

static bool str_eq(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* Is name one of the ","-joined names in list? */
static bool list_has(const char *list, const char *name)
{
	size_t len = strlen(name);

	while (list && *list) {
		const char *comma = strchr(list, ',');
		size_t n = comma ? (size_t)(comma - list) : strlen(list);

		if (n == len && memcmp(list, name, len) == 0)
			return true;
		list = comma ? comma + 1 : NULL;
	}
	return false;
}

static bool in_prefix(const struct rule *r, const uint8_t *addr, uint8_t ip_version)
{
	uint8_t bits = r->prefix_len, full = bits / 8, rest = bits % 8;

	if (r->prefix.family != ip_version)
		return false;
	if (memcmp(addr, r->prefix.addr, full) != 0)
		return false;
	return rest == 0 ||
	       ((addr[full] ^ r->prefix.addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Does rule r hold for one end? *bad is set when its PodLabels text is not valid. */
static bool end_matches(const struct rule *r, const struct enrich_labels *l, const uint8_t *addr,
			uint8_t ip_version, bool *bad)
{
	const char *const *v = l ? l->v : NULL;

	if (r->has_cidr && !in_prefix(r, addr, ip_version))
		return false;
	if ((r->namespace || r->wl_name || r->service || r->has_labels) && !v)
		return false;
	if (r->namespace && !str_eq(v[ENRICH_NAMESPACE], r->namespace))
		return false;
	if (r->wl_name && (!str_eq(v[ENRICH_WORKLOAD], r->wl_name) ||
			   (r->wl_kind && (!v[ENRICH_WORKLOAD_KIND] ||
					   strcasecmp(v[ENRICH_WORKLOAD_KIND], r->wl_kind) != 0))))
		return false;
	if (r->service && !list_has(v[ENRICH_SERVICE], r->service))
		return false;
	if (r->has_labels) {
		int m;

		/* Label selectors select Pods: another kind of end has no pod labels at all. */
		if (!(v[ENRICH_POD] && *v[ENRICH_POD]) && !str_eq(v[ENRICH_KIND], "pod"))
			return false;
		m = labels_match(r, v[ENRICH_POD_LABELS]);
		if (m < 0)
			*bad = true;
		return m > 0;
	}
	return true;
}

static bool match(const struct select *s, const struct flow_record *rec,
		  const struct enrich_labels *src, const struct enrich_labels *dst, bool *bad)
{
	const struct flow_key *k = &rec->key;

	if (s->n_rules == 0)
		return true;
	for (size_t i = 0; i < s->n_rules; i++) {
		if (end_matches(&s->rules[i], src, k->src_addr, k->ip_version, bad) ||
		    end_matches(&s->rules[i], dst, k->dst_addr, k->ip_version, bad))
			return true;
	}
	return false;
}

bool select_match(const struct select *s, const struct flow_record *rec,
		  const struct enrich_labels *src, const struct enrich_labels *dst)
{
	bool bad = false;

	return match(s, rec, src, dst, &bad);
}

bool select_flow(struct select *s, const struct flow_record *rec, const struct enrich_labels *src,
		 const struct enrich_labels *dst)
{
	bool bad = false, ok = match(s, rec, src, dst, &bad);

	s->stats.bad_labels += bad;
	if (ok) {
		s->stats.selected++;
		return true;
	}
	s->stats.unselected++;
	s->stats.unselected_packets += rec->packets + rec->rev_packets;
	s->stats.unselected_octets += rec->octets + rec->rev_octets;
	return false;
}
