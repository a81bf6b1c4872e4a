// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "decode.h"
#include "libvirt.h"

#define UUID1 "5e0bcd6c-4a1e-4f6b-9d4c-1b2f3a4c5d61"
#define UUID2 "0f8fad5b-d9cb-469f-a165-70867728950e"
#define UUID3 "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define MAC1  "52:54:00:6b:3c:58"
#define MAC2  "52:54:00:a1:b2:c3"
#define MAC3  "52:54:00:A1:B2:C4" /* libvirt writes lower case; either is a MAC */
#define T0    1700000000000ull	  /* a wall clock, ms */

static char *root, *dom_dir, *lease_dir;
static struct enrich *e;
static struct libvirt *lv;

/*
 * A running domain's status file as libvirt's QEMU driver writes it: <domstatus> around
 * the live <domain>, with elements named like the ones we want in other places.
 */
static const char vm1_status_fmt[] =
	"<!--\n"
	"WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
	"OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
	"  virsh edit %s\n"
	"or other application using the libvirt API.\n"
	"-->\n"
	"\n"
	"<domstatus state='running' reason='booted' pid='48213'>\n"
	"  <taint flag='high-privileges'/>\n"
	"  <monitor path='/var/lib/libvirt/qemu/domain-3-%s/monitor.sock' type='unix'/>\n"
	"  <namespaces>\n"
	"    <mount/>\n"
	"  </namespaces>\n"
	"  <vcpus>\n"
	"    <vcpu id='0' pid='48220'/>\n"
	"    <vcpu id='1' pid='48221'/>\n"
	"  </vcpus>\n"
	"  <qemuCaps>\n"
	"    <emulator path='/usr/bin/qemu-system-x86_64'/>\n"
	"    <kvmVersion>0</kvmVersion>\n"
	"    <flag name='kvm'/>\n"
	"    <flag name='virtio-net'/>\n"
	"    <name>not-the-domain-name</name>\n"
	"  </qemuCaps>\n"
	"  <devices>\n"
	"    <device alias='rng0'/>\n"
	"    <device alias='net0'/>\n"
	"    <device alias='virtio-disk0'/>\n"
	"  </devices>\n"
	"  <libDir path='/var/lib/libvirt/qemu/domain-3-%s'/>\n"
	"  <channelTargetDir path='/var/lib/libvirt/qemu/channel/target/domain-3-%s'/>\n"
	"  <allowReboot value='yes'/>\n"
	"  <domain type='kvm' id='3'>\n"
	"    <name>%s</name>\n"
	"    <uuid>%s</uuid>\n"
	"    <metadata>\n"
	"      <nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>\n"
	"        <nova:name>web-1</nova:name>\n"
	"      </nova:instance>\n"
	"    </metadata>\n"
	"    <memory unit='KiB'>2097152</memory>\n"
	"    <vcpu placement='static'>2</vcpu>\n"
	"    <os>\n"
	"      <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
	"      <boot dev='hd'/>\n"
	"    </os>\n"
	"    <cpu mode='host-passthrough' check='none' migratable='on'/>\n"
	"    <devices>\n"
	"      <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
	"      <disk type='file' device='disk'>\n"
	"        <driver name='qemu' type='qcow2'/>\n"
	"        <source file='/var/lib/libvirt/images/%s.qcow2' index='1'/>\n"
	"        <target dev='vda' bus='virtio'/>\n"
	"        <alias name='virtio-disk0'/>\n"
	"      </disk>\n"
	"      <interface type='network'>\n"
	"        <mac address='%s'/>\n"
	"        <source network='default' portid='9d1c3f0e-2f2b-4f55-8a57-3e0c7bb0d6c1' "
	"bridge='virbr0'/>\n"
	"        <target dev='%s'/>\n"
	"        <model type='virtio'/>\n"
	"        <alias name='net0'/>\n"
	"        <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
	"      </interface>\n"
	"      <interface type='hostdev' managed='yes'>\n"
	"        <mac address='52:54:00:00:00:99'/>\n"
	"        <source>\n"
	"          <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x1'/>\n"
	"        </source>\n"
	"        <alias name='hostdev0'/>\n"
	"      </interface>\n"
	"      <serial type='pty'>\n"
	"        <source path='/dev/pts/3'/>\n"
	"        <target type='isa-serial' port='0'/>\n"
	"      </serial>\n"
	"      <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'/>\n"
	"    </devices>\n"
	"    <seclabel type='dynamic' model='apparmor' relabel='yes'>\n"
	"      <label>libvirt-%s</label>\n"
	"    </seclabel>\n"
	"  </domain>\n"
	"</domstatus>\n";

