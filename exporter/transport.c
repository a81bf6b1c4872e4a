// SPDX-License-Identifier: Apache-2.0
/*
 * transport: moves finished IPFIX messages to one collector without ever blocking the
 * capture thread. Files are written in place; UDP sends one datagram per message; TCP
 * connects and writes non-blocking, with a bounded ring of owned message copies that
 * absorbs outages. The latest template set is cached and replayed (headers patched) on
 * every new TCP connection and periodically over UDP, as RFC 7011 section 8 requires.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "transport.h"

/* Template messages one set may span (a 64 KiB set in 1 KiB messages), cached and queued. */
#define TRANSPORT_MAX_TEMPLATE_MSGS 64
#define IPFIX_HDR_LEN		    16
#define TCP_CONNECT_TIMEOUT_MS	    10000

/* One message: an owned buffer, reused for later messages (no allocation once warm). */
struct qmsg {
	uint8_t *buf; /* owned; cap bytes */
	size_t cap;
	size_t len;
	uint32_t n_records; /* data/options records inside (header sequence to seq_after) */
	bool is_template;
};

enum tcp_state {
	TCP_DOWN = 0,	/* no socket; next attempt at next_attempt_ms */
	TCP_CONNECTING, /* non-blocking connect in progress */
	TCP_UP,
};

struct transport {
	struct transport_spec spec;
	struct transport_config config;
	char name[300]; /* spec in human form, for messages */
	int fd;		/* owned (except standard output); -1 when closed */

	/*
	 * Send queue (UDP/TCP): a ring of qmsg slots, in wire order from head. Slots are
	 * allocated as needed, up to queue_msgs data messages plus room for one template
	 * set. head_off bytes of the head message are already written (TCP only).
	 */
	struct qmsg *ring; /* owned; ring_cap slots */
	size_t ring_cap, ring_max, head, count, head_off;
	size_t n_data_queued;

	/* The latest template set: a run of consecutive template messages. */
	struct qmsg tmpl[TRANSPORT_MAX_TEMPLATE_MSGS];
	size_t n_tmpl;
	bool last_was_template; /* the previous handed-over message was a template one */
	uint32_t next_seq;	/* seq_after of the last message handed over */
	uint64_t now_ms;	/* latest time seen from the caller */

	/* UDP template refresh */
	uint64_t tmpl_sent_ms;
	uint32_t data_since_tmpl;

	/* TCP connection */
	enum tcp_state state;
	uint64_t next_attempt_ms;
	uint64_t connect_started_ms;
	uint32_t backoff_ms;
	unsigned int rand_state;
	bool logged_failure; /* since the last successful connect */
	bool logged_send_error;

	struct transport_stats stats;
};

/* ---- parsing ------------------------------------------------------------------------ */

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
	size_t host_len;

	memset(&s, 0, sizeof(s));
	if (!text || !(colon = strchr(text, ':')))
		return parse_fail(errbuf, errbuf_size,
				  "expected file:PATH, udp:HOST:PORT or tcp:HOST:PORT");
	rest = colon + 1;
	if ((size_t)(colon - text) == 4 && strncmp(text, "file", 4) == 0) {
		if (!*rest)
			return parse_fail(errbuf, errbuf_size, "missing file path");
		if (strlen(rest) >= sizeof(s.path))
			return parse_fail(errbuf, errbuf_size, "file path too long");
		s.kind = TRANSPORT_FILE;
		memcpy(s.path, rest, strlen(rest) + 1);
		*ret_spec = s;
		return 0;
	}
	if ((size_t)(colon - text) == 3 && strncmp(text, "udp", 3) == 0)
		s.kind = TRANSPORT_UDP;
	else if ((size_t)(colon - text) == 3 && strncmp(text, "tcp", 3) == 0)
		s.kind = TRANSPORT_TCP;
	else
		return parse_fail(errbuf, errbuf_size,
				  "unknown scheme '%.*s' (use file:, udp: or tcp:)",
				  (int)(colon - text), text);

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
	const char *scheme = spec->kind == TRANSPORT_UDP ? "udp" : "tcp";

	if (spec->kind == TRANSPORT_FILE)
		snprintf(buf, buf_size, "file:%s", spec->path);
	else if (strchr(spec->host, ':'))
		snprintf(buf, buf_size, "%s:[%s]:%s", scheme, spec->host, spec->port);
	else
		snprintf(buf, buf_size, "%s:%s:%s", scheme, spec->host, spec->port);
	return buf;
}

