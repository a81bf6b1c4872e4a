// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <pcap/pcap.h>

#include "cap_pcap.h"
#include "decode.h"

static char path[64];

/* A minimal IPv4/UDP packet of total length 28, preceded by link_hdr. */
static size_t frame(uint8_t *buf, const uint8_t *link_hdr, size_t link_len)
{
	static const uint8_t ip_udp[28] = {
		0x45, 0, 0,  28, 0, 1, 0,    0,	   64,	 17,   0, 0, 10, 0,
		0,    1, 10, 0,	 0, 2, 0x30, 0x39, 0x00, 0x35, 0, 8, 0,	 0,
	};

	if (link_len)
		memcpy(buf, link_hdr, link_len);
	memcpy(buf + link_len, ip_udp, sizeof(ip_udp));
	return link_len + sizeof(ip_udp);
}

static void write_capture(int dlt, const uint8_t *link_hdr, size_t link_len, int count)
{
	pcap_t *dead = pcap_open_dead(dlt, 65535);
	pcap_dumper_t *d;
	uint8_t buf[128];
	size_t len = frame(buf, link_hdr, link_len);
	int fd;

	snprintf(path, sizeof(path), "/tmp/lf-cap-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	d = pcap_dump_open(dead, path);
	cr_assert_not_null(d, "%s", pcap_geterr(dead));
	for (int i = 0; i < count; i++) {
		struct pcap_pkthdr h = {.caplen = (bpf_u_int32)len, .len = (bpf_u_int32)len};

		h.ts.tv_sec = 1700000000 + i;
		h.ts.tv_usec = 250000;
		pcap_dump((u_char *)d, &h, buf);
	}
	pcap_dump_close(d);
	pcap_close(dead);
}

struct seen {
	int frames;
	int linktype;
	uint64_t first_ts_ms;
	uint32_t caplen;
	uint32_t ifindex;
};

static void count_frame(const struct capture_frame *f, void *user)
{
	struct seen *s = user;

	if (s->frames++ == 0) {
		s->first_ts_ms = f->ts_ms;
		s->caplen = f->caplen;
	}
	s->linktype = f->linktype;
	s->ifindex = f->ifindex;
}

static void cleanup(void)
{
	if (path[0])
		unlink(path);
}

TestSuite(cap_pcap, .fini = cleanup);

static struct seen read_all(int batch)
{
	struct capture *c = cap_pcap_open_file(path);
	struct seen s = {0};
	int n;

	cr_assert_not_null(c);
	while ((n = capture_dispatch(c, batch, count_frame, &s)) > 0)
		cr_assert_leq(n, batch);
	cr_assert_eq(n, -ENODATA);
	capture_close(c);
	return s;
}

Test(cap_pcap, reads_ethernet_file_in_batches_then_reports_end)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
	struct seen s;

	write_capture(DLT_EN10MB, eth, sizeof(eth), 10);
	s = read_all(3);
	cr_assert_eq(s.frames, 10);
	cr_assert_eq(s.linktype, DECODE_LINK_EN10MB);
	cr_assert_eq(s.first_ts_ms, 1700000000250ull);
	cr_assert_eq(s.caplen, 42);
	cr_assert_eq(s.ifindex, 0);
}

Test(cap_pcap, maps_link_types_to_decode_values)
{
	static const uint8_t null_hdr[4] = {2, 0, 0, 0};
	static const uint8_t sll[16] = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
	static const struct {
		int dlt;
		const uint8_t *hdr;
		size_t len;
		int want;
	} cases[] = {
		{DLT_NULL, null_hdr, 4, DECODE_LINK_NULL},
		{DLT_RAW, NULL, 0, DECODE_LINK_RAW},
		{DLT_LINUX_SLL, sll, 16, DECODE_LINK_LINUX_SLL},
		{DLT_LOOP, null_hdr, 4, DECODE_LINK_LOOP},
		{DLT_IPV4, NULL, 0, DECODE_LINK_IPV4},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s;

		write_capture(cases[i].dlt, cases[i].hdr, cases[i].len, 2);
		s = read_all(64);
		cr_assert_eq(s.frames, 2);
		cr_assert_eq(s.linktype, cases[i].want, "dlt %d gave %d", cases[i].dlt, s.linktype);
		unlink(path);
	}
}

Test(cap_pcap, garbage_header_is_refused)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/lf-cap-garbage");
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("this is not a capture file at all, just text\n", f);
	fclose(f);
	cr_assert_null(cap_pcap_open_file(path));
}

Test(cap_pcap, missing_file_is_refused)
{
	cr_assert_null(cap_pcap_open_file("/nonexistent/capture.pcap"));
}

Test(cap_pcap, damaged_last_record_ends_input_after_good_frames)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
	struct seen s;

	write_capture(DLT_EN10MB, eth, sizeof(eth), 5);
	/* Cut the last record in half: its header promises more bytes than remain. */
	cr_assert_eq(truncate(path, 24 + 4 * (16 + 42) + 16 + 10), 0);
	s = read_all(64);
	cr_assert_eq(s.frames, 4);
}

Test(cap_pcap, unknown_interface_is_refused)
{
	struct capture_live_config lc = {.snaplen = 256, .buffer_bytes = 1 << 20};

	cr_assert_null(cap_pcap_open_live("lf-no-such-if0", &lc));
}

Test(cap_pcap, bad_filter_is_refused)
{
	struct capture_live_config lc = {
		.snaplen = 256, .buffer_bytes = 1 << 20, .bpf_filter = "udp and and"};

	if (geteuid() != 0)
		cr_skip_test("live capture needs root");
	cr_assert_null(cap_pcap_open_live("lo", &lc));
}

Test(cap_pcap, live_loopback_delivers_sent_datagrams)
{
	struct capture_live_config lc = {
		.snaplen = 256, .buffer_bytes = 1 << 20, .bpf_filter = "udp and dst port 39123"};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(39123)};
	struct capture *c;
	struct seen s = {0};
	int sock;

	if (geteuid() != 0)
		cr_skip_test("live capture needs root");
	c = cap_pcap_open_live("lo", &lc);
	cr_assert_not_null(c);
	cr_assert_geq(c->ops->fd(c), 0);
	cr_assert_gt(c->ifindex, 0);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (int i = 0; i < 3; i++)
		sendto(sock, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
	for (int tries = 0; tries < 50 && s.frames < 3; tries++) {
		struct pollfd p = {.fd = c->ops->fd(c), .events = POLLIN};

		poll(&p, 1, 100);
		cr_assert_geq(capture_dispatch(c, 64, count_frame, &s), 0);
	}
	close(sock);
	cr_assert_eq(s.frames, 3);
	cr_assert_eq(s.caplen, 14 + 20 + 8 + 1);
	cr_assert_eq(s.ifindex, c->ifindex);
	capture_close(c);
}