/* A plain <domain> root with two interfaces (a bridge and a direct/macvtap one). */
static const char vm2_domain_fmt[] = "<?xml version='1.0' encoding='UTF-8'?>\n"
				     "<domain type='kvm' id='4'>\n"
				     "  <name>%s</name>\n"
				     "  <uuid>%s</uuid>\n"
				     "  <devices>\n"
				     "    <interface type='bridge'>\n"
				     "      <mac address='%s'/>\n"
				     "      <source bridge='br0'/>\n"
				     "      <target dev='%s'/>\n"
				     "      <model type='virtio'/>\n"
				     "    </interface>\n"
				     "    <interface type='direct'>\n"
				     "      <mac address='%s'/>\n"
				     "      <source dev='eno1' mode='bridge'/>\n"
				     "      <target dev='%s'/>\n"
				     "    </interface>\n"
				     "  </devices>\n"
				     "</domain>\n";

/* Write dir/name atomically, as libvirt and dnsmasq's helper do (write, then rename). */
static void __attribute__((format(printf, 3, 4)))
put(const char *dir, const char *name, const char *fmt, ...)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *tmp = g_strconcat(path, ".new", NULL);
	g_autofree char *text = NULL;
	GError *err = NULL;
	va_list ap;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	cr_assert(g_file_set_contents(tmp, text, -1, &err), "write %s", tmp);
	cr_assert_eq(rename(tmp, path), 0, "rename %s", path);
}

static void put_vm1(const char *file, const char *name, const char *uuid, const char *mac,
		    const char *dev)
{
	put(dom_dir, file, vm1_status_fmt, name, name, name, name, name, uuid, name, mac, dev,
	    name);
}

static void put_vm2(const char *dev_a, const char *dev_b)
{
	put(dom_dir, "vm2.xml", vm2_domain_fmt, "vm2", UUID2, MAC2, dev_a, MAC3, dev_b);
}

static void rm(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	cr_assert_eq(unlink(path), 0, "unlink %s", path);
}

/* Interface indexes for the test: vnetN -> 100 + N, anything else does not exist. */
static uint32_t fake_ifindex(const char *ifname, void *user)
{
	int *shift = user;

	if (strncmp(ifname, "vnet", 4) == 0 && g_ascii_isdigit(ifname[4]))
		return 100u + (uint32_t)strtoul(ifname + 4, NULL, 10) + (uint32_t)*shift;
	if (strcmp(ifname, "macvtap0") == 0)
		return 200u + (uint32_t)*shift;
	return 0;
}

static int ifindex_shift;

static void start(uint32_t max_learned, uint32_t ttl_ms, bool leases)
{
	struct libvirt_config c = {
		.domain_dir = dom_dir,
		.leases_dir = leases ? lease_dir : "",
		.max_learned = max_learned,
		.learned_ttl_ms = ttl_ms,
		.ifindex_of = fake_ifindex,
		.ifindex_user = &ifindex_shift,
	};

	e = enrich_new();
	lv = libvirt_new(e, &c);
	cr_assert_not_null(lv);
}

static void setup(void)
{
	root = g_dir_make_tmp("lf-libvirt-XXXXXX", NULL);
	cr_assert_not_null(root);
	dom_dir = g_build_filename(root, "qemu", NULL);
	lease_dir = g_build_filename(root, "dnsmasq", NULL);
	cr_assert_eq(mkdir(dom_dir, 0755), 0);
	cr_assert_eq(mkdir(lease_dir, 0755), 0);
	ifindex_shift = 0;
}

static void rm_tree(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(path, n, NULL);

		if (g_file_test(p, G_FILE_TEST_IS_DIR))
			rm_tree(p);
		else
			unlink(p);
	}
	if (d)
		g_dir_close(d);
	rmdir(path);
}

static void teardown(void)
{
	libvirt_free(lv);
	enrich_free(e);
	lv = NULL;
	e = NULL;
	rm_tree(root);
	g_free(dom_dir);
	g_free(lease_dir);
	g_free(root);
}

TestSuite(libvirt, .init = setup, .fini = teardown);

static struct enrich_addr addr_of(const char *text)
{
	struct enrich_addr a;

	cr_assert_eq(enrich_addr_parse(text, &a), 0, "parse '%s'", text);
	return a;
}

