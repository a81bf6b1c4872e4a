// SPDX-License-Identifier: Apache-2.0
/*
 * follow: rtnetlink link messages turned into capture attach/detach calls. Followed links
 * sit in an array sorted by ifindex (lookup O(log n), insert and remove O(n), n bounded by
 * max_interfaces). Every dump has a generation that it stamps on the links it reports; at
 * its end, links left with an older stamp vanished while messages were lost, and are
 * detached. Each call reads a bounded number of datagrams; only the first dump blocks.
 */
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "follow.h"
#include "log.h"

#define FOLLOW_DUMP_TIMEOUT_MS 5000
/* Kernel dump datagrams are at most 32 KiB; twice that never truncates. */
#define FOLLOW_RECV_BYTES    65536
#define FOLLOW_MAX_DATAGRAMS 256

const char *const follow_default_include[] = {
	"veth*",  "cali*",	 "lxc*",   "cni0",    "cni*", "flannel*", "vxlan*",
	"tap*",	  "vnet*",	 "tun*",   "gke*",    "eni*", "azv*",	  "cilium_*",
	"genev*", "kube-bridge", "virbr*", "docker0", "br-*", "weave*",	  NULL,
};

const char *const follow_default_exclude[] = {
	"lo", "cilium_net", "lxc_health", "virbr*-nic", NULL,
};

/* A link whose name matched when it was last seen. */
struct follow_link {
	uint32_t ifindex;
	uint32_t flags; /* IFF_* as last reported */
	uint32_t gen;	/* generation of the last dump (or message during it) naming the link */
	bool attached;	/* false: attach failed; tried again when it comes up or at a dump */
	char name[IFNAMSIZ];
};

struct follow {
	struct capture *cap;			  /* borrowed: outlives the follower */
	const char *include[FOLLOW_MAX_PATTERNS]; /* owned copies */
	size_t n_include;
	const char *exclude[FOLLOW_MAX_PATTERNS]; /* owned copies; none with static_names */
	size_t n_exclude;
	bool static_names;
	uint32_t max_interfaces;
	void (*on_attach)(uint32_t ifindex, const char *name, void *user);
	void (*on_detach)(uint32_t ifindex, void *user);
	void *user; /* borrowed */

	int fd;		    /* owned netlink socket */
	uint32_t seq;	    /* last request sequence number */
	uint32_t dump_seq;  /* sequence number of the running dump; 0 when none */
	uint32_t gen;	    /* generation of the running or last dump */
	bool synced;	    /* the first dump completed */
	bool dump_again;    /* start a dump when none is running (lost messages, failure) */
	bool dump_intr;	    /* the running dump saw changes: its end does not sweep */
	bool limit_warned;  /* max_interfaces warning given; reset when there is room */
	bool overflow_seen; /* first overflow warned; later ones only counted */

	struct follow_link *links; /* owned; sorted by ifindex; n_links <= max_interfaces */
	size_t n_links;
	size_t cap_links;
	size_t n_attached;
	uint8_t *buf; /* owned; FOLLOW_RECV_BYTES */
	struct follow_stats stats;
};

/* What a link message says. */
struct link_msg {
	uint32_t ifindex;
	uint32_t flags;
	uint8_t family;
	char name[IFNAMSIZ]; /* "" when absent */
};

/* ------------------------------------------------------------------ patterns */

static bool any_match(const char *const *pats, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (pats[i] && fnmatch(pats[i], name, 0) == 0)
			return true;
	}
	return false;
}

static size_t count_list(const char *const *list)
{
	size_t n = 0;

	while (list[n])
		n++;
	return n;
}

void follow_config_init(struct follow_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; follow_default_include[i] && i < FOLLOW_MAX_PATTERNS; i++)
		cfg->include[cfg->n_include++] = follow_default_include[i];
	for (size_t i = 0; follow_default_exclude[i] && i < FOLLOW_MAX_PATTERNS; i++)
		cfg->exclude[cfg->n_exclude++] = follow_default_exclude[i];
}

