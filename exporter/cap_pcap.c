// SPDX-License-Identifier: Apache-2.0
/*
 * cap_pcap: the libpcap backend. Files are read in batches. A live capture keeps a
 * growable array of interfaces, each with one SLL2 handle or two direction handles (kernel
 * filters on the packet type, so a frame is copied once), all registered in one epoll set;
 * dispatch reads only ready handles. DLT values are mapped to the LINKTYPE numbers decode
 * understands, so only this file knows libpcap. See docs/capture.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <pcap/pcap.h>

#include "cap_pcap.h"
#include "decode.h"
#include "log.h"

#define CAP_PCAP_DEFAULT_SNAPLEN      256
#define CAP_PCAP_DEFAULT_BUFFER_BYTES (4u << 20)
/* detach waits this long at most for the kernel to hand over the last, partly filled block */
#define CAP_PCAP_DRAIN_WAIT_MS (2 * CAP_PCAP_BLOCK_TIMEOUT_MS)
/* libpcap's counters are 32 bits: folded into 64-bit totals at least this often */
#define CAP_PCAP_FOLD_MS 10000
/* ready handles taken from epoll per dispatch; epoll rotates the others to the front */
#define CAP_PCAP_EVENTS 64
/* a handle failing this many times in a row is taken out of the epoll set until detach */
#define CAP_PCAP_MAX_ERRORS 8
/* detach reads a ring at most this many times per wait round (traffic may go on) */
#define CAP_PCAP_DRAIN_READS 64

_Static_assert(sizeof(struct bpf_insn) == sizeof(struct sock_filter),
	       "libpcap and kernel classic BPF instructions differ");

static int linktype_of(int dlt)
{
	switch (dlt) {
	case DLT_NULL:
		return DECODE_LINK_NULL;
	case DLT_EN10MB:
		return DECODE_LINK_EN10MB;
	case DLT_RAW:
#if defined(DLT_RAW) && DLT_RAW != 14
	case 14: /* DLT_RAW on some BSDs, seen in old files */
#endif
	case 101:
		return DECODE_LINK_RAW;
	case DLT_LOOP:
		return DECODE_LINK_LOOP;
	case DLT_LINUX_SLL:
		return DECODE_LINK_LINUX_SLL;
#ifdef DLT_LINUX_SLL2
	case DLT_LINUX_SLL2:
		return DECODE_LINK_LINUX_SLL2;
#endif
#ifdef DLT_IPV4
	case DLT_IPV4:
		return DECODE_LINK_IPV4;
	case DLT_IPV6:
		return DECODE_LINK_IPV6;
#endif
	default:
		return dlt; /* decode counts it as an unsupported link type */
	}
}

static uint64_t ts_ms_of(const struct pcap_pkthdr *h)
{
	return (uint64_t)h->ts.tv_sec * 1000u + (uint64_t)h->ts.tv_usec / 1000u;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------ offline files */

struct cap_file {
	struct capture base; /* must stay first */
	pcap_t *p;	     /* owned */
	int linktype;	     /* enum decode_linktype, or the DLT when unsupported */
	uint64_t received;
	const struct capture_sink *sink; /* borrowed for the duration of one dispatch */
};

static void on_file_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct cap_file *c = (struct cap_file *)user;
	struct capture_frame f = {
		.data = bytes,
		.caplen = h->caplen,
		.wirelen = h->len,
		.ts_ms = ts_ms_of(h),
		.linktype = c->linktype,
		.ifindex = 0,
		.direction = CAPTURE_DIR_UNKNOWN,
	};

	c->received++;
	c->sink->frame(&f, c->sink->user);
}

static int cap_file_dispatch(struct capture *base, int max_items, const struct capture_sink *sink)
{
	struct cap_file *c = (struct cap_file *)base;
	int n;

	if (!sink || !sink->frame)
		return -EINVAL;
	if (max_items <= 0)
		return 0;
	c->sink = sink;
	n = pcap_dispatch(c->p, max_items, on_file_packet, (u_char *)c);
	c->sink = NULL;
	if (n == PCAP_ERROR) {
		log_warn("capture file '%s' ends in a damaged record: %s", base->name,
			 pcap_geterr(c->p));
		return -ENODATA;
	}
	if (n == PCAP_ERROR_BREAK)
		return 0;
	return n == 0 ? -ENODATA : n;
}