/* The VM name (and uuid, kind) published for ip, or NULL when it is not labelled. */
static void expect_vm(const char *ip, const char *vm, const char *uuid)
{
	struct enrich_snapshot *s = enrich_snapshot_acquire(e);
	struct enrich_addr a = addr_of(ip);
	struct enrich_labels l;
	bool hit = enrich_lookup(s, &a, 0, &l);

	if (!vm) {
		cr_assert(!hit, "%s: want no labels, got vm '%s'", ip,
			  l.v[ENRICH_VM] ? l.v[ENRICH_VM] : "(null)");
	} else {
		cr_assert(hit, "%s: want vm '%s', got nothing", ip, vm);
		cr_assert_str_eq(l.v[ENRICH_VM], vm, "%s", ip);
		cr_assert_str_eq(l.v[ENRICH_INSTANCE_ID], uuid, "%s", ip);
		cr_assert_str_eq(l.v[ENRICH_KIND], "vm", "%s", ip);
		for (unsigned d = 0; d < ENRICH_DIM_COUNT; d++)
			if (d != ENRICH_VM && d != ENRICH_INSTANCE_ID && d != ENRICH_KIND)
				cr_assert_null(l.v[d], "%s: %s set", ip, enrich_dim_key(d));
	}
	enrich_snapshot_release(s);
}

static void observe(uint32_t ifindex, uint8_t dir, const char *src, const char *dst)
{
	struct enrich_addr s = addr_of(src), d = addr_of(dst);

	cr_assert_eq(s.family, d.family);
	libvirt_observe(lv, ifindex, dir, s.family, s.addr, d.addr);
}

static const char leases_fmt[] = "[\n"
				 "  {\n"
				 "    \"ip-address\": \"192.168.122.45\",\n"
				 "    \"mac-address\": \"" MAC1 "\",\n"
				 "    \"hostname\": \"vm1\",\n"
				 "    \"client-id\": \"01:52:54:00:6b:3c:58\",\n"
				 "    \"expiry-time\": %lld\n"
				 "  },\n"
				 "  {\n"
				 "    \"ip-address\": \"192.168.122.46\",\n"
				 "    \"mac-address\": \"" MAC2 "\",\n"
				 "    \"expiry-time\": %lld\n"
				 "  },\n"
				 "  {\n"
				 "    \"ip-address\": \"192.168.122.99\",\n"
				 "    \"mac-address\": \"52:54:00:ff:ff:ff\",\n"
				 "    \"hostname\": \"stopped-vm\",\n"
				 "    \"expiry-time\": %lld\n"
				 "  },\n"
				 "  {\n"
				 "    \"iaid\": \"7092568\",\n"
				 "    \"ip-address\": \"fd00:122::45\",\n"
				 "    \"client-id\": \"00:04:5e:0b:cd:6c\",\n"
				 "    \"expiry-time\": %lld\n"
				 "  }\n"
				 "]\n";

static void put_leases(long long expiry_s)
{
	put(lease_dir, "virbr0.status", leases_fmt, expiry_s, expiry_s, expiry_s, expiry_s);
}

static void two_vms(void)
{
	put_vm1("vm1.xml", "vm1", UUID1, MAC1, "vnet0");
	put_vm2("vnet1", "macvtap0");
}

Test(libvirt, runtime_xml_and_leases_label_vm_addresses)
{
	const struct libvirt_stats *st;

	two_vms();
	put_leases((long long)(T0 / 1000 + 3600));
	/* Files libvirt keeps next to the status XML are not domains. */
	put(dom_dir, "vm1.pid", "48213");
	g_autofree char *libdir = g_build_filename(dom_dir, "domain-3-vm1", NULL);

	cr_assert_eq(mkdir(libdir, 0700), 0);
	put(lease_dir, "default.conf", "strict-order\n");
	start(0, 0, true);

	cr_assert_eq(libvirt_poll(lv, T0), 1);
	expect_vm("192.168.122.45", "vm1", UUID1);
	expect_vm("192.168.122.46", "vm2", UUID2);
	expect_vm("192.168.122.99", NULL, NULL); /* a lease of no running VM */
	expect_vm("fd00:122::45", NULL, NULL);	 /* DHCPv6 lease without a MAC */

	cr_assert_str_eq(libvirt_iface_vm(lv, "vnet0"), "vm1");
	cr_assert_str_eq(libvirt_iface_vm(lv, "vnet1"), "vm2");
	cr_assert_str_eq(libvirt_iface_vm(lv, "macvtap0"), "vm2");
	cr_assert_null(libvirt_iface_vm(lv, "vda"));
	cr_assert_null(libvirt_iface_vm(lv, "eth0"));
	cr_assert_null(libvirt_iface_vm(lv, NULL));

	st = libvirt_get_stats(lv);
	cr_assert_eq(st->domains, 2);
	cr_assert_eq(st->interfaces, 3); /* the hostdev interface has no tap */
	cr_assert_eq(st->endpoints, 2);
	cr_assert_eq(st->files_loaded, 3);
	cr_assert_eq(st->files_bad, 0);
	cr_assert_eq(st->lease_entries_bad, 0);
	cr_assert_eq(st->publishes, 1);
}

