// SPDX-License-Identifier: Apache-2.0
/*
 * transport: target parsing, file output, UDP and NetFlow datagrams (templates first, refresh
 * by count and time, NetFlow v9 renumbering), TCP to a loopback listener that is closed and
 * re-opened, TLS against an in-test OpenSSL server with a CA made in the test (verification,
 * client certificates), and what a collector that goes away mid-stream receives: every
 * message at least once. Loopback only; the caller's clock is simulated through now_ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testpki.h"
#include "transport.h"

static const struct transport_config cfg_default = {
	.queue_msgs = 64,
	.template_refresh_ms = 60000,
	.template_refresh_msgs = 1000,
	.reconnect_min_ms = 100,
	.reconnect_max_ms = 400,
};

/* A fake IPFIX message: header with seq and export time, then len-16 bytes of marker. */
static size_t make_msg(uint8_t *buf, size_t len, uint32_t seq, uint8_t marker)
{
	uint16_t v = htons(10), l = htons((uint16_t)len);
	uint32_t t = htonl(1234), s = htonl(seq), d = htonl(1);

	memcpy(buf, &v, 2);
	memcpy(buf + 2, &l, 2);
	memcpy(buf + 4, &t, 4);
	memcpy(buf + 8, &s, 4);
	memcpy(buf + 12, &d, 4);
	memset(buf + 16, marker, len - 16);
	return len;
}

static uint32_t msg_seq(const uint8_t *m)
{
	uint32_t v;

	memcpy(&v, m + 8, 4);
	return ntohl(v);
}

static uint32_t msg_time(const uint8_t *m)
{
	uint32_t v;

	memcpy(&v, m + 4, 4);
	return ntohl(v);
}

static int send_msg(struct transport *t, size_t len, uint32_t seq, uint32_t n_records,
		    uint8_t marker, bool is_template, uint64_t now_ms)
{
	uint8_t buf[65536];

	make_msg(buf, len, seq, marker);
	return transport_send(t, buf, len, is_template, seq + n_records, now_ms);
}

/* ---- parsing ------------------------------------------------------------------------ */

Test(transport, parses_targets)
{
	struct transport_spec s;
	char err[256], buf[512];

	cr_assert_eq(transport_parse("udp:127.0.0.1:4739", &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.kind, TRANSPORT_UDP);
	cr_assert_str_eq(s.host, "127.0.0.1");
	cr_assert_str_eq(s.port, "4739");
	cr_assert_str_eq(transport_spec_str(&s, buf, sizeof(buf)), "udp:127.0.0.1:4739");

	cr_assert_eq(transport_parse("tcp:[fd00::1]:9995", &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.kind, TRANSPORT_TCP);
	cr_assert_str_eq(s.host, "fd00::1");
	cr_assert_str_eq(s.port, "9995");
	cr_assert_str_eq(transport_spec_str(&s, buf, sizeof(buf)), "tcp:[fd00::1]:9995");

	cr_assert_eq(transport_parse("tcp:collector.example:65535", &s, err, sizeof(err)), 0);
	cr_assert_str_eq(s.host, "collector.example");

	cr_assert_eq(transport_parse("file:/var/tmp/x:y.ipfix", &s, err, sizeof(err)), 0);
	cr_assert_eq(s.kind, TRANSPORT_FILE);
	cr_assert_str_eq(s.path, "/var/tmp/x:y.ipfix");
	cr_assert_eq(transport_parse("file:-", &s, err, sizeof(err)), 0);
	cr_assert_str_eq(transport_spec_str(&s, buf, sizeof(buf)), "file:-");
}

Test(transport, parses_tls_and_netflow_targets)
{
	static const struct {
		const char *text;
		enum transport_kind kind;
		const char *host, *port;
	} ok[] = {
		{"tls:collector.example:4740", TRANSPORT_TLS, "collector.example", "4740"},
		{"tls:[fd00::2]:4740", TRANSPORT_TLS, "fd00::2", "4740"},
		{"netflow9:10.0.0.1:2055", TRANSPORT_NETFLOW9, "10.0.0.1", "2055"},
		{"netflow9:[::1]:9995", TRANSPORT_NETFLOW9, "::1", "9995"},
		{"netflow5:nfcapd.local:9996", TRANSPORT_NETFLOW5, "nfcapd.local", "9996"},
		{"udp:127.0.0.1:1", TRANSPORT_UDP, "127.0.0.1", "1"},
		{"tcp:h:65535", TRANSPORT_TCP, "h", "65535"},
	};
	struct transport_spec s;
	char err[256], buf[512];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(transport_parse(ok[i].text, &s, err, sizeof(err)), 0, "%s: %s",
			     ok[i].text, err);
		cr_assert_eq(s.kind, ok[i].kind, "%s", ok[i].text);
		cr_assert_str_eq(s.host, ok[i].host);
		cr_assert_str_eq(s.port, ok[i].port);
		/* The human form parses back to itself. */
		cr_assert_str_eq(transport_spec_str(&s, buf, sizeof(buf)), ok[i].text);
	}
}

Test(transport, rejects_bad_targets)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"udp:collector", "missing port"},
		{"udp:collector:", "missing port"},
		{"tcp:[::1]", "missing port"},
		{"tcp:[::1]:", "missing port"},
		{"udp:host:0", "bad port"},
		{"udp:host:65536", "bad port"},
		{"udp:host:47x9", "bad port"},
		{"udp:host:-1", "bad port"},
		{"sctp:host:4739", "unknown scheme 'sctp'"},
		{"tlsv1:host:4739", "unknown scheme 'tlsv1'"},
		{"TLS:host:4739", "unknown scheme 'TLS'"},
		{"netflow:host:2055", "unknown scheme 'netflow'"},
		{"tls:host", "missing port"},
		{"tls:[::1]:", "missing port"},
		{"netflow9:host:99999", "bad port"},
		{"netflow5:fd00::1:2055", "brackets"},
		{"netflow9::2055", "missing host"},
		{"udp:fd00::1:4739", "brackets"},
		{"udp::4739", "missing host"},
		{"tcp:[::1:4739", "missing ']'"},
		{"file:", "missing file path"},
		{"collector", "expected file:PATH"},
	};
	struct transport_spec s = {.kind = TRANSPORT_TCP};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";

		cr_assert_eq(transport_parse(bad[i].text, &s, err, sizeof(err)), -EINVAL, "%s",
			     bad[i].text);
		cr_assert_not_null(strstr(err, bad[i].why), "'%s': got '%s'", bad[i].text, err);
	}
	cr_assert_eq(transport_parse(NULL, &s, NULL, 0), -EINVAL);
	cr_assert_eq(s.kind, TRANSPORT_TCP, "spec written on failure");
}

/* ---- file --------------------------------------------------------------------------- */

