// SPDX-License-Identifier: Apache-2.0
/*
 * cap_ebpf_attach: puts the eBPF backend's programs on an interface and takes them off.
 * TCX links first (kernel 6.6+; owned by their fd, so they vanish with the process), else
 * clsact filters at a fixed handle and priority, after removing the filters a labelflowd
 * that died left there. Also keeps each interface's entry in the kernel's counter map.
 * See docs/ebpf.md.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cap_ebpf_attach.h"
#include "log.h"

/* Older uapi headers (Debian 12's) predate TCX; the kernel numbers are fixed ABI. */
#define CAP_EBPF_TCX_INGRESS 46
#define CAP_EBPF_TCX_EGRESS  47
#define CAP_EBPF_F_BEFORE    (1U << 3)

/* clsact fallback: our filter's fixed handle and priority ("LF"), see docs/ebpf.md. */
#define CAP_EBPF_TC_HANDLE 0x4c46
#define CAP_EBPF_TC_PRIO   0x4c46

struct cap_ebpf_iface *cap_ebpf_attach_find(const struct cap_ebpf *c, uint32_t ifindex,
					    guint *ret_i)
{
	for (guint i = 0; i < c->ifaces->len; i++) {
		struct cap_ebpf_iface *ifc = &g_array_index(c->ifaces, struct cap_ebpf_iface, i);

		if (ifc->ifindex == ifindex) {
			if (ret_i)
				*ret_i = i;
			return ifc;
		}
	}
	return NULL;
}

/* Link type of an interface: true when TC sees packets without a link header. */
static bool iface_is_l3(const char *ifname)
{
	struct ifreq ifr;
	bool l3 = false;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		l3 = ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
		     ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK;
	close(fd);
	return l3;
}

int cap_ebpf_attach_ifstats_add(struct cap_ebpf *c, uint32_t ifindex, uint32_t flags)
{
	memset(c->if_vals, 0, sizeof(*c->if_vals) * (size_t)c->ncpus);
	for (int cpu = 0; cpu < c->ncpus; cpu++)
		c->if_vals[cpu].flags = flags;
	if (bpf_map_update_elem(c->ifstats_fd, &ifindex, c->if_vals, BPF_ANY) < 0)
		return -errno;
	return 0;
}

bool cap_ebpf_attach_ifstats_sum(const struct cap_ebpf *c, uint32_t ifindex, uint64_t *acc)
{
	if (bpf_map_lookup_elem(c->ifstats_fd, &ifindex, c->if_vals) < 0)
		return false;
	for (int cpu = 0; cpu < c->ncpus; cpu++)
		for (int i = 0; i < LABELFLOW_TC_CNT_COUNT; i++)
			acc[i] += c->if_vals[cpu].cnt[i];
	return true;
}

static bool prog_is_ours(uint32_t prog_id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	bool ours = false;
	int fd;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		ours = strcmp(info.name, "lf_tc_ingress") == 0 ||
		       strcmp(info.name, "lf_tc_egress") == 0;
	close(fd);
	return ours;
}

/* Does the file descriptor /proc/<pid>/fd/<fd> refer to BPF program prog_id? */
static bool fd_is_prog(const char *pid, const char *fd, uint32_t prog_id)
{
	char path[600], target[32], line[128];
	bool found = false;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	if (strcmp(target, "anon_inode:bpf-prog") != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, fd);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned int id;

		found = sscanf(line, "prog_id: %u", &id) == 1 && id == prog_id;
	}
	fclose(f);
	return found;
}

/*
 * Is a program still held open by some process (a running labelflowd)? A filter left by a
 * dead one is the program's only holder. O(processes x descriptors), run only when a
 * filter of ours is found at attach. When /proc cannot be read the answer is "in use".
 */
static bool prog_held_open(uint32_t prog_id)
{
	struct dirent *p, *f;
	bool held = false;
	DIR *proc, *fds;

	proc = opendir("/proc");
	if (!proc)
		return true;
	while (!held && (p = readdir(proc))) {
		char path[300];

		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while (!held && (f = readdir(fds)))
			held = f->d_name[0] != '.' && fd_is_prog(p->d_name, f->d_name, prog_id);
		closedir(fds);
	}
	closedir(proc);
	return held;
}

/*
 * Remove clsact filters a previous labelflowd left behind (it died before detaching):
 * ours sit at a fixed handle/priority, run a program named like ours, and no process
 * holds that program open. TCX links need no such care: they are owned by the fd and
 * vanish with the process.
 */