Test(libvirt, republishes_only_when_the_mapping_changes)
{
	uint64_t gen;

	two_vms();
	put_leases(0); /* 0: no expiry */
	start(0, 0, true);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
	gen = enrich_generation(e);

	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 0);
	/* libvirt rewrites the status file on every state change: same mapping, no publish. */
	put_vm1("vm1.xml", "vm1", UUID1, MAC1, "vnet0");
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 0);
	cr_assert_eq(libvirt_get_stats(lv)->files_loaded, 4);
	cr_assert_eq(enrich_generation(e), gen);

	/* A new lease is a change. */
	put(lease_dir, "virbr0.status",
	    "[{\"ip-address\": \"192.168.122.47\", \"mac-address\": \"" MAC1 "\"}]");
	cr_assert_eq(libvirt_poll(lv, T0 + 3000), 1);
	cr_assert_neq(enrich_generation(e), gen);
	expect_vm("192.168.122.47", "vm1", UUID1);
	expect_vm("192.168.122.45", NULL, NULL);
	expect_vm("192.168.122.46", NULL, NULL);

	/* The domain shut down: its file goes, and so do its addresses and interfaces. */
	rm(dom_dir, "vm1.xml");
	cr_assert_eq(libvirt_poll(lv, T0 + 4000), 1);
	expect_vm("192.168.122.47", NULL, NULL);
	cr_assert_null(libvirt_iface_vm(lv, "vnet0"));
	cr_assert_eq(libvirt_get_stats(lv)->domains, 1);
	cr_assert_eq(libvirt_get_stats(lv)->publishes, 3);
}

Test(libvirt, file_rewritten_in_place_is_seen)
{
	g_autofree char *path = NULL;
	FILE *f;

	put(lease_dir, "virbr0.status", "[]");
	two_vms();
	start(0, 0, true);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
	expect_vm("192.168.122.45", NULL, NULL);

	/* No rename: same inode, the directory does not change, only the file's size. */
	path = g_build_filename(lease_dir, "virbr0.status", NULL);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "[{\"ip-address\": \"192.168.122.45\", \"mac-address\": \"%s\"}]", MAC1);
	fclose(f);
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 1);
	expect_vm("192.168.122.45", "vm1", UUID1);
}

Test(libvirt, malformed_xml_keeps_the_last_good_version_and_is_counted_once)
{
	const struct libvirt_stats *st;

	two_vms();
	put_leases(0);
	start(0, 0, true);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
	st = libvirt_get_stats(lv);

	/* Cut short mid-write. */
	put(dom_dir, "vm1.xml",
	    "<domstatus state='running'>\n  <domain type='kvm'>\n"
	    "    <name>vm1</name>\n    <devices><interface type='network'>");
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 0);
	cr_assert_eq(st->files_bad, 1);
	expect_vm("192.168.122.45", "vm1", UUID1);
	cr_assert_str_eq(libvirt_iface_vm(lv, "vnet0"), "vm1");
	/* The same bad version is not read (nor reported) again. */
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 0);
	cr_assert_eq(st->files_bad, 1);

	/* A new file that was never good is ignored; the others stay. */
	put(dom_dir, "vm3.xml", "<domain type='kvm'><name>vm3</name><uuid>nope</uuid></domain>");
	cr_assert_eq(libvirt_poll(lv, T0 + 3000), 0);
	cr_assert_eq(st->files_bad, 2);
	cr_assert_eq(st->domains, 2);

	/* Fixed: taken. vnet0 now belongs to another VM. */
	put_vm1("vm1.xml", "vm1b", UUID3, MAC1, "vnet0");
	cr_assert_eq(libvirt_poll(lv, T0 + 4000), 1);
	expect_vm("192.168.122.45", "vm1b", UUID3);
	cr_assert_str_eq(libvirt_iface_vm(lv, "vnet0"), "vm1b");
	cr_assert_eq(st->files_bad, 2);
}

