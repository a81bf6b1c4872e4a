// SPDX-License-Identifier: Apache-2.0
/*
 * enrich_table: one source's immutable label table. Endpoints sit in one open-addressing
 * hash keyed by address (an address with several time-bounded entries chains them), subnets
 * in a second one keyed by (masked prefix, length), probed from the longest length present
 * down; every distinct label string is stored once in one blob. A lookup is a few probes and
 * never allocates or locks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <glib.h>

#include "enrich.h"
#include "enrich_table.h"

/* Most entries (endpoints + subnets) one table may hold: adding more fails with -ENOSPC.
 * Bounded by the 24-bit record index of a hash slot. */
#define ENRICH_MAX_ENTRIES    ((1u << 24) - 1)
#define ENRICH_HASH_MIN_SLOTS 16u

/* ---- addresses ---------------------------------------------------------------------- */

static unsigned family_bits(uint8_t family)
{
	return family == 4 ? 32 : 128;
}

/*
 * Hash key: the address masked to len bits (bytes past the family's size and past len are
 * zero), so equal prefixes have equal bytes. family 0 marks an empty hash slot. The whole
 * struct, padding included, is zeroed before it is filled: keys compare with memcmp.
 */
struct tkey {
	uint8_t addr[16];
	uint8_t family;
	uint8_t len;
	uint8_t pad[2];
};

static void make_key(struct tkey *k, uint8_t family, const uint8_t *addr, unsigned len)
{
	unsigned full = len / 8, rem = len % 8;

	memset(k, 0, sizeof(*k));
	memcpy(k->addr, addr, full);
	if (rem)
		k->addr[full] = addr[full] & (uint8_t)(0xff << (8 - rem));
	k->family = family;
	k->len = (uint8_t)len;
}

int enrich_addr_parse(const char *text, struct enrich_addr *ret_addr)
{
	struct enrich_addr a;

	if (!text || !ret_addr)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, text, a.addr) == 1)
		a.family = 4;
	else if (inet_pton(AF_INET6, text, a.addr) == 1)
		a.family = 6;
	else
		return -EINVAL;
	*ret_addr = a;
	return 0;
}

int enrich_prefix_parse(const char *text, struct enrich_addr *ret_addr, uint8_t *ret_len)
{
	char buf[INET6_ADDRSTRLEN];
	struct enrich_addr a;
	const char *slash, *p;
	unsigned len = 0;
	struct tkey k;
	size_t n;

	if (!text || !ret_addr || !ret_len)
		return -EINVAL;
	slash = strchr(text, '/');
	if (!slash)
		return -EINVAL;
	n = (size_t)(slash - text);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (enrich_addr_parse(buf, &a) < 0)
		return -EINVAL;

	/* Length: 1-3 decimal digits, no sign, no blanks, no leading zero. */
	p = slash + 1;
	n = strlen(p);
	if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		len = len * 10 + (unsigned)(*p - '0');
	}
	if (len > family_bits(a.family))
		return -EINVAL;

	make_key(&k, a.family, a.addr, len);
	if (memcmp(k.addr, a.addr, sizeof(k.addr)) != 0)
		return -EINVAL; /* host bits set */
	*ret_addr = a;
	*ret_len = (uint8_t)len;
	return 0;
}

/* ---- the hash: open addressing, linear probing, load factor <= 1/2 -------------------- */

/*
 * One endpoint or subnet: its key and its labels as offsets into the table's string blob
 * (0 = absent). 88 bytes; the key sits next to the labels so a hit costs one record fetch.
 */
struct enrich_rec {
	struct tkey key;
	uint32_t off[ENRICH_DIM_COUNT];
};

/*
 * When a record is valid: [from_ms, until_ms), and the next record of the same address
 * (record index + 1; 0 = end of chain). Only the chain's first record is in the index.
 * Kept beside the records, not in them, so tables without spans (inventory) stay at 88
 * bytes per entry and their lookups never touch this array.
 */
