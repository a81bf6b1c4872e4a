// SPDX-License-Identifier: Apache-2.0
/*
 * stream: a non-blocking TCP client socket, optionally wrapped in TLS. OpenSSL reaches the
 * socket through a small BIO of ours that sends with MSG_NOSIGNAL (a closed peer never raises
 * SIGPIPE) and counts every byte it hands to the kernel. SIOCOUTQ gives the bytes the peer
 * has not acknowledged yet, so "acknowledged" is exact for TLS records as for plain TCP. A
 * fresh SSL_CTX per connection picks up renewed certificate files.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "stream.h"

struct stream {
	char *name;	   /* owned: the target in human form, for log lines */
	char *host;	   /* owned */
	char *port;	   /* owned */
	bool tls;	   /* TLS settings below are used */
	char *ca_file;	   /* owned; NULL: system default store */
	char *cert_file;   /* owned; NULL: no client certificate */
	char *key_file;	   /* owned; NULL: the key is in cert_file */
	char *server_name; /* owned: what the peer certificate must match */

	/* One connection: everything below is reset by stream_close. */
	int fd; /* owned; -1 when closed */
	enum stream_status status;
	bool tcp_pending;    /* connect() has not completed yet */
	bool broken;	     /* a fatal TLS error happened: no close_notify */
	SSL_CTX *ctx;	     /* owned */
	SSL *ssl;	     /* owned; NULL for plain TCP */
	short want;	     /* poll events the TLS layer waits for */
	int sys_err;	     /* errno of the last failed send/recv inside the BIO */
	uint64_t wire_bytes; /* handed to the kernel on this connection */
	char err[400];
};

/* ---- errors ------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void set_error(struct stream *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void add_error(struct stream *s, const char *fmt, ...)
{
	size_t len = strlen(s->err);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err + len, sizeof(s->err) - len, fmt, ap);
	va_end(ap);
}

/* Append OpenSSL's queued errors (the oldest, the root cause, first; at most two). */
static void add_ssl_errors(struct stream *s)
{
	unsigned long e;
	int n = 0;

	while ((e = ERR_get_error()) != 0) {
		const char *reason = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e))
							 : ERR_reason_error_string(e);
		char buf[256];

		if (n++ >= 2)
			continue;
		if (!reason) {
			ERR_error_string_n(e, buf, sizeof(buf));
			reason = buf;
		}
		add_error(s, "%s%s", n == 1 ? ": " : "; ", reason);
	}
}

/*
 * A failed SSL call: describe it (verification result included) and return -errno. The peer
 * closing shows as "closed by the collector", whatever OpenSSL calls it.
 */
static int tls_failure(struct stream *s, const char *what, int e)
{
	unsigned long top = ERR_peek_error();
	long v = s->ssl ? SSL_get_verify_result(s->ssl) : X509_V_OK;

	s->broken = true;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !s->sys_err && !top) ||
	    (e == SSL_ERROR_SSL && ERR_GET_LIB(top) == ERR_LIB_SSL &&
	     ERR_GET_REASON(top) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		set_error(s, "%s: closed by the collector", what);
		ERR_clear_error();
		return -ECONNRESET;
	}
	if (e == SSL_ERROR_SYSCALL && s->sys_err) {
		set_error(s, "%s: %s", what, strerror(s->sys_err));
		ERR_clear_error();
		return -s->sys_err;
	}
	set_error(s, "%s", what);
	add_ssl_errors(s);
	if (v != X509_V_OK)
		add_error(s, ": %s", X509_verify_cert_error_string(v));
	return -EPROTO;
}

/* ---- the BIO between OpenSSL and the socket ----------------------------------------- */

static int bio_write(BIO *b, const char *buf, size_t len, size_t *written)
{
	struct stream *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		else
			s->sys_err = errno;
		return 0;
	}
	s->wire_bytes += (uint64_t)n;
	*written = (size_t)n;
	return 1;
}

static int bio_read(BIO *b, char *buf, size_t len, size_t *read_bytes)
{
	struct stream *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = recv(s->fd, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		else
			s->sys_err = errno;
		return 0;
	}
	if (n == 0) {
		BIO_set_flags(b, BIO_FLAGS_IN_EOF);
		return 0;
	}
	*read_bytes = (size_t)n;
	return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method; /* owned by the process; built once, never freed */
static pthread_once_t bio_method_once = PTHREAD_ONCE_INIT;

static void bio_method_build(void)
{
	BIO_METHOD *m =
		BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
			     "labelflow socket");

	if (!m)
		return;
	if (!BIO_meth_set_write_ex(m, bio_write) || !BIO_meth_set_read_ex(m, bio_read) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
		BIO_meth_free(m);
		return;
	}
	bio_method = m;
}

/* ---- TLS setup ---------------------------------------------------------------------- */

