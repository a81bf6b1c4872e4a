/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transport: delivers finished export messages to one collector (a file, UDP, TCP, TLS, or
 * NetFlow over UDP), never blocking capture. Keeps a bounded queue, reconnects streams with
 * exponential backoff, replays the latest template messages on every new connection and
 * refreshes them on UDP by time and message count (RFC 7011 section 8.4). Over TCP and TLS a
 * written message is held until the peer's kernel has acknowledged it, and resent after a
 * connection loss (docs/export.md: "What a collector restart loses").
 */
#ifndef LABELFLOW_TRANSPORT_H
#define LABELFLOW_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport_spec.h" /* enum transport_kind, struct transport_spec, transport_parse */

struct transport_config {
	uint32_t queue_msgs; /* messages held while a collector is slow or down (default 4096) */
	uint32_t template_refresh_ms;	/* UDP: resend templates this often (default 60000) */
	uint32_t template_refresh_msgs; /* UDP: and after this many data messages (default 1000) */
	uint32_t reconnect_min_ms;	/* TCP/TLS backoff start (default 500) */
	uint32_t reconnect_max_ms;	/* TCP/TLS backoff cap (default 30000) */
	/*
	 * TLS only. Borrowed for the call to transport_new (copied); NULL or "" means unset.
	 * The peer certificate and its name or address are always verified.
	 */
	char *tls_ca_file;     /* PEM CA certificates; unset: the system default store */
	char *tls_cert_file;   /* PEM client certificate (chain) to present; unset: none */
	char *tls_key_file;    /* PEM key of tls_cert_file; unset: read from tls_cert_file */
	char *tls_server_name; /* name or address the certificate must match; unset: HOST */
};

struct transport;

/*
 * Open (file, datagrams) or start connecting (TCP/TLS, non-blocking). Returns NULL (logged) on
 * a hard failure: a file that cannot be created, an unusable TLS CA/certificate/key file.
 */
struct transport *transport_new(const struct transport_spec *spec,
				const struct transport_config *config);
/*
 * Send what can be sent: datagrams flush their queue; TCP/TLS keep (re)connecting and writing
 * for at most linger_ms while messages are queued or not yet acknowledged. Logs what is left
 * undelivered. Blocks.
 */
void transport_drain(struct transport *t, uint32_t linger_ms);
/* Send what can be sent, then close. Waits at most linger_ms for a TCP/TLS queue to drain. */
void transport_free(struct transport *t, uint32_t linger_ms);

/*
 * Hand over one message (copied). Template messages replace the cached template set
 * (a run of consecutive template messages is one set). Data messages are queued and
 * sent as the socket allows; queue_msgs bounds the data messages held, queued or awaiting
 * acknowledgement: past it the message is dropped and counted. Returns 0, -ENOBUFS when
 * dropped, -EINVAL when shorter than the format's header.
 * Headers: IPFIX (file, udp, tcp, tls): export time at offset 4, sequence number at 8,
 * counting data records; seq_after = sequence + records in the message. netflow9 (RFC 3954):
 * unix_secs at 8, package sequence at 12, counting datagrams; seq_after = sequence + 1; a
 * template refresh takes the next numbers and later datagrams are shifted past them.
 * netflow5: never patched, no templates (is_template is ignored).
 */
int transport_send(struct transport *t, const uint8_t *msg, size_t len, bool is_template,
		   uint32_t seq_after, uint64_t now_ms);
/*
 * Drive reconnects, TLS handshakes, queued writes, acknowledgements and template refresh.
 * Call at least once a second.
 */
void transport_poll(struct transport *t, uint64_t now_ms);

struct transport_stats {
	uint64_t msgs_sent;	 /* written whole (resent ones again) */
	uint64_t bytes_sent;	 /* of those messages */
	uint64_t msgs_dropped;	 /* queue full */
	uint64_t template_sends; /* template sets sent (initial, refresh, reconnect) */
	uint64_t connects;
	uint64_t connect_failures; /* TCP connect, TLS handshake and verification failures */
	uint64_t send_errors;
	uint64_t msgs_retransmitted; /* data messages written again after a connection loss */
	uint64_t queued;	     /* messages waiting to be written now */
	uint64_t unacked; /* TCP/TLS: messages written, not yet acknowledged by the peer, now */
};
const struct transport_stats *transport_get_stats(const struct transport *t);
/* File and datagram targets: open. TCP: connected. TLS: handshake done, peer verified. */
bool transport_connected(const struct transport *t);

#endif