struct enrich_span {
	uint64_t from_ms;
	uint64_t until_ms;
	uint32_t next;
	uint32_t pad;
};

/*
 * An index over records: each slot is 0 (empty) or tag << 24 | (record index + 1), where
 * tag is the top byte of the key's hash, so most mismatches are rejected without touching
 * the record. 4 bytes per slot keeps the index of 100k entries in about 1 MiB.
 * Invariant: slots == NULL, or (mask + 1) is a power of two and count <= (mask + 1) / 2,
 * so every probe sequence meets an empty slot.
 */
struct lhash {
	uint32_t *slots; /* owned */
	uint32_t mask;
	uint32_t count;
};

#define SLOT_REC_MASK 0x00ffffffu

static uint64_t key_hash(const struct tkey *k)
{
	uint64_t a, b, h;

	memcpy(&a, k->addr, 8);
	memcpy(&b, k->addr + 8, 8);
	b *= 0xc2b2ae3d27d4eb4full;
	h = a * 0x9e3779b97f4a7c15ull;
	h ^= b >> 7 | b << 57;
	h ^= ((uint64_t)k->family << 8 | k->len) * 0x165667b19e3779f9ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint32_t slot_tag(uint64_t hash)
{
	return (uint32_t)(hash >> 56) << 24;
}

static struct enrich_rec *lhash_find(const struct lhash *h, struct enrich_rec *recs,
				     const struct tkey *k)
{
	uint64_t hash;
	uint32_t i, tag;

	if (!h->count)
		return NULL;
	hash = key_hash(k);
	tag = slot_tag(hash);
	for (i = (uint32_t)hash & h->mask;; i = (i + 1) & h->mask) {
		uint32_t v = h->slots[i];

		if (!v)
			return NULL;
		if ((v & ~SLOT_REC_MASK) == tag) {
			struct enrich_rec *r = &recs[(v & SLOT_REC_MASK) - 1];

			if (memcmp(&r->key, k, sizeof(*k)) == 0)
				return r;
		}
	}
}

/* Index record rec (whose key is absent); the caller guarantees a free slot. */
static void lhash_place(uint32_t *slots, uint32_t mask, const struct tkey *k, uint32_t rec)
{
	uint64_t hash = key_hash(k);
	uint32_t i = (uint32_t)hash & mask;

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = slot_tag(hash) | (rec + 1);
}

/* Make room for one more key. Returns 0 or -ENOMEM. */
static int lhash_reserve(struct lhash *h, const struct enrich_rec *recs)
{
	uint32_t cap = h->slots ? h->mask + 1 : 0, ncap, i;
	uint32_t *ns;

	if ((uint64_t)(h->count + 1) * 2 <= cap)
		return 0;
	ncap = cap ? cap * 2 : ENRICH_HASH_MIN_SLOTS;
	ns = g_try_new0(uint32_t, ncap);
	if (!ns)
		return -ENOMEM;
	for (i = 0; i < cap; i++) {
		uint32_t rec;

		if (!h->slots[i])
			continue;
		rec = (h->slots[i] & SLOT_REC_MASK) - 1;
		lhash_place(ns, ncap - 1, &recs[rec].key, rec);
	}
	g_free(h->slots);
	h->slots = ns;
	h->mask = ncap - 1;
	return 0;
}

/* ---- tables ------------------------------------------------------------------------- */

/*
 * Immutable once finished: readers on any thread may look up without locks while they
 * hold a reference. Memory: one string blob (each distinct string once, NUL-terminated),
 * one record array and two slot indexes; nothing else is allocated per entry.
 */
struct enrich_table {
	atomic_uint ref;
	char *blob; /* owned: blob[0] = '\0' so offset 0 means absent */
	uint32_t blob_len, blob_cap;
	struct enrich_rec *recs; /* owned: nrecs used of recs_cap, endpoints and subnets */
	uint32_t nrecs, recs_cap;
	/* owned: one per record (recs_cap of them); NULL once finished if every record is
	 * valid always and no address has a second entry, so plain lookups skip it. */
	struct enrich_span *spans;
	struct lhash endpoints; /* key length 32 (IPv4) or 128 (IPv6) */
	struct lhash subnets;	/* key = masked prefix + its length */
	/* Subnet lengths present, longest first: a lookup probes only these. */
	uint8_t lens4[33], lens6[129];
	uint8_t nlens4, nlens6;
};

struct enrich_table_builder {
	struct enrich_table *t; /* owned until finish hands it out */
	/* Build time only: every distinct string's blob offset, in an open-addressing hash
	 * (linear probing, load <= 1/2) whose slots hold the offset (0 = empty) and the hash. */
	uint32_t *str_off;  /* owned */
	uint32_t *str_hash; /* owned */
	uint32_t str_mask, str_count;
	bool has4[33], has6[129];
	bool has_spans; /* an entry with a span other than "always" was added */
	/* Blob offset of the last string of each dimension: consecutive entries often share
	 * values (cluster, kind, zone), which then cost one strcmp instead of a hash lookup. */
	uint32_t last_off[ENRICH_DIM_COUNT];
};

static void table_destroy(struct enrich_table *t)
{
	g_free(t->blob);
	g_free(t->recs);
	g_free(t->spans);
	g_free(t->endpoints.slots);
	g_free(t->subnets.slots);
	g_free(t);
}

void enrich_builder_free(struct enrich_table_builder *b)
{
	if (!b)
		return;
	if (b->t)
		table_destroy(b->t);
	g_free(b->str_off);
	g_free(b->str_hash);
	g_free(b);
}

/* String hash for the build-time intern table, 8 bytes per step. */
static uint32_t str_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return (uint32_t)h;
}

