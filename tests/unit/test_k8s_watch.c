// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_watch.h"

#ifndef LF_TOP_SRCDIR
#define LF_TOP_SRCDIR "."
#endif

#define MAX_RECS 64

/* What the callback saw, copied out of the borrowed event. */
struct rec {
	enum k8s_watch_type type;
	char rv[64];
	char name[128];
	char pod_ip[64];
	int64_t code;
	char reason[64];
	size_t line_bytes;
};

struct recorder {
	struct rec r[MAX_RECS];
	size_t n;
	int stop_on_error; /* returned for ERROR events */
};

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static int record(const struct k8s_watch_event *ev, void *user)
{
	struct recorder *rc = user;
	struct rec *r;
	const json_t *md = json_object_get(ev->object, "metadata");
	const json_t *st = json_object_get(ev->object, "status");

	cr_assert_lt(rc->n, MAX_RECS);
	r = &rc->r[rc->n++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	copy(r->rv, sizeof(r->rv), ev->resource_version);
	copy(r->name, sizeof(r->name), json_string_value(json_object_get(md, "name")));
	copy(r->pod_ip, sizeof(r->pod_ip), json_string_value(json_object_get(st, "podIP")));
	r->code = ev->error_code;
	copy(r->reason, sizeof(r->reason), ev->error_reason);
	r->line_bytes = ev->line_bytes;
	return ev->type == K8S_WATCH_ERROR ? rc->stop_on_error : 0;
}

static void assert_same(const struct recorder *got, const struct recorder *want, const char *ctx)
{
	cr_assert_eq(got->n, want->n, "%s: %zu events, want %zu", ctx, got->n, want->n);
	for (size_t i = 0; i < want->n; i++) {
		const struct rec *g = &got->r[i], *w = &want->r[i];

		cr_assert_eq(g->type, w->type, "%s: event %zu type", ctx, i);
		cr_assert_str_eq(g->rv, w->rv, "%s: event %zu rv", ctx, i);
		cr_assert_str_eq(g->name, w->name, "%s: event %zu name", ctx, i);
		cr_assert_str_eq(g->pod_ip, w->pod_ip, "%s: event %zu podIP", ctx, i);
		cr_assert_eq(g->code, w->code, "%s: event %zu code", ctx, i);
		cr_assert_str_eq(g->reason, w->reason, "%s: event %zu reason", ctx, i);
		cr_assert_eq(g->line_bytes, w->line_bytes, "%s: event %zu bytes", ctx, i);
	}
}

/* Lines built here, so the core cases do not depend on fixture files. */
static const char *const own_lines[] = {
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
	"\"name\":\"web-1\",\"namespace\":\"shop\",\"resourceVersion\":\"101\"},\"status\":{"
	"\"podIP\":\"10.244.1.5\"}}}",
	"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\","
	"\"resourceVersion\":\"102\"},\"status\":{\"podIP\":\"10.244.1.5\",\"note\":\"a\\nb\"}}}",
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
	"\"resourceVersion\":\"150\"}}}",
	"{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\","
	"\"resourceVersion\":\"151\"},\"status\":{\"podIP\":\"10.244.1.5\"}}}",
	"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
	"\"status\":\"Failure\",\"message\":\"too old resource version: 5 (9)\",\"reason\":"
	"\"Expired\",\"code\":410}}",
};

/* The events own_lines must produce, written out by hand. */
static void want_own(struct recorder *w)
{
	static const struct {
		enum k8s_watch_type type;
		const char *rv, *name, *ip;
		int64_t code;
		const char *reason;
	} e[] = {
		{K8S_WATCH_ADDED, "101", "web-1", "10.244.1.5", 0, ""},
		{K8S_WATCH_MODIFIED, "102", "web-1", "10.244.1.5", 0, ""},
		{K8S_WATCH_BOOKMARK, "150", "", "", 0, ""},
		{K8S_WATCH_DELETED, "151", "web-1", "10.244.1.5", 0, ""},
		{K8S_WATCH_ERROR, "", "", "", 410, "Expired"},
	};

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		struct rec *r = &w->r[w->n++];

		r->type = e[i].type;
		copy(r->rv, sizeof(r->rv), e[i].rv);
		copy(r->name, sizeof(r->name), e[i].name);
		copy(r->pod_ip, sizeof(r->pod_ip), e[i].ip);
		r->code = e[i].code;
		copy(r->reason, sizeof(r->reason), e[i].reason);
		r->line_bytes = strlen(own_lines[i]);
	}
}