/* Each document must be rejected (counted as bad) and must not create a domain. */
Test(libvirt, invalid_documents_are_rejected)
{
	static const char *const bad[] = {
		"",
		"not xml at all",
		"<network><name>default</name></network>",
		"<domstatus><vcpus/></domstatus>",
		"<domain type='kvm'><uuid>" UUID1 "</uuid></domain>",
		"<domain type='kvm'><name>   </name></domain>",
		"<domain type='kvm'><name>a</name><name>b</name></domain>",
		"<domain type='kvm'><name>a</name><uuid>" UUID1 "</uuid><uuid>" UUID2
		"</uuid></domain>",
		"<domain type='kvm'><name>a</name><devices><interface type='network'>"
		"<mac address='52:54:00:6b:3c'/><target dev='vnet0'/></interface></devices>"
		"</domain>",
		"<domain type='kvm'><name>a</name><devices><interface type='network'>"
		"<mac/><target dev='vnet0'/></interface></devices></domain>",
		"<domain type='kvm'><name>a &bogus; b</name></domain>",
		"<domain type='kvm'><name>a</name></domain><domain/>",
		"<domain type='kvm'><name>a</name>",
	};
	GString *many = g_string_new("<domain><name>big</name><devices>");
	GString *longname = g_string_new("<domain><name>");
	size_t i;

	for (i = 0; i < 257; i++)
		g_string_append_printf(many,
				       "<interface type='network'><target dev='vnet%zu'/>"
				       "</interface>",
				       i);
	g_string_append(many, "</devices></domain>");
	for (i = 0; i < 1025; i++)
		g_string_append_c(longname, 'x');
	g_string_append(longname, "</name></domain>");

	start(0, 0, false);
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		char name[32];

		snprintf(name, sizeof(name), "bad%zu.xml", i);
		put(dom_dir, name, "%s", bad[i]);
	}
	put(dom_dir, "many.xml", "%s", many->str);
	put(dom_dir, "longname.xml", "%s", longname->str);
	cr_assert_eq(libvirt_poll(lv, T0), 1); /* the first publish: an empty table */
	cr_assert_eq(libvirt_get_stats(lv)->files_bad, G_N_ELEMENTS(bad) + 2);
	cr_assert_eq(libvirt_get_stats(lv)->files_loaded, 0);
	cr_assert_eq(libvirt_get_stats(lv)->domains, 0);
	cr_assert_null(libvirt_iface_vm(lv, "vnet0"));
	g_string_free(many, TRUE);
	g_string_free(longname, TRUE);
}

Test(libvirt, limits_that_are_fine)
{
	GString *x = g_string_new("<domain><name>many</name><devices>");
	char dev[16];
	size_t i;

	/* 256 interfaces is the most a domain may list. */
	for (i = 0; i < 256; i++)
		g_string_append_printf(x,
				       "<interface type='network'><target dev='vnet%zu'/>"
				       "</interface>",
				       i);
	/* A name too long for a Linux interface cannot be a tap we see: skipped. */
	g_string_append(x, "<interface type='vhostuser'><target dev='a-very-long-socket-name'/>"
			   "</interface></devices></domain>");
	put(dom_dir, "many.xml", "%s", x->str);
	g_string_free(x, TRUE);
	start(0, 0, false);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
	cr_assert_eq(libvirt_get_stats(lv)->interfaces, 256);
	snprintf(dev, sizeof(dev), "vnet%d", 255);
	cr_assert_str_eq(libvirt_iface_vm(lv, dev), "many");
	cr_assert_null(libvirt_iface_vm(lv, "a-very-long-socket-name"));
}

Test(libvirt, malformed_leases_keep_the_last_good_version)
{
	const struct libvirt_stats *st;

	two_vms();
	put_leases(0);
	start(0, 0, true);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
	st = libvirt_get_stats(lv);

	put(lease_dir, "virbr0.status", "[{\"ip-address\": \"192.168.122.45\", ");
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 0);
	cr_assert_eq(st->files_bad, 1);
	expect_vm("192.168.122.45", "vm1", UUID1);

	put(lease_dir, "virbr0.status", "{\"ip-address\": \"192.168.122.45\"}");
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 0);
	cr_assert_eq(st->files_bad, 2);
	expect_vm("192.168.122.46", "vm2", UUID2);

	/* Bad entries are skipped and counted; the good ones in the same file count. */
	put(lease_dir, "virbr0.status",
	    "[\"text\", {\"ip-address\": 7, \"mac-address\": \"" MAC1 "\"},\n"
	    " {\"ip-address\": \"192.168.122.300\", \"mac-address\": \"" MAC1 "\"},\n"
	    " {\"ip-address\": \"192.168.122.48\", \"mac-address\": \"52:54:00:6b:3c\"},\n"
	    " {\"ip-address\": \"192.168.122.49\", \"mac-address\": 5},\n"
	    " {\"ip-address\": \"192.168.122.50\", \"mac-address\": \"" MAC1
	    "\", \"expiry-time\": \"soon\"},\n"
	    " {\"ip-address\": \"192.168.122.51\", \"mac-address\": \"" MAC1
	    "\", \"expiry-time\": -1},\n"
	    " {\"ip-address\": \"192.168.122.52\", \"mac-address\": \"" MAC2 "\"}]");
	cr_assert_eq(libvirt_poll(lv, T0 + 3000), 1);
	cr_assert_eq(st->files_bad, 2);
	cr_assert_eq(st->lease_entries_bad, 7);
	expect_vm("192.168.122.52", "vm2", UUID2);
	expect_vm("192.168.122.45", NULL, NULL);
	expect_vm("192.168.122.46", NULL, NULL);
	for (int i = 48; i <= 51; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "192.168.122.%d", i);
		expect_vm(ip, NULL, NULL);
	}
}

