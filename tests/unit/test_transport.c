// SPDX-License-Identifier: Apache-2.0
/*
 * transport: target parsing, file output, UDP to a socket bound here (templates first,
 * refresh by count and time), TCP to a loopback listener that is closed and re-opened
 * (queued messages arrive after a replayed, re-numbered template set), queue bounds and
 * partial writes. Loopback only; the caller's clock is simulated through now_ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

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
	for (const char *e = expect; *e; e++) {
		cr_assert_eq(udp_recv(fd, buf, sizeof(buf)), *e, "expected '%c'", *e);
		if (e == expect + 5)
			cr_assert_eq(msg_seq(buf), 30, "T's 2 records end the set at 32");
		if (e == expect + 6)
			cr_assert_eq(msg_seq(buf), 32, "refresh before 'd' numbered as 'd' (32)");
		if (e == expect + 10) {
			cr_assert_eq(buf[16], 'T');
			cr_assert_eq(msg_seq(buf), 60, "T re-numbered to end the set at 62");
			cr_assert_eq(msg_time(buf), 7, "export time patched to now");
		}
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