static int cap_file_fd(const struct capture *base)
{
	(void)base;
	return -1;
}

static void cap_file_stats(const struct capture *base, struct capture_stats *ret_stats)
{
	const struct cap_file *c = (const struct cap_file *)base;

	memset(ret_stats, 0, sizeof(*ret_stats));
	ret_stats->received = c->received;
}

static bool cap_file_iface_stats(const struct capture *base, size_t i, const char **ret_name,
				 struct capture_stats *ret_stats)
{
	(void)base;
	(void)i;
	(void)ret_name;
	(void)ret_stats;
	return false;
}

static void cap_file_close(struct capture *base)
{
	struct cap_file *c = (struct cap_file *)base;

	if (!c)
		return;
	if (c->p)
		pcap_close(c->p);
	free(c);
}

static const struct capture_ops cap_file_ops = {
	.name = "pcap",
	.dispatch = cap_file_dispatch,
	.fd = cap_file_fd,
	.stats = cap_file_stats,
	.iface_stats = cap_file_iface_stats,
	.close = cap_file_close,
};

struct capture *cap_pcap_open_file(const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct cap_file *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.ops = &cap_file_ops;
	snprintf(c->base.name, sizeof(c->base.name), "%s", path);
	c->p = pcap_open_offline(path, errbuf);
	if (!c->p) {
		log_error("cannot read capture file '%s': %s", path, errbuf);
		cap_file_close(&c->base);
		return NULL;
	}
	c->linktype = linktype_of(pcap_datalink(c->p));
	return &c->base;
}

/* ------------------------------------------------------------------ live interfaces */

struct cap_iface;

/* One libpcap handle of an interface. */
struct cap_handle {
	pcap_t *p;		 /* owned; NULL when unused */
	struct cap_iface *iface; /* borrowed: the interface that holds this handle */
	int fd;			 /* libpcap's packet socket (owned by p) */
	bool polled;		 /* fd is in the epoll set */
	uint8_t direction;	 /* enum decode_direction, or CAPTURE_DIR_UNKNOWN (SLL2) */
	int linktype;		 /* enum decode_linktype */
	uint32_t errors_in_row;	 /* consecutive failed reads */
	uint64_t seen;		 /* frames read from this handle */
	uint32_t last_drop;	 /* libpcap's ps_drop when last folded into the totals */
	uint32_t last_ifdrop;	 /* same for ps_ifdrop (read from handle 0 only) */
};

struct cap_live;

struct cap_iface {
	char *name;		 /* owned */
	uint32_t ifindex;	 /* 0 only for "any" */
	struct cap_live *owner;	 /* borrowed: the capture holding this interface */
	struct cap_handle h[2];	 /* [0] SLL2 or ingress, [1] egress */
	size_t n_handles;	 /* 0 while waiting for the interface to come up */
	bool error_logged;	 /* one message per interface for read/open failures */
	struct capture_stats st; /* received exact; drops as of the last fold */
};

struct cap_live {
	struct capture base;		/* must stay first */
	struct capture_live_config cfg; /* bpf_filter owned (NULL when none) */
	int epfd;			/* owned */
	struct cap_iface **ifaces;	/* owned array of owned entries, attach order */
	size_t n_ifaces;
	size_t cap_ifaces;
	size_t n_waiting;		 /* entries with n_handles == 0 */
	uint64_t next_retry_ms;		 /* monotonic time to retry waiting interfaces */
	uint64_t next_fold_ms;		 /* monotonic time to fold kernel counters */
	struct capture_stats gone;	 /* totals of detached interfaces */
	const struct capture_sink *sink; /* borrowed for one dispatch or detach */
};

static void on_live_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct cap_handle *hd = (struct cap_handle *)user;
	struct cap_iface *ifc = hd->iface;
	const struct capture_sink *sink = ifc->owner->sink;
	struct capture_frame f = {
		.data = bytes,
		.caplen = h->caplen,
		.wirelen = h->len,
		.ts_ms = ts_ms_of(h),
		.linktype = hd->linktype,
		.ifindex = ifc->ifindex,
		.direction = hd->direction,
	};

	/* "any": the cooked v2 header names the interface (bytes 4-7, network order). */
	if (f.ifindex == 0 && hd->linktype == DECODE_LINK_LINUX_SLL2 && h->caplen >= 8)
		f.ifindex = (uint32_t)bytes[4] << 24 | (uint32_t)bytes[5] << 16 |
			    (uint32_t)bytes[6] << 8 | bytes[7];
	hd->seen++;
	ifc->st.received++;
	if (sink)
		sink->frame(&f, sink->user);
}