Test(transport, file_gets_messages_in_order)
{
	char path[] = "/tmp/lf-transport-XXXXXX";
	int fd = mkstemp(path);
	struct transport_spec s;
	struct transport *t;
	uint8_t got[1024];
	char text[4200];

	cr_assert_geq(fd, 0);
	snprintf(text, sizeof(text), "file:%s", path);
	cr_assert_eq(transport_parse(text, &s, NULL, 0), 0);
	t = transport_new(&s, &cfg_default);
	cr_assert_not_null(t);
	cr_assert(transport_connected(t));
	cr_assert_eq(send_msg(t, 40, 0, 0, 'T', true, 1000), 0);
	cr_assert_eq(send_msg(t, 100, 0, 3, 'a', false, 1000), 0);
	cr_assert_eq(send_msg(t, 60, 3, 1, 'b', false, 2000), 0);
	transport_poll(t, 999999999); /* no template refresh into files */
	cr_assert_eq(transport_get_stats(t)->msgs_sent, 3);
	cr_assert_eq(transport_get_stats(t)->bytes_sent, 200);
	cr_assert_eq(transport_get_stats(t)->template_sends, 1);
	transport_free(t, 0);

	cr_assert_eq(read(fd, got, sizeof(got)), 200);
	cr_assert_eq(got[16], 'T');
	cr_assert_eq(msg_time(got), 1234, "file messages are written as handed over");
	cr_assert_eq(got[40 + 16], 'a');
	cr_assert_eq(got[140 + 16], 'b');
	close(fd);
	unlink(path);
}

Test(transport, file_open_failure_is_null)
{
	struct transport_spec s;

	cr_assert_eq(transport_parse("file:/nonexistent-dir/x.ipfix", &s, NULL, 0), 0);
	cr_assert_null(transport_new(&s, &cfg_default));
}

/* ---- UDP ---------------------------------------------------------------------------- */

static int udp_listener(char *port, size_t port_size)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct timeval tv = {.tv_sec = 2};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	snprintf(port, port_size, "%u", ntohs(a.sin_port));
	return fd;
}

static struct transport *udp_transport(const char *port, const struct transport_config *cfg)
{
	struct transport_spec s = {.kind = TRANSPORT_UDP};
	struct transport *t;

	snprintf(s.host, sizeof(s.host), "127.0.0.1");
	snprintf(s.port, sizeof(s.port), "%s", port);
	t = transport_new(&s, cfg);
	cr_assert_not_null(t);
	return t;
}

/* Receive one datagram; returns its marker byte (or 0 if none arrived). */
static uint8_t udp_recv(int fd, uint8_t *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size, 0);

	return n > 16 ? buf[16] : 0;
}

Test(transport, udp_templates_first_and_refreshed_by_count)
{
	struct transport_config cfg = cfg_default;
	struct transport *t;
	char port[16];
	uint8_t buf[2048];
	int fd = udp_listener(port, sizeof(port));
	/* Expected wire order with a refresh every 3 data messages. */
	const char *expect = "TUabcTUdefTUg";

	cfg.template_refresh_msgs = 3;
	t = udp_transport(port, &cfg);
	/* Template set: T carries 2 options records (seq 0 -> 2), U only templates. */
	cr_assert_eq(send_msg(t, 100, 0, 2, 'T', true, 5000), 0);
	cr_assert_eq(send_msg(t, 80, 2, 0, 'U', true, 5000), 0);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(
			send_msg(t, 200, 2 + 10 * (uint32_t)i, 10, (uint8_t)('a' + i), false, 7000),
			0);
	/*
	 * One gap-free sequence (RFC 7011 section 3.1): each message's number is the previous
	 * one's plus its data records; a replayed T's 2 options records take new numbers and
	 * shift every later message by 2.
	 */
	static const uint32_t seqs[] = {0, 2, 2, 12, 22, 32, 34, 34, 44, 54, 64, 66, 66};
	for (const char *e = expect; *e; e++) {
		size_t i = (size_t)(e - expect);

		cr_assert_eq(udp_recv(fd, buf, sizeof(buf)), *e, "expected '%c'", *e);
		cr_assert_eq(msg_seq(buf), seqs[i], "message %zu ('%c'): sequence %u, want %u", i,
			     *e, msg_seq(buf), seqs[i]);
		if (e == expect + 10)
			cr_assert_eq(msg_time(buf), 7, "export time patched to now");
	}
	cr_assert_eq(transport_get_stats(t)->template_sends, 3);
	cr_assert_eq(transport_get_stats(t)->msgs_sent, 13);
	cr_assert_eq(transport_get_stats(t)->queued, 0);
	transport_free(t, 0);
	close(fd);
}

Test(transport, udp_templates_refreshed_by_time)
{
	struct transport *t;
	char port[16];
	uint8_t buf[2048];
	int fd = udp_listener(port, sizeof(port));

	t = udp_transport(port, &cfg_default);
	cr_assert_eq(send_msg(t, 100, 0, 0, 'T', true, 1000), 0);
	cr_assert_eq(send_msg(t, 100, 0, 4, 'a', false, 1000), 0);
	transport_poll(t, 1000 + 59999);
	cr_assert_eq(transport_get_stats(t)->template_sends, 1);
	transport_poll(t, 1000 + 60000);
	cr_assert_eq(transport_get_stats(t)->template_sends, 2);
	cr_assert_eq(udp_recv(fd, buf, sizeof(buf)), 'T');
	cr_assert_eq(udp_recv(fd, buf, sizeof(buf)), 'a');
	cr_assert_eq(udp_recv(fd, buf, sizeof(buf)), 'T');
	cr_assert_eq(msg_seq(buf), 4, "refresh numbered as the next data message");
	cr_assert_eq(msg_time(buf), 61);
	transport_free(t, 0);
	close(fd);
}

Test(transport, udp_refused_is_counted_not_fatal)
{
	struct transport *t;
	char port[16];
	int fd = udp_listener(port, sizeof(port));

	close(fd); /* nobody listens: the kernel answers with port unreachable */
	t = udp_transport(port, &cfg_default);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(send_msg(t, 100, (uint32_t)i, 1, 'a', false, 1000), 0);
		usleep(2000);
	}
	cr_assert_geq(transport_get_stats(t)->send_errors, 1);
	cr_assert_eq(transport_get_stats(t)->queued, 0);
	cr_assert(transport_connected(t));
	transport_free(t, 0);
}

/* ---- NetFlow datagrams -------------------------------------------------------------- */

