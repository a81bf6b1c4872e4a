/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream: one client connection to a collector over TCP or TLS (OpenSSL 3), never blocking
 * unless asked to wait: connect, TLS handshake with peer and host verification, writes, and
 * how many of the bytes handed to the kernel the peer has acknowledged, so that the caller
 * can resend what a lost connection did not deliver. Knows nothing of IPFIX; the only module
 * that includes OpenSSL.
 */
#ifndef LABELFLOW_STREAM_H
#define LABELFLOW_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* TLS settings; every string is borrowed for the call to stream_new only (copied). */
struct stream_tls_config {
	const char *ca_file;	 /* PEM CA certificates; NULL: the system default store */
	const char *cert_file;	 /* PEM client certificate (chain) to present; NULL: none */
	const char *key_file;	 /* PEM key of cert_file; NULL: read from cert_file */
	const char *server_name; /* name or address the certificate must match; NULL: host */
};

enum stream_status {
	STREAM_CLOSED = 0,
	STREAM_CONNECTING, /* TCP connect, then the TLS handshake, in progress */
	STREAM_UP,
};

struct stream;

/*
 * A closed stream to host:port (strings copied); tls NULL for plain TCP. With TLS the CA and
 * client certificate files are loaded here, to report mistakes at start (logged, NULL), and
 * again on every connection, so renewed files are picked up without a restart.
 */
struct stream *stream_new(const char *name, const char *host, const char *port,
			  const struct stream_tls_config *tls);
/* Closes first. NULL is a no-op. */
void stream_free(struct stream *s);

/*
 * Failures below return -errno and leave the socket open (its kernel counters stay readable)
 * until stream_close; stream_error() then says why, in words fit for a log line.
 */

/* Resolve and start a non-blocking connect. Returns 0 (connecting or up) or -errno. */
int stream_open(struct stream *s);
/*
 * Drive a connection in progress (TCP connect, then the TLS handshake, verification
 * included), waiting at most wait_ms for the socket. Returns 1 when up, 0 when still in
 * progress, -errno on failure.
 */
int stream_progress(struct stream *s, int wait_ms);
/* Write from buf: bytes taken (> 0), -EAGAIN when the socket is full, or -errno. */
ssize_t stream_write(struct stream *s, const uint8_t *buf, size_t len);
/* Read and discard what the peer sent. Returns 0, or -errno once it closed or failed. */
int stream_check_peer(struct stream *s);
/* Wait at most wait_ms until the socket is readable, or writable when want_write. */
void stream_wait(struct stream *s, bool want_write, int wait_ms);

/* Bytes handed to the kernel on this connection, TLS records and handshake included. */
uint64_t stream_wire_bytes(const struct stream *s);
/* How many of those the peer's kernel has acknowledged (SIOCOUTQ). 0 or -errno. */
int stream_acked_bytes(const struct stream *s, uint64_t *ret_bytes);

/* Close the connection (TLS: a close_notify is sent if the socket takes it). Idempotent. */
void stream_close(struct stream *s);
enum stream_status stream_status(const struct stream *s);
/* Why the last operation failed, e.g. "TLS handshake: certificate verify failed: ...". */
const char *stream_error(const struct stream *s);

#endif