/* Drops since the last fold (libpcap's counters are 32-bit and wrap). */
static void handle_deltas(const struct cap_handle *h, bool with_ifdrop, uint32_t *ret_drop,
			  uint32_t *ret_ifdrop, struct pcap_stat *ret_ps)
{
	struct pcap_stat ps;

	*ret_drop = 0;
	*ret_ifdrop = 0;
	memset(&ps, 0, sizeof(ps));
	if (pcap_stats(h->p, &ps) == 0) {
		*ret_drop = (uint32_t)(ps.ps_drop - h->last_drop);
		if (with_ifdrop)
			*ret_ifdrop = (uint32_t)(ps.ps_ifdrop - h->last_ifdrop);
	} else {
		ps.ps_drop = h->last_drop;
		ps.ps_ifdrop = h->last_ifdrop;
	}
	if (ret_ps)
		*ret_ps = ps;
}

/* Current counters of an interface, without changing it. */
static void iface_stats_now(const struct cap_iface *ifc, struct capture_stats *ret)
{
	*ret = ifc->st;
	for (size_t i = 0; i < ifc->n_handles; i++) {
		uint32_t drop, ifdrop;

		/* Interface drops are the device's: count them from one handle only. */
		handle_deltas(&ifc->h[i], i == 0, &drop, &ifdrop, NULL);
		ret->kernel_dropped += drop;
		ret->ifdropped += ifdrop;
	}
}

static void iface_fold(struct cap_iface *ifc)
{
	for (size_t i = 0; i < ifc->n_handles; i++) {
		struct cap_handle *h = &ifc->h[i];
		struct pcap_stat ps;
		uint32_t drop, ifdrop;

		handle_deltas(h, i == 0, &drop, &ifdrop, &ps);
		ifc->st.kernel_dropped += drop;
		ifc->st.ifdropped += ifdrop;
		h->last_drop = ps.ps_drop;
		h->last_ifdrop = ps.ps_ifdrop;
	}
}

static void handle_unpoll(struct cap_live *c, struct cap_handle *h)
{
	if (!h->polled)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->polled = false;
}

static void iface_close_handles(struct cap_live *c, struct cap_iface *ifc)
{
	iface_fold(ifc);
	for (size_t i = 0; i < ifc->n_handles; i++) {
		handle_unpoll(c, &ifc->h[i]);
		pcap_close(ifc->h[i].p);
		memset(&ifc->h[i], 0, sizeof(ifc->h[i]));
	}
	ifc->n_handles = 0;
}

/*
 * Create and activate one handle. Returns 0, -ENETDOWN when the interface is down,
 * -ENODEV when it does not exist, or -errno (logged).
 */
static int handle_activate(struct cap_live *c, struct cap_handle *h, const char *name,
			   uint32_t buffer_bytes, bool want_sll2)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	int rc;

	h->p = pcap_create(name, errbuf);
	if (!h->p) {
		log_error("interface '%s': %s", name, errbuf);
		return -ENOMEM;
	}
	pcap_set_snaplen(h->p, (int)c->cfg.snaplen);
	pcap_set_promisc(h->p, c->cfg.promiscuous);
	pcap_set_buffer_size(h->p, (int)(buffer_bytes > INT_MAX ? INT_MAX : buffer_bytes));
	pcap_set_timeout(h->p, CAP_PCAP_BLOCK_TIMEOUT_MS);
	/* Immediate mode off: libpcap keeps TPACKET_V3 with block timeouts. */
	pcap_set_immediate_mode(h->p, 0);
	rc = pcap_activate(h->p);
	if (rc < 0) {
		switch (rc) {
		case PCAP_ERROR_IFACE_NOT_UP:
			rc = -ENETDOWN;
			break;
		case PCAP_ERROR_NO_SUCH_DEVICE:
			rc = -ENODEV;
			break;
		case PCAP_ERROR_PERM_DENIED:
			rc = -EPERM;
			break;
		default:
			rc = -EIO;
			break;
		}
		if (rc == -EPERM || rc == -EIO)
			log_error("interface '%s': cannot capture: %s", name, pcap_geterr(h->p));
		goto fail;
	}
	if (rc > 0)
		log_warn("interface '%s': %s", name, pcap_statustostr(rc));
	if (pcap_setnonblock(h->p, 1, errbuf) < 0) {
		log_error("interface '%s': %s", name, errbuf);
		rc = -EIO;
		goto fail;
	}
	h->fd = pcap_get_selectable_fd(h->p);
	if (h->fd < 0 || fcntl(h->fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_error("interface '%s': no pollable descriptor", name);
		rc = -EIO;
		goto fail;
	}
#ifdef DLT_LINUX_SLL2
	/* Fails quietly when the device does not offer it (libpcap 1.10: cooked ones only). */
	if (want_sll2)
		pcap_set_datalink(h->p, DLT_LINUX_SLL2);
#else
	(void)want_sll2;
#endif
	h->linktype = linktype_of(pcap_datalink(h->p));
	return 0;
fail:
	pcap_close(h->p);
	h->p = NULL;
	return rc;
}