/* A NetFlow v9 datagram: version 9, count 1, sysUptime, unix_secs, sequence, source ID. */
static void send_nf9(struct transport *t, uint32_t seq, uint8_t marker, bool is_template,
		     uint64_t now_ms)
{
	uint8_t b[120];
	uint16_t v = htons(9), c = htons(1);
	uint32_t up = htonl(0xaabbccdd), secs = htonl(1234), sq = htonl(seq), src = htonl(7);

	memcpy(b, &v, 2);
	memcpy(b + 2, &c, 2);
	memcpy(b + 4, &up, 4);
	memcpy(b + 8, &secs, 4);
	memcpy(b + 12, &sq, 4);
	memcpy(b + 16, &src, 4);
	memset(b + 20, marker, sizeof(b) - 20);
	cr_assert_eq(transport_send(t, b, sizeof(b), is_template, seq + 1, now_ms), 0);
}

static uint32_t be32_at(const uint8_t *b, size_t off)
{
	uint32_t v;

	memcpy(&v, b + off, 4);
	return ntohl(v);
}

Test(transport, netflow9_refresh_takes_fresh_sequence_numbers)
{
	struct transport_config cfg = cfg_default;
	struct transport_spec s = {.kind = TRANSPORT_NETFLOW9};
	struct transport *t;
	char port[16];
	uint8_t buf[2048];
	int fd = udp_listener(port, sizeof(port));
	/* Refresh every 2 data datagrams; package sequence counts every datagram sent. */
	static const struct {
		char marker;
		uint32_t seq, secs;
	} expect[] = {
		{'T', 0, 1234}, {'a', 1, 1234}, {'b', 2, 1234}, {'T', 3, 7},  {'c', 4, 1234},
		{'d', 5, 1234}, {'T', 6, 7},	{'e', 7, 1234}, {'T', 8, 67},
	};

	cfg.template_refresh_msgs = 2;
	snprintf(s.host, sizeof(s.host), "127.0.0.1");
	snprintf(s.port, sizeof(s.port), "%s", port);
	t = transport_new(&s, &cfg);
	cr_assert_not_null(t);
	send_nf9(t, 0, 'T', true, 5000);
	for (uint32_t i = 0; i < 5; i++)
		send_nf9(t, 1 + i, (uint8_t)('a' + i), false, 7000);
	transport_poll(t, 7000 + 60000); /* by time, with nothing queued */
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		cr_assert_eq(n, 120, "datagram %zu", i);
		cr_assert_eq(buf[20], expect[i].marker, "datagram %zu", i);
		cr_assert_eq(be32_at(buf, 12), expect[i].seq, "datagram %zu ('%c')", i, buf[20]);
		cr_assert_eq(be32_at(buf, 8), expect[i].secs, "datagram %zu unix_secs", i);
		cr_assert_eq(be32_at(buf, 4), 0xaabbccdd, "sysUptime is never touched");
		cr_assert_eq(be32_at(buf, 16), 7, "source ID is never touched");
	}
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1, "one datagram too many");
	cr_assert_eq(transport_get_stats(t)->template_sends, 4);
	cr_assert_eq(transport_get_stats(t)->msgs_sent, 9);
	transport_free(t, 0);
	close(fd);
}

Test(transport, netflow5_datagrams_go_out_untouched)
{
	struct transport_spec s = {.kind = TRANSPORT_NETFLOW5};
	struct transport *t;
	char port[16];
	uint8_t msg[3][72], got[2048];
	int fd = udp_listener(port, sizeof(port));

	snprintf(s.host, sizeof(s.host), "127.0.0.1");
	snprintf(s.port, sizeof(s.port), "%s", port);
	t = transport_new(&s, &cfg_default);
	cr_assert_not_null(t);
	cr_assert_eq(transport_send(t, msg[0], 20, false, 1, 1000), -EINVAL, "v5 header is 24");
	for (int i = 0; i < 3; i++) {
		memset(msg[i], 'a' + i, sizeof(msg[i]));
		msg[i][0] = 0;
		msg[i][1] = 5;
		/* is_template means nothing for v5: nothing is cached or refreshed. */
		cr_assert_eq(transport_send(t, msg[i], sizeof(msg[i]), i == 0, (uint32_t)i, 1000),
			     0);
	}
	transport_poll(t, 1000 + 3600000);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(recv(fd, got, sizeof(got), 0), (ssize_t)sizeof(msg[i]));
		cr_assert_eq(memcmp(got, msg[i], sizeof(msg[i])), 0, "datagram %d changed", i);
	}
	cr_assert_eq(recv(fd, got, sizeof(got), MSG_DONTWAIT), -1, "a refresh was sent");
	cr_assert_eq(transport_get_stats(t)->template_sends, 0);
	transport_free(t, 0);
	close(fd);
}

/* ---- TCP ---------------------------------------------------------------------------- */

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(*port)};
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static struct transport *tcp_transport(uint16_t port, const struct transport_config *cfg)
{
	struct transport_spec s = {.kind = TRANSPORT_TCP};
	struct transport *t;

	snprintf(s.host, sizeof(s.host), "127.0.0.1");
	snprintf(s.port, sizeof(s.port), "%u", port);
	t = transport_new(&s, cfg);
	cr_assert_not_null(t);
	return t;
}

/* Drive the transport until it is connected; returns the simulated time reached. */
static uint64_t poll_until_connected(struct transport *t, uint64_t now_ms)
{
	for (int i = 0; i < 500 && !transport_connected(t); i++) {
		transport_poll(t, now_ms);
		if (!transport_connected(t)) {
			usleep(1000);
			now_ms += 10;
		}
	}
	cr_assert(transport_connected(t));
	return now_ms;
}

