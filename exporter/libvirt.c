// SPDX-License-Identifier: Apache-2.0
/*
 * libvirt: KVM guests as an enrich source. Two watched directories (libvirt_dir.h) keep the
 * last good domain XML and dnsmasq lease files; any change rebuilds three small views
 * (interface by name, by ifindex, by MAC). Addresses come from leases and from flows on the
 * VM's tap, and a table is published only when the address -> VM mapping (compared by
 * SHA-256) changed.
 */
#include <inttypes.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "decode.h"
#include "libvirt.h"
#include "libvirt_dir.h"
#include "libvirt_domain.h"
#include "libvirt_lease.h"
#include "log.h"

/* Interface names are looked up again this often: a tap may appear after its XML. */
#define LIBVIRT_RESOLVE_MS 10000u

/* An address learned from traffic on a VM's interface. */
struct lv_learned {
	struct enrich_addr addr; /* key, zero-padded */
	char *dev;		 /* owned: identity of the VM it belongs to, checked at rebuild */
	char *vm;		 /* owned */
	char *uuid;		 /* owned; NULL when the domain has none */
	const struct libvirt_iface
		*iface;	       /* borrowed from the views; revalidated at each rebuild */
	uint64_t last_seen_ms; /* poll clock when last seen */
	bool ingress;	       /* seen sent by the VM (not only sent to it) */
};

struct libvirt {
	struct enrich *e; /* borrowed: must outlive the source */
	struct libvirt_dir domains;
	struct libvirt_dir leases;
	bool leases_on;
	uint32_t max_learned;
	uint32_t learned_ttl_ms;
	uint32_t (*ifindex_of)(const char *ifname, void *user);
	void *ifindex_user; /* borrowed */
	/* Views over the domains' interfaces, rebuilt when a file changes. Borrowed pointers. */
	GHashTable *by_name;  /* dev -> struct libvirt_iface * */
	GHashTable *by_index; /* ifindex -> struct libvirt_iface * */
	GHashTable *by_mac;   /* &mac_key -> struct libvirt_iface * */
	GHashTable *learned;  /* &addr -> struct lv_learned * (owned); at most max_learned */
	bool views_stale;     /* a domain or lease set was replaced or freed since the rebuild */
	bool dirty;	      /* the mapping may have changed since the last publish */
	uint64_t clock_ms;    /* now_ms of the last poll */
	uint64_t next_resolve_ms;
	uint64_t next_lease_expiry_ms; /* earliest expiry of a lease in use; 0 = none */
	uint8_t digest[32];	       /* SHA-256 of the published mapping */
	bool published;
	uint64_t logged_domains; /* counts of the last info message */
	uint64_t logged_interfaces;
	struct libvirt_stats stats;
};

/* ---- small helpers ------------------------------------------------------------------ */

static bool str_eq0(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static guint addr_hash(gconstpointer p)
{
	const struct enrich_addr *a = p;
	uint32_t h = 2166136261u ^ a->family;
	size_t i;

	for (i = 0; i < sizeof(a->addr); i++)
		h = (h ^ a->addr[i]) * 16777619u;
	return h;
}

static gboolean addr_equal(gconstpointer a, gconstpointer b)
{
	const struct enrich_addr *x = a, *y = b;

	return x->family == y->family && memcmp(x->addr, y->addr, sizeof(x->addr)) == 0;
}

static int addr_cmp(const struct enrich_addr *x, const struct enrich_addr *y)
{
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/*
 * Could this address be one host's? Not unspecified, loopback, multicast, broadcast or
 * reserved (IPv4 0/8, 127/8, 224/4, 240/4; IPv6 ::, ::1, ff00::/8).
 */
static bool addr_is_host(const struct enrich_addr *a)
{
	static const uint8_t zero[16];

	if (a->family == 4)
		return a->addr[0] != 0 && a->addr[0] != 127 && a->addr[0] < 224;
	if (a->addr[0] == 0xff)
		return false;
	if (memcmp(a->addr, zero, 15) == 0 && (a->addr[15] == 0 || a->addr[15] == 1))
		return false;
	return true;
}

/* ---- views -------------------------------------------------------------------------- */

static uint32_t default_ifindex_of(const char *ifname, void *user)
{
	(void)user;
	return if_nametoindex(ifname);
}

static void resolve_ifindexes(struct libvirt *lv)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_remove_all(lv->by_index);
	g_hash_table_iter_init(&it, lv->by_name);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct libvirt_iface *i = v;

		i->ifindex = lv->ifindex_of(i->dev, lv->ifindex_user);
		if (i->ifindex &&
		    !g_hash_table_contains(lv->by_index, GUINT_TO_POINTER(i->ifindex)))
			g_hash_table_insert(lv->by_index, GUINT_TO_POINTER(i->ifindex), i);
	}
	lv->next_resolve_ms = lv->clock_ms + LIBVIRT_RESOLVE_MS;
}