static void remove_stale_filters(struct cap_ebpf *c, const struct cap_ebpf_iface *ifc)
{
	static const enum bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};

	for (int d = 0; d < 2; d++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifc->ifindex,
			    .attach_point = points[d]);
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = CAP_EBPF_TC_HANDLE,
			    .priority = CAP_EBPF_TC_PRIO);
		LIBBPF_OPTS(bpf_tc_opts, del, .handle = CAP_EBPF_TC_HANDLE,
			    .priority = CAP_EBPF_TC_PRIO);
		int err;

		cap_ebpf_libbpf_quiet(true);
		err = bpf_tc_query(&hook, &q);
		cap_ebpf_libbpf_quiet(false);
		if (err < 0 || !prog_is_ours(q.prog_id) || prog_held_open(q.prog_id))
			continue;
		if (bpf_tc_detach(&hook, &del) == 0) {
			c->user[CAP_EBPF_CNT_STALE_REMOVED]++;
			log_info("interface '%s': removed a stale labelflowd tc filter (%s)",
				 ifc->name, d ? "egress" : "ingress");
		}
	}
}

void cap_ebpf_attach_unhook(struct cap_ebpf_iface *ifc)
{
	static const enum bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};

	for (int d = 0; d < 2; d++) {
		if (ifc->link_fd[d] >= 0) {
			close(ifc->link_fd[d]);
			ifc->link_fd[d] = -1;
		}
		if (ifc->tc_hook[d]) {
			LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifc->ifindex,
				    .attach_point = points[d]);
			LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CAP_EBPF_TC_HANDLE,
				    .priority = CAP_EBPF_TC_PRIO);

			/* The interface may be gone already, taking the filter with it. */
			bpf_tc_detach(&hook, &opts);
			ifc->tc_hook[d] = false;
		}
	}
}

static int attach_tcx(struct cap_ebpf *c, struct cap_ebpf_iface *ifc, const int prog_fd[2])
{
	static const int types[2] = {CAP_EBPF_TCX_INGRESS, CAP_EBPF_TCX_EGRESS};

	for (int d = 0; d < 2; d++) {
		/* BPF_F_BEFORE without a relative program: run first, before any other. */
		LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = CAP_EBPF_F_BEFORE);
		int fd = bpf_link_create(prog_fd[d], (int)ifc->ifindex,
					 (enum bpf_attach_type)types[d], &opts);

		if (fd < 0) {
			int err = -errno;

			cap_ebpf_attach_unhook(ifc);
			return err;
		}
		ifc->link_fd[d] = fd;
	}
	c->user[CAP_EBPF_CNT_TCX_ATTACHED]++;
	return 0;
}

static int attach_clsact(struct cap_ebpf *c, struct cap_ebpf_iface *ifc, const int prog_fd[2])
{
	static const enum bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifc->ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err;

	cap_ebpf_libbpf_quiet(true); /* "exists" is fine, and libbpf would warn about it */
	err = bpf_tc_hook_create(&hook);
	cap_ebpf_libbpf_quiet(false);
	if (err < 0 && err != -EEXIST)
		return err;
	for (int d = 0; d < 2; d++) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CAP_EBPF_TC_HANDLE,
			    .priority = CAP_EBPF_TC_PRIO, .prog_fd = prog_fd[d],
			    .flags = BPF_TC_F_REPLACE);

		hook.attach_point = points[d];
		err = bpf_tc_attach(&hook, &opts);
		if (err < 0) {
			cap_ebpf_attach_unhook(ifc);
			return err;
		}
		ifc->tc_hook[d] = true;
	}
	c->user[CAP_EBPF_CNT_TC_ATTACHED]++;
	return 0;
}

int cap_ebpf_attach_iface(struct cap_ebpf *c, const char *ifname, uint32_t ifindex,
			  const int prog_fd[2])
{
	struct cap_ebpf_iface ifc;
	const char *how = "TCX";
	int err;

	if (ifindex == 0 || !ifname)
		return -EINVAL;
	if (cap_ebpf_attach_find(c, ifindex, NULL))
		return -EEXIST;
	memset(&ifc, 0, sizeof(ifc));
	ifc.ifindex = ifindex;
	ifc.link_fd[0] = ifc.link_fd[1] = -1;
	snprintf(ifc.name, sizeof(ifc.name), "%s", ifname);

	err = cap_ebpf_attach_ifstats_add(c, ifindex, iface_is_l3(ifname) ? LABELFLOW_TC_IF_L3 : 0);
	if (err < 0)
		goto fail;
	remove_stale_filters(c, &ifc);
	err = c->force_tc ? -EOPNOTSUPP : attach_tcx(c, &ifc, prog_fd);
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP) {
		how = "tc clsact";
		err = attach_clsact(c, &ifc, prog_fd);
	}
	if (err < 0) {
		bpf_map_delete_elem(c->ifstats_fd, &ifindex);
		goto fail;
	}
	g_array_append_val(c->ifaces, ifc);
	log_debug("interface '%s': eBPF capture attached (%s)", ifname, how);
	return 0;
fail:
	c->user[CAP_EBPF_CNT_ATTACH_FAILURES]++;
	log_error("interface '%s': cannot attach the eBPF capture: %s", ifname, strerror(-err));
	return err;
}