/* Encrypted keys are refused instead of prompting on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *user)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)user;
	return 0;
}

static SSL_CTX *tls_ctx_new(struct stream *s)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		set_error(s, "TLS: cannot create a context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (s->ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL) != 1) {
			set_error(s, "TLS CA file '%s'", s->ca_file);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		set_error(s, "TLS: cannot load the system CA store");
		goto fail;
	}
	if (s->cert_file) {
		const char *key = s->key_file ? s->key_file : s->cert_file;

		if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1) {
			set_error(s, "TLS client certificate '%s'", s->cert_file);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			set_error(s, "TLS client key '%s'", key);
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			set_error(s, "TLS client key '%s' does not match certificate '%s'", key,
				  s->cert_file);
			goto fail;
		}
	}
	return ctx;
fail:
	add_ssl_errors(s);
	SSL_CTX_free(ctx);
	return NULL;
}

/* The TCP connection is up: create the session, with what the certificate must match. */
static int tls_start(struct stream *s)
{
	const char *name = s->server_name;
	unsigned char addr[16];
	X509_VERIFY_PARAM *param;
	BIO *bio = NULL;

	ERR_clear_error();
	pthread_once(&bio_method_once, bio_method_build);
	s->ssl = SSL_new(s->ctx);
	if (s->ssl && bio_method)
		bio = BIO_new(bio_method);
	if (!bio) {
		set_error(s, "TLS: cannot create a session");
		add_ssl_errors(s);
		return -ENOMEM;
	}
	BIO_set_data(bio, s);
	SSL_set_bio(s->ssl, bio, bio);
	param = SSL_get0_param(s->ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1) {
			set_error(s, "TLS: cannot verify against address '%s'", name);
			add_ssl_errors(s);
			return -EINVAL;
		}
	} else if (SSL_set1_host(s->ssl, name) != 1 ||
		   SSL_set_tlsext_host_name(s->ssl, name) != 1) {
		set_error(s, "TLS: cannot verify against name '%s'", name);
		add_ssl_errors(s);
		return -EINVAL;
	}
	SSL_set_connect_state(s->ssl);
	return 0;
}

static bool wait_fd(int fd, short events, int wait_ms)
{
	struct pollfd p = {.fd = fd, .events = events};

	return poll(&p, 1, wait_ms) > 0;
}