static int compile(pcap_t *p, const char *name, const char *expr, struct bpf_program *ret_prog)
{
	if (pcap_compile(p, ret_prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		log_error("interface '%s': bad capture filter '%s': %s", name, expr,
			  pcap_geterr(p));
		return -EINVAL;
	}
	return 0;
}

/*
 * A direction handle's kernel filter: "(filter) and inbound|outbound", attached to the
 * socket directly. Through pcap_setfilter() libpcap would re-run the same program in user
 * space over the ring's current block, where the packet-type load fails and every frame
 * would be rejected. pcap_setdirection() keeps that block right (and everything, should
 * this fail); this filter spares the second copy of each frame.
 */
static void set_kernel_direction(struct cap_live *c, struct cap_handle *h, const char *name,
				 bool in)
{
	const char *dir = in ? "inbound" : "outbound";
	const char *user = c->cfg.bpf_filter;
	struct bpf_program prog;
	struct sock_fprog fprog;
	size_t len = (user ? strlen(user) : 0) + 32;
	char *expr = malloc(len);

	if (!expr)
		return;
	if (user)
		snprintf(expr, len, "(%s) and %s", user, dir);
	else
		snprintf(expr, len, "%s", dir);
	if (compile(h->p, name, expr, &prog) < 0)
		goto out;
	if (prog.bf_len > BPF_MAXINSNS) {
		log_warn("interface '%s': filter too long for the kernel; directions are split "
			 "in user space",
			 name);
		goto out_free;
	}
	fprog.len = (unsigned short)prog.bf_len;
	fprog.filter = (struct sock_filter *)prog.bf_insns;
	if (setsockopt(h->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0)
		log_warn("interface '%s': kernel direction filter: %s; directions are split in "
			 "user space",
			 name, strerror(errno));
out_free:
	pcap_freecode(&prog);
out:
	free(expr);
}

/* Filters and direction of an activated handle. dir: PCAP_D_INOUT (SLL2), _IN or _OUT. */
static int handle_setup(struct cap_live *c, struct cap_handle *h, const char *name,
			pcap_direction_t dir)
{
	struct bpf_program prog;
	int rc = 0;

	h->direction = dir == PCAP_D_IN	   ? DECODE_DIR_INGRESS
		       : dir == PCAP_D_OUT ? DECODE_DIR_EGRESS
					   : CAPTURE_DIR_UNKNOWN;
	if (dir != PCAP_D_INOUT && pcap_setdirection(h->p, dir) < 0) {
		log_error("interface '%s': cannot select a direction: %s", name, pcap_geterr(h->p));
		return -EIO;
	}
	if (c->cfg.bpf_filter) {
		if (compile(h->p, name, c->cfg.bpf_filter, &prog) < 0)
			return -EINVAL;
		if (pcap_setfilter(h->p, &prog) < 0) {
			log_error("interface '%s': cannot set filter: %s", name, pcap_geterr(h->p));
			rc = -EIO;
		}
		pcap_freecode(&prog);
	}
	if (rc == 0 && dir != PCAP_D_INOUT)
		set_kernel_direction(c, h, name, dir == PCAP_D_IN);
	return rc;
}

/* Open the handles of an interface and poll them. Returns 0, -ENETDOWN, or -errno. */
static int iface_open(struct cap_live *c, struct cap_iface *ifc)
{
	uint32_t half = c->cfg.buffer_bytes / 2;
	int rc;

	rc = handle_activate(c, &ifc->h[0], ifc->name, half, true);
	if (rc < 0)
		return rc;
	ifc->n_handles = 1;
	if (ifc->h[0].linktype == DECODE_LINK_LINUX_SLL2) {
		/* One handle sees both directions: give it the whole ring. */
		pcap_close(ifc->h[0].p);
		ifc->n_handles = 0;
		rc = handle_activate(c, &ifc->h[0], ifc->name, c->cfg.buffer_bytes, true);
		if (rc < 0)
			goto fail;
		ifc->n_handles = 1;
		rc = handle_setup(c, &ifc->h[0], ifc->name, PCAP_D_INOUT);
	} else {
		rc = handle_setup(c, &ifc->h[0], ifc->name, PCAP_D_IN);
		if (rc < 0)
			goto fail;
		rc = handle_activate(c, &ifc->h[1], ifc->name, half, false);
		if (rc < 0)
			goto fail;
		ifc->n_handles = 2;
		rc = handle_setup(c, &ifc->h[1], ifc->name, PCAP_D_OUT);
	}
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < ifc->n_handles; i++) {
		struct cap_handle *h = &ifc->h[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};

		h->iface = ifc;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0) {
			rc = -errno;
			log_error("interface '%s': epoll: %s", ifc->name, strerror(errno));
			goto fail;
		}
		h->polled = true;
	}
	return 0;
fail:
	iface_close_handles(c, ifc);
	return rc;
}

