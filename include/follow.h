/* SPDX-License-Identifier: Apache-2.0 */
/*
 * follow: keeps a live capture attached to exactly the interfaces whose names match the
 * include patterns and no exclude pattern, as links appear, come up, are renamed and go
 * away (rtnetlink link messages, resynchronised by a full dump after a lost message). It
 * only calls struct capture_ops attach/detach, so it works for every live backend. Only
 * links of labelflowd's own network namespace are seen (see docs/capture.md).
 */
#ifndef LABELFLOW_FOLLOW_H
#define LABELFLOW_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"

/* Patterns per list. */
#define FOLLOW_MAX_PATTERNS 64
/* Longest pattern accepted (an interface name has at most 15 bytes; globs may add). */
#define FOLLOW_MAX_PATTERN_LEN 255
/* Interfaces followed at once: default and upper bound of follow_config.max_interfaces. */
#define FOLLOW_DEFAULT_MAX_INTERFACES 4096
#define FOLLOW_MAX_INTERFACES_LIMIT   65536
/* Netlink receive buffer (default of follow_config.rcvbuf_bytes). */
#define FOLLOW_DEFAULT_RCVBUF_BYTES (1u << 20)

/*
 * Default include patterns, NULL-terminated: pod and VM interfaces of common CNIs and
 * hypervisors, and their bridges and overlay devices:
 *   veth* (bridge CNI, Docker, containerd)  cali* (Calico)   lxc* (Cilium pods, LXD)
 *   cni0, cni* (bridge CNI, Flannel)  flannel* (Flannel VXLAN)  vxlan*, genev* (overlays)
 *   tap*, vnet*, tun* (QEMU/libvirt, Firecracker, VPNs)  gke* (GKE)  eni* (AWS VPC CNI)
 *   azv* (Azure CNI)  cilium_* (Cilium devices)  kube-bridge (kube-router)
 *   virbr* (libvirt)  docker0, br-* (Docker bridges)
 * A packet crossing a bridge or an overlay device is seen on each followed interface it
 * crosses; each sighting is its own flow (the ifindex is part of the flow key).
 */
extern const char *const follow_default_include[];
/*
 * Default exclude patterns, NULL-terminated: lo; cilium_net (the veth peer of cilium_host:
 * the same packets again); lxc_health (Cilium's health-check endpoint, not a pod);
 * virbr*-nic (libvirt's placeholder device, never carries traffic).
 */
extern const char *const follow_default_exclude[];

struct follow_config {
	/* Shell patterns (fnmatch(3), no flags); borrowed, copied by follow_new. */
	const char *include[FOLLOW_MAX_PATTERNS];
	size_t n_include; /* 0: follow_default_include */
	const char *exclude[FOLLOW_MAX_PATTERNS];
	size_t n_exclude; /* applied as given (0: nothing excluded) */
	/*
	 * The include list came from -i: exclude patterns are not applied (-i lo works),
	 * and a plain name that matches no link after the first dump is reported once.
	 */
	bool static_names;
	uint32_t max_interfaces; /* 0: FOLLOW_DEFAULT_MAX_INTERFACES; at most _LIMIT */
	uint32_t rcvbuf_bytes;	 /* 0: FOLLOW_DEFAULT_RCVBUF_BYTES */
	/* After a successful attach (name borrowed for the call). May be NULL. */
	void (*on_attach)(uint32_t ifindex, const char *name, void *user);
	/*
	 * After detach: the interface is gone or no longer matches; the caller ends its
	 * flows (flowtab_flush_ifindex). May be NULL.
	 */
	void (*on_detach)(uint32_t ifindex, void *user);
	void *user; /* borrowed; passed to the callbacks */
};

struct follow_stats {
	uint64_t link_msgs;	/* link messages handled (dumps included) */
	uint64_t attaches;	/* interfaces attached */
	uint64_t attach_failed; /* attach() errors (logged by the backend) */
	uint64_t detaches;	/* interfaces detached */
	uint64_t renames;	/* followed links renamed */
	uint64_t over_limit;	/* matching links not followed: max_interfaces reached */
	uint64_t overflows;	/* netlink receive buffer overflows (messages lost) */
	uint64_t resyncs;	/* full dumps after the first one */
	uint64_t bad_msgs;	/* malformed, truncated or foreign netlink messages ignored */
};

/* Fill cfg with the default include and exclude lists and zeroes elsewhere. */
void follow_config_init(struct follow_config *cfg);

/*
 * Does ifname pass cfg's lists (the defaults when n_include is 0; exclude skipped with
 * static_names)? Pure; what follow applies to every link.
 */
bool follow_config_matches(const struct follow_config *cfg, const char *ifname);

/*
 * Open a NETLINK_ROUTE socket, dump the existing links and attach the matching ones
 * (up or not) before returning; blocks for that dump only (at most 5 s). cap is borrowed
 * and must be a live capture (attach and detach set); it must outlive the follower.
 * Returns NULL (logged) on a bad config or socket error.
 */
struct follow *follow_new(struct capture *cap, const struct follow_config *cfg);
/* Close the socket and free. Does not detach: close the capture afterwards. NULL: no-op. */
void follow_free(struct follow *f);

/* The netlink socket (non-blocking, close-on-exec): poll it for POLLIN. */
int follow_fd(const struct follow *f);

/*
 * Handle the link messages waiting, without blocking (at most 256 datagrams per call; the
 * fd stays readable when more wait). A new matching link is attached, a link coming up is
 * attached again (the backend opens what it had to leave waiting), a removed or renamed
 * one is detached with sink (its last frames or flows go there) and on_detach is called.
 * A receive buffer overflow is logged, counted and answered with a full dump, after which
 * links that vanished are detached. Call it also once a second or so: a dump request
 * the kernel refused is retried then. Returns the number of link messages handled, or
 * -errno (logged) when the socket fails.
 */
int follow_process(struct follow *f, const struct capture_sink *sink);

/* Detach every followed interface (sink as in follow_process), calling on_detach. */
void follow_detach_all(struct follow *f, const struct capture_sink *sink);

/* Interfaces currently attached. */
size_t follow_attached(const struct follow *f);
const struct follow_stats *follow_get_stats(const struct follow *f);

#endif