/* One handshake step, and after waiting up to wait_ms for the socket, one more. */
static int tls_handshake(struct stream *s, int wait_ms)
{
	for (int round = 0;; round++) {
		int r, e;

		ERR_clear_error();
		s->sys_err = 0;
		r = SSL_connect(s->ssl);
		if (r == 1) {
			s->status = STREAM_UP;
			s->want = 0;
			return 1;
		}
		e = SSL_get_error(s->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return tls_failure(s, "TLS handshake", e);
		s->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (round > 0 || wait_ms <= 0 || !wait_fd(s->fd, s->want, wait_ms))
			return 0;
	}
}

/* ---- public ------------------------------------------------------------------------- */

static char *dup_or_null(const char *v)
{
	return v && *v ? strdup(v) : NULL;
}

struct stream *stream_new(const char *name, const char *host, const char *port,
			  const struct stream_tls_config *tls)
{
	struct stream *s = calloc(1, sizeof(*s));
	SSL_CTX *ctx;

	if (!s)
		goto oom;
	s->fd = -1;
	s->name = strdup(name);
	s->host = strdup(host);
	s->port = strdup(port);
	if (!s->name || !s->host || !s->port)
		goto oom;
	if (!tls)
		return s;
	s->tls = true;
	s->ca_file = dup_or_null(tls->ca_file);
	s->cert_file = dup_or_null(tls->cert_file);
	s->key_file = dup_or_null(tls->key_file);
	s->server_name = strdup(tls->server_name && *tls->server_name ? tls->server_name : host);
	if (!s->server_name || (tls->ca_file && *tls->ca_file && !s->ca_file) ||
	    (tls->cert_file && *tls->cert_file && !s->cert_file) ||
	    (tls->key_file && *tls->key_file && !s->key_file))
		goto oom;
	if (s->key_file && !s->cert_file) {
		log_error("export target '%s': TLS key file '%s' given without a certificate file",
			  name, s->key_file);
		goto fail;
	}
	/* Load everything once now: a wrong path is a configuration error, reported at start. */
	ctx = tls_ctx_new(s);
	if (!ctx) {
		log_error("export target '%s': %s", name, s->err);
		goto fail;
	}
	SSL_CTX_free(ctx);
	return s;
oom:
	log_error("export target '%s': out of memory", name);
fail:
	stream_free(s);
	return NULL;
}

void stream_close(struct stream *s)
{
	if (!s)
		return;
	if (s->ssl) {
		/* A close_notify if the session is healthy; the result does not matter. */
		if (s->status == STREAM_UP && !s->broken) {
			ERR_clear_error();
			SSL_shutdown(s->ssl);
		}
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	ERR_clear_error();
	SSL_CTX_free(s->ctx);
	s->ctx = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->status = STREAM_CLOSED;
	s->tcp_pending = false;
	s->broken = false;
	s->want = 0;
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	stream_close(s);
	free(s->name);
	free(s->host);
	free(s->port);
	free(s->ca_file);
	free(s->cert_file);
	free(s->key_file);
	free(s->server_name);
	free(s);
}

/* TCP is connected: plain streams are up, TLS ones start their handshake. */
static int tcp_connected(struct stream *s, int wait_ms)
{
	int ret;

	s->tcp_pending = false;
	if (!s->tls) {
		s->status = STREAM_UP;
		return 1;
	}
	ret = tls_start(s);
	return ret < 0 ? ret : tls_handshake(s, wait_ms);
}

int stream_open(struct stream *s)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int rc;

	stream_close(s);
	s->wire_bytes = 0;
	s->sys_err = 0;
	rc = getaddrinfo(s->host, s->port, &hints, &ai);
	if (rc != 0) {
		set_error(s, "cannot resolve '%s': %s", s->host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	if (s->tls && !(s->ctx = tls_ctx_new(s))) {
		freeaddrinfo(ai);
		return -EINVAL;
	}
	s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		rc = errno;
		freeaddrinfo(ai);
		set_error(s, "socket: %s", strerror(rc));
		return -rc;
	}
	s->status = STREAM_CONNECTING;
	rc = connect(s->fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
	freeaddrinfo(ai);
	if (rc == 0) {
		rc = tcp_connected(s, 0);
		return rc < 0 ? rc : 0;
	}
	if (rc == EINPROGRESS) {
		s->tcp_pending = true;
		return 0;
	}
	set_error(s, "connect: %s", strerror(rc));
	return -rc;
}

int stream_progress(struct stream *s, int wait_ms)
{
	if (s->status == STREAM_UP)
		return 1;
	if (s->status != STREAM_CONNECTING) {
		set_error(s, "not connected");
		return -ENOTCONN;
	}
	if (s->tcp_pending) {
		socklen_t len = sizeof(int);
		int err = 0;

		if (!wait_fd(s->fd, POLLOUT, wait_ms))
			return 0;
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			set_error(s, "connect: %s", strerror(err));
			return -err;
		}
		return tcp_connected(s, 0);
	}
	return tls_handshake(s, wait_ms);
}

ssize_t stream_write(struct stream *s, const uint8_t *buf, size_t len)
{
	size_t written = 0;
	ssize_t n;
	int e;

	if (s->status != STREAM_UP) {
		set_error(s, "not connected");
		return -ENOTCONN;
	}
	if (!s->ssl) {
		do
			n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n >= 0) {
			s->wire_bytes += (uint64_t)n;
			return n;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		e = errno;
		set_error(s, "send: %s", strerror(e));
		return -e;
	}
	ERR_clear_error();
	s->sys_err = 0;
	if (SSL_write_ex(s->ssl, buf, len, &written) == 1)
		return (ssize_t)written;
	e = SSL_get_error(s->ssl, 0);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		s->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return -EAGAIN;
	}
	return tls_failure(s, "TLS send", e);
}

int stream_check_peer(struct stream *s)
{
	uint8_t sink[4096];

	if (s->status != STREAM_UP) {
		set_error(s, "not connected");
		return -ENOTCONN;
	}
	/* Collectors send nothing over IPFIX/TCP: readable means closed, or junk to discard. */
	for (int i = 0; i < 64; i++) {
		ssize_t n;
		size_t got;
		int e;

		if (!(s->ssl && SSL_has_pending(s->ssl)) && !wait_fd(s->fd, POLLIN, 0))
			return 0;
		if (s->ssl) {
			ERR_clear_error();
			s->sys_err = 0;
			if (SSL_read_ex(s->ssl, sink, sizeof(sink), &got) == 1)
				continue;
			e = SSL_get_error(s->ssl, 0);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			return tls_failure(s, "TLS receive", e);
		}
		n = recv(s->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (n == 0) {
			set_error(s, "closed by the collector");
			return -ECONNRESET;
		}
		e = errno;
		set_error(s, "receive: %s", strerror(e));
		return -e;
	}
	return 0;
}

void stream_wait(struct stream *s, bool want_write, int wait_ms)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};

	if (s->fd < 0) {
		poll(NULL, 0, wait_ms);
		return;
	}
	if (s->status == STREAM_CONNECTING)
		p.events = s->tcp_pending ? POLLOUT : s->want;
	else if (want_write && !(s->ssl && s->want == POLLIN))
		p.events |= POLLOUT;
	poll(&p, 1, wait_ms);
}

uint64_t stream_wire_bytes(const struct stream *s)
{
	return s->wire_bytes;
}

int stream_acked_bytes(const struct stream *s, uint64_t *ret_bytes)
{
	int outq = 0;

	if (s->fd < 0)
		return -ENOTCONN;
	if (ioctl(s->fd, SIOCOUTQ, &outq) < 0)
		return -errno;
	*ret_bytes = (uint64_t)outq >= s->wire_bytes ? 0 : s->wire_bytes - (uint64_t)outq;
	return 0;
}

enum stream_status stream_status(const struct stream *s)
{
	return s->status;
}

const char *stream_error(const struct stream *s)
{
	return s->err;
}