/* ---- messages ----------------------------------------------------------------------- */

static uint32_t hdr_seq(const uint8_t *msg, size_t len)
{
	uint32_t v = 0;

	if (len >= IPFIX_HDR_LEN)
		memcpy(&v, msg + 8, 4);
	return ntohl(v);
}

/* RFC 7011 header: export time at offset 4, sequence number at 8. */
static void patch_header(struct qmsg *m, uint32_t seq, uint64_t now_ms)
{
	uint32_t t = htonl((uint32_t)(now_ms / 1000)), s = htonl(seq);

	if (m->len < IPFIX_HDR_LEN)
		return;
	memcpy(m->buf + 4, &t, 4);
	memcpy(m->buf + 8, &s, 4);
}

static int qmsg_set(struct qmsg *m, const uint8_t *msg, size_t len, uint32_t seq_after,
		    bool is_template)
{
	if (m->cap < len) {
		uint8_t *b = realloc(m->buf, len);

		if (!b)
			return -ENOMEM;
		m->buf = b;
		m->cap = len;
	}
	memcpy(m->buf, msg, len);
	m->len = len;
	m->n_records = seq_after - hdr_seq(msg, len);
	m->is_template = is_template;
	return 0;
}

static struct qmsg *ring_at(struct transport *t, size_t i)
{
	return &t->ring[(t->head + i) % t->ring_cap];
}

/* Make room for one more slot: grow (doubling, up to ring_max) when full. */
static int ring_reserve(struct transport *t)
{
	struct qmsg *n;
	size_t cap;

	if (t->count < t->ring_cap)
		return 0;
	if (t->ring_cap >= t->ring_max)
		return -ENOBUFS;
	cap = t->ring_cap ? t->ring_cap * 2 : 16;
	if (cap > t->ring_max)
		cap = t->ring_max;
	n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	/* Unroll into the new array in queue order; spare slots keep their buffers. */
	for (size_t i = 0; i < t->ring_cap; i++)
		n[i] = t->ring[(t->head + i) % t->ring_cap];
	free(t->ring);
	t->ring = n;
	t->ring_cap = cap;
	t->head = 0;
	return 0;
}

static int ring_push_back(struct transport *t, const uint8_t *msg, size_t len, uint32_t seq_after,
			  bool is_template)
{
	int ret = ring_reserve(t);

	if (ret < 0)
		return ret;
	ret = qmsg_set(ring_at(t, t->count), msg, len, seq_after, is_template);
	if (ret < 0)
		return ret;
	t->count++;
	t->n_data_queued += !is_template;
	t->stats.queued = t->count;
	return 0;
}

/* Only with head_off == 0: nothing of the head message is on the wire yet. */
static int ring_push_front(struct transport *t, const struct qmsg *src)
{
	struct qmsg *m;
	int ret = ring_reserve(t);

	if (ret < 0)
		return ret;
	t->head = (t->head + t->ring_cap - 1) % t->ring_cap;
	m = &t->ring[t->head];
	t->count++;
	ret = qmsg_set(m, src->buf, src->len, hdr_seq(src->buf, src->len) + src->n_records, true);
	if (ret < 0) {
		t->head = (t->head + 1) % t->ring_cap;
		t->count--;
		return ret;
	}
	t->stats.queued = t->count;
	return 0;
}

static void ring_pop(struct transport *t)
{
	t->n_data_queued -= !ring_at(t, 0)->is_template;
	t->head = (t->head + 1) % t->ring_cap;
	t->count--;
	t->head_off = 0;
	t->stats.queued = t->count;
}