bool follow_config_matches(const struct follow_config *cfg, const char *ifname)
{
	const char *const *inc = cfg->include;
	size_t n_inc = cfg->n_include < FOLLOW_MAX_PATTERNS ? cfg->n_include : FOLLOW_MAX_PATTERNS;
	size_t n_exc = cfg->n_exclude < FOLLOW_MAX_PATTERNS ? cfg->n_exclude : FOLLOW_MAX_PATTERNS;

	if (!ifname)
		return false;
	if (n_inc == 0) {
		inc = follow_default_include;
		n_inc = count_list(follow_default_include);
	}
	if (!any_match(inc, n_inc, ifname))
		return false;
	return cfg->static_names || !any_match(cfg->exclude, n_exc, ifname);
}

static bool follow_matches(const struct follow *f, const char *name)
{
	return any_match(f->include, f->n_include, name) &&
	       !any_match(f->exclude, f->n_exclude, name);
}

/* ------------------------------------------------------------------ followed links */

/* Position of ifindex, or where it would go. */
static size_t link_pos(const struct follow *f, uint32_t ifindex)
{
	size_t lo = 0, hi = f->n_links;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->links[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool link_find(const struct follow *f, uint32_t ifindex, size_t *ret_pos)
{
	size_t pos = link_pos(f, ifindex);

	if (pos < f->n_links && f->links[pos].ifindex == ifindex) {
		*ret_pos = pos;
		return true;
	}
	return false;
}

/* Insert a zeroed entry for ifindex (not present). Returns its position or -ENOMEM. */
static int link_insert(struct follow *f, uint32_t ifindex, size_t *ret_pos)
{
	size_t pos = link_pos(f, ifindex);

	if (f->n_links == f->cap_links) {
		size_t n = f->cap_links ? 2 * f->cap_links : 16;
		struct follow_link *a = realloc(f->links, n * sizeof(*a));

		if (!a)
			return -ENOMEM;
		f->links = a;
		f->cap_links = n;
	}
	memmove(&f->links[pos + 1], &f->links[pos], (f->n_links - pos) * sizeof(*f->links));
	memset(&f->links[pos], 0, sizeof(*f->links));
	f->links[pos].ifindex = ifindex;
	f->n_links++;
	*ret_pos = pos;
	return 0;
}

/* Stop following the link at pos: detach it if attached, then forget it. */
static void link_drop(struct follow *f, size_t pos, const struct capture_sink *sink,
		      const char *why)
{
	struct follow_link l = f->links[pos];

	memmove(&f->links[pos], &f->links[pos + 1], (f->n_links - pos - 1) * sizeof(*f->links));
	f->n_links--;
	if (f->n_links < f->max_interfaces)
		f->limit_warned = false;
	if (!l.attached)
		return;
	f->cap->ops->detach(f->cap, l.ifindex, sink);
	f->n_attached--;
	f->stats.detaches++;
	log_info("interface '%s' (ifindex %u) %s: capture stopped", l.name, l.ifindex, why);
	if (f->on_detach)
		f->on_detach(l.ifindex, f->user);
}

/* Attach a followed link that is not attached yet. */
static void link_attach(struct follow *f, struct follow_link *l)
{
	int rc = f->cap->ops->attach(f->cap, l->name, l->ifindex);

	if (rc < 0 && rc != -EEXIST) {
		f->stats.attach_failed++;
		return;
	}
	l->attached = true;
	f->n_attached++;
	f->stats.attaches++;
	log_info("capturing on interface '%s' (ifindex %u)%s", l->name, l->ifindex,
		 l->flags & IFF_UP ? "" : ", down for now");
	if (f->on_attach)
		f->on_attach(l->ifindex, l->name, f->user);
}

static void on_newlink(struct follow *f, const struct link_msg *m, bool from_dump,
		       const struct capture_sink *sink)
{
	struct follow_link *l;
	size_t pos;

	if (link_find(f, m->ifindex, &pos) && strcmp(f->links[pos].name, m->name) != 0) {
		/* Backends open interfaces by name: follow the new name from scratch. */
		f->stats.renames++;
		log_info("interface '%s' (ifindex %u) renamed to '%s'", f->links[pos].name,
			 m->ifindex, m->name);
		link_drop(f, pos, sink, "renamed");
	}
	if (link_find(f, m->ifindex, &pos)) {
		bool came_up = (m->flags & IFF_UP) && !(f->links[pos].flags & IFF_UP);

		l = &f->links[pos];
		l->flags = m->flags;
		l->gen = f->gen;
		/* A resync dump may stand for a lost "came up" message. */
		from_dump = from_dump && f->synced;
		if (!l->attached) {
			if (came_up || from_dump)
				link_attach(f, l);
		} else if ((m->flags & IFF_UP) && (came_up || from_dump)) {
			/* The backend may have left it waiting while it was down. */
			int rc = f->cap->ops->attach(f->cap, l->name, l->ifindex);

			if (rc < 0 && rc != -EEXIST)
				f->stats.attach_failed++;
		}
		return;
	}
	if (!follow_matches(f, m->name))
		return;
	if (f->n_links >= f->max_interfaces) {
		f->stats.over_limit++;
		if (!f->limit_warned)
			log_warn("interface '%s' (ifindex %u) not captured: %u interfaces followed "
				 "already (max_interfaces)",
				 m->name, m->ifindex, f->max_interfaces);
		f->limit_warned = true;
		return;
	}
	if (link_insert(f, m->ifindex, &pos) < 0) {
		f->stats.attach_failed++;
		return;
	}
	l = &f->links[pos];
	l->flags = m->flags;
	l->gen = f->gen;
	memcpy(l->name, m->name, sizeof(l->name));
	link_attach(f, l);
}

/* ------------------------------------------------------------------ netlink */

/* Parse RTM_NEWLINK/RTM_DELLINK. Returns 0 or -EBADMSG. */
static int parse_link(const struct nlmsghdr *nh, struct link_msg *ret)
{
	const struct ifinfomsg *ifi;
	const struct rtattr *rta;
	int len;

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EBADMSG;
	ifi = NLMSG_DATA(nh);
	if (ifi->ifi_index <= 0)
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->ifindex = (uint32_t)ifi->ifi_index;
	ret->flags = ifi->ifi_flags;
	ret->family = ifi->ifi_family;
	len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		const char *s = RTA_DATA(rta);
		size_t n = RTA_PAYLOAD(rta);
		size_t sl;

		if (rta->rta_type != IFLA_IFNAME)
			continue;
		sl = strnlen(s, n);
		if (sl == 0 || sl == n || sl >= IFNAMSIZ)
			return -EBADMSG;
		memcpy(ret->name, s, sl + 1);
	}
	return 0;
}

static int dump_start(struct follow *f)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct rtattr rta;
		uint32_t ext_mask;
	} req;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	if (++f->seq == 0)
		f->seq = 1;
	req.nh.nlmsg_seq = f->seq;
	req.ifi.ifi_family = AF_UNSPEC;
	req.rta.rta_type = IFLA_EXT_MASK;
	req.rta.rta_len = RTA_LENGTH(sizeof(uint32_t));