/* Room for one more interned string. Returns 0 or -ENOMEM. */
static int str_reserve(struct enrich_table_builder *b)
{
	uint32_t cap = b->str_off ? b->str_mask + 1 : 0, ncap, i, j;
	uint32_t *no, *nh;

	if ((uint64_t)(b->str_count + 1) * 2 <= cap)
		return 0;
	ncap = cap ? cap * 2 : 256;
	no = g_try_new0(uint32_t, ncap);
	nh = g_try_new(uint32_t, ncap);
	if (!no || !nh) {
		g_free(no);
		g_free(nh);
		return -ENOMEM;
	}
	for (i = 0; i < cap; i++) {
		if (!b->str_off[i])
			continue;
		for (j = b->str_hash[i] & (ncap - 1); no[j]; j = (j + 1) & (ncap - 1))
			;
		no[j] = b->str_off[i];
		nh[j] = b->str_hash[i];
	}
	g_free(b->str_off);
	g_free(b->str_hash);
	b->str_off = no;
	b->str_hash = nh;
	b->str_mask = ncap - 1;
	return 0;
}

struct enrich_table_builder *enrich_builder_new(void)
{
	struct enrich_table_builder *b = g_try_new0(struct enrich_table_builder, 1);

	if (!b)
		return NULL;
	b->t = g_try_new0(struct enrich_table, 1);
	if (b->t)
		b->t->blob = g_try_malloc(256);
	if (!b->t || !b->t->blob) {
		enrich_builder_free(b);
		return NULL;
	}
	atomic_init(&b->t->ref, 1);
	b->t->blob[0] = '\0';
	b->t->blob_len = 1;
	b->t->blob_cap = 256;
	return b;
}

/* The blob offset of s, adding it on first sight. Returns 0 for absent ("" or NULL), the
 * offset, or -errno. */