Test(libvirt, leases_expire)
{
	long long exp_s = (long long)(T0 / 1000 + 60);

	two_vms();
	put_leases(exp_s);
	start(0, 0, true);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
	expect_vm("192.168.122.45", "vm1", UUID1);
	cr_assert_eq(libvirt_poll(lv, (uint64_t)exp_s * 1000 - 1), 0);
	expect_vm("192.168.122.45", "vm1", UUID1);
	cr_assert_eq(libvirt_poll(lv, (uint64_t)exp_s * 1000), 1);
	expect_vm("192.168.122.45", NULL, NULL);
	expect_vm("192.168.122.46", NULL, NULL);
	cr_assert_eq(libvirt_poll(lv, (uint64_t)exp_s * 1000 + 1000), 0);
}

Test(libvirt, learns_vm_addresses_from_flows_on_its_tap)
{
	const struct libvirt_stats *st;

	two_vms();
	start(0, 0, false);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
	st = libvirt_get_stats(lv);

	/* Received on vnet1 (ifindex 101): sent by vm2, the source is vm2's. */
	observe(101, DECODE_DIR_INGRESS, "10.0.0.5", "8.8.8.8");
	/* Sent out of vnet0 (100): goes to vm1, the destination is vm1's. */
	observe(100, DECODE_DIR_EGRESS, "1.1.1.1", "10.0.0.7");
	/* macvtap0 is vm2's second interface (200). IPv6 works the same. */
	observe(200, DECODE_DIR_INGRESS, "fd00::5", "fd00::1");
	/* Not a VM's interface: ignored, not even counted. */
	observe(7, DECODE_DIR_INGRESS, "10.9.9.9", "10.0.0.1");
	observe(0, DECODE_DIR_INGRESS, "10.9.9.8", "10.0.0.1");
	cr_assert_eq(st->observed, 3);
	expect_vm("10.0.0.5", NULL, NULL); /* published at the next poll, not before */

	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 1);
	expect_vm("10.0.0.5", "vm2", UUID2);
	expect_vm("10.0.0.7", "vm1", UUID1);
	expect_vm("fd00::5", "vm2", UUID2);
	expect_vm("8.8.8.8", NULL, NULL);
	expect_vm("1.1.1.1", NULL, NULL);
	expect_vm("fd00::1", NULL, NULL);
	expect_vm("10.9.9.9", NULL, NULL);
	cr_assert_eq(st->learned, 3);
	cr_assert_eq(st->learned_new, 3);

	/* Seen again: nothing new to publish. */
	observe(101, DECODE_DIR_INGRESS, "10.0.0.5", "8.8.4.4");
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 0);

	/* Flooded to vm2's tap: egress evidence never moves an address. */
	observe(101, DECODE_DIR_EGRESS, "1.1.1.1", "10.0.0.7");
	cr_assert_eq(libvirt_poll(lv, T0 + 3000), 0);
	expect_vm("10.0.0.7", "vm1", UUID1);
	cr_assert_eq(st->learned_moved, 0);
	/* vm2 sends from it: now it is vm2's. */
	observe(101, DECODE_DIR_INGRESS, "10.0.0.7", "1.1.1.1");
	cr_assert_eq(libvirt_poll(lv, T0 + 4000), 1);
	expect_vm("10.0.0.7", "vm2", UUID2);
	cr_assert_eq(st->learned_moved, 1);
	cr_assert_eq(st->learned, 3);
}

Test(libvirt, ignores_addresses_no_host_owns)
{
	static const char *const v4[] = {"0.0.0.0",	    "127.0.0.1",       "224.0.0.251",
					 "239.255.255.250", "255.255.255.255", "240.0.0.1"};
	static const char *const v6[] = {"::", "::1", "ff02::1", "ff02::1:ff00:5"};
	const struct libvirt_stats *st;
	size_t i;

	two_vms();
	start(0, 0, false);
	libvirt_poll(lv, T0);
	st = libvirt_get_stats(lv);
	for (i = 0; i < G_N_ELEMENTS(v4); i++) {
		observe(100, DECODE_DIR_INGRESS, v4[i], "10.0.0.1");
		observe(100, DECODE_DIR_EGRESS, "10.0.0.1", v4[i]);
	}
	for (i = 0; i < G_N_ELEMENTS(v6); i++) {
		observe(100, DECODE_DIR_INGRESS, v6[i], "fd00::1");
		observe(100, DECODE_DIR_EGRESS, "fd00::1", v6[i]);
	}
	/* A bad version or direction from a buggy caller is counted too. */
	libvirt_observe(lv, 100, DECODE_DIR_INGRESS, 5, (const uint8_t[16]){10, 0, 0, 1},
			(const uint8_t[16]){10, 0, 0, 2});
	libvirt_observe(lv, 100, 9, 4, (const uint8_t[16]){10, 0, 0, 1},
			(const uint8_t[16]){10, 0, 0, 2});
	cr_assert_eq(st->observe_unusable, 2 * (G_N_ELEMENTS(v4) + G_N_ELEMENTS(v6)) + 2);
	cr_assert_eq(st->learned, 0);
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 0);
	/* DHCP's 0.0.0.0 -> 255.255.255.255 teaches nothing either, but a unicast address does. */
	observe(100, DECODE_DIR_INGRESS, "169.254.10.10", "255.255.255.255");
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 1);
	expect_vm("169.254.10.10", "vm1", UUID1);
}