/* Remove queued template messages (a replay of the cache replaces them). */
static void ring_drop_templates(struct transport *t)
{
	size_t w = 0;

	for (size_t i = 0; i < t->count; i++) {
		struct qmsg *m = ring_at(t, i);

		if (m->is_template)
			continue;
		if (w != i) {
			struct qmsg tmp = *ring_at(t, w);

			*ring_at(t, w) = *m;
			*m = tmp;
		}
		w++;
	}
	t->count = w;
	t->stats.queued = t->count;
}

/* Sequence number of the first queued data message, or where the next one will start. */
static uint32_t next_data_seq(struct transport *t)
{
	for (size_t i = 0; i < t->count; i++) {
		struct qmsg *m = ring_at(t, i);

		if (!m->is_template)
			return hdr_seq(m->buf, m->len);
	}
	return t->next_seq;
}

/*
 * Patch the cached set for replay before a data message with sequence number seq. The
 * set's own records (RFC 5610 options records) are numbered so that the set ends exactly
 * at seq: the data stream's numbering stays gap-free for the collector.
 */
static void patch_template_set(struct transport *t, uint32_t seq)
{
	uint32_t total = 0;

	for (size_t i = 0; i < t->n_tmpl; i++)
		total += t->tmpl[i].n_records;
	seq -= total;
	for (size_t i = 0; i < t->n_tmpl; i++) {
		patch_header(&t->tmpl[i], seq, t->now_ms);
		seq += t->tmpl[i].n_records;
	}
}

/* ---- sockets ------------------------------------------------------------------------ */

static int resolve(struct transport *t, int socktype, struct addrinfo **ret_ai)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype};
	int rc = getaddrinfo(t->spec.host, t->spec.port, &hints, ret_ai);

	if (rc != 0) {
		if (!t->logged_failure)
			log_warn("export target '%s': cannot resolve '%s': %s", t->name,
				 t->spec.host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	return 0;
}

static void close_fd(struct transport *t)
{
	if (t->fd >= 0 && !(t->spec.kind == TRANSPORT_FILE && t->fd == STDOUT_FILENO))
		close(t->fd);
	t->fd = -1;
}

static void count_sent(struct transport *t, const struct qmsg *m)
{
	t->stats.msgs_sent++;
	t->stats.bytes_sent += m->len;
}

static void send_error(struct transport *t, int err)
{
	t->stats.send_errors++;
	if (!t->logged_send_error) {
		log_warn("export target '%s': send failed: %s (further errors only counted)",
			 t->name, strerror(err));
		t->logged_send_error = true;
	}
}

/* One datagram. Returns 0 (sent or dropped and counted) or -EAGAIN (try later). */
static int udp_send_one(struct transport *t, const struct qmsg *m)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (send(t->fd, m->buf, m->len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)m->len) {
			count_sent(t, m);
			return 0;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return -EAGAIN;
		if (errno == EINTR)
			continue;
		/*
		 * ECONNREFUSED reports an ICMP error for an earlier datagram (collector not
		 * listening yet): count it; this datagram was not sent, so try it once more.
		 */
		send_error(t, errno);
		if (errno != ECONNREFUSED)
			return 0;
	}
	return 0;
}

static void udp_send_templates(struct transport *t, uint32_t seq)
{
	if (!t->n_tmpl)
		return;
	patch_template_set(t, seq);
	for (size_t i = 0; i < t->n_tmpl; i++)
		udp_send_one(t, &t->tmpl[i]);
	t->stats.template_sends++;
	t->tmpl_sent_ms = t->now_ms;
	t->data_since_tmpl = 0;
}

static bool udp_refresh_due(const struct transport *t)
{
	if (!t->n_tmpl)
		return false;
	if (t->config.template_refresh_msgs &&
	    t->data_since_tmpl >= t->config.template_refresh_msgs)
		return true;
	return t->config.template_refresh_ms &&
	       t->now_ms >= t->tmpl_sent_ms + t->config.template_refresh_ms;
}

static void udp_flush(struct transport *t)
{
	while (t->count) {
		struct qmsg *m = ring_at(t, 0);

		if (!m->is_template && udp_refresh_due(t))
			udp_send_templates(t, hdr_seq(m->buf, m->len));
		if (udp_send_one(t, m) == -EAGAIN)
			return;
		if (!m->is_template)
			t->data_since_tmpl++;
		ring_pop(t);
	}
}

