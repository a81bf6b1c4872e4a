// SPDX-License-Identifier: Apache-2.0
/*
 * transport: moves finished export messages to one collector without ever blocking the
 * capture thread. Files are written in place; datagram targets (UDP, NetFlow) send one
 * datagram per message; TCP and TLS write through a stream (stream.h). A bounded queue of
 * owned copies (msgq.h) absorbs outages and, on streams, keeps each written message until the
 * peer acknowledged it, to resend it after a connection loss. The latest template set is
 * cached and replayed (headers patched) on every new connection and periodically on UDP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "msgq.h"
#include "stream.h"
#include "transport.h"

/* Template messages one set may span (a 64 KiB set in 1 KiB messages), cached and queued. */
#define TRANSPORT_MAX_TEMPLATE_MSGS  64
#define TRANSPORT_CONNECT_TIMEOUT_MS 10000 /* TCP connect and TLS handshake together */
#define TRANSPORT_ACK_POLL_MS	     5	   /* draining: how often to look for acknowledgements */

/* Where a message format keeps its header fields; seq_off 0: never patched. */
struct hdr_fmt {
	size_t min_len;
	size_t time_off; /* export time in seconds */
	size_t seq_off;
};
static const struct hdr_fmt fmt_ipfix = {16, 4, 8}; /* RFC 7011 */
static const struct hdr_fmt fmt_nf9 = {20, 8, 12};  /* RFC 3954 */
static const struct hdr_fmt fmt_nf5 = {24, 0, 0};

enum conn_state {
	CONN_DOWN = 0,	 /* no connection; next attempt at next_attempt_ms */
	CONN_CONNECTING, /* TCP connect, then TLS handshake, in progress */
	CONN_UP,
};

struct transport {
	struct transport_spec spec;
	struct transport_config config; /* tls_* cleared: borrowed only by transport_new */
	const struct hdr_fmt *fmt;	/* static */
	char name[300];			/* spec in human form, for messages */
	int fd;		   /* file, datagrams: owned (except standard output); -1 when closed */
	struct stream *st; /* owned: TCP and TLS */
	/* Datagrams and streams; room for queue_msgs data messages plus one template set. */
	struct msgq q;

	/* The latest template set: a run of consecutive template messages. */
	struct msgq_msg tmpl[TRANSPORT_MAX_TEMPLATE_MSGS];
	size_t n_tmpl;
	bool last_was_template; /* the previous handed-over message was a template one */
	uint32_t next_seq;	/* seq_after of the last message handed over */
	uint64_t now_ms;	/* latest time seen from the caller */
	bool clock_seen;	/* now_ms came from the caller */

	/* Datagram template refresh */
	uint64_t tmpl_sent_ms;
	uint32_t data_since_tmpl;
	/*
	 * Sequence numbers taken by refreshes so far, added to every later message: datagrams
	 * (NetFlow v9) or the replayed options records (IPFIX).
	 */
	uint32_t seq_shift;

	/* Stream connection */
	enum conn_state state;
	uint64_t next_attempt_ms;
	uint64_t connect_started_ms;
	uint64_t up_since_ms;
	uint32_t backoff_ms; /* the next delay's upper bound */
	unsigned int rand_state;
	bool failing;	      /* attempts have failed since the last connection */
	char logged_why[256]; /* the failure last logged while failing */
	bool logged_send_error;

	struct transport_stats stats;
};

static bool is_datagram(enum transport_kind k)
{
	return k == TRANSPORT_UDP || k == TRANSPORT_NETFLOW9 || k == TRANSPORT_NETFLOW5;
}

static bool is_stream(enum transport_kind k)
{
	return k == TRANSPORT_TCP || k == TRANSPORT_TLS;
}

/* ---- messages ----------------------------------------------------------------------- */

static uint32_t hdr_seq(const struct transport *t, const uint8_t *msg, size_t len)
{
	uint32_t v = 0;

	if (t->fmt->seq_off && len >= t->fmt->seq_off + 4)
		memcpy(&v, msg + t->fmt->seq_off, 4);
	return ntohl(v);
}

static void hdr_set_seq(const struct transport *t, struct msgq_msg *m, uint32_t seq)
{
	uint32_t s = htonl(seq);

	if (t->fmt->seq_off && m->len >= t->fmt->min_len)
		memcpy(m->buf + t->fmt->seq_off, &s, 4);
}