static char *own_stream(size_t *ret_len)
{
	size_t len = 0;
	char *s;

	for (size_t i = 0; i < sizeof(own_lines) / sizeof(own_lines[0]); i++)
		len += strlen(own_lines[i]) + 1;
	s = malloc(len + 1);
	cr_assert_not_null(s);
	s[0] = '\0';
	for (size_t i = 0, off = 0; i < sizeof(own_lines) / sizeof(own_lines[0]); i++) {
		size_t n = strlen(own_lines[i]);

		memcpy(s + off, own_lines[i], n);
		s[off + n] = '\n';
		off += n + 1;
	}
	s[len] = '\0';
	*ret_len = len;
	return s;
}

Test(k8s_watch, whole_stream_in_one_chunk)
{
	struct recorder got = {0}, want;
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 1 << 20, record, &got);
	size_t len;
	char *s = own_stream(&len);

	cr_assert_eq(k8s_watch_feed(p, s, len), 0);
	want_own(&want);
	assert_same(&got, &want, "one chunk");
	cr_assert_eq(k8s_watch_get_stats(p)->lines, 5);
	cr_assert_eq(k8s_watch_get_stats(p)->bytes, len);
	cr_assert_eq(k8s_watch_get_stats(p)->events[K8S_WATCH_BOOKMARK], 1);
	cr_assert_eq(k8s_watch_get_stats(p)->events[K8S_WATCH_ERROR], 1);
	cr_assert_eq(k8s_watch_get_stats(p)->malformed, 0);
	cr_assert_not(k8s_watch_finish(p));
	k8s_watch_parser_free(p);
	free(s);
}

Test(k8s_watch, every_two_way_split)
{
	struct recorder want;
	size_t len;
	char *s = own_stream(&len);

	want_own(&want);
	for (size_t cut = 0; cut <= len; cut++) {
		struct recorder got = {0};
		struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 1 << 20, record, &got);
		char ctx[32];

		snprintf(ctx, sizeof(ctx), "cut at %zu", cut);
		cr_assert_eq(k8s_watch_feed(p, s, cut), 0);
		cr_assert_eq(k8s_watch_feed(p, s + cut, len - cut), 0);
		assert_same(&got, &want, ctx);
		cr_assert_not(k8s_watch_finish(p), "%s: no tail expected", ctx);
		k8s_watch_parser_free(p);
	}
	free(s);
}

Test(k8s_watch, every_three_way_split_of_two_lines)
{
	/* lines 2 and 3 of own_lines: every pair of cuts, so a line spans three chunks */
	char s[1024];
	size_t len = (size_t)snprintf(s, sizeof(s), "%s\n%s\n", own_lines[2], own_lines[3]);
	struct recorder all, want = {0};

	want_own(&all);
	want.r[0] = all.r[2];
	want.r[1] = all.r[3];
	want.n = 2;
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			struct recorder got = {0};
			struct k8s_watch_parser *p =
				k8s_watch_parser_new("pods", 4096, record, &got);

			cr_assert_eq(k8s_watch_feed(p, s, a), 0);
			cr_assert_eq(k8s_watch_feed(p, s + a, b - a), 0);
			cr_assert_eq(k8s_watch_feed(p, s + b, len - b), 0);
			cr_assert_eq(got.n, 2, "cuts %zu,%zu: %zu events", a, b, got.n);
			assert_same(&got, &want, "three-way");
			k8s_watch_parser_free(p);
		}
	}
}

Test(k8s_watch, byte_by_byte)
{
	struct recorder got = {0}, want;
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 1 << 20, record, &got);
	size_t len;
	char *s = own_stream(&len);

	for (size_t i = 0; i < len; i++)
		cr_assert_eq(k8s_watch_feed(p, s + i, 1), 0);
	want_own(&want);
	assert_same(&got, &want, "byte by byte");
	k8s_watch_parser_free(p);
	free(s);
}

Test(k8s_watch, crlf_and_blank_lines)
{
	static const char s[] = "\n\r\n{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
				"\"resourceVersion\":\"7\"}}}\r\n\n";
	struct recorder got = {0};
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 4096, record, &got);

	cr_assert_eq(k8s_watch_feed(p, s, sizeof(s) - 1), 0);
	cr_assert_eq(got.n, 1);
	cr_assert_eq(got.r[0].type, K8S_WATCH_BOOKMARK);
	cr_assert_str_eq(got.r[0].rv, "7");
	cr_assert_eq(got.r[0].line_bytes, strlen(s) - 6); /* no \n\r\n before, \r\n\n after */
	cr_assert_eq(k8s_watch_get_stats(p)->malformed, 0);
	cr_assert_eq(k8s_watch_get_stats(p)->lines, 4);
	k8s_watch_parser_free(p);
}