/* Rebuild the interface views from every domain; drop learned addresses of gone VMs. */
static void rebuild_views(struct libvirt *lv)
{
	GPtrArray *files = libvirt_dir_sorted_files(&lv->domains);
	GHashTableIter it;
	gpointer k, v;
	size_t i, j;

	g_hash_table_remove_all(lv->by_index);
	g_hash_table_remove_all(lv->by_name);
	g_hash_table_remove_all(lv->by_mac);
	lv->stats.domains = 0;
	for (i = 0; i < files->len; i++) {
		struct libvirt_dir_file *f = g_ptr_array_index(files, i);

		if (!f->dom)
			continue;
		lv->stats.domains++;
		for (j = 0; j < f->dom->ifaces->len; j++) {
			struct libvirt_iface *ifc = g_ptr_array_index(f->dom->ifaces, j);

			/* A device listed twice (stale file): the first file by name wins. */
			if (g_hash_table_contains(lv->by_name, ifc->dev))
				continue;
			g_hash_table_insert(lv->by_name, ifc->dev, ifc);
			if (ifc->has_mac && !g_hash_table_contains(lv->by_mac, &ifc->mac_key))
				g_hash_table_insert(lv->by_mac, &ifc->mac_key, ifc);
		}
	}
	g_ptr_array_unref(files);
	lv->stats.interfaces = g_hash_table_size(lv->by_name);
	resolve_ifindexes(lv);

	g_hash_table_iter_init(&it, lv->learned);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct lv_learned *l = v;
		const struct libvirt_iface *ifc = g_hash_table_lookup(lv->by_name, l->dev);

		if (ifc && strcmp(ifc->dom->name, l->vm) == 0 && str_eq0(ifc->dom->uuid, l->uuid)) {
			l->iface = ifc;
			continue;
		}
		lv->stats.learned_expired++;
		g_hash_table_iter_remove(&it);
	}
	lv->stats.learned = g_hash_table_size(lv->learned);
	lv->views_stale = false;
	lv->dirty = true;
}

/* ---- learning ----------------------------------------------------------------------- */

static void learned_free(gpointer p)
{
	struct lv_learned *l = p;

	if (!l)
		return;
	g_free(l->dev);
	g_free(l->vm);
	g_free(l->uuid);
	g_free(l);
}

static void learned_bind(struct lv_learned *l, const struct libvirt_iface *ifc)
{
	g_free(l->dev);
	g_free(l->vm);
	g_free(l->uuid);
	l->dev = g_strdup(ifc->dev);
	l->vm = g_strdup(ifc->dom->name);
	l->uuid = g_strdup(ifc->dom->uuid);
	l->iface = ifc;
}