static struct cap_iface *find_iface(const struct cap_live *c, uint32_t ifindex, size_t *ret_pos)
{
	for (size_t i = 0; i < c->n_ifaces; i++) {
		if (c->ifaces[i]->ifindex == ifindex) {
			if (ret_pos)
				*ret_pos = i;
			return c->ifaces[i];
		}
	}
	return NULL;
}

/* Try a waiting interface again. Returns 0 (capturing or still down) or -errno. */
static int iface_retry(struct cap_live *c, struct cap_iface *ifc)
{
	int rc = iface_open(c, ifc);

	if (rc == -ENETDOWN)
		return 0;
	if (rc < 0)
		return rc;
	c->n_waiting--;
	ifc->error_logged = false;
	log_info("interface '%s' (ifindex %u) is up: capturing", ifc->name, ifc->ifindex);
	return 0;
}

static void retry_waiting(struct cap_live *c)
{
	for (size_t i = 0; i < c->n_ifaces && c->n_waiting; i++) {
		struct cap_iface *ifc = c->ifaces[i];

		if (ifc->n_handles == 0 && iface_retry(c, ifc) < 0 && !ifc->error_logged) {
			/* handle_activate logged the libpcap reason where there is one */
			log_warn("interface '%s' (ifindex %u): still not capturing", ifc->name,
				 ifc->ifindex);
			ifc->error_logged = true;
		}
	}
}

static int cap_live_attach(struct capture *base, const char *ifname, uint32_t ifindex)
{
	struct cap_live *c = (struct cap_live *)base;
	struct cap_iface *ifc;
	size_t len;
	int rc;

	len = ifname ? strnlen(ifname, IFNAMSIZ) : 0;
	if (len == 0 || len >= IFNAMSIZ)
		return -EINVAL;
	ifc = find_iface(c, ifindex, NULL);
	if (ifc) {
		if (ifc->n_handles)
			return -EEXIST;
		if (strcmp(ifc->name, ifname) != 0) {
			char *name = strdup(ifname);

			if (!name)
				return -ENOMEM;
			free(ifc->name);
			ifc->name = name;
		}
		return iface_retry(c, ifc);
	}
	if (c->n_ifaces >= CAP_PCAP_MAX_IFACES) {
		log_warn("interface '%s' (ifindex %u) not captured: %u interfaces already", ifname,
			 ifindex, CAP_PCAP_MAX_IFACES);
		return -ENOSPC;
	}
	if (c->n_ifaces == c->cap_ifaces) {
		size_t n = c->cap_ifaces ? 2 * c->cap_ifaces : 16;
		struct cap_iface **a = realloc(c->ifaces, n * sizeof(*a));

		if (!a)
			return -ENOMEM;
		c->ifaces = a;
		c->cap_ifaces = n;
	}
	ifc = calloc(1, sizeof(*ifc));
	if (!ifc)
		return -ENOMEM;
	ifc->name = strdup(ifname);
	ifc->ifindex = ifindex;
	ifc->owner = c;
	if (!ifc->name) {
		free(ifc);
		return -ENOMEM;
	}
	rc = iface_open(c, ifc);
	if (rc == -ENODEV)
		log_error("interface '%s' (ifindex %u): no such device", ifname, ifindex);
	if (rc < 0 && rc != -ENETDOWN) {
		free(ifc->name);
		free(ifc);
		return rc;
	}
	if (rc == -ENETDOWN)
		c->n_waiting++;
	c->ifaces[c->n_ifaces++] = ifc;
	return 0;
}