Test(k8s_watch, bookmark_moves_only_the_version)
{
	static const char s[] =
		"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		"\"metadata\":{\"resourceVersion\":\"3845\",\"creationTimestamp\":null},\"spec\":{"
		"\"containers\":null},\"status\":{}}}\n"
		"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}\n";
	struct recorder got = {0};
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 4096, record, &got);

	cr_assert_eq(k8s_watch_feed(p, s, sizeof(s) - 1), 0);
	cr_assert_eq(got.n, 2);
	cr_assert_eq(got.r[0].type, K8S_WATCH_BOOKMARK);
	cr_assert_str_eq(got.r[0].rv, "3845");
	cr_assert_str_eq(got.r[0].name, "");
	cr_assert_str_eq(got.r[1].rv, ""); /* no version: NULL, the caller keeps its own */
	k8s_watch_parser_free(p);
}

Test(k8s_watch, error_410_stops_the_stream)
{
	size_t len;
	char *s = own_stream(&len);
	static const char more[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\","
				   "\"resourceVersion\":\"999\"}}}\n";
	struct recorder got = {.stop_on_error = 7};
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 1 << 20, record, &got);
	char *joined = malloc(len + sizeof(more));

	/* the ERROR line is followed by one more event in the same chunk: it must not arrive */
	memcpy(joined, s, len);
	memcpy(joined + len, more, sizeof(more));
	cr_assert_eq(k8s_watch_feed(p, joined, len + sizeof(more) - 1), 7);
	cr_assert_eq(got.n, 5);
	cr_assert_eq(got.r[4].type, K8S_WATCH_ERROR);
	cr_assert_eq(got.r[4].code, 410);
	cr_assert_str_eq(got.r[4].reason, "Expired");
	cr_assert_eq(k8s_watch_feed(p, more, sizeof(more) - 1), -ECANCELED);
	cr_assert_eq(got.n, 5);
	cr_assert_not(k8s_watch_finish(p)); /* finish resets */
	cr_assert_eq(k8s_watch_feed(p, more, sizeof(more) - 1), 0);
	cr_assert_eq(got.n, 6);
	cr_assert_str_eq(got.r[5].rv, "999");
	k8s_watch_parser_free(p);
	free(joined);
	free(s);
}

Test(k8s_watch, error_without_status_fields)
{
	static const char s[] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
				"\"message\":\"etcd timeout\"}}\n"
				"{\"type\":\"ERROR\",\"object\":{}}\n";
	struct recorder got = {0};
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 4096, record, &got);

	cr_assert_eq(k8s_watch_feed(p, s, sizeof(s) - 1), 0);
	cr_assert_eq(got.n, 2);
	cr_assert_eq(got.r[0].code, 500);
	cr_assert_str_eq(got.r[0].reason, "");
	cr_assert_eq(got.r[1].code, 0);
	k8s_watch_parser_free(p);
}

Test(k8s_watch, malformed_and_unknown_lines_are_skipped)
{
	static const char *const bad[] = {
		"{not json}",
		"[1,2,3]",
		"\"just a string\"",
		"{\"type\":\"ADDED\"}",
		"{\"object\":{}}",
		"{\"type\":5,\"object\":{}}",
		"{\"type\":\"ADDED\",\"object\":[]}",
		"{\"type\":\"ADDED\",\"object\":{}} trailing",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"cut",
		"\x01\x02\xff\xfe",
	};
	static const char good[] =
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"ok\","
		"\"resourceVersion\":\"5\"}}}";
	static const char unknown[] = "{\"type\":\"SYNC\",\"object\":{}}";
	char s[4096];
	size_t len = 0;
	struct recorder got = {0};
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 4096, record, &got);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		len += (size_t)snprintf(s + len, sizeof(s) - len, "%s\n%s\n", bad[i], good);
	len += (size_t)snprintf(s + len, sizeof(s) - len, "%s\n%s\n", unknown, good);
	cr_assert_eq(k8s_watch_feed(p, s, len), 0);
	cr_assert_eq(got.n, sizeof(bad) / sizeof(bad[0]) + 1);
	for (size_t i = 0; i < got.n; i++) {
		cr_assert_eq(got.r[i].type, K8S_WATCH_MODIFIED);
		cr_assert_str_eq(got.r[i].name, "ok");
	}
	cr_assert_eq(k8s_watch_get_stats(p)->malformed, sizeof(bad) / sizeof(bad[0]));
	cr_assert_eq(k8s_watch_get_stats(p)->unknown_type, 1);
	cr_assert_eq(k8s_watch_get_stats(p)->events[K8S_WATCH_MODIFIED], got.n);
	k8s_watch_parser_free(p);
}