static int64_t intern(struct enrich_table_builder *b, const char *s)
{
	struct enrich_table *t = b->t;
	uint32_t h, i;
	size_t n;
	int r;

	if (!s || !*s)
		return 0;
	n = strlen(s);
	h = str_hash(s, n);
	r = str_reserve(b);
	if (r < 0)
		return r;
	for (i = h & b->str_mask; b->str_off[i]; i = (i + 1) & b->str_mask)
		if (b->str_hash[i] == h && strcmp(t->blob + b->str_off[i], s) == 0)
			return b->str_off[i];
	n++;
	if (n > UINT32_MAX - t->blob_len)
		return -ENOSPC;
	if (t->blob_len + n > t->blob_cap) {
		uint64_t ncap = t->blob_cap;
		char *nb;

		while (ncap < t->blob_len + n)
			ncap *= 2;
		if (ncap > UINT32_MAX)
			ncap = UINT32_MAX;
		nb = g_try_realloc(t->blob, ncap);
		if (!nb)
			return -ENOMEM;
		t->blob = nb;
		t->blob_cap = (uint32_t)ncap;
	}
	memcpy(t->blob + t->blob_len, s, n);
	b->str_off[i] = t->blob_len;
	b->str_hash[i] = h;
	b->str_count++;
	t->blob_len += (uint32_t)n;
	return t->blob_len - (uint32_t)n;
}

/* Intern every field into *r. Returns 0 or -errno (r is then partly written). */
static int rec_fill(struct enrich_table_builder *b, struct enrich_rec *r,
		    const char *const fields[ENRICH_DIM_COUNT])
{
	unsigned d;

	for (d = 0; d < ENRICH_DIM_COUNT; d++) {
		const char *v = fields ? fields[d] : NULL;
		int64_t off;

		if (v && *v && b->last_off[d] && strcmp(b->t->blob + b->last_off[d], v) == 0) {
			r->off[d] = b->last_off[d];
			continue;
		}
		off = intern(b, v);
		if (off < 0)
			return (int)off;
		r->off[d] = (uint32_t)off;
		if (off)
			b->last_off[d] = (uint32_t)off;
	}
	return 0;
}

/* Room for one more record (and its span). Returns 0 or -errno. */
static int table_grow(struct enrich_table *t)
{
	uint32_t ncap;
	struct enrich_rec *nr;
	struct enrich_span *ns;

	if (t->nrecs >= ENRICH_MAX_ENTRIES)
		return -ENOSPC;
	if (t->nrecs < t->recs_cap)
		return 0;
	ncap = t->recs_cap ? t->recs_cap * 2 : 16;
	nr = g_try_renew(struct enrich_rec, t->recs, ncap);
	if (!nr)
		return -ENOMEM;
	t->recs = nr;
	ns = g_try_renew(struct enrich_span, t->spans, ncap);
	if (!ns)
		return -ENOMEM; /* recs grew, recs_cap did not: harmless, retried next time */
	t->spans = ns;
	t->recs_cap = ncap;
	return 0;
}

/*
 * Insert the record of key k, valid [from_ms, until_ms), in hash h. An existing record of
 * k with the same span is replaced; otherwise the record joins k's chain. Returns 0 or -errno.
 */
static int table_add(struct enrich_table_builder *b, struct lhash *h, const struct tkey *k,
		     const char *const fields[ENRICH_DIM_COUNT], uint64_t from_ms,
		     uint64_t until_ms)
{
	struct enrich_table *t = b->t;
	struct enrich_rec *head = lhash_find(h, t->recs, k);
	uint32_t tail = 0, i;
	struct enrich_rec rec;
	int r;

	rec.key = *k;
	r = rec_fill(b, &rec, fields);
	if (r < 0)
		return r;
	if (head) {
		for (i = (uint32_t)(head - t->recs);; i = t->spans[i].next - 1) {
			if (t->spans[i].from_ms == from_ms && t->spans[i].until_ms == until_ms) {
				t->recs[i] = rec;
				return 0;
			}
			if (!t->spans[i].next)
				break;
		}
		tail = i + 1;
	}
	r = table_grow(t);
	if (r < 0)
		return r;
	if (!head) {
		r = lhash_reserve(h, t->recs);
		if (r < 0)
			return r;
	}
	t->recs[t->nrecs] = rec;
	t->spans[t->nrecs] = (struct enrich_span){.from_ms = from_ms, .until_ms = until_ms};
	if (tail) {
		t->spans[tail - 1].next = t->nrecs + 1;
		b->has_spans = true;
	} else {
		lhash_place(h->slots, h->mask, k, t->nrecs);
		h->count++;
	}
	if (from_ms != 0 || until_ms != UINT64_MAX)
		b->has_spans = true;
	t->nrecs++;
	return 0;
}