#ifdef RTEXT_FILTER_SKIP_STATS
	req.ext_mask = RTEXT_FILTER_SKIP_STATS;
#endif
	if (sendto(f->fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		log_warn("netlink: cannot request the link list: %s", strerror(errno));
		f->dump_again = true;
		return -errno;
	}
	if (f->synced)
		f->stats.resyncs++;
	f->dump_seq = f->seq;
	f->gen++;
	f->dump_intr = false;
	f->dump_again = false;
	return 0;
}

/* A dump is needed: start it now, or once the running one ends. */
static void want_dump(struct follow *f)
{
	if (f->dump_seq)
		f->dump_again = true;
	else
		dump_start(f);
}

static void dump_done(struct follow *f, const struct capture_sink *sink)
{
	f->dump_seq = 0;
	if (f->dump_intr) {
		/* Links changed during the dump: its list may miss some. Dump again. */
		f->dump_again = true;
	} else {
		for (size_t i = f->n_links; i-- > 0;) {
			if (f->links[i].gen != f->gen)
				link_drop(f, i, sink, "vanished while link messages were lost");
		}
		f->synced = true;
	}
	if (f->dump_again)
		dump_start(f);
}

static void handle_datagram(struct follow *f, const uint8_t *buf, size_t len,
			    const struct capture_sink *sink)
{
	size_t off = 0;

	while (off + sizeof(struct nlmsghdr) <= len) {
		const struct nlmsghdr *nh = (const struct nlmsghdr *)(buf + off);
		bool in_dump = f->dump_seq && nh->nlmsg_seq == f->dump_seq;
		struct link_msg m;

		if (nh->nlmsg_len < sizeof(*nh) || nh->nlmsg_len > len - off)
			break;
		off += NLMSG_ALIGN(nh->nlmsg_len);
		switch (nh->nlmsg_type) {
		case NLMSG_DONE:
			if (in_dump)
				dump_done(f, sink);
			break;
		case NLMSG_ERROR:
			if (in_dump) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);
				int err =
					nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) ? -e->error : EIO;

				log_warn("netlink: link list dump failed: %s", strerror(err));
				f->dump_seq = 0;
				f->dump_again = true;
			}
			break;
		case RTM_NEWLINK:
		case RTM_DELLINK:
			if (parse_link(nh, &m) < 0) {
				f->stats.bad_msgs++;
				break;
			}
			/* Bridge port events (AF_BRIDGE) are not link changes. */
			if (m.family != AF_UNSPEC)
				break;
			if (in_dump && (nh->nlmsg_flags & NLM_F_DUMP_INTR))
				f->dump_intr = true;
			f->stats.link_msgs++;
			if (nh->nlmsg_type == RTM_NEWLINK) {
				if (!m.name[0])
					f->stats.bad_msgs++;
				else
					on_newlink(f, &m, in_dump, sink);
			} else {
				size_t pos;

				if (link_find(f, m.ifindex, &pos))
					link_drop(f, pos, sink, "removed");
			}
			break;
		default:
			break;
		}
	}
	/* The last message may end unpadded; anything else left over is damage. */
	if (off < len)
		f->stats.bad_msgs++;
}