static int accept_peer(int lfd)
{
	struct timeval tv = {.tv_sec = 2};
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

/* Read one whole IPFIX message from a stream; returns its marker. */
static uint8_t tcp_recv(int fd, uint8_t *buf)
{
	size_t got = 0, want = 16;

	while (got < want) {
		ssize_t n = recv(fd, buf + got, want - got, 0);

		cr_assert_gt(n, 0, "stream ended after %zu of %zu bytes", got, want);
		got += (size_t)n;
		if (got == 16)
			want = (size_t)(buf[2] << 8 | buf[3]);
	}
	return buf[16];
}

Test(transport, tcp_reconnects_and_replays_templates_before_queue)
{
	struct transport_config cfg = cfg_default;
	uint16_t port = 0;
	int lfd = tcp_listener(&port), pfd;
	struct transport *t;
	uint8_t buf[65536];
	uint64_t now = 1000;

	t = tcp_transport(port, &cfg);
	/* Templates handed over while connecting wait in the cache. */
	cr_assert_eq(send_msg(t, 120, 0, 2, 'T', true, now), 0);
	cr_assert_eq(send_msg(t, 90, 2, 0, 'U', true, now), 0);
	now = poll_until_connected(t, now);
	pfd = accept_peer(lfd);
	cr_assert_eq(send_msg(t, 300, 2, 3, 'a', false, now), 0);
	cr_assert_eq(tcp_recv(pfd, buf), 'T');
	cr_assert_eq(msg_seq(buf), 0);
	cr_assert_eq(tcp_recv(pfd, buf), 'U');
	cr_assert_eq(msg_seq(buf), 2);
	cr_assert_eq(tcp_recv(pfd, buf), 'a');

	/* The collector goes away. */
	close(pfd);
	close(lfd);
	for (int i = 0; i < 100 && transport_connected(t); i++) {
		usleep(1000);
		transport_poll(t, now);
	}
	cr_assert_not(transport_connected(t));
	cr_assert_eq(send_msg(t, 300, 5, 1, 'b', false, now), 0);
	cr_assert_eq(send_msg(t, 40000, 6, 2, 'c', false, now), 0);
	cr_assert_eq(transport_get_stats(t)->queued, 2);

	/* Back on the same port: templates first (re-numbered to end at 5), then b, c. */
	lfd = tcp_listener(&port);
	now = poll_until_connected(t, now + cfg.reconnect_max_ms);
	pfd = accept_peer(lfd);
	for (int i = 0; i < 100 && transport_get_stats(t)->queued; i++)
		transport_poll(t, now);
	cr_assert_eq(tcp_recv(pfd, buf), 'T');
	cr_assert_eq(msg_seq(buf), 3);
	cr_assert_eq(msg_time(buf), now / 1000);
	cr_assert_eq(tcp_recv(pfd, buf), 'U');
	cr_assert_eq(msg_seq(buf), 5);
	cr_assert_eq(tcp_recv(pfd, buf), 'b');
	cr_assert_eq(msg_seq(buf), 5);
	cr_assert_eq(tcp_recv(pfd, buf), 'c');
	cr_assert_eq(buf[39999], 'c');

	cr_assert_eq(transport_get_stats(t)->connects, 2);
	cr_assert_eq(transport_get_stats(t)->template_sends, 2);
	cr_assert_eq(transport_get_stats(t)->msgs_sent, 7);
	cr_assert_eq(transport_get_stats(t)->msgs_dropped, 0);
	transport_free(t, 100);
	close(pfd);
	close(lfd);
}

Test(transport, tcp_queue_bound_drops_and_counts)
{
	struct transport_config cfg = cfg_default;
	uint16_t port = 0;
	int lfd = tcp_listener(&port);
	struct transport *t;
	uint64_t now = 1000;

	close(lfd); /* a port nobody listens on */
	cfg.queue_msgs = 5;
	t = tcp_transport(port, &cfg);
	for (int i = 0; i < 20; i++) {
		transport_poll(t, now);
		now += 500;
		usleep(500);
	}
	cr_assert_not(transport_connected(t));
	cr_assert_geq(transport_get_stats(t)->connect_failures, 2);
	cr_assert_eq(transport_get_stats(t)->connects, 0);
	for (int i = 0; i < 8; i++) {
		int ret = send_msg(t, 100, (uint32_t)i, 1, 'a', false, now);

		cr_assert_eq(ret, i < 5 ? 0 : -ENOBUFS, "message %d", i);
	}
	cr_assert_eq(transport_get_stats(t)->queued, 5);
	cr_assert_eq(transport_get_stats(t)->msgs_dropped, 3);
	cr_assert_eq(transport_get_stats(t)->msgs_sent, 0);
	transport_free(t, 50);
}

Test(transport, tcp_partial_writes_keep_the_stream_intact)
{
	struct transport_config cfg = cfg_default;
	uint16_t port = 0;
	int lfd = tcp_listener(&port), pfd;
	struct transport *t;
	static uint8_t acc[4 * 65536];
	size_t have = 0;
	uint64_t now = 1000;
	int n_msgs = 200, got = 0;

	cfg.queue_msgs = 1000;
	t = tcp_transport(port, &cfg);
	now = poll_until_connected(t, now);
	pfd = accept_peer(lfd);
	/* 200 x 50000 bytes: far more than the socket buffers hold while nobody reads. */
	for (int i = 0; i < n_msgs; i++)
		cr_assert_eq(send_msg(t, 50000, (uint32_t)i, 1, (uint8_t)i, false, now), 0);
	cr_assert_gt(transport_get_stats(t)->queued, 0, "nothing left queued: test too small");
	/* Read the byte stream as it comes, cutting it into messages; drive the sender. */
	for (int idle = 0; got < n_msgs && idle < 5000;) {
		ssize_t n = recv(pfd, acc + have, sizeof(acc) - have, MSG_DONTWAIT);

		transport_poll(t, now);
		if (n <= 0) {
			struct pollfd p = {.fd = pfd, .events = POLLIN};

			poll(&p, 1, 1);
			idle++;
			continue;
		}
		idle = 0;
		have += (size_t)n;
		while (have >= 16 && have >= (size_t)(acc[2] << 8 | acc[3])) {
			size_t len = (size_t)(acc[2] << 8 | acc[3]);

			cr_assert_eq(len, 50000);
			cr_assert_eq(acc[16], (uint8_t)got, "message %d", got);
			cr_assert_eq(acc[49999], (uint8_t)got, "message %d", got);
			cr_assert_eq(msg_seq(acc), (uint32_t)got);
			memmove(acc, acc + len, have - len);
			have -= len;
			got++;
		}
	}
	cr_assert_eq(got, n_msgs);
	cr_assert_eq(have, 0);
	cr_assert_eq(transport_get_stats(t)->msgs_sent, (uint64_t)n_msgs);
	cr_assert_eq(transport_get_stats(t)->queued, 0);
	transport_free(t, 100);
	close(pfd);
	close(lfd);
}

Test(transport, tcp_linger_delivers_queue_at_free)
{
	struct transport_config cfg = cfg_default;
	uint16_t port = 0;
	int lfd = tcp_listener(&port), pfd;
	struct transport *t;
	uint8_t buf[65536];

	t = tcp_transport(port, &cfg);
	cr_assert_eq(send_msg(t, 100, 0, 1, 'x', false, 1000), 0);
	pfd = accept_peer(lfd);
	/* Still connecting (never polled): free must finish the connect and send. */
	transport_free(t, 2000);
	cr_assert_eq(tcp_recv(pfd, buf), 'x');
	close(pfd);
	close(lfd);
}

/* A collector that closes every connection at once: attempts slow down, up to the cap. */
Test(transport, tcp_flapping_collector_is_retried_with_backoff)
{
	struct transport_config cfg = cfg_default; /* backoff 100..400 ms */
	uint16_t port = 0;
	int lfd = tcp_listener(&port);
	struct transport *t = tcp_transport(port, &cfg);
	uint64_t now = 1000;

	cr_assert_eq(send_msg(t, 100, 0, 0, 'T', true, now), 0);
	for (; now < 1000 + 4000; now += 10) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};

		transport_poll(t, now);
		if (poll(&p, 1, 1) > 0)
			close(accept4(lfd, NULL, NULL, SOCK_CLOEXEC));
	}
	/* Reset to 100 ms after each loss, it would be 40 or more; at 400 ms, about 10. */
	cr_assert_geq(transport_get_stats(t)->connects, 5);
	cr_assert_leq(transport_get_stats(t)->connects, 16, "%lu connections",
		      (unsigned long)transport_get_stats(t)->connects);
	transport_free(t, 0);
	close(lfd);
}

