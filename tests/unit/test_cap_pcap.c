// SPDX-License-Identifier: Apache-2.0
/*
 * cap_pcap: offline files written with libpcap, and live capture in a private network
 * namespace per test (unshare, so nothing outlives the test process): a veth pair, frames
 * sent with a packet socket, counted per interface and direction against what was sent.
 */
#define _GNU_SOURCE /* unshare */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <pcap/pcap.h>

#include "cap_pcap.h"
#include "decode.h"

static char path[64];

/* ------------------------------------------------------------------ offline files */

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
	uint8_t direction;
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
	s->direction = f->direction;
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
	struct capture_sink sink = {.frame = count_frame, .user = &s};
	struct capture_stats st;
	int n;

	cr_assert_not_null(c);
	cr_assert_null(c->ops->attach);
	cr_assert_null(c->ops->detach);
	cr_assert_null(c->ops->expire);
	cr_assert_eq(c->ops->fd(c), -1);
	while ((n = capture_dispatch(c, batch, &sink)) > 0)
		cr_assert_leq(n, batch);
	cr_assert_eq(n, -ENODATA);
	c->ops->stats(c, &st);
	cr_assert_eq(st.received, (uint64_t)s.frames);
	cr_assert_not(c->ops->iface_stats(c, 0, &(const char *){NULL}, &st));
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
	cr_assert_eq(s.direction, CAPTURE_DIR_UNKNOWN);
}

Test(cap_pcap, maps_link_types_to_decode_values)
{
	static const uint8_t null_hdr[4] = {2, 0, 0, 0};
	static const uint8_t sll[16] = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
	static const uint8_t sll2[20] = {0x08, 0, 0, 0, 0, 0, 0, 7, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1};
	static const struct {
		int dlt;
		const uint8_t *hdr;
		size_t len;
		int want;
	} cases[] = {
		{DLT_NULL, null_hdr, 4, DECODE_LINK_NULL},
		{DLT_RAW, NULL, 0, DECODE_LINK_RAW},
		{DLT_LINUX_SLL, sll, 16, DECODE_LINK_LINUX_SLL},
		{DLT_LINUX_SLL2, sll2, 20, DECODE_LINK_LINUX_SLL2},
		{DLT_LOOP, null_hdr, 4, DECODE_LINK_LOOP},
		{DLT_IPV4, NULL, 0, DECODE_LINK_IPV4},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s;

		write_capture(cases[i].dlt, cases[i].hdr, cases[i].len, 2);
		s = read_all(64);
		cr_assert_eq(s.frames, 2);
		cr_assert_eq(s.linktype, cases[i].want, "dlt %d gave %d", cases[i].dlt, s.linktype);
		/* Offline frames leave the direction to decode (cooked headers carry it). */
		cr_assert_eq(s.direction, CAPTURE_DIR_UNKNOWN);
		cr_assert_eq(s.ifindex, 0);
		unlink(path);
	}
}

Test(cap_pcap, garbage_header_is_refused)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/lf-cap-garbage-%d", (int)getpid());
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

Test(cap_pcap, dispatch_without_frame_callback_is_refused)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
	struct capture_sink none = {0};
	struct capture *c;

	write_capture(DLT_EN10MB, eth, sizeof(eth), 1);
	c = cap_pcap_open_file(path);
	cr_assert_not_null(c);
	cr_assert_eq(capture_dispatch(c, 8, &none), -EINVAL);
	cr_assert_eq(capture_dispatch(c, 8, NULL), -EINVAL);
	capture_close(c);
}

/* ------------------------------------------------------------------ live: no root needed */

Test(cap_pcap, bad_filter_is_refused_when_created)
{
	struct capture_live_config lc = {.bpf_filter = "udp and and"};

	cr_assert_null(cap_pcap_new_live(&lc));
}