/* Read up to FOLLOW_MAX_DATAGRAMS datagrams. Returns 0, or -errno on a socket failure. */
static int receive(struct follow *f, const struct capture_sink *sink)
{
	for (int d = 0; d < FOLLOW_MAX_DATAGRAMS; d++) {
		struct sockaddr_nl from;
		struct iovec iov = {.iov_base = f->buf, .iov_len = FOLLOW_RECV_BYTES};
		struct msghdr msg = {
			.msg_name = &from,
			.msg_namelen = sizeof(from),
			.msg_iov = &iov,
			.msg_iovlen = 1,
		};
		ssize_t n = recvmsg(f->fd, &msg, 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				f->stats.overflows++;
				if (!f->overflow_seen)
					log_warn("netlink: link messages lost (receive buffer "
						 "full); "
						 "resynchronising with a full dump (later losses "
						 "are "
						 "only counted)");
				f->overflow_seen = true;
				want_dump(f);
				continue;
			}
			log_error("netlink: receive: %s", strerror(errno));
			return -errno;
		}
		/* Only the kernel speaks rtnetlink; anything else is ignored. */
		if (msg.msg_namelen != sizeof(from) || from.nl_pid != 0) {
			f->stats.bad_msgs++;
			continue;
		}
		if (msg.msg_flags & MSG_TRUNC) {
			f->stats.bad_msgs++;
			want_dump(f);
			continue;
		}
		handle_datagram(f, f->buf, (size_t)n, sink);
	}
	return 0;
}