/* A replayed template message: export time = now, and a new sequence number. */
static void hdr_patch(const struct transport *t, struct msgq_msg *m, uint32_t seq)
{
	uint32_t now = htonl((uint32_t)(t->now_ms / 1000));

	if (!t->fmt->seq_off || m->len < t->fmt->min_len)
		return;
	memcpy(m->buf + t->fmt->time_off, &now, 4);
	hdr_set_seq(t, m, seq);
}

/* Sequence number of the first data message waiting to be written, or of the next one. */
static uint32_t next_data_seq(struct transport *t)
{
	struct msgq_msg *m;

	for (size_t i = 0; (m = msgq_unsent(&t->q, i)); i++)
		if (!m->is_template)
			return m->seq;
	return t->next_seq;
}

/* Data records (RFC 5610 options records) in the cached template set. */
static uint32_t template_set_records(const struct transport *t)
{
	uint32_t total = 0;

	for (size_t i = 0; i < t->n_tmpl; i++)
		total += t->tmpl[i].n_records;
	return total;
}

/*
 * IPFIX: number the cached set for replay from first_seq on. Its own records (the RFC 5610
 * options records) are Data Records, so they take sequence numbers like any other (RFC 7011
 * section 3.1); templates take none.
 */
static void patch_template_set(struct transport *t, uint32_t first_seq)
{
	for (size_t i = 0; i < t->n_tmpl; i++) {
		hdr_patch(t, &t->tmpl[i], first_seq);
		first_seq += t->tmpl[i].n_records;
	}
}

static void sync_counts(struct transport *t)
{
	t->stats.queued = msgq_n_unsent(&t->q);
	t->stats.unacked = t->q.n_sent;
}

static void count_sent(struct transport *t, const struct msgq_msg *m)
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

/* ---- datagrams (UDP, NetFlow) ------------------------------------------------------- */

/* One datagram. Returns 0 (sent or dropped and counted) or -EAGAIN (try later). */
static int dgram_send_one(struct transport *t, const struct msgq_msg *m)
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

/*
 * Resend the cached set before the data message numbered seq (as handed over). The copies
 * take the next sequence numbers (NetFlow v9 counts datagrams, IPFIX data records), and every
 * later message is shifted past them, so a collector sees one gap-free sequence.
 */
static void dgram_send_templates(struct transport *t, uint32_t seq)
{
	if (!t->n_tmpl)
		return;
	if (t->spec.kind == TRANSPORT_NETFLOW9) {
		for (size_t i = 0; i < t->n_tmpl; i++)
			hdr_patch(t, &t->tmpl[i], seq + t->seq_shift + (uint32_t)i);
		t->seq_shift += (uint32_t)t->n_tmpl;
	} else {
		patch_template_set(t, seq + t->seq_shift);
		t->seq_shift += template_set_records(t);
	}
	for (size_t i = 0; i < t->n_tmpl; i++)
		dgram_send_one(t, &t->tmpl[i]);
	t->stats.template_sends++;
	t->tmpl_sent_ms = t->now_ms;
	t->data_since_tmpl = 0;
}

static bool refresh_due(const struct transport *t)
{
	if (!t->n_tmpl)
		return false;
	if (t->config.template_refresh_msgs &&
	    t->data_since_tmpl >= t->config.template_refresh_msgs)
		return true;
	return t->config.template_refresh_ms &&
	       t->now_ms >= t->tmpl_sent_ms + t->config.template_refresh_ms;
}

static void dgram_flush(struct transport *t)
{
	struct msgq_msg *m;

	while ((m = msgq_unsent(&t->q, 0))) {
		if (!m->is_template && refresh_due(t))
			dgram_send_templates(t, m->seq);
		if (t->seq_shift)
			hdr_set_seq(t, m, m->seq + t->seq_shift);
		if (dgram_send_one(t, m) == -EAGAIN)
			break;
		if (!m->is_template)
			t->data_since_tmpl++;
		msgq_pop_unsent(&t->q);
	}
	sync_counts(t);
}

/* ---- streams (TCP, TLS) ------------------------------------------------------------- */

static void schedule_retry(struct transport *t)
{
	uint32_t b = t->backoff_ms ? t->backoff_ms : 1;
	uint32_t delay = b / 2 + (uint32_t)rand_r(&t->rand_state) % (b / 2 + 1);

	t->next_attempt_ms = t->now_ms + delay;
	t->backoff_ms = b >= t->config.reconnect_max_ms / 2 ? t->config.reconnect_max_ms : b * 2;
	if (t->backoff_ms < t->config.reconnect_min_ms)
		t->backoff_ms = t->config.reconnect_min_ms;
}

