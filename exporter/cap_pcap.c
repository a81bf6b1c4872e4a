// SPDX-License-Identifier: Apache-2.0
/*
 * cap_pcap: the libpcap backend. Files (pcap, pcapng) are read in batches; live
 * interfaces are opened non-blocking with a kernel ring (libpcap uses TPACKET_V3 when
 * immediate mode is off) and polled through their selectable fd. DLT values are mapped
 * to the LINKTYPE numbers decode understands, so only this file knows libpcap.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "cap_pcap.h"
#include "decode.h"
#include "log.h"

struct cap_pcap {
	struct capture base; /* must stay first */
	pcap_t *p;	     /* owned */
	int linktype;	     /* enum decode_linktype, or -1 when unsupported */
	bool live;
	uint64_t received;
	capture_frame_fn cb; /* borrowed for the duration of one dispatch */
	void *cb_user;
};

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

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct cap_pcap *c = (struct cap_pcap *)user;
	struct capture_frame f = {
		.data = bytes,
		.caplen = h->caplen,
		.wirelen = h->len,
		.ts_ms = (uint64_t)h->ts.tv_sec * 1000u + (uint64_t)h->ts.tv_usec / 1000u,
		.linktype = c->linktype,
		.ifindex = c->base.ifindex,
	};

	c->received++;
	c->cb(&f, c->cb_user);
}

static int cap_pcap_dispatch(struct capture *base, int max_frames, capture_frame_fn cb, void *user)
{
	struct cap_pcap *c = (struct cap_pcap *)base;
	int n;

	c->cb = cb;
	c->cb_user = user;
	n = pcap_dispatch(c->p, max_frames, on_packet, (u_char *)c);
	if (n == PCAP_ERROR) {
		if (!c->live) {
			log_warn("capture file '%s' ends in a damaged record: %s", base->name,
				 pcap_geterr(c->p));
			return -ENODATA;
		}
		log_error("interface '%s': %s", base->name, pcap_geterr(c->p));
		return -EIO;
	}
	if (n == PCAP_ERROR_BREAK)
		return 0;
	if (n == 0 && !c->live)
		return -ENODATA;
	return n;
}

static int cap_pcap_fd(const struct capture *base)
{
	const struct cap_pcap *c = (const struct cap_pcap *)base;

	return c->live ? pcap_get_selectable_fd(c->p) : -1;
}

static void cap_pcap_stats(const struct capture *base, struct capture_stats *ret_stats)
{
	const struct cap_pcap *c = (const struct cap_pcap *)base;
	struct pcap_stat ps;

	memset(ret_stats, 0, sizeof(*ret_stats));
	ret_stats->received = c->received;
	if (c->live && pcap_stats(c->p, &ps) == 0) {
		ret_stats->kernel_dropped = ps.ps_drop;
		ret_stats->ifdropped = ps.ps_ifdrop;
	}
}

static void cap_pcap_close(struct capture *base)
{
	struct cap_pcap *c = (struct cap_pcap *)base;

	if (!c)
		return;
	if (c->p)
		pcap_close(c->p);
	free(c);
}

static const struct capture_ops cap_pcap_ops = {
	.name = "pcap",
	.dispatch = cap_pcap_dispatch,
	.fd = cap_pcap_fd,
	.stats = cap_pcap_stats,
	.close = cap_pcap_close,
};

static struct cap_pcap *cap_alloc(const char *name)
{
	struct cap_pcap *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.ops = &cap_pcap_ops;
	snprintf(c->base.name, sizeof(c->base.name), "%s", name);
	return c;
}

struct capture *cap_pcap_open_file(const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct cap_pcap *c = cap_alloc(path);

	if (!c)
		return NULL;
	c->p = pcap_open_offline(path, errbuf);
	if (!c->p) {
		log_error("cannot read capture file '%s': %s", path, errbuf);
		cap_pcap_close(&c->base);
		return NULL;
	}
	c->linktype = linktype_of(pcap_datalink(c->p));
	return &c->base;
}

static int set_filter(struct cap_pcap *c, const char *filter)
{
	struct bpf_program prog;
	int ret = 0;

	if (!filter || !*filter)
		return 0;
	if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		log_error("interface '%s': bad capture filter '%s': %s", c->base.name, filter,
			  pcap_geterr(c->p));
		return -EINVAL;
	}
	if (pcap_setfilter(c->p, &prog) < 0) {
		log_error("interface '%s': cannot set filter: %s", c->base.name, pcap_geterr(c->p));
		ret = -EIO;
	}
	pcap_freecode(&prog);
	return ret;
}

struct capture *cap_pcap_open_live(const char *ifname, const struct capture_live_config *config)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct cap_pcap *c = cap_alloc(ifname);
	int rc;

	if (!c)
		return NULL;
	c->live = true;
	c->base.ifindex = if_nametoindex(ifname);
	c->p = pcap_create(ifname, errbuf);
	if (!c->p) {
		log_error("interface '%s': %s", ifname, errbuf);
		goto fail;
	}
	pcap_set_snaplen(c->p, (int)config->snaplen);
	pcap_set_promisc(c->p, config->promiscuous);
	pcap_set_buffer_size(c->p, (int)config->buffer_bytes);
	pcap_set_timeout(c->p, 100);
	rc = pcap_activate(c->p);
	if (rc < 0) {
		log_error("interface '%s': cannot capture: %s", ifname,
			  rc == PCAP_ERROR ? pcap_geterr(c->p) : pcap_statustostr(rc));
		goto fail;
	}
	if (rc > 0)
		log_warn("interface '%s': %s", ifname, pcap_statustostr(rc));
	if (pcap_setnonblock(c->p, 1, errbuf) < 0) {
		log_error("interface '%s': %s", ifname, errbuf);
		goto fail;
	}
	if (set_filter(c, config->bpf_filter) < 0)
		goto fail;
	c->linktype = linktype_of(pcap_datalink(c->p));
	return &c->base;
fail:
	cap_pcap_close(&c->base);
	return NULL;
}