void libvirt_observe(struct libvirt *lv, uint32_t ifindex, uint8_t direction, uint8_t ip_version,
		     const uint8_t src_addr[16], const uint8_t dst_addr[16])
{
	const struct libvirt_iface *ifc;
	bool ingress = direction == DECODE_DIR_INGRESS;
	struct lv_learned *l;
	struct enrich_addr a;

	if (!lv || !ifindex)
		return;
	ifc = g_hash_table_lookup(lv->by_index, GUINT_TO_POINTER(ifindex));
	if (!ifc)
		return;
	lv->stats.observed++;
	memset(&a, 0, sizeof(a));
	if ((ip_version != 4 && ip_version != 6) || !src_addr || !dst_addr ||
	    (direction != DECODE_DIR_INGRESS && direction != DECODE_DIR_EGRESS)) {
		lv->stats.observe_unusable++;
		return;
	}
	a.family = ip_version;
	memcpy(a.addr, ingress ? src_addr : dst_addr, ip_version == 4 ? 4 : 16);
	if (!addr_is_host(&a)) {
		lv->stats.observe_unusable++;
		return;
	}
	l = g_hash_table_lookup(lv->learned, &a);
	if (l && l->iface == ifc) {
		l->last_seen_ms = lv->clock_ms;
		if (ingress && !l->ingress) {
			l->ingress = true;
			lv->dirty = true;
		}
		return;
	}
	if (l) {
		/* Another VM's address so far: only what the VM itself sent moves it. */
		if (!ingress)
			return;
		learned_bind(l, ifc);
		l->ingress = true;
		l->last_seen_ms = lv->clock_ms;
		lv->stats.learned_moved++;
		lv->dirty = true;
		return;
	}
	if (g_hash_table_size(lv->learned) >= lv->max_learned) {
		lv->stats.learned_full++;
		return;
	}
	l = g_new0(struct lv_learned, 1);
	l->addr = a;
	learned_bind(l, ifc);
	l->ingress = ingress;
	l->last_seen_ms = lv->clock_ms;
	g_hash_table_insert(lv->learned, &l->addr, l);
	lv->stats.learned_new++;
	lv->stats.learned = g_hash_table_size(lv->learned);
	lv->dirty = true;
}

static void expire_learned(struct libvirt *lv)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, lv->learned);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const struct lv_learned *l = v;

		if (l->last_seen_ms + lv->learned_ttl_ms > lv->clock_ms)
			continue;
		g_hash_table_iter_remove(&it);
		lv->stats.learned_expired++;
		lv->dirty = true;
	}
	lv->stats.learned = g_hash_table_size(lv->learned);
}

/* ---- publishing --------------------------------------------------------------------- */

struct lv_entry {
	struct enrich_addr addr;
	const struct libvirt_domain *dom; /* borrowed from the views */
};

static int entry_cmp(gconstpointer a, gconstpointer b)
{
	return addr_cmp(&((const struct lv_entry *)a)->addr, &((const struct lv_entry *)b)->addr);
}

static void map_put(GHashTable *map, const struct enrich_addr *addr, const struct libvirt_domain *d)
{
	struct lv_entry *en = g_new(struct lv_entry, 1);

	en->addr = *addr;
	en->dom = d;
	g_hash_table_replace(map, &en->addr, en);
}

static void map_put_learned(struct libvirt *lv, GHashTable *map, bool ingress)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, lv->learned);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const struct lv_learned *l = v;

		if (l->ingress == ingress)
			map_put(map, &l->addr, l->iface->dom);
	}
}

/*
 * address -> domain, by precedence: addresses a VM was only seen receiving, then DHCP
 * leases, then addresses a VM was seen sending from (later replaces earlier).
 */