Test(cap_pcap, live_capture_starts_empty_with_a_pollable_fd)
{
	struct capture *c = cap_pcap_new_live(NULL);
	struct capture_stats st;
	const char *name;

	cr_assert_not_null(c);
	cr_assert_str_eq(c->ops->name, "pcap");
	cr_assert_not_null(c->ops->attach);
	cr_assert_not_null(c->ops->detach);
	cr_assert_null(c->ops->expire);
	cr_assert_geq(c->ops->fd(c), 0);
	cr_assert_eq(fcntl(c->ops->fd(c), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	cr_assert_not(c->ops->iface_stats(c, 0, &name, &st));
	c->ops->stats(c, &st);
	cr_assert_eq(st.received + st.kernel_dropped + st.ifdropped, 0);
	/* Detaching what was never attached is harmless. */
	c->ops->detach(c, 42, NULL);
	cr_assert_eq(cap_pcap_iface_state(c, 42), -ENOENT);
	capture_close(c);
}

Test(cap_pcap, interface_names_are_checked)
{
	struct capture *c = cap_pcap_new_live(NULL);

	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "", 5), -EINVAL);
	cr_assert_eq(c->ops->attach(c, NULL, 5), -EINVAL);
	cr_assert_eq(c->ops->attach(c, "sixteen-chars-xx", 5), -EINVAL);
	capture_close(c);
}

Test(cap_pcap, unknown_interface_is_refused)
{
	struct capture *c = cap_pcap_new_live(NULL);
	struct capture_stats st;
	const char *name;

	cr_assert_not_null(c);
	cr_assert_lt(c->ops->attach(c, "lf-no-such-if0", 4242), 0);
	cr_assert_not(c->ops->iface_stats(c, 0, &name, &st));
	cr_assert_eq(cap_pcap_iface_state(c, 4242), -ENOENT);
	capture_close(c);
}

/* ------------------------------------------------------------------ live: netns */

#define IDX_MAX 64

/* Frames counted per interface index and direction. */
struct tally {
	uint64_t dir[IDX_MAX][2];	 /* direction known */
	uint64_t unknown[IDX_MAX];	 /* CAPTURE_DIR_UNKNOWN */
	uint64_t sll2_outgoing[IDX_MAX]; /* of those: cooked v2 packet type OUTGOING */
	uint64_t total;
	uint64_t bad; /* ifindex out of range or direction invalid */
	int linktype;
	uint32_t caplen;
	uint32_t wirelen;
};

static void tally_frame(const struct capture_frame *f, void *user)
{
	struct tally *t = user;

	t->total++;
	t->linktype = f->linktype;
	t->caplen = f->caplen;
	t->wirelen = f->wirelen;
	if (f->ifindex >= IDX_MAX) {
		t->bad++;
		return;
	}
	if (f->direction == CAPTURE_DIR_UNKNOWN) {
		t->unknown[f->ifindex]++;
		if (f->linktype == DECODE_LINK_LINUX_SLL2 && f->caplen >= 11 && f->data[10] == 4)
			t->sll2_outgoing[f->ifindex]++;
	} else if (f->direction <= DECODE_DIR_EGRESS) {
		t->dir[f->ifindex][f->direction]++;
	} else {
		t->bad++;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	int n = snprintf(cmd, sizeof(cmd), "PATH=$PATH:/usr/sbin:/sbin; ");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void write_file(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/*
 * Move this test process into a new network namespace (it vanishes with the process)
 * and create the veth pair lfa/lfb in it, lfa up and lfb down. IPv6 is off, so the
 * kernel sends nothing of its own when links come up: every frame is one we sent.
 */
static void netns_veth_pair(uint32_t *ret_a, uint32_t *ret_b)
{
	if (geteuid() != 0)
		cr_skip_test("live capture needs root");
	if (sh("command -v ip >/dev/null") != 0)
		cr_skip_test("needs ip(8)");
	if (unshare(CLONE_NEWNET) < 0)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	cr_assert_eq(sh("ip link add lfa type veth peer name lfb && ip link set lfa up"), 0);
	*ret_a = if_nametoindex("lfa");
	*ret_b = if_nametoindex("lfb");
	cr_assert(*ret_a > 0 && *ret_a<IDX_MAX && * ret_b> 0 && *ret_b < IDX_MAX);
}

/* Send count broadcast IPv4/UDP frames of len bytes out of ifname. Returns frames sent. */
static int send_frames(const char *ifname, int count, uint16_t dport, size_t len)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = (int)if_nametoindex(ifname),
		.sll_halen = 6,
	};
	uint8_t buf[1514] = {0};
	int fd, sent = 0;

	cr_assert(len >= 42 && len <= sizeof(buf));
	memset(buf, 0xff, 6);
	memcpy(buf + 6, "\x02\x00\x00\x00\x00\x01\x08\x00", 8);
	buf[14] = 0x45;
	buf[16] = (uint8_t)((len - 14) >> 8);
	buf[17] = (uint8_t)(len - 14);
	buf[22] = 64;
	buf[23] = 17;
	memcpy(buf + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	buf[34] = 0x9c;
	buf[35] = 0x40;
	buf[36] = (uint8_t)(dport >> 8);
	buf[37] = (uint8_t)dport;
	buf[38] = (uint8_t)((len - 34) >> 8);
	buf[39] = (uint8_t)(len - 34);
	memset(sll.sll_addr, 0xff, 6);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "packet socket: %s", strerror(errno));
	for (int i = 0; i < count; i++) {
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)len)
			sent++;
	}
	close(fd);
	return sent;
}

