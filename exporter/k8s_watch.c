// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_watch: reassembles '\n'-terminated WATCH event lines from arbitrary chunks and decodes
 * them. A line that arrives whole inside one chunk is parsed in place; only a line cut by a
 * chunk boundary is copied into the partial-line buffer, which never grows past
 * max_line_bytes: a longer line is counted and skipped up to its '\n'. Cost per byte: one
 * memchr, at most one copy, one JSON parse per line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_watch.h"
#include "log.h"

#define K8S_WATCH_QUOTE_BYTES 64u
#define K8S_WATCH_MIN_CAP     4096u

struct k8s_watch_parser {
	char *name; /* owned: resource name for messages */
	size_t max_line_bytes;
	k8s_watch_cb cb;
	void *user; /* borrowed: passed to cb */

	char *buf; /* owned: the partial line, len bytes (cap allocated, cap <= max + 1) */
	size_t len;
	size_t cap;
	bool skipping; /* inside an oversized line: drop bytes up to the next '\n' */
	bool stopped;  /* the callback asked to stop; input ignored until reset */

	bool logged_malformed;
	bool logged_unknown;
	bool logged_oversized;
	struct k8s_watch_stats stats;
};

static const char *const type_names[K8S_WATCH_TYPE_COUNT] = {
	[K8S_WATCH_ADDED] = "ADDED",	 [K8S_WATCH_MODIFIED] = "MODIFIED",
	[K8S_WATCH_DELETED] = "DELETED", [K8S_WATCH_BOOKMARK] = "BOOKMARK",
	[K8S_WATCH_ERROR] = "ERROR",
};

const char *k8s_watch_type_name(enum k8s_watch_type t)
{
	return (unsigned)t < K8S_WATCH_TYPE_COUNT ? type_names[t] : "?";
}

struct k8s_watch_parser *k8s_watch_parser_new(const char *name, size_t max_line_bytes,
					      k8s_watch_cb cb, void *user)
{
	struct k8s_watch_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->name = strdup(name ? name : "?");
	if (!p->name) {
		free(p);
		return NULL;
	}
	p->max_line_bytes = max_line_bytes ? max_line_bytes : 1;
	p->cb = cb;
	p->user = user;
	return p;
}

void k8s_watch_parser_free(struct k8s_watch_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p->name);
	free(p);
}

void k8s_watch_reset(struct k8s_watch_parser *p)
{
	p->len = 0;
	p->skipping = false;
	p->stopped = false;
}

const struct k8s_watch_stats *k8s_watch_get_stats(const struct k8s_watch_parser *p)
{
	return &p->stats;
}

static void malformed(struct k8s_watch_parser *p, const char *what)
{
	char q[K8S_WATCH_QUOTE_BYTES + 8];

	p->stats.malformed++;
	if (p->logged_malformed)
		return;
	p->logged_malformed = true;
	log_warn("kubernetes: watch %s: malformed event line skipped (%s); further ones are "
		 "only counted",
		 p->name, log_quote(what, q, sizeof(q)));
}

static const char *meta_string(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(json_object_get(obj, "metadata"), key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Decode one complete line (no '\n') and deliver it. Returns the callback's value or 0. */
static int parse_line(struct k8s_watch_parser *p, const char *line, size_t len)
{
	struct k8s_watch_event ev;
	json_error_t err;
	const json_t *type, *object, *v;
	const char *t;
	json_t *root;
	int i, rc = 0;

	if (len && line[len - 1] == '\r')
		len--;
	p->stats.lines++;
	if (len == 0)
		return 0; /* blank line: nothing to do, not an error */
	root = json_loadb(line, len, 0, &err);
	if (!root) {
		malformed(p, err.text);
		return 0;
	}
	type = json_object_get(root, "type");
	object = json_object_get(root, "object");
	if (!json_is_string(type) || !json_is_object(object)) {
		malformed(p, "no string \"type\" or no object \"object\"");
		goto out;
	}
	t = json_string_value(type);
	for (i = 0; i < K8S_WATCH_TYPE_COUNT; i++)
		if (strcmp(t, type_names[i]) == 0)
			break;
	if (i == K8S_WATCH_TYPE_COUNT) {
		char q[K8S_WATCH_QUOTE_BYTES + 8];

		p->stats.unknown_type++;
		if (!p->logged_unknown) {
			p->logged_unknown = true;
			log_warn("kubernetes: watch %s: unknown event type '%s' skipped; further "
				 "ones "
				 "are only counted",
				 p->name, log_quote(t, q, sizeof(q)));
		}
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = (enum k8s_watch_type)i;
	ev.object = object;
	ev.line_bytes = len;
	ev.resource_version = meta_string(object, "resourceVersion");
	if (ev.type == K8S_WATCH_ERROR) {
		v = json_object_get(object, "code");
		ev.error_code = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
		v = json_object_get(object, "reason");
		ev.error_reason = json_is_string(v) ? json_string_value(v) : NULL;
		v = json_object_get(object, "message");
		ev.error_message = json_is_string(v) ? json_string_value(v) : NULL;
	}
	p->stats.events[ev.type]++;
	if (p->cb)
		rc = p->cb(&ev, p->user);
out:
	json_decref(root);
	return rc;
}

static void oversized(struct k8s_watch_parser *p)
{
	p->stats.oversized++;
	if (p->logged_oversized)
		return;
	p->logged_oversized = true;
	log_warn("kubernetes: watch %s: event line over %zu bytes skipped; further ones are only "
		 "counted",
		 p->name, p->max_line_bytes);
}

/* Append to the partial line; the caller checked that it fits in max_line_bytes. */
static int append(struct k8s_watch_parser *p, const char *data, size_t n)
{
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : K8S_WATCH_MIN_CAP;
		char *nb;

		while (cap < p->len + n)
			cap *= 2;
		if (cap > p->max_line_bytes)
			cap = p->max_line_bytes;
		nb = realloc(p->buf, cap);
		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	return 0;
}

int k8s_watch_feed(struct k8s_watch_parser *p, const char *data, size_t len)
{
	if (p->stopped)
		return -ECANCELED;
	p->stats.bytes += len;
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		int rc = 0;

		if (p->skipping) {
			/* the rest of an oversized line: already counted */
		} else if (p->len + n > p->max_line_bytes) {
			oversized(p);
			p->len = 0;
			p->skipping = true;
		} else if (nl && p->len == 0) {
			rc = parse_line(p, data, n); /* whole line inside this chunk */
		} else if (append(p, data, n) < 0) {
			/* out of memory: the line is lost, like an oversized one */
			oversized(p);
			p->len = 0;
			p->skipping = true;
		} else if (nl) {
			rc = parse_line(p, p->buf, p->len);
			p->len = 0;
		}
		if (nl) {
			p->skipping = false;
			n++;
		}
		data += n;
		len -= n;
		if (rc) {
			p->stopped = true;
			p->len = 0;
			return rc;
		}
	}
	return 0;
}

bool k8s_watch_finish(struct k8s_watch_parser *p)
{
	bool tail = !p->stopped && (p->len > 0 || p->skipping);

	if (tail)
		p->stats.truncated++;
	k8s_watch_reset(p);
	return tail;
}