Test(transport, no_sigpipe_when_peer_resets)
{
	struct transport_config cfg = cfg_default;
	uint16_t port = 0;
	int lfd = tcp_listener(&port), pfd;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct transport *t;
	uint64_t now = 1000;

	signal(SIGPIPE, SIG_DFL); /* would kill the test if send() raised it */
	t = tcp_transport(port, &cfg);
	now = poll_until_connected(t, now);
	pfd = accept_peer(lfd);
	cr_assert_eq(setsockopt(pfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(pfd); /* RST */
	usleep(10000);
	for (int i = 0; i < 20; i++)
		send_msg(t, 1000, (uint32_t)i, 1, 'z', false, now);
	cr_assert_not(transport_connected(t));
	transport_free(t, 0);
	close(lfd);
}

/* ---- what a collector that goes away receives ---------------------------------------- */

#define DATA_MARKER(i) ((uint8_t)(0x80 | ((i)&0x7f)))

/* One IPFIX message as a collector received it, on connection conn. */
struct rx_msg {
	int conn;
	uint32_t seq;
	uint32_t len;
	uint8_t marker;
	bool intact; /* every body byte is the marker */
};

struct rx_log {
	struct rx_msg m[2048];
	size_t n;
};

/* Cut complete messages off the front of a received byte stream; returns the bytes used. */
static size_t rx_parse(struct rx_log *log, int conn, const uint8_t *b, size_t have)
{
	size_t used = 0;

	while (have - used >= 16) {
		const uint8_t *m = b + used;
		size_t len = (size_t)(m[2] << 8 | m[3]);
		struct rx_msg r = {.conn = conn, .seq = msg_seq(m), .len = (uint32_t)len};

		cr_assert_geq(len, 17, "garbage in the stream");
		if (have - used < len)
			break;
		r.marker = m[16];
		r.intact = true;
		for (size_t i = 16; i < len; i++)
			r.intact &= m[i] == r.marker;
		cr_assert_lt(log->n, sizeof(log->m) / sizeof(log->m[0]));
		log->m[log->n++] = r;
		used += len;
	}
	return used;
}

/* Append received bytes to acc and move complete messages from it into the log. */
static void rx_feed(struct rx_log *log, int conn, uint8_t *acc, size_t *have)
{
	size_t used = rx_parse(log, conn, acc, *have);

	memmove(acc, acc + used, *have - used);
	*have -= used;
}

/*
 * What the test sent: template 'T' (2 options records, seq 0 -> 2), then n data messages
 * with marker 0x80 | i (never 'T'), seq 2 + 3 * i, 3 records each. Checks that every data
 * message arrived intact at least once and, per connection, that the numbering is gap-free:
 * the template set ends where the first data message starts and each message starts where
 * the previous one ended. Returns the number of duplicate data messages.
 */
static size_t rx_check(const struct rx_log *log, int n, int n_conns)
{
	static int seen[4096];
	size_t dups = 0;

	cr_assert_leq(n, 4096);
	memset(seen, 0, sizeof(seen));
	for (int c = 0; c < n_conns; c++) {
		uint32_t next = 0;
		bool first = true;

		for (size_t i = 0; i < log->n; i++) {
			const struct rx_msg *r = &log->m[i];

			if (r->conn != c)
				continue;
			cr_assert(r->intact, "conn %d: message seq %u corrupted", c, r->seq);
			if (r->marker == 'T') {
				cr_assert(first, "conn %d: template set not first", c);
				next = r->seq + 2;
				first = false;
				continue;
			}
			cr_assert_not(first, "conn %d: data before the template set", c);
			cr_assert_eq(r->seq, next, "conn %d: sequence gap: %u, expected %u", c,
				     r->seq, next);
			cr_assert_eq((r->seq - 2) % 3, 0);
			cr_assert_lt((r->seq - 2) / 3, (uint32_t)n);
			cr_assert_eq(r->marker, DATA_MARKER((r->seq - 2) / 3));
			dups += seen[(r->seq - 2) / 3]++ > 0;
			next = r->seq + 3;
		}
	}
	for (int i = 0; i < n; i++)
		cr_assert_gt(seen[i], 0, "data message %d (seq %d) never arrived", i, 2 + 3 * i);
	return dups;
}

static bool rx_complete(const struct rx_log *log, int n)
{
	static int seen[4096];
	int got = 0;

	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < log->n; i++) {
		const struct rx_msg *r = &log->m[i];

		if (r->marker != 'T' && r->seq >= 2 && (r->seq - 2) / 3 < (uint32_t)n &&
		    !seen[(r->seq - 2) / 3]++)
			got++;
	}
	return got == n;
}

/* A listener with a bounded receive buffer: data past it stays unacknowledged while unread. */
static int small_listener(uint16_t *port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);

	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * The collector "crashes" after processing everything its kernel accepted: shutdown() sends
 * a FIN acknowledging exactly what is queued here, and makes the kernel answer any later
 * data with a reset (never acknowledged); then the queue is read out and the socket closed
 * with a reset (SO_LINGER 0).
 */
static void crash_after_reading_queue(int fd, struct rx_log *log, int conn, uint8_t *acc,
				      size_t have)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	cr_assert_eq(shutdown(fd, SHUT_RDWR), 0);
	for (;;) {
		ssize_t n = recv(fd, acc + have, 262144 - have, 0);

		if (n <= 0)
			break;
		have += (size_t)n;
		rx_feed(log, conn, acc, &have);
	}
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

/*
 * A collector takes 20 data messages of n, then crashes with rcvbuf bytes (at most) in its
 * kernel; a new one takes over. Returns the messages the first one received in all.
 */
static size_t tcp_crash_scenario(int rcvbuf, int n)
{
	struct transport_config cfg = cfg_default;
	static uint8_t acc[262144];
	static struct rx_log log;
	uint16_t port = 0;
	int lfd = small_listener(&port, rcvbuf), pfd;
	size_t n_first;
	struct transport *t;
	uint64_t now = 1000;
	size_t have = 0;
	const struct transport_stats *st;

	signal(SIGPIPE, SIG_DFL); /* a write to the reset connection must not raise it */
	cfg.queue_msgs = 1000;
	t = tcp_transport(port, &cfg);
	st = transport_get_stats(t);
	cr_assert_eq(send_msg(t, 200, 0, 2, 'T', true, now), 0);
	now = poll_until_connected(t, now);
	pfd = accept_peer(lfd);
	for (int i = 0; i < n; i++)
		cr_assert_eq(send_msg(t, 3000, 2 + 3 * (uint32_t)i, 3, DATA_MARKER(i), false, now),
			     0);
	/* The first collector processes 20 data messages, message by message... */
	while (log.n < 21) {
		ssize_t got = recv(pfd, acc + have, 3000, 0);

		cr_assert_gt(got, 0);
		have += (size_t)got;
		rx_feed(&log, 0, acc, &have);
		transport_poll(t, now);
	}
	/* ...while the rest is written to the kernel but unacknowledged (or still queued). */
	transport_poll(t, now);
	cr_assert_gt(st->unacked, 10, "nothing in flight: the test proves nothing");
	crash_after_reading_queue(pfd, &log, 0, acc, have);
	n_first = log.n;
	have = 0;

	/* The exporter notices, reconnects, and a new collector takes the rest. */
	for (int i = 0; i < 2000 && transport_connected(t); i++) {
		transport_poll(t, now);
		usleep(500);
	}
	cr_assert_not(transport_connected(t));
	now = poll_until_connected(t, now + cfg.reconnect_max_ms);
	pfd = accept_peer(lfd);
	for (int idle = 0; !rx_complete(&log, n) && idle < 3000;) {
		ssize_t got = recv(pfd, acc + have, sizeof(acc) - have, MSG_DONTWAIT);

		transport_poll(t, now);
		if (got <= 0) {
			usleep(1000);
			idle++;
			continue;
		}
		idle = 0;
		have += (size_t)got;
		rx_feed(&log, 1, acc, &have);
	}
	/* Every message arrived, each connection's numbering is gap-free, nothing twice. */
	cr_assert_eq(rx_check(&log, n, 2), 0, "duplicates");
	cr_assert_gt(st->msgs_retransmitted, 0);
	cr_assert_eq(st->msgs_sent, 2 + (uint64_t)n + st->msgs_retransmitted);
	cr_assert_eq(st->connects, 2);
	cr_assert_eq(st->msgs_dropped, 0);
	for (int i = 0; i < 1000 && st->queued + st->unacked; i++) {
		usleep(1000);
		transport_poll(t, now);
	}
	cr_assert_eq(st->queued + st->unacked, 0, "the last messages are never acknowledged");
	transport_free(t, 0);
	close(pfd);
	close(lfd);
	return n_first;
}

Test(transport, tcp_collector_crash_loses_nothing_unacknowledged)
{
	tcp_crash_scenario(4096, 400);
}

/*
 * Acknowledgement is counted per byte: what sat in the crashed collector's kernel (and was
 * read out) is not sent again, although the exporter saw its socket queue drain only partly.
 */
Test(transport, tcp_collector_crash_resends_only_what_was_not_acknowledged)
{
	size_t first = tcp_crash_scenario(128 * 1024, 400);

	cr_assert_gt(first, 21 + 5, "the crashed collector's queue held little: %zu", first);
}

/* ---- TLS ---------------------------------------------------------------------------- */

/*
 * An IPFIX-over-TLS collector on a thread: accepts connections one after the other, logs
 * every complete message with its connection number. With drop_after, the first connection
 * "crashes" like crash_after_reading_queue after that many messages.
 */
struct tls_srv {
	SSL_CTX *ctx; /* owned */
	int lfd;      /* owned */
	uint16_t port;
	size_t drop_after;
	pthread_t thread;
	pthread_mutex_t lock;
	/* Guarded by lock. */
	bool stop;
	bool holding;	/* drop_after reached: not reading, waiting for crash_now */
	bool crash_now; /* set by the test */
	int accepted, handshakes_ok, handshakes_failed;
	uint64_t app_bytes;
	char peer_cn[128];
	struct rx_log log;
};

static bool srv_stopping(struct tls_srv *s)
{
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void srv_conn(struct tls_srv *s, int fd, int conn)
{
	static uint8_t acc[262144];
	struct timeval tv = {.tv_usec = 20000};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	SSL *ssl = SSL_new(s->ctx);
	size_t have = 0, n;
	bool crashed = false;
	X509 *peer;
	int r;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL_set_fd(ssl, fd);
	while ((r = SSL_accept(ssl)) != 1) {
		int e = SSL_get_error(ssl, r);

		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || srv_stopping(s)) {
			pthread_mutex_lock(&s->lock);
			s->handshakes_failed++;
			pthread_mutex_unlock(&s->lock);
			goto out;
		}
	}
	pthread_mutex_lock(&s->lock);
	s->handshakes_ok++;
	peer = SSL_get1_peer_certificate(ssl);
	if (peer) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, s->peer_cn,
					  sizeof(s->peer_cn));
		X509_free(peer);
	}
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		if (SSL_read_ex(ssl, acc + have, sizeof(acc) - have, &n) != 1) {
			int e = SSL_get_error(ssl, 0);

			if (e == SSL_ERROR_WANT_READ && !crashed && !srv_stopping(s))
				continue;
			break;
		}
		have += n;
		pthread_mutex_lock(&s->lock);
		s->app_bytes += n;
		rx_feed(&s->log, conn, acc, &have);
		if (conn == 0 && s->drop_after && !crashed && s->log.n >= s->drop_after) {
			/* Stop reading until told, so that the exporter has data in flight... */
			s->holding = true;
			while (!s->crash_now && !s->stop) {
				pthread_mutex_unlock(&s->lock);
				usleep(1000);
				pthread_mutex_lock(&s->lock);
			}
			/* ...then crash: the FIN acknowledges what is queued here; read that out.
			 */
			shutdown(fd, SHUT_RDWR);
			crashed = true;
		}
		pthread_mutex_unlock(&s->lock);
	}
	if (crashed)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
