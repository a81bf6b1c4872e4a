// SPDX-License-Identifier: Apache-2.0
/*
 * stream: one TCP or TLS connection, through its header alone. Plain TCP against a loopback
 * listener the test reads by hand (acknowledged bytes compared with what the peer's kernel
 * holds, peer close and reset, refused connects, reopening), and TLS against an OpenSSL
 * server on a thread with a PKI made for the test (CA and host verification, client
 * certificates, the bytes on the wire compared with what the server read). Every call is
 * non-blocking: loops are bounded in count and time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "stream.h"
#include "testpki.h"

TestSuite(stream, .timeout = 60);

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The byte at offset off of everything the test writes on one connection (period 2^32). */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(((uint32_t)off * 2654435761u) >> 24);
}

static void fill(uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(off + i);
}

/* A loopback listener; rcvbuf > 0 bounds what accepted sockets take in while unread. */
static int listener(uint16_t *port, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	if (rcvbuf > 0)
		cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port nobody listens on (bound once, then closed). */
static uint16_t closed_port(void)
{
	uint16_t port = 0;

	close(listener(&port, 0));
	return port;
}

static int accept_peer(int lfd)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	struct timeval tv = {.tv_sec = 2};
	int fd;

	cr_assert_gt(poll(&p, 1, 2000), 0, "no connection arrived");
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static struct stream *new_stream(uint16_t port, const struct stream_tls_config *tls)
{
	char p[16];
	struct stream *s;

	snprintf(p, sizeof(p), "%u", port);
	s = stream_new("test collector", "127.0.0.1", p, tls);
	cr_assert_not_null(s);
	return s;
}

/* Open and drive the connection until it is up or failed (5 s at most): 1 or -errno. */
static int open_and_drive(struct stream *s)
{
	uint64_t end = mono_ms() + 5000;
	int rc = stream_open(s);

	if (rc < 0)
		return rc;
	while ((rc = stream_progress(s, 50)) == 0 && mono_ms() < end)
		;
	cr_assert_neq(rc, 0, "neither up nor failed after 5 s");
	return rc;
}

static uint64_t acked(const struct stream *s)
{
	uint64_t v = UINT64_MAX;

	cr_assert_eq(stream_acked_bytes(s, &v), 0);
	cr_assert_leq(v, stream_wire_bytes(s), "more acknowledged than written");
	return v;
}

/* Wait (3 s at most) until the acknowledged count is want; returns the last value seen. */
static uint64_t wait_acked(const struct stream *s, uint64_t want)
{
	uint64_t end = mono_ms() + 3000, v;

	while ((v = acked(s)) != want && mono_ms() < end)
		usleep(1000);
	return v;
}

/* Bytes queued unread in the peer's socket. */
static uint64_t peer_queued(int pfd)
{
	int n = 0;

	cr_assert_eq(ioctl(pfd, FIONREAD, &n), 0);
	return (uint64_t)n;
}

/*
 * Read exactly len bytes from the peer, checking them against the pattern from offset off.
 * Returns off + len.
 */
static uint64_t peer_read(int pfd, size_t len, uint64_t off)
{
	static uint8_t buf[65536];

	while (len) {
		ssize_t n = recv(pfd, buf, len < sizeof(buf) ? len : sizeof(buf), 0);

		cr_assert_gt(n, 0, "peer: stream ended or stalled %zu bytes early", len);
		for (ssize_t i = 0; i < n; i++)
			cr_assert_eq(buf[i], pattern(off + (uint64_t)i), "byte %lu differs",
				     (unsigned long)(off + (uint64_t)i));
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return off;
}

/* Write len pattern bytes from offset off, all of them taken at once; returns off + len. */
static uint64_t write_all_now(struct stream *s, size_t len, uint64_t off)
{
	uint8_t buf[8192];

	cr_assert_leq(len, sizeof(buf));
	fill(buf, len, off);
	cr_assert_eq(stream_write(s, buf, len), (ssize_t)len, "%s", stream_error(s));
	return off + len;
}

/* ---- plain TCP ---------------------------------------------------------------------- */

Test(stream, tcp_connects_to_a_loopback_listener)
{
	uint16_t port;
	int lfd = listener(&port, 0), pfd, rc;
	struct stream *s = new_stream(port, NULL);
	uint64_t v = 1;

	cr_assert_eq(stream_status(s), STREAM_CLOSED);
	rc = stream_open(s);
	cr_assert_eq(rc, 0, "%s", stream_error(s));
	cr_assert(stream_status(s) == STREAM_CONNECTING || stream_status(s) == STREAM_UP);
	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	cr_assert_eq(stream_status(s), STREAM_UP);
	cr_assert_eq(stream_progress(s, 0), 1, "up stays up");
	pfd = accept_peer(lfd);
	cr_assert_eq(stream_wire_bytes(s), 0);
	cr_assert_eq(stream_acked_bytes(s, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(stream_check_peer(s), 0, "a quiet peer is fine");
	stream_free(s);
	close(pfd);
	close(lfd);
}

/*
 * Acknowledged means "in the peer's kernel": with a peer that does not read and a small
 * receive buffer, what was acknowledged is exactly what the peer has read plus what waits
 * in its socket, and what was not is exactly what the peer never got.
 */
Test(stream, tcp_acked_bytes_are_exact)
{
	static uint8_t buf[65536];
	uint16_t port;
	int lfd = listener(&port, 8192), pfd;
	struct stream *s = new_stream(port, NULL);
	uint64_t off = 0, got = 0, v;
	bool full = false;

	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	pfd = accept_peer(lfd);
	off = write_all_now(s, 1000, off);
	cr_assert_eq(stream_wire_bytes(s), 1000);
	cr_assert_eq(wait_acked(s, 1000), 1000);
	cr_assert_eq(peer_queued(pfd), 1000);

	/* Fill the path until the socket refuses more. */
	for (int i = 0; i < 1024 && !full; i++) {
		ssize_t n;

		fill(buf, sizeof(buf), off);
		n = stream_write(s, buf, sizeof(buf));
		if (n == -EAGAIN) {
			full = true;
			break;
		}
		cr_assert_gt(n, 0, "%s", stream_error(s));
		off += (uint64_t)n;
	}
	cr_assert(full, "64 MiB taken by a peer that does not read");
	cr_assert_eq(stream_wire_bytes(s), off);
	/* Settled: acknowledged = queued at the peer, and the rest is not. */
	for (uint64_t end = mono_ms() + 3000; mono_ms() < end; usleep(2000))
		if (acked(s) == peer_queued(pfd))
			break;
	v = acked(s);
	cr_assert_eq(v, peer_queued(pfd), "acknowledged %lu, the peer holds %lu", (unsigned long)v,
		     (unsigned long)peer_queued(pfd));
	cr_assert_lt(v, off, "everything acknowledged: nothing in flight");

	/* The peer reads a part; acknowledged follows read + queued. */
	got = peer_read(pfd, 3000, got);
	for (uint64_t end = mono_ms() + 3000; mono_ms() < end; usleep(2000))
		if (acked(s) == got + peer_queued(pfd))
			break;
	cr_assert_eq(acked(s), got + peer_queued(pfd));

	/* The peer reads everything: all of it acknowledged, byte for byte the same stream. */
	got = peer_read(pfd, (size_t)(off - got), got);
	cr_assert_eq(got, off);
	cr_assert_eq(wait_acked(s, off), off);
	cr_assert_eq(peer_queued(pfd), 0);
	stream_free(s);
	close(pfd);
	close(lfd);
}

Test(stream, tcp_peer_close_is_detected)
{
	static uint8_t junk[10000];
	uint16_t port;
	int lfd = listener(&port, 0), pfd, rc = 0;
	struct stream *s = new_stream(port, NULL);
	uint64_t v = 0;

	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	pfd = accept_peer(lfd);
	write_all_now(s, 100, 0);
	peer_read(pfd, 100, 0);
	/* What a collector sends is read and thrown away; the connection stays up. */
	memset(junk, 'j', sizeof(junk));
	cr_assert_eq(send(pfd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	stream_wait(s, false, 1000);
	cr_assert_eq(stream_check_peer(s), 0, "%s", stream_error(s));
	cr_assert_eq(stream_status(s), STREAM_UP);

	close(pfd); /* FIN: everything was read */
	for (int i = 0; i < 40 && rc == 0; i++) {
		stream_wait(s, false, 50);
		rc = stream_check_peer(s);
	}
	cr_assert_eq(rc, -ECONNRESET);
	cr_assert_not_null(strstr(stream_error(s), "closed by the collector"), "'%s'",
			   stream_error(s));
	/* The socket stays open until stream_close: its counters are still readable. */
	cr_assert_eq(stream_acked_bytes(s, &v), 0);
	cr_assert_eq(v, 100);
	cr_assert_eq(stream_wire_bytes(s), 100);
	stream_close(s);
	cr_assert_eq(stream_status(s), STREAM_CLOSED);
	cr_assert_eq(stream_acked_bytes(s, &v), -ENOTCONN);
	stream_close(s); /* idempotent */
	cr_assert_eq(stream_status(s), STREAM_CLOSED);
	stream_free(s);
	close(lfd);
}

Test(stream, tcp_peer_reset_is_an_errno_and_no_sigpipe)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	uint16_t port;
	int lfd = listener(&port, 0), pfd, rc = 0;
	struct stream *s = new_stream(port, NULL);
	uint8_t buf[1000];
	char want[128];

	signal(SIGPIPE, SIG_DFL); /* a send() raising it would kill the test */
	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	pfd = accept_peer(lfd);
	cr_assert_eq(setsockopt(pfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(pfd); /* RST */
	for (int i = 0; i < 40 && rc == 0; i++) {
		stream_wait(s, false, 50);
		rc = stream_check_peer(s);
	}
	cr_assert_eq(rc, -ECONNRESET, "%d: %s", rc, stream_error(s));
	/* Writing to the reset connection: an errno, written into the error text too. */
	fill(buf, sizeof(buf), 0);
	rc = 0;
	for (int i = 0; i < 20 && rc >= 0; i++)
		rc = (int)stream_write(s, buf, sizeof(buf));
	cr_assert(rc == -EPIPE || rc == -ECONNRESET, "write after a reset: %d", rc);
	snprintf(want, sizeof(want), "send: %s", strerror(-rc));
	cr_assert_str_eq(stream_error(s), want);
	stream_free(s);
	close(lfd);
}

Test(stream, tcp_connect_refused)
{
	struct stream *s = new_stream(closed_port(), NULL);
	char want[128];
	int rc;

	rc = open_and_drive(s);
	cr_assert_eq(rc, -ECONNREFUSED, "%d: %s", rc, stream_error(s));
	snprintf(want, sizeof(want), "connect: %s", strerror(ECONNREFUSED));
	cr_assert_str_eq(stream_error(s), want);
	cr_assert_neq(stream_status(s), STREAM_UP);
	cr_assert_eq(stream_write(s, (const uint8_t *)"x", 1), -ENOTCONN);
	stream_close(s);
	cr_assert_eq(stream_status(s), STREAM_CLOSED);
	/* And again: each attempt fails the same way. */
	cr_assert_eq(open_and_drive(s), -ECONNREFUSED);
	stream_free(s);
}

Test(stream, unresolvable_target_is_ehostunreach)
{
	struct stream *s = stream_new("bad port", "127.0.0.1", "no-such-service-lf", NULL);

	cr_assert_not_null(s);
	cr_assert_eq(stream_open(s), -EHOSTUNREACH);
	cr_assert_not_null(strstr(stream_error(s), "cannot resolve '127.0.0.1'"), "'%s'",
			   stream_error(s));
	cr_assert_eq(stream_status(s), STREAM_CLOSED);
	stream_free(s);
}

Test(stream, calls_on_a_closed_stream_are_enotconn)
{
	struct stream *s = new_stream(closed_port(), NULL);
	uint64_t v = 7, t0;

	cr_assert_eq(stream_write(s, (const uint8_t *)"x", 1), -ENOTCONN);
	cr_assert_str_eq(stream_error(s), "not connected");
	cr_assert_eq(stream_check_peer(s), -ENOTCONN);
	cr_assert_eq(stream_progress(s, 0), -ENOTCONN);
	cr_assert_eq(stream_acked_bytes(s, &v), -ENOTCONN);
	cr_assert_eq(v, 7, "ret_bytes written on failure");
	cr_assert_eq(stream_wire_bytes(s), 0);
	t0 = mono_ms();
	stream_wait(s, true, 30); /* no socket: just the wait */
	cr_assert_geq(mono_ms() - t0, 25);
	stream_close(s);
	stream_free(s);
	stream_free(NULL);
}

/* stream_open on an open stream closes it first; the counters start again from zero. */
Test(stream, tcp_reopen_starts_a_fresh_connection)
{
	uint16_t port;
	int lfd = listener(&port, 0), p1, p2;
	struct stream *s = new_stream(port, NULL);
	uint8_t b;

	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	p1 = accept_peer(lfd);
	write_all_now(s, 500, 0);
	peer_read(p1, 500, 0);
	cr_assert_eq(wait_acked(s, 500), 500);

	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	cr_assert_eq(recv(p1, &b, 1, 0), 0, "the first connection was not closed");
	cr_assert_eq(stream_wire_bytes(s), 0);
	cr_assert_eq(acked(s), 0);
	p2 = accept_peer(lfd);
	write_all_now(s, 300, 0);
	cr_assert_eq(stream_wire_bytes(s), 300);
	peer_read(p2, 300, 0);
	cr_assert_eq(wait_acked(s, 300), 300);
	stream_free(s);
	cr_assert_eq(recv(p2, &b, 1, 0), 0, "stream_free did not close");
	close(p1);
	close(p2);
	close(lfd);
}

/*
 * A peer that does not read: writes take what fits (partial counts), then -EAGAIN; no call
 * blocks, and stream_wait returns within its wait. Then the peer gets every taken byte.
 */
Test(stream, tcp_partial_writes_never_block)
{
	static uint8_t buf[256 * 1024];
	uint16_t port;
	int lfd = listener(&port, 8192), pfd;
	struct stream *s = new_stream(port, NULL);
	uint64_t off = 0, t0, worst = 0;
	int partial = 0;
	bool full = false;

	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	pfd = accept_peer(lfd);
	for (int i = 0; i < 256 && !full; i++) {
		ssize_t n;

		fill(buf, sizeof(buf), off);
		t0 = mono_ms();
		n = stream_write(s, buf, sizeof(buf));
		worst = mono_ms() - t0 > worst ? mono_ms() - t0 : worst;
		if (n == -EAGAIN) {
			full = true;
			break;
		}
		cr_assert_gt(n, 0, "%s", stream_error(s));
		partial += (size_t)n < sizeof(buf);
		off += (uint64_t)n;
	}
	cr_assert(full, "64 MiB taken by a peer that does not read");
	cr_assert_geq(partial, 1, "no partial write before -EAGAIN");
	cr_assert_lt(worst, 500, "a write took %lu ms", (unsigned long)worst);
	cr_assert_eq(stream_wire_bytes(s), off);
	t0 = mono_ms();
	stream_wait(s, true, 100); /* returns when writable, or after the wait */
	cr_assert_lt(mono_ms() - t0, 1000);

	cr_assert_eq(peer_read(pfd, (size_t)off, 0), off);
	cr_assert_eq(wait_acked(s, off), off);
	stream_free(s);
	close(pfd);
	close(lfd);
}

/* ---- TLS ---------------------------------------------------------------------------- */

/*
 * A TLS server on a thread, taking connections one after the other: for the current one it
 * records the handshake's outcome and the client's certificate, checks every application
 * byte against pattern() (from offset 0 on each connection), and counts the bytes it read
 * from the socket. With hold set it does not read after the handshake until the test
 * clears it.
 */
struct tls_peer {
	SSL_CTX *ctx; /* owned */
	int lfd;      /* owned */
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	/* Guarded by lock. */
	bool stop;
	bool hold;
	int accepted;  /* connections so far; the fields below are the last one's */
	int handshake; /* 0: not finished, 1: done, -1: failed */
	char peer_cn[128];
	uint64_t rx_bytes;  /* application bytes */
	uint64_t rx_bad;    /* of those, different from pattern() at their offset */
	uint64_t wire_read; /* bytes read from the socket: records, handshake included */
	bool rx_end;	    /* the client closed (close_notify, FIN or an error) */
};

static bool peer_flag(struct tls_peer *t, const bool *flag)
{
	bool v;

	pthread_mutex_lock(&t->lock);
	v = *flag;
	pthread_mutex_unlock(&t->lock);
	return v;
}

static void peer_conn(struct tls_peer *t, int fd)
{
	struct timeval tv = {.tv_usec = 20000};
	static uint8_t buf[65536];
	SSL *ssl = SSL_new(t->ctx);
	uint64_t end = mono_ms() + 5000;
	X509 *cert;
	size_t n;
	int r;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL_set_fd(ssl, fd);
	while ((r = SSL_accept(ssl)) != 1) {
		int e = SSL_get_error(ssl, r);

		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    peer_flag(t, &t->stop) || mono_ms() > end) {
			pthread_mutex_lock(&t->lock);
			t->handshake = -1;
			pthread_mutex_unlock(&t->lock);
			goto out;
		}
	}
	cert = SSL_get1_peer_certificate(ssl);
	pthread_mutex_lock(&t->lock);
	t->handshake = 1;
	if (cert)
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, t->peer_cn,
					  sizeof(t->peer_cn));
	pthread_mutex_unlock(&t->lock);
	X509_free(cert);
	while (!peer_flag(t, &t->stop)) {
		bool ok;

		if (peer_flag(t, &t->hold)) {
			usleep(1000);
			continue;
		}
		ok = SSL_read_ex(ssl, buf, sizeof(buf), &n) == 1;
		pthread_mutex_lock(&t->lock);
		if (ok) {
			for (size_t i = 0; i < n; i++)
				t->rx_bad += buf[i] != pattern(t->rx_bytes + i);
			t->rx_bytes += n;
		}
		t->wire_read = BIO_number_read(SSL_get_rbio(ssl));
		if (!ok && SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ)
			t->rx_end = true;
		pthread_mutex_unlock(&t->lock);
		if (t->rx_end)
			break;
	}
out:
	SSL_free(ssl);
	close(fd);
}

static void *peer_run(void *arg)
{
	struct tls_peer *t = arg;
	sigset_t pipe;

	/* OpenSSL's socket BIO here may write to a closed socket. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	while (!peer_flag(t, &t->stop)) {
		struct pollfd p = {.fd = t->lfd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&t->lock);
		t->accepted++;
		t->handshake = 0;
		t->peer_cn[0] = '\0';
		t->rx_bytes = t->rx_bad = t->wire_read = 0;
		t->rx_end = false;
		pthread_mutex_unlock(&t->lock);
		peer_conn(t, fd);
	}
	return NULL;
}

/* Start a server with the PKI's certificate; client_ca: require a client certificate. */
static struct tls_peer *peer_start(const struct testpki *p, const char *client_ca, bool hold)
{
	struct tls_peer *t = calloc(1, sizeof(*t));

	cr_assert_not_null(t);
	t->ctx = SSL_CTX_new(TLS_server_method());
	cr_assert_not_null(t->ctx);
	cr_assert_eq(SSL_CTX_use_certificate_chain_file(t->ctx, p->server_crt), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey_file(t->ctx, p->server_key, SSL_FILETYPE_PEM), 1);
	if (client_ca) {
		cr_assert_eq(SSL_CTX_load_verify_locations(t->ctx, client_ca, NULL), 1);
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	t->hold = hold;
	t->lfd = listener(&t->port, hold ? 65536 : 0);
	pthread_mutex_init(&t->lock, NULL);
	cr_assert_eq(pthread_create(&t->thread, NULL, peer_run, t), 0);
	return t;
}

static void peer_stop(struct tls_peer *t)
{
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->lock);
	close(t->lfd);
	SSL_CTX_free(t->ctx);
	free(t);
}

/* Wait (5 s at most) until the server read rx application bytes and wire bytes in all. */
static void peer_wait_read(struct tls_peer *t, uint64_t rx, uint64_t wire)
{
	uint64_t end = mono_ms() + 5000;
	bool done = false;

	while (!done && mono_ms() < end) {
		pthread_mutex_lock(&t->lock);
		done = t->rx_bytes >= rx && t->wire_read >= wire;
		pthread_mutex_unlock(&t->lock);
		if (!done)
			usleep(1000);
	}
	pthread_mutex_lock(&t->lock);
	cr_assert_eq(t->rx_bytes, rx, "server got %lu application bytes",
		     (unsigned long)t->rx_bytes);
	cr_assert_eq(t->rx_bad, 0, "the application bytes differ");
	cr_assert_eq(t->wire_read, wire, "server read %lu bytes, the stream wrote %lu",
		     (unsigned long)t->wire_read, (unsigned long)wire);
	pthread_mutex_unlock(&t->lock);
}

/* Copy a file (the test's stand-in for a certificate renewal). */
static void sh_copy(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", from, to, to, to);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* The outcome of connection conn's handshake (1, -1; 0 if it did not end in 5 s). */
static int peer_handshake(struct tls_peer *t, int conn)
{
	uint64_t end = mono_ms() + 5000;
	int h = 0;

	while (h == 0 && mono_ms() < end) {
		pthread_mutex_lock(&t->lock);
		h = t->accepted >= conn ? t->handshake : 0;
		pthread_mutex_unlock(&t->lock);
		if (h == 0)
			usleep(1000);
	}
	return h;
}

/*
 * Up after verifying the server; application bytes arrive as written, and the stream's
 * wire count is exactly what the server read (handshake and record overhead included),
 * all of it acknowledged.
 */
static void tls_roundtrip(const char *server_name)
{
	struct testpki p;
	struct tls_peer *t;
	struct stream *s;
	struct stream_tls_config tls = {0};
	uint64_t off = 0, wire;

	testpki_make(&p);
	t = peer_start(&p, NULL, false);
	tls.ca_file = p.ca;
	tls.server_name = server_name;
	s = new_stream(t->port, &tls);
	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	cr_assert_eq(stream_status(s), STREAM_UP);
	cr_assert_eq(peer_handshake(t, 1), 1);
	wire = stream_wire_bytes(s);
	cr_assert_gt(wire, 0, "the handshake is not counted");
	for (int i = 0; i < 5; i++)
		off = write_all_now(s, 5000, off);
	cr_assert_gt(stream_wire_bytes(s), wire + off, "no record overhead counted");
	peer_wait_read(t, off, stream_wire_bytes(s));
	cr_assert_eq(wait_acked(s, stream_wire_bytes(s)), stream_wire_bytes(s));
	cr_assert_eq(stream_check_peer(s), 0, "%s", stream_error(s)); /* session tickets */
	pthread_mutex_lock(&t->lock);
	cr_assert_str_empty(t->peer_cn, "no client certificate was configured");
	pthread_mutex_unlock(&t->lock);
	stream_free(s);
	peer_stop(t);
	testpki_remove(&p);
}

Test(stream, tls_handshake_with_the_right_ca)
{
	tls_roundtrip(NULL); /* the host 127.0.0.1 is matched against the IP SAN */
}

Test(stream, tls_server_name_is_checked_instead_of_the_host)
{
	tls_roundtrip("localhost"); /* the DNS SAN; the host stays 127.0.0.1 */
}

/* Verification failures: -EPROTO, the reason in the error text, the server refused. */
static void tls_refused(bool other_ca, const char *server_name, const char *reason)
{
	struct testpki p;
	struct tls_peer *t;
	struct stream *s;
	struct stream_tls_config tls = {0};
	int rc;

	testpki_make(&p);
	t = peer_start(&p, NULL, false);
	tls.ca_file = other_ca ? p.other_ca : p.ca;
	tls.server_name = server_name;
	s = new_stream(t->port, &tls);
	rc = open_and_drive(s);
	cr_assert_eq(rc, -EPROTO, "%d: %s", rc, stream_error(s));
	cr_assert_not_null(strstr(stream_error(s), "TLS handshake"), "'%s'", stream_error(s));
	cr_assert_not_null(strstr(stream_error(s), reason), "'%s'", stream_error(s));
	cr_assert_neq(stream_status(s), STREAM_UP);
	cr_assert_eq(stream_write(s, (const uint8_t *)"x", 1), -ENOTCONN);
	stream_close(s);
	cr_assert_eq(peer_handshake(t, 1), -1);
	pthread_mutex_lock(&t->lock);
	cr_assert_eq(t->rx_bytes, 0);
	pthread_mutex_unlock(&t->lock);
	stream_free(s);
	peer_stop(t);
	testpki_remove(&p);
}

Test(stream, tls_refuses_a_server_from_another_ca)
{
	tls_refused(true, NULL,
		    "certificate verify failed: unable to get local issuer certificate");
}

Test(stream, tls_refuses_a_certificate_for_another_name)
{
	tls_refused(false, "collector.example", "certificate verify failed: hostname mismatch");
}

Test(stream, tls_presents_the_client_certificate)
{
	struct testpki p;
	struct tls_peer *t;
	struct stream *s;
	struct stream_tls_config tls = {0};
	uint64_t off;

	testpki_make(&p);
	t = peer_start(&p, p.ca, false); /* requires a client certificate from the test CA */
	tls.ca_file = p.ca;
	tls.cert_file = p.client_crt;
	tls.key_file = p.client_key;
	s = new_stream(t->port, &tls);
	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	cr_assert_eq(peer_handshake(t, 1), 1);
	off = write_all_now(s, 4000, 0);
	peer_wait_read(t, off, stream_wire_bytes(s));
	pthread_mutex_lock(&t->lock);
	cr_assert_str_eq(t->peer_cn, TESTPKI_CLIENT_CN);
	pthread_mutex_unlock(&t->lock);
	stream_free(s);
	peer_stop(t);
	testpki_remove(&p);
}

/*
 * Without a client certificate a server that requires one refuses: with TLS 1.3 the client
 * learns it after its side of the handshake, from the alert, as -EPROTO.
 */
Test(stream, tls_server_requiring_a_client_certificate_refuses_none)
{
	struct testpki p;
	struct tls_peer *t;
	struct stream *s;
	struct stream_tls_config tls = {0};
	uint64_t end;
	int rc;

	testpki_make(&p);
	t = peer_start(&p, p.ca, false);
	tls.ca_file = p.ca;
	s = new_stream(t->port, &tls);
	rc = open_and_drive(s);
	end = mono_ms() + 5000;
	while (rc == 1 && mono_ms() < end) {
		stream_wait(s, false, 50);
		rc = stream_check_peer(s);
		rc = rc == 0 ? 1 : rc;
	}
	cr_assert_eq(rc, -EPROTO, "%d: %s", rc, stream_error(s));
	cr_assert_not_null(strstr(stream_error(s), "certificate required"), "'%s'",
			   stream_error(s));
	cr_assert_eq(peer_handshake(t, 1), -1);
	stream_free(s);
	peer_stop(t);
	testpki_remove(&p);
}

/*
 * Every connection loads the CA file again: a reopened stream verifies against what the
 * file holds now (a renewed CA needs no restart), and writes start from zero again.
 */
Test(stream, tls_reopen_reloads_the_ca_file)
{
	char live[160];
	struct testpki p;
	struct tls_peer *t;
	struct stream *s;
	struct stream_tls_config tls = {0};
	uint64_t off;
	int rc;

	testpki_make(&p);
	snprintf(live, sizeof(live), "%s/live-ca.pem", p.dir);
	sh_copy(p.ca, live);
	t = peer_start(&p, NULL, false);
	tls.ca_file = live;
	s = new_stream(t->port, &tls);
	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	off = write_all_now(s, 3000, 0);
	peer_wait_read(t, off, stream_wire_bytes(s));

	sh_copy(p.other_ca, live); /* the file now holds a CA that did not issue the server's */
	rc = open_and_drive(s);
	cr_assert_eq(rc, -EPROTO, "%d: %s", rc, stream_error(s));
	cr_assert_not_null(strstr(stream_error(s), "unable to get local issuer certificate"),
			   "'%s'", stream_error(s));
	cr_assert_eq(peer_handshake(t, 2), -1);

	sh_copy(p.ca, live);
	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	cr_assert_eq(peer_handshake(t, 3), 1);
	off = write_all_now(s, 2000, 0);
	peer_wait_read(t, off, stream_wire_bytes(s));
	cr_assert_eq(wait_acked(s, stream_wire_bytes(s)), stream_wire_bytes(s));
	stream_free(s);
	peer_stop(t);
	testpki_remove(&p);
}

Test(stream, tls_unusable_files_fail_at_new)
{
	struct stream_tls_config tls = {0};
	char missing[200];
	struct testpki p;

	testpki_make(&p);
	snprintf(missing, sizeof(missing), "%s/missing.pem", p.dir);
	tls.ca_file = missing;
	cr_assert_null(stream_new("t", "127.0.0.1", "4739", &tls), "missing CA file");
	tls.ca_file = p.ca;
	tls.cert_file = p.client_crt;
	tls.key_file = p.server_key;
	cr_assert_null(stream_new("t", "127.0.0.1", "4739", &tls), "key of another certificate");
	tls.cert_file = NULL;
	tls.key_file = p.client_key;
	cr_assert_null(stream_new("t", "127.0.0.1", "4739", &tls), "key without certificate");
	tls.cert_file = p.client_crt;
	tls.key_file = NULL;
	cr_assert_null(stream_new("t", "127.0.0.1", "4739", &tls), "no key in the certificate");
	testpki_remove(&p);
}

/*
 * TLS to a server that does not read: writes take whole records, then -EAGAIN, without
 * blocking. Retried with the same bytes once the server reads, every byte arrives once.
 */
Test(stream, tls_partial_writes_never_block)
{
	static uint8_t buf[64 * 1024];
	const uint64_t extra = 1u << 20; /* written after the server starts reading */
	struct testpki p;
	struct tls_peer *t;
	struct stream *s;
	struct stream_tls_config tls = {0};
	uint64_t off = 0, t0, worst = 0, target = 0, end;
	int again = 0;

	testpki_make(&p);
	t = peer_start(&p, NULL, true);
	tls.ca_file = p.ca;
	s = new_stream(t->port, &tls);
	cr_assert_eq(open_and_drive(s), 1, "%s", stream_error(s));
	cr_assert_eq(peer_handshake(t, 1), 1);
	end = mono_ms() + 20000;
	for (int i = 0; i < 100000 && (target == 0 || off < target) && mono_ms() < end; i++) {
		size_t len = sizeof(buf);
		ssize_t n;

		if (target && target - off < len)
			len = (size_t)(target - off);
		fill(buf, len, off); /* a retry passes the same bytes again */
		t0 = mono_ms();
		n = stream_write(s, buf, len);
		worst = mono_ms() - t0 > worst ? mono_ms() - t0 : worst;
		if (n == -EAGAIN) {
			again++;
			if (!target) {
				/* Full: now let the server read, and write a little more. */
				target = off + extra;
				pthread_mutex_lock(&t->lock);
				t->hold = false;
				pthread_mutex_unlock(&t->lock);
			}
			stream_wait(s, true, 50);
			continue;
		}
		cr_assert_gt(n, 0, "%s", stream_error(s));
		cr_assert_leq((size_t)n, len);
		off += (uint64_t)n;
	}
	cr_assert_gt(target, 0, "the server's socket never filled up");
	cr_assert_eq(off, target, "only %lu of %lu bytes taken", (unsigned long)off,
		     (unsigned long)target);
	cr_assert_lt(worst, 500, "a write took %lu ms", (unsigned long)worst);
	peer_wait_read(t, off, stream_wire_bytes(s));
	cr_assert_eq(wait_acked(s, stream_wire_bytes(s)), stream_wire_bytes(s));
	stream_free(s);
	peer_stop(t);
	testpki_remove(&p);
}