/*
 * Dispatch until want frames arrived (or timeout_ms), then on for three block timeouts
 * more, so a frame too many would be seen as well.
 */
static void collect(struct capture *c, struct tally *t, uint64_t want, int timeout_ms)
{
	struct capture_sink sink = {.frame = tally_frame, .user = t};
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	uint64_t settle = 0;

	for (;;) {
		struct pollfd p = {.fd = c->ops->fd(c), .events = POLLIN};
		uint64_t now = now_ms();

		if (!settle && (t->total >= want || now >= deadline))
			settle = now + 3 * CAP_PCAP_BLOCK_TIMEOUT_MS;
		if (settle && now >= settle)
			break;
		poll(&p, 1, 20);
		cr_assert_geq(capture_dispatch(c, 16, &sink), 0);
	}
}

static uint64_t iface_received(struct capture *c, const char *want)
{
	struct capture_stats st;
	const char *name;

	for (size_t i = 0; c->ops->iface_stats(c, i, &name, &st); i++) {
		if (strcmp(name, want) == 0)
			return st.received;
	}
	cr_assert_fail("interface '%s' not listed", want);
	return 0;
}

Test(cap_pcap, veth_frames_counted_per_interface_and_direction)
{
	struct capture_live_config lc = {.snaplen = 256, .buffer_bytes = 1 << 20};
	struct tally t = {0};
	struct capture_stats st;
	struct capture *c;
	uint32_t a, b;

	netns_veth_pair(&a, &b);
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
	cr_assert_eq(cap_pcap_iface_state(c, a), CAP_PCAP_IFACE_CAPTURING);
	cr_assert_eq(c->ops->attach(c, "lfa", a), -EEXIST);
	/* lfb is down: accepted, waiting. */
	cr_assert_eq(c->ops->attach(c, "lfb", b), 0);
	cr_assert_eq(cap_pcap_iface_state(c, b), CAP_PCAP_IFACE_WAITING);
	cr_assert_eq(iface_received(c, "lfb"), 0);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	/* Attaching again, as follow does when the link comes up, opens it. */
	cr_assert_eq(c->ops->attach(c, "lfb", b), 0);
	cr_assert_eq(cap_pcap_iface_state(c, b), CAP_PCAP_IFACE_CAPTURING);

	cr_assert_eq(send_frames("lfa", 7, 5000, 60), 7);
	cr_assert_eq(send_frames("lfb", 3, 5000, 60), 3);
	collect(c, &t, 20, 3000);

	cr_assert_eq(t.total, 20);
	cr_assert_eq(t.bad, 0);
	cr_assert_eq(t.dir[a][DECODE_DIR_EGRESS], 7);
	cr_assert_eq(t.dir[b][DECODE_DIR_INGRESS], 7);
	cr_assert_eq(t.dir[b][DECODE_DIR_EGRESS], 3);
	cr_assert_eq(t.dir[a][DECODE_DIR_INGRESS], 3);
	cr_assert_eq(t.linktype, DECODE_LINK_EN10MB);
	cr_assert_eq(t.caplen, 60);
	cr_assert_eq(t.wirelen, 60);
	cr_assert_eq(iface_received(c, "lfa"), 10);
	cr_assert_eq(iface_received(c, "lfb"), 10);
	c->ops->stats(c, &st);
	cr_assert_eq(st.received, 20);
	cr_assert_eq(st.kernel_dropped, 0);
	capture_close(c);
}