out:
	SSL_free(ssl);
	close(fd);
}

static void *srv_run(void *arg)
{
	struct tls_srv *s = arg;
	int conn = 0;
	sigset_t pipe;

	/* OpenSSL's own socket BIO here may write to a shut-down socket; the exporter may not. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);

	while (!srv_stopping(s)) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		s->accepted++;
		pthread_mutex_unlock(&s->lock);
		srv_conn(s, fd, conn++);
	}
	return NULL;
}

/* Start a collector; client_ca: require a client certificate issued by it. */
static struct tls_srv *srv_start(const struct testpki *p, const char *client_ca, int rcvbuf)
{
	struct tls_srv *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	s->ctx = SSL_CTX_new(TLS_server_method());
	cr_assert_not_null(s->ctx);
	cr_assert_eq(SSL_CTX_use_certificate_chain_file(s->ctx, p->server_crt), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey_file(s->ctx, p->server_key, SSL_FILETYPE_PEM), 1);
	if (client_ca) {
		cr_assert_eq(SSL_CTX_load_verify_locations(s->ctx, client_ca, NULL), 1);
		SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	s->lfd = small_listener(&s->port, rcvbuf);
	pthread_mutex_init(&s->lock, NULL);
	cr_assert_eq(pthread_create(&s->thread, NULL, srv_run, s), 0);
	return s;
}

static void srv_stop(struct tls_srv *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	free(s);
}

static struct transport *tls_transport(uint16_t port, const struct transport_config *cfg)
{
	struct transport_spec s = {.kind = TRANSPORT_TLS};

	snprintf(s.host, sizeof(s.host), "127.0.0.1");
	snprintf(s.port, sizeof(s.port), "%u", port);
	return transport_new(&s, cfg);
}

/* Drive the transport (simulated clock) until cond holds for the collector or time runs out. */
static uint64_t drive_until(struct transport *t, struct tls_srv *s, uint64_t now,
			    bool (*cond)(struct tls_srv *, const void *), const void *arg)
{
	for (int i = 0; i < 5000; i++) {
		bool done;

		pthread_mutex_lock(&s->lock);
		done = cond(s, arg);
		pthread_mutex_unlock(&s->lock);
		if (done)
			break;
		transport_poll(t, now);
		usleep(1000);
		now += 10;
	}
	return now;
}

static bool got_msgs(struct tls_srv *s, const void *arg)
{
	return s->log.n >= *(const size_t *)arg;
}

static bool holding(struct tls_srv *s, const void *arg)
{
	(void)arg;
	return s->holding;
}

static bool failed_handshakes(struct tls_srv *s, const void *arg)
{
	return s->handshakes_failed >= *(const int *)arg;
}

/* Point stderr at a file for a while, to read the log lines. */
static int stderr_to(const char *path)
{
	int saved = dup(STDERR_FILENO), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static void stderr_back(int saved)
{
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static int count_lines(const char *path, const char *a, const char *b)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, a) && strstr(line, b);
	fclose(f);
	return n;
}

Test(transport, tls_delivers_after_verifying_the_collector)
{
	struct transport_config cfg = cfg_default;
	struct testpki p;
	struct tls_srv *s;
	struct transport *t;
	size_t want = 4;
	uint64_t now = 1767225600000; /* a wall clock: the 10 s connect timeout counts from it */

	testpki_make(&p);
	s = srv_start(&p, NULL, 1 << 20);
	cfg.tls_ca_file = p.ca; /* the host is 127.0.0.1: matched against the IP SAN */
	t = tls_transport(s->port, &cfg);
	cr_assert_not_null(t);
	/* Templates handed over during the handshake wait in the cache. */
	cr_assert_eq(send_msg(t, 120, 0, 2, 'T', true, now), 0);
	cr_assert_eq(send_msg(t, 90, 2, 0, 'U', true, now), 0);
	now = poll_until_connected(t, now);
	cr_assert_eq(send_msg(t, 300, 2, 3, 'a', false, now), 0);
	cr_assert_eq(send_msg(t, 40000, 5, 2, 'c', false, now), 0); /* several TLS records */
	drive_until(t, s, now, got_msgs, &want);
	pthread_mutex_lock(&s->lock);
	cr_assert_eq(s->log.n, 4);
	cr_assert_eq(s->log.m[0].marker, 'T');
	cr_assert_eq(s->log.m[0].seq, 0);
	cr_assert_eq(s->log.m[1].marker, 'U');
	cr_assert_eq(s->log.m[1].seq, 2);
	cr_assert_eq(s->log.m[2].marker, 'a');
	cr_assert_eq(s->log.m[3].marker, 'c');
	cr_assert_eq(s->log.m[3].len, 40000);
	for (size_t i = 0; i < 4; i++)
		cr_assert(s->log.m[i].intact);
	cr_assert_eq(s->app_bytes, 120 + 90 + 300 + 40000);
	cr_assert_str_empty(s->peer_cn, "no client certificate was configured");
	pthread_mutex_unlock(&s->lock);
	cr_assert_eq(transport_get_stats(t)->connects, 1);
	cr_assert_eq(transport_get_stats(t)->connect_failures, 0);
	cr_assert_eq(transport_get_stats(t)->msgs_sent, 4);
	cr_assert_eq(transport_get_stats(t)->template_sends, 1);
	transport_free(t, 1000);
	srv_stop(s);
	testpki_remove(&p);
}

/* Verification failures: counted, logged once per reason with the target, no data sent. */
static void tls_refused(const char *ca, const char *server_name, const char *reason)
{
	struct transport_config cfg = cfg_default;
	char logf[] = "/tmp/lf-tls-log-XXXXXX", target[64];
	struct testpki p;
	struct tls_srv *s;
	struct transport *t;
	int saved, want = 3, lfd = mkstemp(logf);
	uint64_t now = 1000;

	cr_assert_geq(lfd, 0);
	close(lfd);
	testpki_make(&p);
	s = srv_start(&p, NULL, 1 << 20);
	cfg.tls_ca_file = strcmp(ca, "other") == 0 ? p.other_ca : p.ca;
	cfg.tls_server_name = (char *)server_name;
	saved = stderr_to(logf);
	t = tls_transport(s->port, &cfg);
	cr_assert_not_null(t);
	cr_assert_eq(send_msg(t, 120, 0, 2, 'T', true, now), 0);
	cr_assert_eq(send_msg(t, 300, 2, 3, 'a', false, now), 0);
	drive_until(t, s, now, failed_handshakes, &want);
	stderr_back(saved);
	cr_assert_not(transport_connected(t));
	cr_assert_geq(transport_get_stats(t)->connect_failures, 3);
	cr_assert_eq(transport_get_stats(t)->connects, 0);
	cr_assert_eq(transport_get_stats(t)->msgs_sent, 0);
	cr_assert_eq(transport_get_stats(t)->queued, 1, "the data message waits");
	pthread_mutex_lock(&s->lock);
	cr_assert_geq(s->handshakes_failed, 3);
	cr_assert_eq(s->handshakes_ok, 0);
	cr_assert_eq(s->app_bytes, 0);
	pthread_mutex_unlock(&s->lock);
	snprintf(target, sizeof(target), "'tls:127.0.0.1:%u'", s->port);
	cr_assert_eq(count_lines(logf, target, "cannot connect"), 1, "logged once per reason");
	cr_assert_eq(count_lines(logf, target, reason), 1, "no '%s' in the log", reason);
	transport_free(t, 0);
	srv_stop(s);
	testpki_remove(&p);
	unlink(logf);
}

Test(transport, tls_refuses_a_collector_from_another_ca)
{
	tls_refused("other", NULL, "certificate verify failed: unable to get local issuer");
}

Test(transport, tls_refuses_a_certificate_for_another_name)
{
	tls_refused("ca", "collector.example", "certificate verify failed: hostname mismatch");
}

Test(transport, tls_server_name_is_checked_instead_of_the_host)
{
	struct transport_config cfg = cfg_default;
	struct testpki p;
	struct tls_srv *s;
	struct transport *t;
	size_t want = 2;

	testpki_make(&p);
	s = srv_start(&p, NULL, 1 << 20);
	cfg.tls_ca_file = p.ca;
	cfg.tls_server_name = "localhost"; /* the DNS SAN; the host stays 127.0.0.1 */
	t = tls_transport(s->port, &cfg);
	cr_assert_not_null(t);
	cr_assert_eq(send_msg(t, 120, 0, 0, 'T', true, 1000), 0);
	cr_assert_eq(send_msg(t, 300, 0, 3, 'a', false, 1000), 0);
	drive_until(t, s, 1000, got_msgs, &want);
	cr_assert(transport_connected(t));
	pthread_mutex_lock(&s->lock);
	cr_assert_eq(s->log.n, 2);
	cr_assert_eq(s->log.m[1].marker, 'a');
	pthread_mutex_unlock(&s->lock);
	transport_free(t, 1000);
	srv_stop(s);
	testpki_remove(&p);
}

Test(transport, tls_presents_the_client_certificate)
{
	struct transport_config cfg = cfg_default;
	struct testpki p;
	struct tls_srv *s;
	struct transport *t;
	size_t want = 2;

	testpki_make(&p);
	s = srv_start(&p, p.ca, 1 << 20); /* requires a client certificate from our CA */
	cfg.tls_ca_file = p.ca;
	cfg.tls_cert_file = p.client_crt;
	cfg.tls_key_file = p.client_key;
	t = tls_transport(s->port, &cfg);
	cr_assert_not_null(t);
	cr_assert_eq(send_msg(t, 120, 0, 0, 'T', true, 1000), 0);
	cr_assert_eq(send_msg(t, 300, 0, 3, 'a', false, 1000), 0);
	drive_until(t, s, 1000, got_msgs, &want);
	pthread_mutex_lock(&s->lock);
	cr_assert_eq(s->handshakes_ok, 1);
	cr_assert_str_eq(s->peer_cn, "labelflow-client");
	cr_assert_eq(s->log.n, 2);
	cr_assert_eq(s->log.m[1].marker, 'a');
	pthread_mutex_unlock(&s->lock);
	transport_free(t, 1000);
	srv_stop(s);
	testpki_remove(&p);
}

Test(transport, tls_unusable_files_fail_at_start)
{
	struct transport_config cfg = cfg_default;
	char missing[200];
	struct testpki p;

	testpki_make(&p);
	snprintf(missing, sizeof(missing), "%s/missing.pem", p.dir);
	cfg.tls_ca_file = missing;
	cr_assert_null(tls_transport(4739, &cfg), "missing CA file");
	cfg.tls_ca_file = p.ca;
	cfg.tls_cert_file = p.client_crt;
	cfg.tls_key_file = p.server_key;
	cr_assert_null(tls_transport(4739, &cfg), "key of another certificate");
	cfg.tls_cert_file = NULL;
	cfg.tls_key_file = p.client_key;
	cr_assert_null(tls_transport(4739, &cfg), "key without certificate");
	cfg.tls_cert_file = p.ca; /* a certificate without its key in the file */
	cfg.tls_key_file = NULL;
	cr_assert_null(tls_transport(4739, &cfg), "certificate file without a key");
	testpki_remove(&p);
}

Test(transport, tls_collector_crash_loses_nothing_unacknowledged)
{
	struct transport_config cfg = cfg_default;
	const int n = 400;
	struct testpki p;
	struct tls_srv *s;
	struct transport *t;
	const struct transport_stats *st;
	size_t first;
	uint64_t now = 1000;

	signal(SIGPIPE, SIG_DFL); /* OpenSSL writes through our BIO: never raises it */
	testpki_make(&p);
	s = srv_start(&p, NULL, 64 * 1024);
	s->drop_after = 21; /* the template message and 20 data messages, then crash */
	cfg.tls_ca_file = p.ca;
	cfg.queue_msgs = 1000;
	t = tls_transport(s->port, &cfg);
	cr_assert_not_null(t);
	st = transport_get_stats(t);
	cr_assert_eq(send_msg(t, 200, 0, 2, 'T', true, now), 0);
	now = poll_until_connected(t, now);
	for (int i = 0; i < n; i++)
		cr_assert_eq(send_msg(t, 3000, 2 + 3 * (uint32_t)i, 3, DATA_MARKER(i), false, now),
			     0);
	now = drive_until(t, s, now, holding, NULL);
	/* The collector does not read: written data piles up unacknowledged. Then it crashes. */
	for (int i = 0; i < 2000 && st->unacked <= 10; i++) {
		transport_poll(t, now);
		usleep(1000);
	}
	cr_assert_gt(st->unacked, 10, "nothing in flight: the test proves nothing");
	pthread_mutex_lock(&s->lock);
	s->crash_now = true;
	pthread_mutex_unlock(&s->lock);
	/* Reconnect (backoff in simulated time) and take the rest on the second connection. */
	for (int i = 0; i < 5000; i++) {
		bool done;

		pthread_mutex_lock(&s->lock);
		done = rx_complete(&s->log, n);
		pthread_mutex_unlock(&s->lock);
		if (done && st->queued + st->unacked == 0)
			break;
		transport_poll(t, now);
		usleep(1000);
		now += 10;
	}
	pthread_mutex_lock(&s->lock);
	first = 0;
	for (size_t i = 0; i < s->log.n; i++)
		first += s->log.m[i].conn == 0;
	cr_assert_eq(rx_check(&s->log, n, 2), 0, "duplicates");
	cr_assert_eq(s->accepted, 2);
	pthread_mutex_unlock(&s->lock);
	cr_assert_gt(first, 21 + 5, "the crashed collector's queue held little: %zu", first);
	cr_assert_gt(st->msgs_retransmitted, 0);
	cr_assert_leq(st->msgs_retransmitted, (uint64_t)n - (first - 1));
	cr_assert_eq(st->msgs_sent, 2 + (uint64_t)n + st->msgs_retransmitted);
	cr_assert_eq(st->connects, 2);
	cr_assert_eq(st->queued + st->unacked, 0);
	transport_free(t, 0);
	srv_stop(s);
	testpki_remove(&p);
}