/* Is there a frame in the ring not yet read (kernel count differs from ours)? */
static bool handle_pending(const struct cap_handle *h)
{
	struct pcap_stat ps;

	if (pcap_stats(h->p, &ps) < 0)
		return false;
	/* ps_recv counts frames that passed the filter, dropped ones included */
	return (uint32_t)(ps.ps_recv - ps.ps_drop) != (uint32_t)h->seen;
}

static void handle_drain(struct cap_handle *h)
{
	uint64_t deadline = mono_ms() + CAP_PCAP_DRAIN_WAIT_MS;

	for (;;) {
		struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
		uint64_t now;

		/* Errors ("interface disappeared") still leave retired blocks to read. */
		for (int i = 0; i < CAP_PCAP_DRAIN_READS; i++) {
			if (pcap_dispatch(h->p, -1, on_live_packet, (u_char *)h) <= 0)
				break;
		}
		if (!handle_pending(h))
			return;
		now = mono_ms();
		if (now >= deadline)
			return;
		poll(&pfd, 1, (int)(deadline - now));
	}
}

static void cap_live_detach(struct capture *base, uint32_t ifindex, const struct capture_sink *sink)
{
	struct cap_live *c = (struct cap_live *)base;
	struct cap_iface *ifc;
	size_t pos;

	ifc = find_iface(c, ifindex, &pos);
	if (!ifc)
		return;
	if (sink && sink->frame) {
		c->sink = sink;
		for (size_t i = 0; i < ifc->n_handles; i++)
			handle_drain(&ifc->h[i]);
		c->sink = NULL;
	}
	if (ifc->n_handles == 0)
		c->n_waiting--;
	iface_close_handles(c, ifc);
	c->gone.received += ifc->st.received;
	c->gone.kernel_dropped += ifc->st.kernel_dropped;
	c->gone.ifdropped += ifc->st.ifdropped;
	memmove(&c->ifaces[pos], &c->ifaces[pos + 1], (c->n_ifaces - pos - 1) * sizeof(*c->ifaces));
	c->n_ifaces--;
	free(ifc->name);
	free(ifc);
}

static void handle_failed(struct cap_live *c, struct cap_handle *h)
{
	struct cap_iface *ifc = h->iface;

	if (!ifc->error_logged) {
		log_info("interface '%s' (ifindex %u): %s", ifc->name, ifc->ifindex,
			 pcap_geterr(h->p));
		ifc->error_logged = true;
	}
	if (++h->errors_in_row == CAP_PCAP_MAX_ERRORS) {
		log_warn("interface '%s' (ifindex %u): not read any more after %u errors in a row",
			 ifc->name, ifc->ifindex, CAP_PCAP_MAX_ERRORS);
		handle_unpoll(c, h);
	}
}

static int cap_live_dispatch(struct capture *base, int max_items, const struct capture_sink *sink)
{
	struct cap_live *c = (struct cap_live *)base;
	struct epoll_event ev[CAP_PCAP_EVENTS];
	uint64_t now = mono_ms();
	int n, total = 0;

	if (!sink || !sink->frame)
		return -EINVAL;
	if (max_items <= 0)
		return 0;
	if (c->n_waiting && now >= c->next_retry_ms) {
		retry_waiting(c);
		c->next_retry_ms = now + CAP_PCAP_RETRY_MS;
	}
	if (now >= c->next_fold_ms) {
		for (size_t i = 0; i < c->n_ifaces; i++)
			iface_fold(c->ifaces[i]);
		c->next_fold_ms = now + CAP_PCAP_FOLD_MS;
	}
	n = epoll_wait(c->epfd, ev, max_items < CAP_PCAP_EVENTS ? max_items : CAP_PCAP_EVENTS, 0);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		log_error("capture: epoll_wait: %s", strerror(errno));
		return -errno;
	}
	c->sink = sink;
	for (int i = 0; i < n && total < max_items; i++) {
		struct cap_handle *h = ev[i].data.ptr;
		/* Share what is left evenly among the handles still to be read. */
		int quota = (max_items - total) / (n - i);
		int r;

		r = pcap_dispatch(h->p, quota > 0 ? quota : 1, on_live_packet, (u_char *)h);
		if (r >= 0) {
			total += r;
			h->errors_in_row = 0;
		} else if (r == PCAP_ERROR) {
			handle_failed(c, h);
		}
	}
	c->sink = NULL;
	return total;
}