Test(libvirt, learned_addresses_are_bounded)
{
	const struct libvirt_stats *st;

	two_vms();
	start(2, 0, false);
	libvirt_poll(lv, T0);
	st = libvirt_get_stats(lv);
	observe(100, DECODE_DIR_INGRESS, "10.0.0.1", "10.1.0.1");
	observe(100, DECODE_DIR_INGRESS, "10.0.0.2", "10.1.0.1");
	observe(100, DECODE_DIR_INGRESS, "10.0.0.3", "10.1.0.1");
	observe(101, DECODE_DIR_INGRESS, "10.0.0.4", "10.1.0.1");
	/* Known addresses still refresh or move when the table is full. */
	observe(101, DECODE_DIR_INGRESS, "10.0.0.2", "10.1.0.1");
	cr_assert_eq(st->learned, 2);
	cr_assert_eq(st->learned_full, 2);
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 1);
	expect_vm("10.0.0.1", "vm1", UUID1);
	expect_vm("10.0.0.2", "vm2", UUID2);
	expect_vm("10.0.0.3", NULL, NULL);
	expect_vm("10.0.0.4", NULL, NULL);
	cr_assert_eq(st->endpoints, 2);
}

Test(libvirt, learned_addresses_expire)
{
	const struct libvirt_stats *st;

	two_vms();
	start(0, 5000, false);
	libvirt_poll(lv, T0);
	st = libvirt_get_stats(lv);
	observe(100, DECODE_DIR_INGRESS, "10.0.0.1", "10.1.0.1");
	observe(101, DECODE_DIR_INGRESS, "10.0.0.2", "10.1.0.1");
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 1);		 /* both last seen at T0 */
	observe(101, DECODE_DIR_EGRESS, "10.1.0.1", "10.0.0.2"); /* refreshed at T0 + 1000 */
	cr_assert_eq(libvirt_poll(lv, T0 + 4999), 0);
	expect_vm("10.0.0.1", "vm1", UUID1);
	cr_assert_eq(libvirt_poll(lv, T0 + 5000), 1);
	expect_vm("10.0.0.1", NULL, NULL);
	expect_vm("10.0.0.2", "vm2", UUID2);
	cr_assert_eq(st->learned_expired, 1);
	cr_assert_eq(libvirt_poll(lv, T0 + 6000), 1);
	expect_vm("10.0.0.2", NULL, NULL);
	cr_assert_eq(st->learned_expired, 2);
	cr_assert_eq(st->learned, 0);
	cr_assert_eq(st->endpoints, 0);
}

Test(libvirt, precedence_between_leases_and_traffic)
{
	two_vms();
	put_leases(0);
	start(0, 0, true);
	libvirt_poll(lv, T0);
	/* Only seen received by vm2 (flooding, or an old ARP cache): the lease says vm1. */
	observe(101, DECODE_DIR_EGRESS, "10.1.0.1", "192.168.122.45");
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 0);
	expect_vm("192.168.122.45", "vm1", UUID1);
	/* vm2 sends from it: what a VM does beats what DHCP handed out. */
	observe(101, DECODE_DIR_INGRESS, "192.168.122.45", "10.1.0.1");
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 1);
	expect_vm("192.168.122.45", "vm2", UUID2);
}

Test(libvirt, learned_address_dropped_when_its_vm_goes)
{
	const struct libvirt_stats *st;

	two_vms();
	start(0, 0, false);
	libvirt_poll(lv, T0);
	st = libvirt_get_stats(lv);
	observe(100, DECODE_DIR_INGRESS, "10.0.0.1", "10.1.0.1");
	observe(101, DECODE_DIR_INGRESS, "10.0.0.2", "10.1.0.1");
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 1);
	expect_vm("10.0.0.1", "vm1", UUID1);

	/* vm1 stopped and vm3 started, reusing vnet0: vm1's address is not vm3's. */
	rm(dom_dir, "vm1.xml");
	put_vm1("vm3.xml", "vm3", UUID3, "52:54:00:33:33:33", "vnet0");
	/* vm2's status file is rewritten with nothing new: its address survives. */
	put_vm2("vnet1", "macvtap0");
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 1);
	expect_vm("10.0.0.1", NULL, NULL);
	expect_vm("10.0.0.2", "vm2", UUID2);
	cr_assert_str_eq(libvirt_iface_vm(lv, "vnet0"), "vm3");
	cr_assert_eq(st->learned, 1);
	cr_assert_eq(st->learned_expired, 1);
	observe(100, DECODE_DIR_INGRESS, "10.0.0.1", "10.1.0.1");
	cr_assert_eq(libvirt_poll(lv, T0 + 3000), 1);
	expect_vm("10.0.0.1", "vm3", UUID3);
}