int enrich_builder_add_endpoint(struct enrich_table_builder *b, const struct enrich_addr *addr,
				const char *const fields[ENRICH_DIM_COUNT])
{
	return enrich_builder_add_endpoint_span(b, addr, fields, 0, UINT64_MAX);
}

int enrich_builder_add_endpoint_span(struct enrich_table_builder *b, const struct enrich_addr *addr,
				     const char *const fields[ENRICH_DIM_COUNT],
				     uint64_t valid_from_ms, uint64_t valid_until_ms)
{
	struct tkey k;

	if (!b || !b->t || !addr || !enrich_table_family_ok(addr->family) ||
	    valid_from_ms >= valid_until_ms)
		return -EINVAL;
	make_key(&k, addr->family, addr->addr, family_bits(addr->family));
	return table_add(b, &b->t->endpoints, &k, fields, valid_from_ms, valid_until_ms);
}

int enrich_builder_add_subnet(struct enrich_table_builder *b, const struct enrich_addr *prefix,
			      uint8_t prefix_len, const char *const fields[ENRICH_DIM_COUNT])
{
	unsigned nbytes;
	struct tkey k;
	int r;

	if (!b || !b->t || !prefix || !enrich_table_family_ok(prefix->family) ||
	    prefix_len > family_bits(prefix->family))
		return -EINVAL;
	make_key(&k, prefix->family, prefix->addr, prefix_len);
	nbytes = family_bits(prefix->family) / 8;
	if (memcmp(k.addr, prefix->addr, nbytes) != 0)
		return -EINVAL; /* host bits set */
	r = table_add(b, &b->t->subnets, &k, fields, 0, UINT64_MAX);
	if (r < 0)
		return r;
	if (prefix->family == 4)
		b->has4[prefix_len] = true;
	else
		b->has6[prefix_len] = true;
	return 0;
}

struct enrich_table *enrich_builder_finish(struct enrich_table_builder *b)
{
	struct enrich_table *t;
	int len;

	if (!b)
		return NULL;
	t = b->t;
	for (len = 32; len >= 0; len--)
		if (b->has4[len])
			t->lens4[t->nlens4++] = (uint8_t)len;
	for (len = 128; len >= 0; len--)
		if (b->has6[len])
			t->lens6[t->nlens6++] = (uint8_t)len;
	/* Trim the build-time slack: the table is now one fixed set of blocks. */
	if (t->blob_len < t->blob_cap) {
		char *nb = g_try_realloc(t->blob, t->blob_len);

		if (nb)
			t->blob = nb;
	}
	if (t->nrecs && t->nrecs < t->recs_cap) {
		struct enrich_rec *nr = g_try_renew(struct enrich_rec, t->recs, t->nrecs);
		struct enrich_span *ns;

		if (nr)
			t->recs = nr;
		if (b->has_spans) {
			ns = g_try_renew(struct enrich_span, t->spans, t->nrecs);
			if (ns)
				t->spans = ns;
		}
	}
	if (!b->has_spans) {
		g_free(t->spans);
		t->spans = NULL;
	}
	b->t = NULL;
	enrich_builder_free(b);
	return t;
}

struct enrich_table *enrich_table_ref(struct enrich_table *t)
{
	if (t)
		enrich_ref_inc(&t->ref);
	return t;
}