static int cap_live_fd(const struct capture *base)
{
	return ((const struct cap_live *)base)->epfd;
}

static void cap_live_stats(const struct capture *base, struct capture_stats *ret_stats)
{
	const struct cap_live *c = (const struct cap_live *)base;
	struct capture_stats s = c->gone;

	for (size_t i = 0; i < c->n_ifaces; i++) {
		struct capture_stats is;

		iface_stats_now(c->ifaces[i], &is);
		s.received += is.received;
		s.kernel_dropped += is.kernel_dropped;
		s.ifdropped += is.ifdropped;
	}
	*ret_stats = s;
}

static bool cap_live_iface_stats(const struct capture *base, size_t i, const char **ret_name,
				 struct capture_stats *ret_stats)
{
	const struct cap_live *c = (const struct cap_live *)base;

	if (i >= c->n_ifaces)
		return false;
	*ret_name = c->ifaces[i]->name;
	iface_stats_now(c->ifaces[i], ret_stats);
	return true;
}

static void cap_live_close(struct capture *base)
{
	struct cap_live *c = (struct cap_live *)base;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_ifaces; i++) {
		iface_close_handles(c, c->ifaces[i]);
		free(c->ifaces[i]->name);
		free(c->ifaces[i]);
	}
	free(c->ifaces);
	if (c->epfd >= 0)
		close(c->epfd);
	free((char *)c->cfg.bpf_filter);
	free(c);
}

static const struct capture_ops cap_live_ops = {
	.name = "pcap",
	.attach = cap_live_attach,
	.detach = cap_live_detach,
	.dispatch = cap_live_dispatch,
	.fd = cap_live_fd,
	.stats = cap_live_stats,
	.iface_stats = cap_live_iface_stats,
	.close = cap_live_close,
};

/* Compile the filter once for Ethernet, so a typo fails at start and not per interface. */
static int check_filter(const char *expr, uint32_t snaplen)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, (int)snaplen);
	struct bpf_program prog;
	int rc = 0;

	if (!dead)
		return -ENOMEM;
	if (pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		log_error("bad capture filter '%s': %s", expr, pcap_geterr(dead));
		rc = -EINVAL;
	} else {
		pcap_freecode(&prog);
	}
	pcap_close(dead);
	return rc;
}

struct capture *cap_pcap_new_live(const struct capture_live_config *config)
{
	struct cap_live *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.ops = &cap_live_ops;
	snprintf(c->base.name, sizeof(c->base.name), "pcap");
	c->epfd = -1;
	if (config)
		c->cfg = *config;
	c->cfg.bpf_filter = NULL;
	if (!c->cfg.snaplen)
		c->cfg.snaplen = CAP_PCAP_DEFAULT_SNAPLEN;
	if (!c->cfg.buffer_bytes)
		c->cfg.buffer_bytes = CAP_PCAP_DEFAULT_BUFFER_BYTES;
	if (config && config->bpf_filter && *config->bpf_filter) {
		if (check_filter(config->bpf_filter, c->cfg.snaplen) < 0)
			goto fail;
		c->cfg.bpf_filter = strdup(config->bpf_filter);
		if (!c->cfg.bpf_filter)
			goto fail;
	}
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		log_error("capture: epoll_create1: %s", strerror(errno));
		goto fail;
	}
	return &c->base;
fail:
	cap_live_close(&c->base);
	return NULL;
}

int cap_pcap_iface_state(const struct capture *base, uint32_t ifindex)
{
	const struct cap_live *c = (const struct cap_live *)base;
	const struct cap_iface *ifc;

	if (!base || base->ops != &cap_live_ops)
		return -ENOENT;
	ifc = find_iface(c, ifindex, NULL);
	if (!ifc)
		return -ENOENT;
	return ifc->n_handles ? CAP_PCAP_IFACE_CAPTURING : CAP_PCAP_IFACE_WAITING;
}