static GArray *compute_entries(struct libvirt *lv)
{
	GHashTable *map = g_hash_table_new_full(addr_hash, addr_equal, NULL, g_free);
	int64_t now = (int64_t)lv->clock_ms;
	GHashTableIter it;
	GArray *out;
	gpointer k, v;
	size_t i, j;

	lv->next_lease_expiry_ms = 0;
	map_put_learned(lv, map, false);
	if (lv->leases_on) {
		GPtrArray *files = libvirt_dir_sorted_files(&lv->leases);

		for (i = 0; i < files->len; i++) {
			const struct libvirt_dir_file *f = g_ptr_array_index(files, i);

			for (j = 0; f->leases && j < f->leases->len; j++) {
				const struct libvirt_lease *le =
					&g_array_index(f->leases, struct libvirt_lease, j);
				const struct libvirt_iface *ifc =
					g_hash_table_lookup(lv->by_mac, &le->mac_key);

				if (!ifc || (le->expiry_ms && le->expiry_ms <= now))
					continue;
				map_put(map, &le->addr, ifc->dom);
				if (le->expiry_ms &&
				    (!lv->next_lease_expiry_ms ||
				     (uint64_t)le->expiry_ms < lv->next_lease_expiry_ms))
					lv->next_lease_expiry_ms = (uint64_t)le->expiry_ms;
			}
		}
		g_ptr_array_unref(files);
	}
	map_put_learned(lv, map, true);

	out = g_array_sized_new(FALSE, FALSE, sizeof(struct lv_entry), g_hash_table_size(map));
	g_hash_table_iter_init(&it, map);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_array_append_vals(out, v, 1);
	g_hash_table_unref(map);
	g_array_sort(out, entry_cmp);
	return out;
}

static void entries_digest(const GArray *entries, uint8_t digest[32])
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	gsize len = 32;
	size_t i;

	for (i = 0; i < entries->len; i++) {
		const struct lv_entry *en = &g_array_index(entries, struct lv_entry, i);
		const char *uuid = en->dom->uuid ? en->dom->uuid : "";

		g_checksum_update(ck, &en->addr.family, 1);
		g_checksum_update(ck, en->addr.addr, sizeof(en->addr.addr));
		g_checksum_update(ck, (const guchar *)en->dom->name, strlen(en->dom->name) + 1);
		g_checksum_update(ck, (const guchar *)uuid, strlen(uuid) + 1);
	}
	g_checksum_get_digest(ck, digest, &len);
	g_checksum_free(ck);
}

/* Publish if the mapping differs from the published one. Returns 1 if published. */
static int publish(struct libvirt *lv)
{
	const char *fields[ENRICH_DIM_COUNT] = {0};
	struct enrich_table_builder *b;
	struct enrich_table *t;
	uint8_t digest[32];
	GArray *entries;
	int r = 0;
	size_t i;

	lv->dirty = false;
	entries = compute_entries(lv);
	entries_digest(entries, digest);
	if (lv->published && memcmp(digest, lv->digest, sizeof(digest)) == 0)
		goto out;
	b = enrich_builder_new();
	if (!b)
		goto fail;
	fields[ENRICH_KIND] = "vm";
	for (i = 0; i < entries->len; i++) {
		const struct lv_entry *en = &g_array_index(entries, struct lv_entry, i);

		fields[ENRICH_VM] = en->dom->name;
		fields[ENRICH_INSTANCE_ID] = en->dom->uuid;
		if (enrich_builder_add_endpoint(b, &en->addr, fields) < 0) {
			enrich_builder_free(b);
			goto fail;
		}
	}
	t = enrich_builder_finish(b);
	if (!t)
		goto fail;
	memcpy(lv->digest, digest, sizeof(digest));
	lv->published = true;
	lv->stats.publishes++;
	lv->stats.endpoints = entries->len;
	/* Learned addresses may change every second: only a new set of VMs is news. */
	if (lv->stats.publishes == 1 || lv->stats.domains != lv->logged_domains ||
	    lv->stats.interfaces != lv->logged_interfaces)
		log_info("libvirt: %" PRIu64 " domains, %" PRIu64 " interfaces, %u addresses",
			 lv->stats.domains, lv->stats.interfaces, entries->len);
	else
		log_debug("libvirt: %u addresses", entries->len);
	lv->logged_domains = lv->stats.domains;
	lv->logged_interfaces = lv->stats.interfaces;
	enrich_publish(lv->e, ENRICH_SRC_LIBVIRT, t);
	r = 1;
	goto out;
fail:
	log_error("libvirt: out of memory building the table; will retry");
	lv->dirty = true;
out:
	g_array_unref(entries);
	return r;
}