void enrich_table_unref(struct enrich_table *t)
{
	if (t && enrich_ref_dec(&t->ref))
		table_destroy(t);
}

size_t enrich_table_endpoints(const struct enrich_table *t)
{
	return t ? t->endpoints.count : 0;
}

size_t enrich_table_subnets(const struct enrich_table *t)
{
	return t ? t->subnets.count : 0;
}

/* ---- lookups ------------------------------------------------------------------------ */

#define NO_REC UINT32_MAX

/*
 * The entry of an address's chain (starting at record first) that labels a flow started at
 * at_ms: one whose span contains at_ms (the latest-starting one if several do); else the
 * next one to start after at_ms (the earliest such); else the last one to end. Ties go to
 * the entry added later. O(chain length).
 */
static const struct enrich_rec *span_pick(const struct enrich_table *t, uint32_t first,
					  uint64_t at_ms)
{
	uint32_t i = first, in = NO_REC, next = NO_REC, last = NO_REC;
	const struct enrich_span *sp = t->spans;

	for (;;) {
		if (sp[i].from_ms <= at_ms && at_ms < sp[i].until_ms) {
			if (in == NO_REC || sp[i].from_ms >= sp[in].from_ms)
				in = i;
		} else if (sp[i].from_ms > at_ms) {
			if (next == NO_REC || sp[i].from_ms <= sp[next].from_ms)
				next = i;
		} else if (last == NO_REC || sp[i].until_ms >= sp[last].until_ms) {
			last = i;
		}
		if (!sp[i].next)
			break;
		i = sp[i].next - 1;
	}
	if (in != NO_REC)
		return &t->recs[in];
	return &t->recs[next != NO_REC ? next : last];
}

static const struct enrich_rec *table_endpoint(const struct enrich_table *t, const struct tkey *k,
					       uint64_t at_ms)
{
	const struct enrich_rec *r = lhash_find(&t->endpoints, t->recs, k);

	if (!r || !t->spans)
		return r;
	return span_pick(t, (uint32_t)(r - t->recs), at_ms);
}

/* Longest-prefix match: probe each present length, longest first. O(lengths present). */
static const struct enrich_rec *table_subnet(const struct enrich_table *t,
					     const struct enrich_addr *a)
{
	const uint8_t *lens = a->family == 4 ? t->lens4 : t->lens6;
	unsigned n = a->family == 4 ? t->nlens4 : t->nlens6, i;
	struct tkey k;

	if (!t->subnets.count)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct enrich_rec *r;

		make_key(&k, a->family, a->addr, lens[i]);
		r = lhash_find(&t->subnets, t->recs, &k);
		if (r)
			return r;
	}
	return NULL;
}

/* Copy the fields of r that l still lacks. Returns how many were filled. */
static unsigned fill_missing(struct enrich_labels *l, const char *blob, const struct enrich_rec *r)
{
	unsigned d, n = 0;

	for (d = 0; d < ENRICH_DIM_COUNT; d++) {
		if (!l->v[d] && r->off[d]) {
			l->v[d] = blob + r->off[d];
			n++;
		}
	}
	return n;
}

bool enrich_table_family_ok(uint8_t family)
{
	return family == 4 || family == 6;
}

int enrich_table_fill_endpoint(const struct enrich_table *t, const struct enrich_addr *addr,
			       uint64_t at_ms, struct enrich_labels *labels)
{
	const struct enrich_rec *r;
	struct tkey k;

	make_key(&k, addr->family, addr->addr, family_bits(addr->family));
	r = table_endpoint(t, &k, at_ms);
	return r ? (int)fill_missing(labels, t->blob, r) : -ENOENT;
}

int enrich_table_fill_subnet(const struct enrich_table *t, const struct enrich_addr *addr,
			     struct enrich_labels *labels)
{
	const struct enrich_rec *r = table_subnet(t, addr);

	return r ? (int)fill_missing(labels, t->blob, r) : -ENOENT;
}