/* {"type":"ADDED","object":{"metadata":{"name":"<pad>"}}} of exactly total bytes. */
static char *line_of(size_t total)
{
	static const char head[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"";
	static const char tail[] = "\"}}}";
	size_t pad = total - (sizeof(head) - 1) - (sizeof(tail) - 1);
	char *s = malloc(total + 1);

	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, 'n', pad);
	memcpy(s + sizeof(head) - 1 + pad, tail, sizeof(tail));
	cr_assert_eq(strlen(s), total);
	return s;
}

static void feed_line(struct k8s_watch_parser *p, const char *line, size_t chunk)
{
	size_t n = strlen(line);

	for (size_t off = 0; off < n; off += chunk)
		cr_assert_eq(k8s_watch_feed(p, line + off, chunk < n - off ? chunk : n - off), 0);
	cr_assert_eq(k8s_watch_feed(p, "\n", 1), 0);
}

Test(k8s_watch, oversized_lines_are_counted_and_skipped)
{
	const size_t max = 200;
	char *fits = line_of(max), *over = line_of(max + 1), *huge = line_of(5000);
	static const size_t chunks[] = {1, 7, 64, 199, 200, 201, 100000};

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct recorder got = {0};
		struct k8s_watch_parser *p = k8s_watch_parser_new("pods", max, record, &got);

		feed_line(p, fits, chunks[c]);
		feed_line(p, over, chunks[c]);
		feed_line(p, huge, chunks[c]);
		feed_line(p, fits, chunks[c]);
		cr_assert_eq(got.n, 2, "chunk %zu: %zu events", chunks[c], got.n);
		cr_assert_eq(got.r[0].line_bytes, max);
		cr_assert_eq(got.r[1].line_bytes, max);
		cr_assert_eq(k8s_watch_get_stats(p)->oversized, 2, "chunk %zu", chunks[c]);
		cr_assert_eq(k8s_watch_get_stats(p)->malformed, 0, "chunk %zu", chunks[c]);
		k8s_watch_parser_free(p);
	}
	free(fits);
	free(over);
	free(huge);
}