Test(cap_pcap, waiting_interface_is_opened_by_dispatch_once_up)
{
	struct capture_live_config lc = {0};
	struct capture_sink sink;
	struct tally t = {0};
	struct capture *c;
	uint64_t up_at;
	uint32_t a, b;

	netns_veth_pair(&a, &b);
	sink = (struct capture_sink){.frame = tally_frame, .user = &t};
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfb", b), 0);
	cr_assert_eq(cap_pcap_iface_state(c, b), CAP_PCAP_IFACE_WAITING);
	cr_assert_eq(capture_dispatch(c, 16, &sink), 0);
	cr_assert_eq(cap_pcap_iface_state(c, b), CAP_PCAP_IFACE_WAITING);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	up_at = now_ms();
	while (cap_pcap_iface_state(c, b) == CAP_PCAP_IFACE_WAITING && now_ms() < up_at + 2000) {
		cr_assert_eq(capture_dispatch(c, 16, &sink), 0);
		usleep(10000);
	}
	cr_assert_eq(cap_pcap_iface_state(c, b), CAP_PCAP_IFACE_CAPTURING);
	cr_assert_leq(now_ms() - up_at, 1000, "opened %llu ms after it came up",
		      (unsigned long long)(now_ms() - up_at));
	cr_assert_eq(send_frames("lfa", 4, 5000, 60), 4);
	collect(c, &t, 4, 3000);
	cr_assert_eq(t.total, 4);
	cr_assert_eq(t.dir[b][DECODE_DIR_INGRESS], 4);
	capture_close(c);
}

Test(cap_pcap, detach_delivers_frames_still_in_the_ring)
{
	struct capture_live_config lc = {0};
	struct capture_sink sink;
	struct tally t = {0};
	struct capture_stats st;
	struct capture *c;
	const char *name;
	uint32_t a, b;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	sink = (struct capture_sink){.frame = tally_frame, .user = &t};
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
	cr_assert_eq(c->ops->attach(c, "lfb", b), 0);
	cr_assert_eq(send_frames("lfa", 5, 5000, 60), 5);
	/* Nothing dispatched yet: the frames sit in a block the kernel has not retired. */
	c->ops->detach(c, b, &sink);
	cr_assert_eq(t.total, 5);
	cr_assert_eq(t.dir[b][DECODE_DIR_INGRESS], 5);
	cr_assert_eq(cap_pcap_iface_state(c, b), -ENOENT);
	cr_assert(c->ops->iface_stats(c, 0, &name, &st));
	cr_assert_str_eq(name, "lfa");
	cr_assert_not(c->ops->iface_stats(c, 1, &name, &st));
	collect(c, &t, 10, 3000);
	cr_assert_eq(t.total, 10);
	cr_assert_eq(t.dir[a][DECODE_DIR_EGRESS], 5);
	/* Totals keep what the detached interface saw. */
	c->ops->stats(c, &st);
	cr_assert_eq(st.received, 10);
	/* A sink-less detach reads nothing more. */
	cr_assert_eq(send_frames("lfa", 2, 5000, 60), 2);
	c->ops->detach(c, a, NULL);
	c->ops->stats(c, &st);
	cr_assert_eq(st.received, 10);
	cr_assert_eq(t.total, 10);
	capture_close(c);
}