/* Release the messages whose last byte the peer's kernel has acknowledged. */
static void take_acks(struct transport *t)
{
	uint64_t acked;

	if (t->q.n_sent && stream_acked_bytes(t->st, &acked) == 0)
		msgq_ack(&t->q, acked);
}

/*
 * The connection failed (why, or the stream's own reason) or was lost: what it did not
 * deliver goes back in front of the queue, and the next attempt waits for the backoff. A
 * failure is logged when it differs from the one last logged, a loss every time.
 */
static void conn_down(struct transport *t, const char *why)
{
	bool was_up = t->state == CONN_UP;
	char reason[sizeof(t->logged_why)];
	size_t resend;

	snprintf(reason, sizeof(reason), "%s", why ? why : stream_error(t->st));
	if (was_up)
		take_acks(t); /* a last look: what the peer acknowledged is delivered */
	resend = msgq_requeue(&t->q);
	stream_close(t->st);
	t->state = CONN_DOWN;
	if (was_up) {
		log_warn("export target '%s': connection lost (%s); %zu unacknowledged messages "
			 "will be resent, queueing up to %u",
			 t->name, reason, resend, t->config.queue_msgs);
		t->failing = false;
		t->logged_why[0] = '\0';
		/* Only a connection that lasted starts the backoff over: flapping slows down. */
		if (t->now_ms >= t->up_since_ms + t->config.reconnect_max_ms)
			t->backoff_ms = t->config.reconnect_min_ms;
	} else {
		t->stats.connect_failures++;
		if (strcmp(reason, t->logged_why) != 0) {
			log_warn("export target '%s': cannot connect (%s); retrying with backoff",
				 t->name, reason);
			snprintf(t->logged_why, sizeof(t->logged_why), "%s", reason);
		}
		t->failing = true;
	}
	schedule_retry(t);
	sync_counts(t);
}

/* Write the queue in order; a written message waits in the window for its acknowledgement. */
static void conn_flush(struct transport *t)
{
	struct msgq_msg *m;

	while (t->state == CONN_UP && (m = msgq_unsent(&t->q, 0))) {
		ssize_t n = stream_write(t->st, m->buf + t->q.head_off, m->len - t->q.head_off);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			t->stats.send_errors++;
			conn_down(t, NULL);
			return;
		}
		t->q.head_off += (size_t)n;
		if (t->q.head_off < m->len)
			continue;
		count_sent(t, m);
		if (m->resend) {
			t->stats.msgs_retransmitted++;
			m->resend = false;
		}
		msgq_sent(&t->q, stream_wire_bytes(t->st));
	}
	if (t->state == CONN_UP)
		take_acks(t);
	sync_counts(t);
}

static void conn_up(struct transport *t)
{
	t->state = CONN_UP;
	t->stats.connects++;
	t->up_since_ms = t->now_ms;
	if (t->failing || t->stats.connects > 1)
		log_info("export target '%s': connected", t->name);
	t->failing = false;
	t->logged_why[0] = '\0';
	t->logged_send_error = false;
	/*
	 * The template set goes first on every connection, then the queue (resent ones first).
	 * A connection is a new stream: the set is numbered to end where the queue begins.
	 */
	if (t->n_tmpl) {
		patch_template_set(t, next_data_seq(t) - template_set_records(t));
		for (size_t i = t->n_tmpl; i-- > 0;) {
			if (msgq_push_front(&t->q, &t->tmpl[i]) < 0) {
				conn_down(t, "out of memory for templates");
				return;
			}
		}
		t->stats.template_sends++;
	}
	conn_flush(t);
}

static void conn_open(struct transport *t)
{
	/* From transport_new the caller's clock is not known yet: start it at the first look. */
	t->connect_started_ms = t->clock_seen ? t->now_ms : UINT64_MAX;
	if (stream_open(t->st) < 0) {
		conn_down(t, NULL);
		return;
	}
	t->state = CONN_CONNECTING;
	if (stream_status(t->st) == STREAM_UP)
		conn_up(t);
}