Test(k8s_watch, unterminated_tail_is_truncated_not_parsed)
{
	static const char s[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
				"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}";
	struct recorder got = {0};
	struct k8s_watch_parser *p = k8s_watch_parser_new("pods", 4096, record, &got);

	cr_assert_eq(k8s_watch_feed(p, s, sizeof(s) - 1), 0);
	cr_assert_eq(got.n, 1);
	cr_assert(k8s_watch_finish(p));
	cr_assert_eq(got.n, 1);
	cr_assert_eq(k8s_watch_get_stats(p)->truncated, 1);
	/* a new stream starts clean: the old tail must not glue onto it */
	cr_assert_eq(k8s_watch_feed(p, s, (size_t)(strchr(s, '\n') - s) + 1), 0);
	cr_assert_eq(got.n, 2);
	cr_assert_str_eq(got.r[1].name, "a");
	k8s_watch_parser_free(p);
}

/* ---- fixtures: real watch lines ---------------------------------------------------------- */

static char *fixture(const char *rel, size_t *ret_len)
{
	const char *dir = getenv("LF_K8S_FIXTURES");
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : LF_TOP_SRCDIR "/../shared/fixtures/k8s",
		 rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

/* The event a line must give, read with jansson directly (no splitting involved). */
static void expect_from_line(const char *line, size_t len, struct rec *r)
{
	json_t *root = json_loadb(line, len, 0, NULL);
	const json_t *obj = json_object_get(root, "object");
	const json_t *md = json_object_get(obj, "metadata");
	const char *t;

	cr_assert_not_null(root, "fixture line is not JSON");
	t = json_string_value(json_object_get(root, "type"));
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < K8S_WATCH_TYPE_COUNT; i++)
		if (strcmp(t, k8s_watch_type_name((enum k8s_watch_type)i)) == 0)
			r->type = (enum k8s_watch_type)i;
	copy(r->rv, sizeof(r->rv), json_string_value(json_object_get(md, "resourceVersion")));
	copy(r->name, sizeof(r->name), json_string_value(json_object_get(md, "name")));
	copy(r->pod_ip, sizeof(r->pod_ip),
	     json_string_value(json_object_get(json_object_get(obj, "status"), "podIP")));
	if (r->type == K8S_WATCH_ERROR) {
		r->code = json_integer_value(json_object_get(obj, "code"));
		copy(r->reason, sizeof(r->reason),
		     json_string_value(json_object_get(obj, "reason")));
	}
	r->line_bytes = len;
	json_decref(root);
}

/*
 * Every line of the file, split at every byte position of its first and last 64 bytes and
 * every 11th byte in between (the '\n' included), gives the event jansson reads from it;
 * the whole file fed byte by byte gives all of them in order. (Every position of these
 * multi-kilobyte lines is too slow under the sanitizers; the synthetic tests above split
 * short lines at every position.)
 */
static void check_fixture(const char *rel, struct recorder *ret_all)
{
	size_t len, start = 0;
	char *s = fixture(rel, &len);
	struct recorder want = {0}, got = {0};
	struct k8s_watch_parser *p;

	if (!s)
		cr_skip_test("fixture %s not found (set LF_K8S_FIXTURES)", rel);
	while (start < len) {
		const char *nl = memchr(s + start, '\n', len - start);
		size_t n;

		cr_assert_not_null(nl, "%s: last line unterminated", rel);
		n = (size_t)(nl - (s + start));
		expect_from_line(s + start, n, &want.r[want.n]);
		for (size_t cut = 0; cut <= n + 1; cut += (cut < 64 || cut + 64 > n) ? 1 : 11) {
			struct recorder one = {0}, w1 = {.n = 1};

			p = k8s_watch_parser_new("pods", 1 << 20, record, &one);
			w1.r[0] = want.r[want.n];
			cr_assert_eq(k8s_watch_feed(p, s + start, cut), 0);
			cr_assert_eq(k8s_watch_feed(p, s + start + cut, n + 1 - cut), 0);
			assert_same(&one, &w1, rel);
			k8s_watch_parser_free(p);
		}
		want.n++;
		start += n + 1;
	}
	p = k8s_watch_parser_new("pods", 1 << 20, record, &got);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(k8s_watch_feed(p, s + i, 1), 0);
	assert_same(&got, &want, "byte by byte");
	cr_assert_eq(k8s_watch_get_stats(p)->malformed + k8s_watch_get_stats(p)->unknown_type, 0);
	k8s_watch_parser_free(p);
	free(s);
	*ret_all = got;
}

Test(k8s_watch, fixture_kind_pod_watch, .timeout = 120)
{
	static const enum k8s_watch_type types[] = {K8S_WATCH_ADDED,	K8S_WATCH_ADDED,
						    K8S_WATCH_MODIFIED, K8S_WATCH_MODIFIED,
						    K8S_WATCH_MODIFIED, K8S_WATCH_DELETED};
	struct recorder all;

	check_fixture("watch/pods-watch-kind-2023.jsonl", &all);
	/* facts from fixtures/k8s/README.md */
	cr_assert_eq(all.n, 6);
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(all.r[i].type, types[i], "event %zu", i);
	cr_assert_str_eq(all.r[5].pod_ip, all.r[4].pod_ip); /* DELETED still carries the IP */
	cr_assert(strcmp(all.r[5].pod_ip, "10.244.0.6") == 0 ||
		  strcmp(all.r[5].pod_ip, "10.244.0.8") == 0);
	for (size_t i = 0; i < 6; i++)
		cr_assert_neq(all.r[i].rv[0], '\0', "event %zu has no resourceVersion", i);
}

Test(k8s_watch, fixture_control_events)
{
	struct recorder all;

	check_fixture("constructed/watch-control-events.jsonl", &all);
	cr_assert_eq(all.n, 4);
	cr_assert_eq(all.r[0].type, K8S_WATCH_BOOKMARK);
	cr_assert_str_eq(all.r[0].rv, "12746");
	cr_assert_str_eq(all.r[1].rv, "3845");
	cr_assert_str_eq(all.r[2].rv, "184203");
	cr_assert_eq(all.r[3].type, K8S_WATCH_ERROR);
	cr_assert_eq(all.r[3].code, 410);
	cr_assert_str_eq(all.r[3].reason, "Expired");
}
