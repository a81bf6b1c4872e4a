// SPDX-License-Identifier: Apache-2.0
/*
 * follow: the pattern matcher (no root), then the netlink side in a private network
 * namespace per test (unshare, gone with the test process), with veth pairs made by ip(8).
 * A recording capture stands in for the backend (follow only calls its ops), and one test
 * runs follow with the real libpcap backend.
 */
#define _GNU_SOURCE /* unshare */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cap_pcap.h"
#include "follow.h"

/* ------------------------------------------------------------------ pattern matcher */

static struct follow_config lists(const char *const *inc, const char *const *exc)
{
	struct follow_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	for (size_t i = 0; inc && inc[i]; i++)
		cfg.include[cfg.n_include++] = inc[i];
	for (size_t i = 0; exc && exc[i]; i++)
		cfg.exclude[cfg.n_exclude++] = exc[i];
	return cfg;
}

Test(follow, default_lists_take_pod_and_vm_interfaces)
{
	static const char *const yes[] = {
		"veth1a2b3c4d", "cali0123456789a", "lxc12ab",	  "cni0",      "cni-podman0",
		"flannel.1",	"vxlan.calico",	   "tap0",	  "vnet12",    "tun0",
		"tunl0",	"gke1a2b3c",	   "eni1a2b",	  "azv1a2b3c", "cilium_host",
		"cilium_vxlan", "genev_sys_6081",  "kube-bridge", "virbr0",    "docker0",
		"br-0123abcd",
	};
	static const char *const no[] = {
		"lo",	      "eth0",	    "ens5",	  "wlan0",	"bond0",	"dummy0",
		"kube-ipvs0", "cilium_net", "lxc_health", "virbr0-nic", "nodelocaldns", "",
	};
	struct follow_config cfg;

	follow_config_init(&cfg);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(follow_config_matches(&cfg, yes[i]), "'%s' should match", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(follow_config_matches(&cfg, no[i]), "'%s' should not match", no[i]);
	cr_assert_not(follow_config_matches(&cfg, NULL));
	/* The init lists are the exported defaults, in order. */
	for (size_t i = 0; i < cfg.n_include; i++)
		cr_assert_str_eq(cfg.include[i], follow_default_include[i]);
	cr_assert_null(follow_default_include[cfg.n_include]);
	for (size_t i = 0; i < cfg.n_exclude; i++)
		cr_assert_str_eq(cfg.exclude[i], follow_default_exclude[i]);
	cr_assert_null(follow_default_exclude[cfg.n_exclude]);
}

Test(follow, empty_include_means_the_defaults_and_exclude_is_taken_as_given)
{
	struct follow_config cfg = lists(NULL, NULL);

	cr_assert(follow_config_matches(&cfg, "veth9"));
	cr_assert_not(follow_config_matches(&cfg, "eth0"));
	/* No exclude given: nothing is excluded, not even the default ones. */
	cr_assert(follow_config_matches(&cfg, "cilium_net"));
	cr_assert_not(follow_config_matches(&cfg, "lo")); /* not included by default */
}

Test(follow, shell_patterns)
{
	static const char *const inc[] = {"eth[01]", "tap?", "ex\\*act", "vm-*-nic", NULL};
	static const char *const exc[] = {"vm-test-*", NULL};
	struct follow_config cfg = lists(inc, exc);

	cr_assert(follow_config_matches(&cfg, "eth0"));
	cr_assert(follow_config_matches(&cfg, "eth1"));
	cr_assert_not(follow_config_matches(&cfg, "eth2"));
	cr_assert_not(follow_config_matches(&cfg, "eth10"));
	cr_assert(follow_config_matches(&cfg, "tap7"));
	cr_assert_not(follow_config_matches(&cfg, "tap77"));
	cr_assert(follow_config_matches(&cfg, "ex*act"));
	cr_assert_not(follow_config_matches(&cfg, "exXact"));
	cr_assert(follow_config_matches(&cfg, "vm-web-nic"));
	cr_assert_not(follow_config_matches(&cfg, "vm-test-nic"));
	cr_assert_not(follow_config_matches(&cfg, "VETH0"));
}

Test(follow, plain_names_with_static_names_ignore_exclude)
{
	static const char *const inc[] = {"lo", "eth0", NULL};
	static const char *const exc[] = {"lo", NULL};
	struct follow_config cfg = lists(inc, exc);

	cr_assert_not(follow_config_matches(&cfg, "lo"));
	cfg.static_names = true;
	cr_assert(follow_config_matches(&cfg, "lo"));
	cr_assert(follow_config_matches(&cfg, "eth0"));
	cr_assert_not(follow_config_matches(&cfg, "eth00"));
	cr_assert_not(follow_config_matches(&cfg, "lo0"));
}

/* ------------------------------------------------------------------ recording capture */

#define MAX_CALLS 1024
#define IDX_MAX	  1024

struct call {
	char op; /* 'A' attach, 'D' detach (capture ops); 'a', 'd' (follow callbacks) */
	uint32_t ifindex;
	char name[IFNAMSIZ];
	const struct capture_sink *sink;
};

struct fake {
	struct capture base; /* first */
	struct call calls[MAX_CALLS];
	size_t n;
	bool attached[IDX_MAX];	 /* what the backend holds now */
	const char *fail_prefix; /* attach of names starting so returns -EIO */
};

static struct fake fake;

static void record(char op, uint32_t ifindex, const char *name, const struct capture_sink *sink)
{
	struct call *c;

	cr_assert_lt(fake.n, MAX_CALLS);
	c = &fake.calls[fake.n++];
	c->op = op;
	c->ifindex = ifindex;
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	c->sink = sink;
}

static int fake_attach(struct capture *c, const char *ifname, uint32_t ifindex)
{
	(void)c;
	record('A', ifindex, ifname, NULL);
	cr_assert_lt(ifindex, IDX_MAX);
	if (fake.fail_prefix && strncmp(ifname, fake.fail_prefix, strlen(fake.fail_prefix)) == 0)
		return -EIO;
	if (fake.attached[ifindex])
		return -EEXIST;
	fake.attached[ifindex] = true;
	return 0;
}

static void fake_detach(struct capture *c, uint32_t ifindex, const struct capture_sink *sink)
{
	(void)c;
	record('D', ifindex, NULL, sink);
	cr_assert_lt(ifindex, IDX_MAX);
	cr_assert(fake.attached[ifindex], "detach of ifindex %u, never attached", ifindex);
	fake.attached[ifindex] = false;
}

static int fake_dispatch(struct capture *c, int max_items, const struct capture_sink *sink)
{
	(void)c;
	(void)max_items;
	(void)sink;
	return 0;
}

static int fake_fd(const struct capture *c)
{
	(void)c;
	return -1;
}

static void fake_stats(const struct capture *c, struct capture_stats *ret)
{
	(void)c;
	memset(ret, 0, sizeof(*ret));
}

static bool fake_iface_stats(const struct capture *c, size_t i, const char **ret_name,
			     struct capture_stats *ret)
{
	(void)c;
	(void)i;
	(void)ret_name;
	(void)ret;
	return false;
}

static void fake_close(struct capture *c)
{
	(void)c;
}

static const struct capture_ops fake_ops = {
	.name = "fake",
	.attach = fake_attach,
	.detach = fake_detach,
	.dispatch = fake_dispatch,
	.fd = fake_fd,
	.stats = fake_stats,
	.iface_stats = fake_iface_stats,
	.close = fake_close,
};

static void on_attach(uint32_t ifindex, const char *name, void *user)
{
	cr_assert_eq(user, &fake);
	record('a', ifindex, name, NULL);
}

static void on_detach(uint32_t ifindex, void *user)
{
	cr_assert_eq(user, &fake);
	record('d', ifindex, NULL, NULL);
}

static size_t count(char op, uint32_t ifindex)
{
	size_t n = 0;

	for (size_t i = 0; i < fake.n; i++)
		n += fake.calls[i].op == op && fake.calls[i].ifindex == ifindex;
	return n;
}

static size_t count_op(char op)
{
	size_t n = 0;

	for (size_t i = 0; i < fake.n; i++)
		n += fake.calls[i].op == op;
	return n;
}

static const struct call *last(char op, uint32_t ifindex)
{
	for (size_t i = fake.n; i-- > 0;) {
		if (fake.calls[i].op == op && fake.calls[i].ifindex == ifindex)
			return &fake.calls[i];
	}
	return NULL;
}

/* ------------------------------------------------------------------ namespace helpers */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
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

/* This test process moves into a new network namespace; it has only lo, down. */
static void netns(void)
{
	if (geteuid() != 0)
		cr_skip_test("network namespaces need root");
	if (sh("command -v ip >/dev/null") != 0)
		cr_skip_test("needs ip(8)");
	if (unshare(CLONE_NEWNET) < 0)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	memset(&fake, 0, sizeof(fake));
	fake.base.ops = &fake_ops;
	snprintf(fake.base.name, sizeof(fake.base.name), "fake");
}

static void veth(const char *a, const char *b)
{
	cr_assert_eq(sh("ip link add %s type veth peer name %s", a, b), 0);
}

static uint32_t idx(const char *name)
{
	uint32_t i = if_nametoindex(name);

	cr_assert(i > 0 && i < IDX_MAX, "no interface '%s'", name);
	return i;
}

static struct follow_config config(const char *const *inc, const char *const *exc)
{
	struct follow_config cfg = lists(inc, exc);

	cfg.on_attach = on_attach;
	cfg.on_detach = on_detach;
	cfg.user = &fake;
	return cfg;
}

static struct follow_config default_config(void)
{
	struct follow_config cfg;

	follow_config_init(&cfg);
	cfg.on_attach = on_attach;
	cfg.on_detach = on_detach;
	cfg.user = &fake;
	return cfg;
}

/* Wait up to 1 s for the socket, then handle what is there in one call. */
static int process_once(struct follow *f, const struct capture_sink *sink)
{
	struct pollfd p = {.fd = follow_fd(f), .events = POLLIN};
	int n;

	cr_assert_eq(poll(&p, 1, 1000), 1, "no link message within 1 s");
	n = follow_process(f, sink);
	cr_assert_geq(n, 0);
	return n;
}

/* Process until the socket stays quiet for 300 ms (at most 10 s). */
static void process_until_quiet(struct follow *f, const struct capture_sink *sink)
{
	for (int i = 0; i < 200; i++) {
		struct pollfd p = {.fd = follow_fd(f), .events = POLLIN};

		if (poll(&p, 1, 300) == 0)
			return;
		cr_assert_geq(follow_process(f, sink), 0);
	}
	cr_assert_fail("link messages never stopped");
}

static const struct capture_sink test_sink; /* its address is what detach must receive */

/* ------------------------------------------------------------------ netlink tests */

Test(follow, existing_links_are_attached_when_created_up_or_down)
{
	struct follow_config cfg;
	struct follow *f;
	uint32_t a, down;

	netns();
	veth("veth-a", "peer-a");
	veth("veth-down", "eth8");
	cr_assert_eq(sh("ip link set veth-a up && ip link set peer-a up"), 0);
	a = idx("veth-a");
	down = idx("veth-down");
	cfg = default_config();
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 2);
	cr_assert_eq(count('A', a), 1);
	cr_assert_eq(count('A', down), 1);
	cr_assert_eq(count('a', a), 1);
	cr_assert_str_eq(last('a', a)->name, "veth-a");
	cr_assert_str_eq(last('a', down)->name, "veth-down");
	/* lo, peer-a and eth8 do not match. */
	cr_assert_eq(count_op('A'), 2);
	cr_assert_eq(count_op('D'), 0);
	cr_assert_eq(follow_get_stats(f)->attaches, 2);
	cr_assert_eq(fcntl(follow_fd(f), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	cr_assert_eq(fcntl(follow_fd(f), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	/* Nothing waiting: processing is a no-op and does not block. */
	cr_assert_eq(follow_process(f, &test_sink), 0);
	follow_free(f);
	/* follow_free does not detach: that is the capture's close. */
	cr_assert_eq(count_op('D'), 0);
}

Test(follow, new_link_is_attached_by_the_next_process)
{
	struct follow_config cfg;
	struct follow *f;
	uint32_t n;

	netns();
	cfg = default_config();
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 0);
	veth("veth-new", "other");
	n = idx("veth-new");
	cr_assert_gt(process_once(f, &test_sink), 0);
	cr_assert_eq(count('A', n), 1);
	cr_assert_str_eq(last('A', n)->name, "veth-new");
	cr_assert_eq(count('a', n), 1);
	cr_assert_eq(count_op('A'), 1);
	cr_assert_eq(follow_attached(f), 1);
	follow_free(f);
}

Test(follow, removed_link_is_detached_with_the_sink_then_on_detach)
{
	struct follow_config cfg;
	struct follow *f;
	uint32_t d, p, k;

	netns();
	veth("veth-del", "veth-peer");
	veth("veth-keep", "x-keep");
	d = idx("veth-del");
	p = idx("veth-peer");
	k = idx("veth-keep");
	cfg = default_config();
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 3);
	/* Deleting one end of a veth pair removes both, as when a pod goes away. */
	cr_assert_eq(sh("ip link del veth-del"), 0);
	cr_assert_gt(process_once(f, &test_sink), 0);
	process_until_quiet(f, &test_sink);
	for (int i = 0; i < 2; i++) {
		uint32_t x = i ? p : d;

		cr_assert_eq(count('D', x), 1);
		cr_assert_eq(last('D', x)->sink, &test_sink);
		cr_assert_eq(count('d', x), 1);
		/* on_detach comes after the backend's detach. */
		cr_assert_gt(last('d', x) - fake.calls, last('D', x) - fake.calls);
	}
	cr_assert_eq(count('D', k), 0);
	cr_assert_eq(follow_attached(f), 1);
	cr_assert_eq(follow_get_stats(f)->detaches, 2);
	follow_free(f);
}

Test(follow, renames_are_evaluated_again)
{
	static const char *const inc[] = {"veth*", "cali*", NULL};
	struct follow_config cfg;
	struct follow *f;
	uint32_t r, s, t;

	netns();
	veth("veth-r", "x-r");
	veth("eth-s", "x-s");
	veth("veth-t", "x-t");
	r = idx("veth-r");
	s = idx("eth-s");
	t = idx("veth-t");
	cfg = config(inc, NULL);
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 2);

	/* matching -> not matching: detached */
	cr_assert_eq(sh("ip link set veth-r name eth-r"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('D', r), 1);
	cr_assert_eq(count('d', r), 1);
	/* not matching -> matching: attached under the new name */
	cr_assert_eq(sh("ip link set eth-s name veth-s"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('A', s), 1);
	cr_assert_str_eq(last('A', s)->name, "veth-s");
	/* matching -> matching: detached, attached again under the new name */
	cr_assert_eq(sh("ip link set veth-t name cali-t"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('D', t), 1);
	cr_assert_eq(count('A', t), 2);
	cr_assert_str_eq(last('A', t)->name, "cali-t");
	cr_assert_str_eq(last('a', t)->name, "cali-t");
	cr_assert_eq(follow_attached(f), 2);
	cr_assert_eq(follow_get_stats(f)->renames, 2);
	follow_free(f);
}

Test(follow, exclude_patterns_win_over_include)
{
	static const char *const inc[] = {"veth*", NULL};
	static const char *const exc[] = {"veth-skip*", NULL};
	struct follow_config cfg;
	struct follow *f;

	netns();
	veth("veth-skip1", "veth-keep1");
	cfg = config(inc, exc);
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	veth("veth-skip2", "veth-keep2");
	process_once(f, &test_sink);
	cr_assert_eq(count_op('A'), 2);
	cr_assert_eq(count('A', idx("veth-keep1")), 1);
	cr_assert_eq(count('A', idx("veth-keep2")), 1);
	follow_free(f);
}

Test(follow, static_names_follow_lo_and_wait_for_missing_names)
{
	static const char *const inc[] = {"lo", "tap-later", NULL};
	static const char *const exc[] = {"lo", NULL};
	struct follow_config cfg;
	struct follow *f;

	netns();
	cfg = config(inc, exc);
	cfg.static_names = true;
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(count('A', idx("lo")), 1);
	cr_assert_eq(sh("ip tuntap add tap-later mode tap"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('A', idx("tap-later")), 1);
	cr_assert_eq(follow_attached(f), 2);
	follow_free(f);
}

Test(follow, link_coming_up_is_attached_again)
{
	struct follow_config cfg;
	struct follow *f;
	uint32_t u;

	netns();
	veth("veth-up", "peer-up");
	u = idx("veth-up");
	cfg = default_config();
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(count('A', u), 1);
	cr_assert_eq(sh("ip link set veth-up up"), 0);
	process_once(f, &test_sink);
	/* The backend is asked again (it opens what waited), the caller is told once. */
	cr_assert_eq(count('A', u), 2);
	cr_assert_eq(count('a', u), 1);
	cr_assert_eq(follow_attached(f), 1);
	cr_assert_eq(follow_get_stats(f)->attach_failed, 0);
	/* Other changes while up ask nothing more. */
	cr_assert_eq(sh("ip link set veth-up mtu 1400"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('A', u), 2);
	follow_free(f);
}

Test(follow, failed_attach_is_counted_and_tried_again_when_up)
{
	struct follow_config cfg;
	struct follow *f;
	uint32_t b;

	netns();
	veth("veth-bad", "peer-bad");
	b = idx("veth-bad");
	fake.fail_prefix = "veth-bad";
	cfg = default_config();
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 0);
	cr_assert_eq(follow_get_stats(f)->attach_failed, 1);
	cr_assert_eq(count('a', b), 0);
	/* A change that is not "came up" does not retry. */
	cr_assert_eq(sh("ip link set veth-bad mtu 1400"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('A', b), 1);
	fake.fail_prefix = NULL;
	cr_assert_eq(sh("ip link set veth-bad up"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('A', b), 2);
	cr_assert_eq(count('a', b), 1);
	cr_assert_eq(follow_attached(f), 1);
	/* Deleting a link that never attached detaches nothing. */
	fake.fail_prefix = "veth-x";
	veth("veth-x", "peer-x");
	process_once(f, &test_sink);
	cr_assert_eq(follow_get_stats(f)->attach_failed, 2);
	cr_assert_eq(sh("ip link del veth-x"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count_op('D'), 0);
	follow_free(f);
}

Test(follow, bridge_port_messages_do_not_detach)
{
	static const char *const inc[] = {"veth*", NULL};
	struct follow_config cfg;
	struct follow *f;
	uint32_t p;

	netns();
	if (sh("ip link add lfbr0 type bridge 2>/dev/null") != 0)
		cr_skip_test("no bridge support in this kernel");
	veth("veth-port", "peer-port");
	p = idx("veth-port");
	cfg = config(inc, NULL);
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(sh("ip link set veth-port master lfbr0"), 0);
	process_until_quiet(f, &test_sink);
	cr_assert_eq(sh("ip link set veth-port nomaster"), 0);
	process_until_quiet(f, &test_sink);
	cr_assert_eq(count('D', p), 0);
	cr_assert_eq(follow_attached(f), 1);
	follow_free(f);
}

Test(follow, interface_limit_is_counted)
{
	static const char *const inc[] = {"veth*", NULL};
	struct follow_config cfg;
	struct follow *f;

	netns();
	veth("veth-l1", "veth-l2");
	cfg = config(inc, NULL);
	cfg.max_interfaces = 2;
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 2);
	veth("veth-l3", "x-l3");
	process_once(f, &test_sink);
	cr_assert_eq(follow_attached(f), 2);
	cr_assert_geq(follow_get_stats(f)->over_limit, 1);
	cr_assert_eq(count('A', idx("veth-l3")), 0);
	/* Room again: the next message about it attaches it. */
	cr_assert_eq(sh("ip link del veth-l1"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(follow_attached(f), 0);
	cr_assert_eq(sh("ip link set veth-l3 up"), 0);
	process_once(f, &test_sink);
	cr_assert_eq(count('A', idx("veth-l3")), 1);
	cr_assert_eq(follow_attached(f), 1);
	follow_free(f);
}

/* The attached set must be exactly the links of the namespace that match. */
static void assert_attached_matches_kernel(const struct follow *f, const char *pattern)
{
	struct if_nameindex *ifs = if_nameindex();
	size_t want = 0;

	cr_assert_not_null(ifs);
	for (struct if_nameindex *i = ifs; i->if_index; i++) {
		bool match = fnmatch(pattern, i->if_name, 0) == 0;

		cr_assert_lt(i->if_index, IDX_MAX);
		cr_assert_eq(fake.attached[i->if_index], match, "'%s' attached %d, should be %d",
			     i->if_name, fake.attached[i->if_index], match);
		want += match;
	}
	if_freenameindex(ifs);
	cr_assert_eq(follow_attached(f), want);
	for (size_t i = 0; i < IDX_MAX; i++) {
		if (!fake.attached[i])
			continue;
		cr_assert_neq(if_indextoname((unsigned)i, (char[IF_NAMESIZE]){0}), NULL,
			      "ifindex %zu attached but gone", i);
	}
}

Test(follow, lost_messages_are_repaired_by_a_full_dump)
{
	static const char *const inc[] = {"veth*", NULL};
	struct follow_config cfg;
	struct follow *f;
	uint32_t g;

	netns();
	veth("veth-g", "x-g");
	g = idx("veth-g");
	cfg = config(inc, NULL);
	cfg.rcvbuf_bytes = 1; /* the kernel's minimum: a burst overflows it */
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 1);
	cr_assert_eq(sh("for i in $(seq 1 24); do ip link add veth-o$i type veth peer name x-o$i; "
			"done; ip link del veth-o3; ip link del veth-o7; ip link del veth-g"),
		     0);
	process_until_quiet(f, &test_sink);
	cr_assert_geq(follow_get_stats(f)->overflows, 1);
	cr_assert_geq(follow_get_stats(f)->resyncs, 1);
	assert_attached_matches_kernel(f, "veth*");
	cr_assert_eq(count('D', g), 1);
	cr_assert_eq(count('d', g), 1);
	cr_assert_eq(follow_attached(f), 22);
	follow_free(f);
}

/* Send a forged RTM_DELLINK to the follower's port from another netlink socket. */
static void forge_dellink(const struct follow *f, uint32_t ifindex)
{
	struct sockaddr_nl me;
	socklen_t len = sizeof(me);
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} msg;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl self = {.nl_family = AF_NETLINK};

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&self, sizeof(self)), 0);
	cr_assert_eq(getsockname(follow_fd(f), (struct sockaddr *)&me, &len), 0);
	memset(&msg, 0, sizeof(msg));
	msg.nh.nlmsg_len = sizeof(msg);
	msg.nh.nlmsg_type = RTM_DELLINK;
	msg.ifi.ifi_family = AF_UNSPEC;
	msg.ifi.ifi_index = (int)ifindex;
	cr_assert_eq(sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&me, sizeof(me)),
		     (ssize_t)sizeof(msg));
	close(fd);
}

Test(follow, messages_not_from_the_kernel_are_ignored)
{
	struct follow_config cfg;
	struct follow *f;
	uint32_t v;

	netns();
	veth("veth-v", "x-v");
	v = idx("veth-v");
	cfg = default_config();
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	forge_dellink(f, v);
	process_once(f, &test_sink);
	cr_assert_eq(count('D', v), 0);
	cr_assert_eq(follow_attached(f), 1);
	cr_assert_eq(follow_get_stats(f)->bad_msgs, 1);
	follow_free(f);
}

Test(follow, detach_all_releases_every_interface)
{
	struct follow_config cfg;
	struct follow *f;

	netns();
	veth("veth-1", "veth-2");
	cfg = default_config();
	f = follow_new(&fake.base, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 2);
	follow_detach_all(f, &test_sink);
	cr_assert_eq(follow_attached(f), 0);
	cr_assert_eq(count('D', idx("veth-1")), 1);
	cr_assert_eq(count('d', idx("veth-2")), 1);
	cr_assert_eq(last('D', idx("veth-2"))->sink, &test_sink);
	follow_free(f);
}

Test(follow, bad_configurations_are_refused)
{
	static const char *const empty[] = {"", NULL};
	struct follow_config cfg;
	struct capture *offline = NULL;
	char path[] = "/tmp/lf-follow-XXXXXX";
	int fd;

	memset(&fake, 0, sizeof(fake));
	fake.base.ops = &fake_ops;
	cfg = config(empty, NULL);
	cr_assert_null(follow_new(&fake.base, &cfg));
	cfg = default_config();
	cfg.max_interfaces = FOLLOW_MAX_INTERFACES_LIMIT + 1;
	cr_assert_null(follow_new(&fake.base, &cfg));
	cr_assert_null(follow_new(NULL, &cfg));
	/* An offline capture cannot follow interfaces. */
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd,
			   "\xd4\xc3\xb2\xa1\x02\x00\x04\x00\0\0\0\0\0\0\0\0\xff\xff\0\0\x01\0\0\0",
			   24),
		     24);
	close(fd);
	offline = cap_pcap_open_file(path);
	unlink(path);
	cr_assert_not_null(offline);
	cfg = default_config();
	cr_assert_null(follow_new(offline, &cfg));
	capture_close(offline);
	cr_assert_eq(count_op('A'), 0);
}

/* ------------------------------------------------------------------ with libpcap */

struct frames {
	uint64_t dir[IDX_MAX][2];
	uint64_t total;
};

static void count_frame(const struct capture_frame *fr, void *user)
{
	struct frames *t = user;

	t->total++;
	cr_assert_lt(fr->ifindex, IDX_MAX);
	cr_assert_leq(fr->direction, 1);
	t->dir[fr->ifindex][fr->direction]++;
}

static int send_frames(const char *ifname, int n)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = (int)if_nametoindex(ifname),
		.sll_halen = 6,
	};
	uint8_t buf[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0), sent = 0;

	cr_assert_geq(fd, 0);
	buf[17] = 46; /* IPv4 total length */
	buf[22] = 64;
	buf[23] = 17;
	memset(sll.sll_addr, 0xff, 6);
	for (int i = 0; i < n; i++)
		sent += sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sll, sizeof(sll)) ==
			(ssize_t)sizeof(buf);
	close(fd);
	return sent;
}