static void tcp_schedule_retry(struct transport *t)
{
	uint32_t b = t->backoff_ms ? t->backoff_ms : 1;
	uint32_t delay = b / 2 + (uint32_t)rand_r(&t->rand_state) % (b / 2 + 1);

	t->next_attempt_ms = t->now_ms + delay;
	t->backoff_ms = b >= t->config.reconnect_max_ms / 2 ? t->config.reconnect_max_ms : b * 2;
	if (t->backoff_ms < t->config.reconnect_min_ms)
		t->backoff_ms = t->config.reconnect_min_ms;
}

static void tcp_down(struct transport *t, const char *why, int err)
{
	bool was_up = t->state == TCP_UP;

	close_fd(t);
	t->state = TCP_DOWN;
	t->head_off = 0; /* a half-written message is resent whole */
	ring_drop_templates(t);
	if (was_up) {
		log_warn("export target '%s': connection lost (%s%s%s); queueing up to %u messages",
			 t->name, why, err ? ": " : "", err ? strerror(err) : "",
			 t->config.queue_msgs);
		t->logged_failure = false;
		t->backoff_ms = t->config.reconnect_min_ms;
	} else {
		t->stats.connect_failures++;
		if (!t->logged_failure)
			log_warn("export target '%s': cannot connect (%s%s%s); retrying with "
				 "backoff",
				 t->name, why, err ? ": " : "", err ? strerror(err) : "");
		t->logged_failure = true;
	}
	tcp_schedule_retry(t);
}

static void tcp_flush(struct transport *t)
{
	while (t->state == TCP_UP && t->count) {
		struct qmsg *m = ring_at(t, 0);
		ssize_t n = send(t->fd, m->buf + t->head_off, m->len - t->head_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				t->stats.send_errors++;
				tcp_down(t, "send", errno);
			}
			return;
		}
		t->head_off += (size_t)n;
		if (t->head_off < m->len)
			return;
		count_sent(t, m);
		ring_pop(t);
	}
}

static void tcp_up(struct transport *t)
{
	t->state = TCP_UP;
	t->stats.connects++;
	t->backoff_ms = t->config.reconnect_min_ms;
	if (t->logged_failure || t->stats.connects > 1)
		log_info("export target '%s': connected", t->name);
	t->logged_failure = false;
	t->logged_send_error = false;
	/* The template set goes first on every connection, then the queue. */
	if (t->n_tmpl) {
		patch_template_set(t, next_data_seq(t));
		for (size_t i = t->n_tmpl; i-- > 0;) {
			if (ring_push_front(t, &t->tmpl[i]) < 0) {
				tcp_down(t, "out of memory for templates", 0);
				return;
			}
		}
		t->stats.template_sends++;
	}
	tcp_flush(t);
}

static void tcp_connect(struct transport *t)
{
	struct addrinfo *ai = NULL;
	int fd;

	if (resolve(t, SOCK_STREAM, &ai) < 0) {
		t->logged_failure = true;
		tcp_down(t, "name resolution", 0);
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		tcp_down(t, "socket", errno);
		return;
	}
	t->fd = fd;
	t->connect_started_ms = t->now_ms;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		freeaddrinfo(ai);
		tcp_up(t);
		return;
	}
	freeaddrinfo(ai);
	if (errno == EINPROGRESS) {
		t->state = TCP_CONNECTING;
		return;
	}
	tcp_down(t, "connect", errno);
}

/* A connect in progress: finished? Waits up to wait_ms for it. */
static void tcp_check_connect(struct transport *t, int wait_ms)
{
	struct pollfd p = {.fd = t->fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int err = 0;

	if (poll(&p, 1, wait_ms) <= 0) {
		/* Give up on a connect that hangs (filtered port); backoff then retries. */
		if (t->now_ms >= t->connect_started_ms + TCP_CONNECT_TIMEOUT_MS)
			tcp_down(t, "connect", ETIMEDOUT);
		return;
	}
	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		tcp_down(t, "connect", err);
		return;
	}
	tcp_up(t);
}