Test(cap_pcap, detach_after_the_interface_is_gone_still_delivers)
{
	struct capture_live_config lc = {0};
	struct capture_sink sink;
	struct tally t = {0};
	struct capture *c;
	uint32_t a, b;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	sink = (struct capture_sink){.frame = tally_frame, .user = &t};
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfb", b), 0);
	cr_assert_eq(send_frames("lfa", 6, 5000, 60), 6);
	/* Deleting lfa takes its peer lfb with it, as when a pod goes away. */
	cr_assert_eq(sh("ip link del lfa"), 0);
	cr_assert_eq(if_nametoindex("lfb"), 0);
	/* Reading now meets "interface disappeared"; that must not lose the frames. */
	cr_assert_geq(capture_dispatch(c, 16, &sink), 0);
	c->ops->detach(c, b, &sink);
	cr_assert_eq(t.total, 6);
	cr_assert_eq(t.dir[b][DECODE_DIR_INGRESS], 6);
	capture_close(c);
}

Test(cap_pcap, filter_applies_to_both_directions)
{
	struct capture_live_config lc = {.bpf_filter = "udp dst port 4000"};
	struct tally t = {0};
	struct capture *c;
	uint32_t a, b;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
	cr_assert_eq(c->ops->attach(c, "lfb", b), 0);
	cr_assert_eq(send_frames("lfa", 4, 4000, 60), 4);
	cr_assert_eq(send_frames("lfa", 3, 4001, 60), 3);
	cr_assert_eq(send_frames("lfb", 2, 4000, 60), 2);
	collect(c, &t, 12, 3000);
	cr_assert_eq(t.total, 12);
	cr_assert_eq(t.dir[a][DECODE_DIR_EGRESS], 4);
	cr_assert_eq(t.dir[b][DECODE_DIR_INGRESS], 4);
	cr_assert_eq(t.dir[b][DECODE_DIR_EGRESS], 2);
	cr_assert_eq(t.dir[a][DECODE_DIR_INGRESS], 2);
	capture_close(c);
}

Test(cap_pcap, snaplen_cuts_frames_and_keeps_wire_length)
{
	struct capture_live_config lc = {.snaplen = 96};
	struct tally t = {0};
	struct capture *c;
	uint32_t a, b;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
	cr_assert_eq(send_frames("lfa", 1, 5000, 400), 1);
	collect(c, &t, 1, 3000);
	cr_assert_eq(t.total, 1);
	cr_assert_eq(t.caplen, 96);
	cr_assert_eq(t.wirelen, 400);
	capture_close(c);
}

Test(cap_pcap, any_device_gives_cooked_frames_with_their_interface)
{
	struct capture_live_config lc = {0};
	struct tally t = {0};
	struct capture *c;
	uint32_t a, b;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	/* "any" is offered as Linux cooked v2: one handle, direction left to decode. */
	cr_assert_eq(c->ops->attach(c, "any", 0), 0);
	cr_assert_eq(send_frames("lfa", 3, 5000, 60), 3);
	collect(c, &t, 6, 3000);
	cr_assert_eq(t.total, 6);
	cr_assert_eq(t.linktype, DECODE_LINK_LINUX_SLL2);
	cr_assert_eq(t.caplen, 20 + 60 - 14);
	cr_assert_eq(t.unknown[a], 3);
	cr_assert_eq(t.sll2_outgoing[a], 3);
	cr_assert_eq(t.unknown[b], 3);
	cr_assert_eq(t.sll2_outgoing[b], 0);
	capture_close(c);
}