/* ---- the source --------------------------------------------------------------------- */

struct libvirt *libvirt_new(struct enrich *e, const struct libvirt_config *config)
{
	static const struct libvirt_config defaults;
	const struct libvirt_config *c = config ? config : &defaults;
	struct libvirt *lv;

	if (!e)
		return NULL;
	lv = g_try_new0(struct libvirt, 1);
	if (!lv)
		return NULL;
	lv->e = e;
	libvirt_dir_init(&lv->domains,
			 c->domain_dir && *c->domain_dir ? c->domain_dir
							 : LIBVIRT_DEFAULT_DOMAIN_DIR,
			 ".xml", true);
	lv->leases_on = !c->leases_dir || *c->leases_dir;
	libvirt_dir_init(&lv->leases, c->leases_dir ? c->leases_dir : LIBVIRT_DEFAULT_LEASES_DIR,
			 ".status", false);
	lv->max_learned = c->max_learned ? c->max_learned : LIBVIRT_DEFAULT_MAX_LEARNED;
	lv->learned_ttl_ms = c->learned_ttl_ms ? c->learned_ttl_ms : LIBVIRT_DEFAULT_LEARNED_TTL_MS;
	lv->ifindex_of = c->ifindex_of ? c->ifindex_of : default_ifindex_of;
	lv->ifindex_user = c->ifindex_user;
	lv->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	lv->by_index = g_hash_table_new(g_direct_hash, g_direct_equal);
	lv->by_mac = g_hash_table_new(g_int64_hash, g_int64_equal);
	lv->learned = g_hash_table_new_full(addr_hash, addr_equal, NULL, learned_free);
	lv->views_stale = true;
	return lv;
}

void libvirt_free(struct libvirt *lv)
{
	if (!lv)
		return;
	/* Views and learned entries borrow from the files: free them first. */
	if (lv->learned)
		g_hash_table_unref(lv->learned);
	if (lv->by_mac)
		g_hash_table_unref(lv->by_mac);
	if (lv->by_index)
		g_hash_table_unref(lv->by_index);
	if (lv->by_name)
		g_hash_table_unref(lv->by_name);
	libvirt_dir_done(&lv->leases);
	libvirt_dir_done(&lv->domains);
	g_free(lv);
}

int libvirt_poll(struct libvirt *lv, uint64_t now_ms)
{
	if (!lv)
		return 0;
	lv->clock_ms = now_ms;
	lv->stats.polls++;
	if (libvirt_dir_poll(&lv->domains, &lv->stats))
		lv->views_stale = true;
	if (lv->leases_on && libvirt_dir_poll(&lv->leases, &lv->stats))
		lv->views_stale = true;
	if (lv->views_stale)
		rebuild_views(lv);
	else if (now_ms >= lv->next_resolve_ms)
		resolve_ifindexes(lv);
	expire_learned(lv);
	if (lv->next_lease_expiry_ms && now_ms >= lv->next_lease_expiry_ms)
		lv->dirty = true;
	if (!lv->dirty && lv->published)
		return 0;
	return publish(lv);
}

const char *libvirt_iface_vm(const struct libvirt *lv, const char *ifname)
{
	const struct libvirt_iface *ifc;

	if (!lv || !ifname)
		return NULL;
	ifc = g_hash_table_lookup(lv->by_name, ifname);
	return ifc ? ifc->dom->name : NULL;
}

const struct libvirt_stats *libvirt_get_stats(const struct libvirt *lv)
{
	static const struct libvirt_stats none;

	return lv ? &lv->stats : &none;
}