/* Drive a connection in progress, waiting up to wait_ms; give up on one that hangs. */
static void conn_progress(struct transport *t, int wait_ms)
{
	int ret = stream_progress(t->st, wait_ms);

	if (t->connect_started_ms == UINT64_MAX)
		t->connect_started_ms = t->now_ms;
	if (ret > 0)
		conn_up(t);
	else if (ret < 0)
		conn_down(t, NULL);
	else if (t->now_ms >= t->connect_started_ms + TRANSPORT_CONNECT_TIMEOUT_MS)
		conn_down(t, "no connection after 10 s");
}

static void conn_step(struct transport *t, int wait_ms)
{
	if (t->state == CONN_DOWN && t->now_ms >= t->next_attempt_ms)
		conn_open(t);
	if (t->state == CONN_CONNECTING)
		conn_progress(t, wait_ms);
	if (t->state == CONN_UP && stream_check_peer(t->st) < 0)
		conn_down(t, NULL);
	if (t->state == CONN_UP)
		conn_flush(t);
	sync_counts(t);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Keeps reconnecting with backoff: a collector that comes (back) up gets the queue. */
static void conn_drain(struct transport *t, uint32_t linger_ms)
{
	uint64_t start = mono_ms(), base = t->now_ms, now;

	while ((now = mono_ms()) < start + linger_ms && t->q.count) {
		int wait = (int)(start + linger_ms - now);

		t->now_ms = base + (now - start);
		if (t->state == CONN_DOWN && t->now_ms < t->next_attempt_ms) {
			uint64_t nap = t->next_attempt_ms - t->now_ms;

			poll(NULL, 0, nap < (uint64_t)wait ? (int)nap : wait);
			continue;
		}
		if (t->state != CONN_UP) {
			conn_step(t, wait);
			continue;
		}
		conn_step(t, 0);
		/* Nothing signals an acknowledgement: look again soon while some are missing. */
		if (t->q.n_sent && wait > TRANSPORT_ACK_POLL_MS)
			wait = TRANSPORT_ACK_POLL_MS;
		if (t->state == CONN_UP && t->q.count)
			stream_wait(t->st, msgq_n_unsent(&t->q) > 0, wait);
	}
	if (t->q.count)
		log_warn("export target '%s': messages not delivered: %zu (%zu of them written but "
			 "not acknowledged)",
			 t->name, t->q.count, t->q.n_sent);
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

static int open_datagram(struct transport *t)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(t->spec.host, t->spec.port, &hints, &ai);

	if (rc != 0) {
		log_error("export target '%s': cannot resolve '%s': %s", t->name, t->spec.host,
			  gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	t->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || connect(t->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = errno;
		log_error("export target '%s': %s", t->name, strerror(rc));
		freeaddrinfo(ai);
		return -rc;
	}
	freeaddrinfo(ai);
	return 0;
}

struct transport *transport_new(const struct transport_spec *spec,
				const struct transport_config *config)
{
	struct transport *t = calloc(1, sizeof(*t));
	struct stream_tls_config tls = {
		.ca_file = config->tls_ca_file,
		.cert_file = config->tls_cert_file,
		.key_file = config->tls_key_file,
		.server_name = config->tls_server_name,
	};

	if (!t) {
		log_error("export: out of memory for a transport");
		return NULL;
	}
	t->spec = *spec;
	t->config = *config;
	t->config.tls_ca_file = t->config.tls_cert_file = NULL;
	t->config.tls_key_file = t->config.tls_server_name = NULL;
	t->fd = -1;
	t->fmt = spec->kind == TRANSPORT_NETFLOW9   ? &fmt_nf9
		 : spec->kind == TRANSPORT_NETFLOW5 ? &fmt_nf5
						    : &fmt_ipfix;
	transport_spec_str(spec, t->name, sizeof(t->name));
	if (t->config.queue_msgs == 0)
		t->config.queue_msgs = 1;
	if (t->config.reconnect_min_ms == 0)
		t->config.reconnect_min_ms = 1;
	if (t->config.reconnect_max_ms < t->config.reconnect_min_ms)
		t->config.reconnect_max_ms = t->config.reconnect_min_ms;
	msgq_init(&t->q, (size_t)t->config.queue_msgs + TRANSPORT_MAX_TEMPLATE_MSGS);
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
	case TRANSPORT_NETFLOW9:
	case TRANSPORT_NETFLOW5:
		if (open_datagram(t) < 0)
			goto fail;
		break;
	case TRANSPORT_TCP:
	case TRANSPORT_TLS:
		t->st = stream_new(t->name, spec->host, spec->port,
				   spec->kind == TRANSPORT_TLS ? &tls : NULL);
		if (!t->st)
			goto fail;
		conn_open(t); /* failures are retried with backoff, not fatal */
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

void transport_drain(struct transport *t, uint32_t linger_ms)
{
	if (!t)
		return;
	if (is_datagram(t->spec.kind) && t->fd >= 0)
		dgram_flush(t);
	else if (is_stream(t->spec.kind) && t->st)
		conn_drain(t, linger_ms);
	sync_counts(t);
}

void transport_free(struct transport *t, uint32_t linger_ms)
{
	if (!t)
		return;
	transport_drain(t, linger_ms);
	if (t->fd >= 0 && !(t->spec.kind == TRANSPORT_FILE && t->fd == STDOUT_FILENO))
		close(t->fd);
	stream_free(t->st);
	msgq_done(&t->q);
	for (size_t i = 0; i < TRANSPORT_MAX_TEMPLATE_MSGS; i++)
		free(t->tmpl[i].buf);
	free(t);
}

/* Add a template message to the cache; a new run of template messages replaces the set. */
static int cache_template(struct transport *t, const uint8_t *msg, size_t len, uint32_t seq,
			  uint32_t seq_after)
{
	if (!t->last_was_template)
		t->n_tmpl = 0;
	if (t->n_tmpl == TRANSPORT_MAX_TEMPLATE_MSGS) {
		log_error("export target '%s': template set longer than %d messages; not cached",
			  t->name, TRANSPORT_MAX_TEMPLATE_MSGS);
		return -E2BIG;
	}
	if (msgq_msg_set(&t->tmpl[t->n_tmpl], msg, len, seq, seq_after - seq, true) < 0)
		return -ENOMEM;
	t->n_tmpl++;
	return 0;
}

int transport_send(struct transport *t, const uint8_t *msg, size_t len, bool is_template,
		   uint32_t seq_after, uint64_t now_ms)
{
	bool datagram = is_datagram(t->spec.kind), new_set;
	uint32_t seq;
	int ret = 0;

	t->now_ms = now_ms;
	t->clock_seen = true;
	if (len < t->fmt->min_len)
		return -EINVAL;
	if (t->spec.kind == TRANSPORT_NETFLOW5)
		is_template = false; /* v5 has none: nothing to cache or refresh */
	new_set = is_template && !t->last_was_template;
	seq = hdr_seq(t, msg, len);
	if (t->spec.kind == TRANSPORT_FILE) {
		t->last_was_template = is_template;
		t->next_seq = seq_after;
		if (new_set)
			t->stats.template_sends++;
		return file_write(t, msg, len);
	}
	if (is_template) {
		cache_template(t, msg, len, seq, seq_after);
		if (new_set && (datagram || t->state == CONN_UP))
			t->stats.template_sends++;
	}
	t->last_was_template = is_template;
	t->next_seq = seq_after;

	if (!is_template && t->q.n_data >= t->config.queue_msgs) {
		t->stats.msgs_dropped++;
		ret = -ENOBUFS;
	} else if (datagram || t->state == CONN_UP || !is_template) {
		/* A template message for a stream that is down waits in the cache. */
		ret = msgq_push_back(&t->q, msg, len, seq, seq_after - seq, is_template);
		if (ret < 0) {
			t->stats.msgs_dropped++;
			ret = -ENOBUFS;
		}
	}
	if (is_template && datagram) {
		t->tmpl_sent_ms = now_ms;
		t->data_since_tmpl = 0;
	}
	if (datagram)
		dgram_flush(t);
	else if (t->state == CONN_CONNECTING)
		conn_progress(t, 0); /* the handshake advances with the traffic too */
	else if (t->state == CONN_UP)
		conn_flush(t);
	sync_counts(t);
	return ret;
}

void transport_poll(struct transport *t, uint64_t now_ms)
{
	t->now_ms = now_ms;
	t->clock_seen = true;
	if (is_datagram(t->spec.kind)) {
		dgram_flush(t);
		if (!msgq_n_unsent(&t->q) && refresh_due(t))
			dgram_send_templates(t, t->next_seq);
	} else if (is_stream(t->spec.kind)) {
		conn_step(t, 0);
	}
}

const struct transport_stats *transport_get_stats(const struct transport *t)
{
	return &t->stats;
}

bool transport_connected(const struct transport *t)
{
	if (is_stream(t->spec.kind))
		return t->state == CONN_UP;
	return t->fd >= 0;
}
