/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transport: delivers finished export messages to one collector (file, UDP or TCP),
 * never blocking capture. Keeps a bounded queue, reconnects TCP with exponential backoff,
 * replays the latest template messages on every new connection and refreshes them on
 * UDP by time and message count (RFC 7011 section 8.4).
 */
#ifndef LABELFLOW_TRANSPORT_H
#define LABELFLOW_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum transport_kind {
	TRANSPORT_FILE = 0,
	TRANSPORT_UDP,
	TRANSPORT_TCP,
	TRANSPORT_TLS,	    /* IPFIX over TLS over TCP (tls:HOST:PORT) */
	TRANSPORT_NETFLOW9, /* NetFlow v9 over UDP (netflow9:HOST:PORT) */
	TRANSPORT_NETFLOW5, /* NetFlow v5 over UDP (netflow5:HOST:PORT) */
};

struct transport_spec {
	enum transport_kind kind;
	char host[256];	 /* UDP/TCP: name or address, brackets removed */
	char port[16];	 /* UDP/TCP */
	char path[4096]; /* FILE: "-" is standard output */
};

/*
 * Parse "file:PATH", "udp:HOST:PORT" or "tcp:HOST:PORT" ("[v6addr]:port" for IPv6).
 * Returns 0 or -EINVAL, writing the reason into errbuf.
 */
int transport_parse(const char *text, struct transport_spec *ret_spec, char *errbuf,
		    size_t errbuf_size);
/* Human form of a spec, e.g. "udp:[::1]:4739", into buf. Returns buf. */
const char *transport_spec_str(const struct transport_spec *spec, char *buf, size_t buf_size);

struct transport_config {
	uint32_t queue_msgs; /* messages held while a collector is slow or down (default 4096) */
	uint32_t template_refresh_ms;	/* UDP: resend templates this often (default 60000) */
	uint32_t template_refresh_msgs; /* UDP: and after this many data messages (default 1000) */
	uint32_t reconnect_min_ms;	/* TCP backoff start (default 500) */
	uint32_t reconnect_max_ms;	/* TCP backoff cap (default 30000) */
};

struct transport;

/* Open (file) or start connecting (TCP, non-blocking). Returns NULL (logged) on a hard failure. */
struct transport *transport_new(const struct transport_spec *spec,
				const struct transport_config *config);
/*
 * Send what can be sent: UDP flushes its queue; TCP keeps (re)connecting and writing for
 * at most linger_ms while messages are queued. Logs what is left undelivered. Blocks.
 */
void transport_drain(struct transport *t, uint32_t linger_ms);
/* Send what can be sent, then close. Waits at most linger_ms for a TCP queue to drain. */
void transport_free(struct transport *t, uint32_t linger_ms);

/*
 * Hand over one message (copied). Template messages replace the cached template set
 * (a run of consecutive template messages is one set). Data messages are queued and
 * sent as the socket allows; past queue_msgs the message is dropped and counted.
 * Returns 0, or -ENOBUFS when dropped.
 */
int transport_send(struct transport *t, const uint8_t *msg, size_t len, bool is_template,
		   uint32_t seq_after, uint64_t now_ms);
/* Drive reconnects, queued writes and template refresh. Call at least once a second. */
void transport_poll(struct transport *t, uint64_t now_ms);

struct transport_stats {
	uint64_t msgs_sent;
	uint64_t bytes_sent;
	uint64_t msgs_dropped;	 /* queue full */
	uint64_t template_sends; /* template sets sent (initial, refresh, reconnect) */
	uint64_t connects;
	uint64_t connect_failures;
	uint64_t send_errors;
	uint64_t queued; /* messages in the queue now */
};
const struct transport_stats *transport_get_stats(const struct transport *t);
bool transport_connected(const struct transport *t);

#endif