/* ------------------------------------------------------------------ public */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int copy_patterns(const char **dst, size_t *ret_n, const char *const *src, size_t n,
			 const char *what)
{
	if (n > FOLLOW_MAX_PATTERNS) {
		log_error("interface %s: more than %d patterns", what, FOLLOW_MAX_PATTERNS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = src[i] ? strnlen(src[i], FOLLOW_MAX_PATTERN_LEN + 1) : 0;

		if (len == 0 || len > FOLLOW_MAX_PATTERN_LEN) {
			log_error("interface %s pattern %zu: empty or longer than %d bytes", what,
				  i + 1, FOLLOW_MAX_PATTERN_LEN);
			return -EINVAL;
		}
		dst[i] = strdup(src[i]);
		if (!dst[i])
			return -ENOMEM;
		*ret_n = i + 1;
	}
	return 0;
}

static int open_socket(struct follow *f, uint32_t rcvbuf_bytes)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
	int size = rcvbuf_bytes > (1u << 30) ? 1 << 30 : (int)rcvbuf_bytes;

	f->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (f->fd < 0) {
		log_error("netlink: socket: %s", strerror(errno));
		return -errno;
	}
	/* Past net.core.rmem_max needs CAP_NET_ADMIN; fall back to what is allowed. */
	if (setsockopt(f->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_error("netlink: bind to link notifications: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* The first dump, read until its end: every existing matching link gets attached. */
static int first_dump(struct follow *f)
{
	uint64_t deadline = mono_ms() + FOLLOW_DUMP_TIMEOUT_MS;

	if (dump_start(f) < 0)
		return -EIO;
	while (!f->synced) {
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		uint64_t now = mono_ms();

		if (now >= deadline) {
			log_error("netlink: no complete link list within %d ms",
				  FOLLOW_DUMP_TIMEOUT_MS);
			return -ETIMEDOUT;
		}
		if (!f->dump_seq && f->dump_again && dump_start(f) < 0)
			return -EIO;
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
		if (receive(f, NULL) < 0)
			return -EIO;
	}
	return 0;
}

/* With -i names: say which plain names do not exist yet. */
static void report_missing(const struct follow *f)
{
	for (size_t i = 0; i < f->n_include; i++) {
		const char *p = f->include[i];
		bool found = false;

		if (strpbrk(p, "*?[\\"))
			continue;
		for (size_t j = 0; j < f->n_links && !found; j++)
			found = strcmp(f->links[j].name, p) == 0;
		if (!found)
			log_warn("interface '%s' does not exist (yet): captured once it appears",
				 p);
	}
}

struct follow *follow_new(struct capture *cap, const struct follow_config *cfg)
{
	struct follow_config defaults;
	struct follow *f;

	if (!cap || !cap->ops->attach || !cap->ops->detach) {
		log_error("following interfaces needs a live capture");
		return NULL;
	}
	if (!cfg) {
		follow_config_init(&defaults);
		cfg = &defaults;
	}
	if (cfg->max_interfaces > FOLLOW_MAX_INTERFACES_LIMIT) {
		log_error("max_interfaces %u: at most %d", cfg->max_interfaces,
			  FOLLOW_MAX_INTERFACES_LIMIT);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->fd = -1;
	f->cap = cap;
	f->static_names = cfg->static_names;
	f->max_interfaces =
		cfg->max_interfaces ? cfg->max_interfaces : FOLLOW_DEFAULT_MAX_INTERFACES;
	f->on_attach = cfg->on_attach;
	f->on_detach = cfg->on_detach;
	f->user = cfg->user;
	if (cfg->n_include) {
		if (copy_patterns(f->include, &f->n_include, cfg->include, cfg->n_include,
				  "include") < 0)
			goto fail;
	} else if (copy_patterns(f->include, &f->n_include, follow_default_include,
				 count_list(follow_default_include), "include") < 0) {
		goto fail;
	}
	if (!f->static_names &&
	    copy_patterns(f->exclude, &f->n_exclude, cfg->exclude, cfg->n_exclude, "exclude") < 0)
		goto fail;
	f->buf = malloc(FOLLOW_RECV_BYTES);
	if (!f->buf)
		goto fail;
	if (open_socket(f, cfg->rcvbuf_bytes ? cfg->rcvbuf_bytes : FOLLOW_DEFAULT_RCVBUF_BYTES) < 0)
		goto fail;
	if (first_dump(f) < 0)
		goto fail;
	if (f->static_names)
		report_missing(f);
	return f;
fail:
	follow_free(f);
	return NULL;
}

void follow_free(struct follow *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	for (size_t i = 0; i < f->n_include; i++)
		free((char *)f->include[i]);
	for (size_t i = 0; i < f->n_exclude; i++)
		free((char *)f->exclude[i]);
	free(f->links);
	free(f->buf);
	free(f);
}

int follow_fd(const struct follow *f)
{
	return f->fd;
}

int follow_process(struct follow *f, const struct capture_sink *sink)
{
	uint64_t before = f->stats.link_msgs;
	uint64_t handled;
	int rc;

	if (f->dump_again && !f->dump_seq)
		dump_start(f);
	rc = receive(f, sink);
	if (rc < 0)
		return rc;
	if (f->dump_again && !f->dump_seq)
		dump_start(f);
	handled = f->stats.link_msgs - before;
	return handled > 1000000 ? 1000000 : (int)handled;
}

void follow_detach_all(struct follow *f, const struct capture_sink *sink)
{
	while (f->n_links)
		link_drop(f, f->n_links - 1, sink, "released");
}

size_t follow_attached(const struct follow *f)
{
	return f->n_attached;
}

const struct follow_stats *follow_get_stats(const struct follow *f)
{
	return &f->stats;
}