Test(libvirt, interface_indexes_are_looked_up_again)
{
	two_vms();
	start(0, 0, false);
	libvirt_poll(lv, T0);
	/* The tap was re-created with a new index; the XML did not change. */
	ifindex_shift = 1000;
	observe(1100, DECODE_DIR_INGRESS, "10.0.0.1", "10.1.0.1");
	cr_assert_eq(libvirt_get_stats(lv)->observed, 0);
	cr_assert_eq(libvirt_poll(lv, T0 + 9999), 0);
	observe(1100, DECODE_DIR_INGRESS, "10.0.0.1", "10.1.0.1");
	cr_assert_eq(libvirt_get_stats(lv)->observed, 0);
	cr_assert_eq(libvirt_poll(lv, T0 + 10000), 0); /* re-resolved here */
	observe(100, DECODE_DIR_INGRESS, "10.0.0.2", "10.1.0.1");
	observe(1100, DECODE_DIR_INGRESS, "10.0.0.1", "10.1.0.1");
	cr_assert_eq(libvirt_get_stats(lv)->observed, 1);
	cr_assert_eq(libvirt_poll(lv, T0 + 11000), 1);
	expect_vm("10.0.0.1", "vm1", UUID1);
	expect_vm("10.0.0.2", NULL, NULL);
}

Test(libvirt, directories_may_be_missing_and_appear_later)
{
	g_autofree char *later = g_build_filename(root, "later", NULL);
	struct libvirt_config c = {.domain_dir = later,
				   .leases_dir = later,
				   .ifindex_of = fake_ifindex,
				   .ifindex_user = &ifindex_shift};

	e = enrich_new();
	lv = libvirt_new(e, &c);
	cr_assert_eq(libvirt_poll(lv, T0), 1); /* an empty table */
	cr_assert_eq(libvirt_poll(lv, T0 + 1000), 0);
	cr_assert_eq(mkdir(later, 0755), 0);
	put(later, "vm9.xml",
	    "<domain><name>vm9</name><devices><interface type='network'>"
	    "<mac address='52:54:00:09:09:09'/><target dev='vnet9'/>"
	    "</interface></devices></domain>");
	put(later, "virbr9.status",
	    "[{\"ip-address\": \"10.9.0.9\", \"mac-address\": \"52:54:00:09:09:09\"}]");
	cr_assert_eq(libvirt_poll(lv, T0 + 2000), 1);
	cr_assert_str_eq(libvirt_iface_vm(lv, "vnet9"), "vm9");
	{
		struct enrich_snapshot *s = enrich_snapshot_acquire(e);
		struct enrich_addr a = addr_of("10.9.0.9");
		struct enrich_labels l;

		cr_assert(enrich_lookup(s, &a, 0, &l));
		cr_assert_str_eq(l.v[ENRICH_VM], "vm9");
		cr_assert_null(l.v[ENRICH_INSTANCE_ID]); /* this XML has no <uuid> */
		enrich_snapshot_release(s);
	}
	/* Gone again: every VM with it. */
	rm(later, "vm9.xml");
	rm(later, "virbr9.status");
	cr_assert_eq(rmdir(later), 0);
	cr_assert_eq(libvirt_poll(lv, T0 + 3000), 1);
	cr_assert_null(libvirt_iface_vm(lv, "vnet9"));
	cr_assert_eq(libvirt_get_stats(lv)->domains, 0);
}

Test(libvirt, null_and_defaults)
{
	e = enrich_new();
	cr_assert_null(libvirt_new(NULL, NULL));
	libvirt_free(NULL);
	cr_assert_eq(libvirt_poll(NULL, T0), 0);
	libvirt_observe(NULL, 1, 0, 4, (const uint8_t[16]){0}, (const uint8_t[16]){0});
	cr_assert_null(libvirt_iface_vm(NULL, "vnet0"));
	cr_assert_eq(libvirt_get_stats(NULL)->polls, 0);
	/* Default directories: whatever this host has, polling must not fail. */
	lv = libvirt_new(e, NULL);
	cr_assert_not_null(lv);
	cr_assert_eq(libvirt_poll(lv, T0), 1);
}