Test(cap_pcap, full_ring_drops_are_counted_exactly)
{
	struct capture_live_config lc = {.snaplen = 256, .buffer_bytes = 65536};
	struct tally t = {0};
	struct capture_stats st;
	struct capture *c;
	const char *name;
	uint32_t a, b;
	int sent;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
	sent = send_frames("lfa", 3000, 5000, 60);
	cr_assert_eq(sent, 3000);
	collect(c, &t, (uint64_t)sent, 1000);
	cr_assert(c->ops->iface_stats(c, 0, &name, &st));
	cr_assert_gt(st.kernel_dropped, 0, "a 32 KiB ring should overflow");
	cr_assert_eq(st.received, t.total);
	cr_assert_eq(st.received + st.kernel_dropped, (uint64_t)sent);
	c->ops->detach(c, a, NULL);
	/* Detached: the totals keep every counter. */
	c->ops->stats(c, &st);
	cr_assert_eq(st.received + st.kernel_dropped, (uint64_t)sent);
	capture_close(c);
}

Test(cap_pcap, attaching_during_a_flood_keeps_every_direction_right)
{
	struct capture_live_config lc = {0};
	struct tally t = {0};
	struct capture_sink sink = {.frame = tally_frame, .user = &t};
	struct capture *c;
	uint32_t a, b;
	pid_t child;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	c = cap_pcap_new_live(&lc);
	cr_assert_not_null(c);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		/*
		 * Frames leave lfa without pause while the parent opens and closes handles,
		 * until it kills this child (bounded: at most 2M frames on the private pair).
		 */
		for (int i = 0; i < 20000; i++)
			send_frames("lfa", 100, 5000, 60);
		_exit(0);
	}
	/* Each attach has a moment before the kernel filter is in place. */
	for (int i = 0; i < 30; i++) {
		cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
		for (int j = 0; j < 3; j++) {
			cr_assert_geq(capture_dispatch(c, 64, &sink), 0);
			usleep(2000);
		}
		c->ops->detach(c, a, &sink);
	}
	/*
	 * Then one attach that stays until it has seen the flood (frames wait in the ring
	 * until their block is retired, so 30 short attaches may see none of them).
	 */
	cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
	for (int i = 0; i < 300 && !t.dir[a][DECODE_DIR_EGRESS]; i++) {
		cr_assert_geq(capture_dispatch(c, 64, &sink), 0);
		usleep(10000);
	}
	c->ops->detach(c, a, &sink);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_assert_gt(t.dir[a][DECODE_DIR_EGRESS], 0, "the flood was never seen");
	/* Nothing was sent towards lfa: no frame of it may come out as received. */
	cr_assert_eq(t.dir[a][DECODE_DIR_INGRESS], 0);
	capture_close(c);
}

/* Every socket or anonymous inode opened after before_max must be close-on-exec. */
static void assert_new_fds_cloexec(int before_max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		int fd = (int)strtol(e->d_name, NULL, 10);

		if (e->d_name[0] == '.' || fd <= before_max || fd == dirfd(d))
			continue;
		char link[64], target[128] = "";

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		/* Ours are sockets, epoll and eventfd; Criterion keeps its own files. */
		if (readlink(link, target, sizeof(target) - 1) < 0 ||
		    (strncmp(target, "socket:", 7) != 0 && strncmp(target, "anon_inode:", 11) != 0))
			continue;
		cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "fd %d (%s)", fd, target);
	}
	closedir(d);
}

Test(cap_pcap, every_descriptor_is_close_on_exec)
{
	struct capture *c;
	uint32_t a, b;
	int probe;

	netns_veth_pair(&a, &b);
	cr_assert_eq(sh("ip link set lfb up"), 0);
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(probe);
	c = cap_pcap_new_live(NULL);
	cr_assert_not_null(c);
	cr_assert_eq(c->ops->attach(c, "lfa", a), 0);
	cr_assert_eq(c->ops->attach(c, "lfb", b), 0);
	cr_assert_eq(c->ops->attach(c, "any", 0), 0);
	assert_new_fds_cloexec(probe - 1);
	capture_close(c);
}
