/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_watch: the Kubernetes WATCH stream parser, internal to the Kubernetes client (k8s.c).
 * The API server sends one JSON event per '\n'-terminated line over a chunked response;
 * chunks cut lines anywhere. The parser reassembles lines (bounded by max_line_bytes),
 * decodes {"type": ..., "object": {...}} with jansson and hands each event to a callback.
 * It does no I/O and keeps no clock, so tests can feed it bytes split at every position.
 */
#ifndef LABELFLOW_K8S_WATCH_H
#define LABELFLOW_K8S_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum k8s_watch_type {
	K8S_WATCH_ADDED = 0,
	K8S_WATCH_MODIFIED,
	K8S_WATCH_DELETED,
	K8S_WATCH_BOOKMARK,
	K8S_WATCH_ERROR,
	K8S_WATCH_TYPE_COUNT,
};

/* One decoded event; every pointer is borrowed for the duration of the callback only. */
struct k8s_watch_event {
	enum k8s_watch_type type;
	const json_t *object;	      /* the event's "object" (a JSON object) */
	const char *resource_version; /* object.metadata.resourceVersion, or NULL */
	size_t line_bytes;	      /* the line's size on the wire, without '\n' */
	/* ERROR only (the object is a Status): */
	int64_t error_code;	  /* Status.code, e.g. 410; 0 when absent */
	const char *error_reason; /* Status.reason, e.g. "Expired"; NULL when absent */
	const char *error_message;
};

/*
 * Called once per event, in stream order. Return 0 to go on; any other value stops the
 * parser: k8s_watch_feed() returns that value, drops the rest of its input, and the parser
 * ignores further input until k8s_watch_reset().
 */
typedef int (*k8s_watch_cb)(const struct k8s_watch_event *ev, void *user);

struct k8s_watch_stats {
	uint64_t bytes;			       /* fed */
	uint64_t lines;			       /* complete lines seen (blank ones too) */
	uint64_t events[K8S_WATCH_TYPE_COUNT]; /* delivered, by type */
	uint64_t malformed;		       /* not JSON, or no "type"/"object" */
	uint64_t unknown_type;		       /* a "type" we do not know */
	uint64_t oversized;		       /* lines over max_line_bytes, skipped */
	uint64_t truncated;		       /* unterminated tail at k8s_watch_finish() */
};

struct k8s_watch_parser;

/*
 * name (e.g. "pods") is copied and used in messages only. max_line_bytes bounds one line
 * (and so the memory held for a partial line). cb is called from k8s_watch_feed().
 */
struct k8s_watch_parser *k8s_watch_parser_new(const char *name, size_t max_line_bytes,
					      k8s_watch_cb cb, void *user);
void k8s_watch_parser_free(struct k8s_watch_parser *p);

/* Start a new stream: drop any partial line and the stopped state. Stats are kept. */
void k8s_watch_reset(struct k8s_watch_parser *p);

/*
 * Feed the next bytes of the stream. Complete lines are parsed and delivered before it
 * returns; a partial line is kept for the next call. Malformed lines, unknown types and
 * oversized lines are counted, logged once per parser, and skipped. Returns 0, or the
 * callback's non-zero value (or -ECANCELED when already stopped).
 */
int k8s_watch_feed(struct k8s_watch_parser *p, const char *data, size_t len);

/*
 * End of stream. An unterminated tail (the connection was cut mid-event) is counted as
 * truncated and dropped, never parsed. The parser is reset. Returns true if there was one.
 */
bool k8s_watch_finish(struct k8s_watch_parser *p);

const struct k8s_watch_stats *k8s_watch_get_stats(const struct k8s_watch_parser *p);

/* "ADDED", "MODIFIED", ... */
const char *k8s_watch_type_name(enum k8s_watch_type t);

#endif