/* Collectors send nothing over IPFIX/TCP: readable means closed (or junk to discard). */
static void tcp_check_peer(struct transport *t)
{
	struct pollfd p = {.fd = t->fd, .events = POLLIN};
	uint8_t sink[512];

	while (t->state == TCP_UP && poll(&p, 1, 0) > 0) {
		ssize_t n = recv(t->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		tcp_down(t, n == 0 ? "closed by the collector" : "receive", n == 0 ? 0 : errno);
	}
}

/* ---- file --------------------------------------------------------------------------- */

static int file_write(struct transport *t, const uint8_t *msg, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(t->fd, msg + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			send_error(t, n < 0 ? errno : EIO);
			return -EIO;
		}
		off += (size_t)n;
	}
	t->stats.msgs_sent++;
	t->stats.bytes_sent += len;
	return 0;
}

/* ---- public ------------------------------------------------------------------------- */

struct transport *transport_new(const struct transport_spec *spec,
				const struct transport_config *config)
{
	struct transport *t = calloc(1, sizeof(*t));
	struct addrinfo *ai = NULL;

	if (!t) {
		log_error("export: out of memory for a transport");
		return NULL;
	}
	t->spec = *spec;
	t->config = *config;
	t->fd = -1;
	transport_spec_str(spec, t->name, sizeof(t->name));
	if (t->config.queue_msgs == 0)
		t->config.queue_msgs = 1;
	if (t->config.reconnect_min_ms == 0)
		t->config.reconnect_min_ms = 1;
	if (t->config.reconnect_max_ms < t->config.reconnect_min_ms)
		t->config.reconnect_max_ms = t->config.reconnect_min_ms;
	t->ring_max = (size_t)t->config.queue_msgs + TRANSPORT_MAX_TEMPLATE_MSGS;
	t->backoff_ms = t->config.reconnect_min_ms;
	t->rand_state = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)t;

	switch (spec->kind) {
	case TRANSPORT_FILE:
		if (strcmp(spec->path, "-") == 0) {
			t->fd = STDOUT_FILENO;
			break;
		}
		t->fd = open(spec->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (t->fd < 0) {
			log_error("export target '%s': cannot open: %s", t->name, strerror(errno));
			goto fail;
		}
		break;
	case TRANSPORT_UDP:
		if (resolve(t, SOCK_DGRAM, &ai) < 0)
			goto fail;
		t->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (t->fd < 0 || connect(t->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			log_error("export target '%s': %s", t->name, strerror(errno));
			freeaddrinfo(ai);
			goto fail;
		}
		freeaddrinfo(ai);
		break;
	case TRANSPORT_TCP:
		tcp_connect(t); /* failures are retried with backoff, not fatal */
		break;
	default:
		log_error("export: unknown transport kind %d", spec->kind);
		goto fail;
	}
	return t;
fail:
	transport_free(t, 0);
	return NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void transport_drain(struct transport *t, uint32_t linger_ms)
{
	if (!t)
		return;
	if (t->spec.kind == TRANSPORT_UDP && t->fd >= 0) {
		udp_flush(t);
	} else if (t->spec.kind == TRANSPORT_TCP) {
		uint64_t start = mono_ms(), base = t->now_ms, now;

		/* Keeps reconnecting with backoff: a collector that comes (back) up gets the queue.
		 */
		while ((now = mono_ms()) < start + linger_ms && t->count) {
			int wait = (int)(start + linger_ms - now);

			t->now_ms = base + (now - start);
			if (t->state == TCP_DOWN) {
				if (t->now_ms < t->next_attempt_ms) {
					uint64_t nap = t->next_attempt_ms - t->now_ms;

					poll(NULL, 0, nap < (uint64_t)wait ? (int)nap : wait);
					continue;
				}
				tcp_connect(t);
			} else if (t->state == TCP_CONNECTING) {
				tcp_check_connect(t, wait);
			} else {
				struct pollfd p = {.fd = t->fd, .events = POLLOUT};

				tcp_check_peer(t);
				if (t->state == TCP_UP && poll(&p, 1, wait) > 0)
					tcp_flush(t);
			}
		}
		if (t->count)
			log_warn("export target '%s': %zu messages not delivered", t->name,
				 t->count);
	}
}

void transport_free(struct transport *t, uint32_t linger_ms)
{
	if (!t)
		return;
	transport_drain(t, linger_ms);
	close_fd(t);
	for (size_t i = 0; i < t->ring_cap; i++)
		free(t->ring[i].buf);
	free(t->ring);
	for (size_t i = 0; i < TRANSPORT_MAX_TEMPLATE_MSGS; i++)
		free(t->tmpl[i].buf);
	free(t);
}

/* Add a template message to the cache; a new run of template messages replaces the set. */
static int cache_template(struct transport *t, const uint8_t *msg, size_t len, uint32_t seq_after)
{
	if (!t->last_was_template)
		t->n_tmpl = 0;
	if (t->n_tmpl == TRANSPORT_MAX_TEMPLATE_MSGS) {
		log_error("export target '%s': template set longer than %d messages; not cached",
			  t->name, TRANSPORT_MAX_TEMPLATE_MSGS);
		return -E2BIG;
	}
	if (qmsg_set(&t->tmpl[t->n_tmpl], msg, len, seq_after, true) < 0)
		return -ENOMEM;
	t->n_tmpl++;
	return 0;
}

int transport_send(struct transport *t, const uint8_t *msg, size_t len, bool is_template,
		   uint32_t seq_after, uint64_t now_ms)
{
	bool new_set = is_template && !t->last_was_template;
	int ret = 0;

	t->now_ms = now_ms;
	if (len < IPFIX_HDR_LEN)
		return -EINVAL;
	if (t->spec.kind == TRANSPORT_FILE) {
		t->last_was_template = is_template;
		t->next_seq = seq_after;
		if (new_set)
			t->stats.template_sends++;
		return file_write(t, msg, len);
	}
	if (is_template) {
		cache_template(t, msg, len, seq_after);
		if (new_set && (t->spec.kind == TRANSPORT_UDP || t->state == TCP_UP))
			t->stats.template_sends++;
	}
	t->last_was_template = is_template;
	t->next_seq = seq_after;

	if (!is_template && t->n_data_queued >= t->config.queue_msgs) {
		t->stats.msgs_dropped++;
		ret = -ENOBUFS;
	} else if (t->spec.kind == TRANSPORT_UDP || t->state == TCP_UP || !is_template) {
		/* A template message for a TCP collector that is down waits in the cache. */
		ret = ring_push_back(t, msg, len, seq_after, is_template);
		if (ret < 0) {
			t->stats.msgs_dropped++;
			ret = -ENOBUFS;
		}
	}
	if (is_template && t->spec.kind == TRANSPORT_UDP) {
		t->tmpl_sent_ms = now_ms;
		t->data_since_tmpl = 0;
	}
	if (t->spec.kind == TRANSPORT_UDP)
		udp_flush(t);
	else
		tcp_flush(t);
	return ret;
}

void transport_poll(struct transport *t, uint64_t now_ms)
{
	t->now_ms = now_ms;
	switch (t->spec.kind) {
	case TRANSPORT_FILE:
		break;
	case TRANSPORT_UDP:
		udp_flush(t);
		if (!t->count && udp_refresh_due(t))
			udp_send_templates(t, t->next_seq);
		break;
	case TRANSPORT_TCP:
		if (t->state == TCP_DOWN && now_ms >= t->next_attempt_ms)
			tcp_connect(t);
		if (t->state == TCP_CONNECTING)
			tcp_check_connect(t, 0);
		if (t->state == TCP_UP)
			tcp_check_peer(t);
		if (t->state == TCP_UP)
			tcp_flush(t);
		break;
	}
}

const struct transport_stats *transport_get_stats(const struct transport *t)
{
	return &t->stats;
}

bool transport_connected(const struct transport *t)
{
	if (t->spec.kind == TRANSPORT_TCP)
		return t->state == TCP_UP;
	return t->fd >= 0;
}