Test(follow, follows_with_the_libpcap_backend)
{
	static const char *const inc[] = {"veth*", NULL};
	struct frames t = {0};
	struct capture_sink sink = {.frame = count_frame, .user = &t};
	struct follow_config cfg;
	struct capture *cap;
	struct capture_stats st;
	struct follow *f;
	uint32_t a, b;

	netns();
	veth("veth-pa", "veth-pb");
	a = idx("veth-pa");
	b = idx("veth-pb");
	cap = cap_pcap_new_live(NULL);
	cr_assert_not_null(cap);
	cfg = config(inc, NULL);
	f = follow_new(cap, &cfg);
	cr_assert_not_null(f);
	cr_assert_eq(follow_attached(f), 2);
	/* Both down: attached and waiting. Up: opened as follow hears of it. */
	cr_assert_eq(cap_pcap_iface_state(cap, a), CAP_PCAP_IFACE_WAITING);
	cr_assert_eq(sh("ip link set veth-pa up && ip link set veth-pb up"), 0);
	process_until_quiet(f, &sink);
	cr_assert_eq(cap_pcap_iface_state(cap, a), CAP_PCAP_IFACE_CAPTURING);
	cr_assert_eq(cap_pcap_iface_state(cap, b), CAP_PCAP_IFACE_CAPTURING);
	cr_assert_eq(send_frames("veth-pa", 9), 9);
	/* Read some, leave the rest in the rings for the detach. */
	cr_assert_geq(capture_dispatch(cap, 4, &sink), 0);
	cr_assert_eq(sh("ip link del veth-pa"), 0);
	process_until_quiet(f, &sink);
	cr_assert_eq(count('d', a), 1);
	cr_assert_eq(count('d', b), 1);
	cr_assert_eq(follow_attached(f), 0);
	cr_assert_eq(t.total, 18);
	cr_assert_eq(t.dir[a][1], 9);
	cr_assert_eq(t.dir[b][0], 9);
	cap->ops->stats(cap, &st);
	cr_assert_eq(st.received, 18);
	cr_assert_not(cap->ops->iface_stats(cap, 0, &(const char *){NULL}, &st));
	follow_free(f);
	capture_close(cap);
}
