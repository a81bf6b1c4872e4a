// SPDX-License-Identifier: Apache-2.0
/*
 * flowtab: the flow cache. A pool of max_flows entries and a chained hash index (32-bit
 * pool indices, power-of-two buckets >= 2 * max_flows) are allocated once in flowtab_new;
 * flowtab_add never allocates. Two circular lists thread the pool: LRU order (last
 * packet time) for idle expiry and eviction, and report-interval order for active
 * timeouts, so expiry walks from the list heads and touches only what expires.
 * Biflow mode keys both directions by one canonical key and keeps the reverse share of
 * the counters in a parallel array, so uniflow entries and their hot path stay as they
 * are; rare outer tunnel addresses live in another. A burst of packets has its buckets and
 * entries prefetched before it is metered. Algorithm, invariants, costs: docs/flowtab.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "flowtab.h"
#include "log.h"

#define FLOWTAB_TCP_FIN	     0x01
#define FLOWTAB_TCP_SYN	     0x02
#define FLOWTAB_TCP_RST	     0x04
#define FLOWTAB_TCP_ACK	     0x10
#define FLOWTAB_PROTO_TCP    6
#define FLOWTAB_PROTO_ICMP   1
#define FLOWTAB_PROTO_ICMPV6 58
/* Upper bound on max_flows: keeps pool indices and the bucket count inside 32 bits. */
#define FLOWTAB_MAX_FLOWS_LIMIT (1u << 30)
/* Index 0 of the pool is the sentinel of both lists; 0 also means "none" in chains. */
#define FLOWTAB_NIL 0u
/* Packets of one pass of flowtab_add_burst(): their prefetches are in flight together. */
#define FLOWTAB_BURST 16

/*
 * One flow. 112 bytes (static_assert below). The first 64 bytes hold everything a lookup
 * touches (key, chain link) and the LRU links; then the per-packet counters and times,
 * then what only a report or the first packet touches. The two bytes that are padding in
 * a packet's key (flow_key.pad) carry entry state instead: they are never hashed or
 * compared, and are zero in every record. Outer tunnel addresses, rarely present, live in
 * a side array (struct flow_outer) written only for tunnelled flows. Entries in the pool
 * are owned by the table.
 * Invariants for an entry in use:
 *   start_ms <= end_ms;  report_ms <= clock_ms;  end_ms <= pkt_clock_ms;
 *   packets/octets/tcp_flags are deltas since the last report (packets may be 0 only
 *   after an active report, until the next packet); packets <= FLOWTAB_PACKETS_MAX;
 *   on the active list iff FLOWTAB_E_ON_ACTIVE, which is set whenever packets > 0.
 */
struct flow_entry {
	struct flow_key key; /* compared and hashed as bytes, except pad: FLOWTAB_BFLAGS/STATE */
	uint32_t hnext;	     /* next entry in the bucket chain (or in the free list); 0 = end */
	uint32_t lru_prev;   /* LRU list, ordered by end_ms; head = least recently seen */
	uint32_t lru_next;
	/* ---- 64: touched by every packet */
	uint64_t end_ms;	/* last packet (packet clock) */
	uint64_t octets;	/* since the last report */
	uint32_t packets;	/* since the last report; a report is due at FLOWTAB_PACKETS_MAX */
	uint8_t tcp_flags;	/* OR since the last report */
	uint8_t tos;		/* of the first packet */
	uint16_t inner_vlan_id; /* of the first packet */
	uint64_t report_ms;	/* start of the current report interval (table clock) */
	/* ---- 96: touched by the first packet and by reports */
	uint64_t start_ms; /* first packet of the flow; kept across active reports */
	uint32_t act_prev; /* active list, ordered by report_ms; valid with FLOWTAB_E_ON_ACTIVE */
	uint32_t act_next;
};

/*
 * The flags bytes of an entry: key.pad[0] holds biflow mode's FLOWTAB_BI_* flags, key.pad[1]
 * the entry state (FLOWTAB_E_*). A packet's key has both 0; emit() zeroes them in the record.
 */
#define FLOWTAB_BFLAGS(e) ((e)->key.pad[0])
#define FLOWTAB_STATE(e)  ((e)->key.pad[1])

/* FLOWTAB_STATE */
#define FLOWTAB_E_OUTER_VER 0x0f /* outer_ip_version of the first packet (0, 4 or 6) */
#define FLOWTAB_E_ON_ACTIVE 0x80 /* on the active list */

/*
 * A flow's packet count between two reports fits 32 bits: a flow that reaches this many
 * packets within one active timeout is reported then (as an active-timeout record).
 * tests/unit/test_flowtab_cap.c builds this file with a lower value to reach it.
 */
#ifndef FLOWTAB_PACKETS_MAX
#define FLOWTAB_PACKETS_MAX UINT32_MAX
#endif

/*
 * Outer tunnel addresses of the first packet of the entry with the same pool index, valid
 * only while that entry's FLOWTAB_E_OUTER_VER is not 0 (inner view of a tunnelled packet).
 * Only such flows write it, so for plain traffic its pages are never committed.
 */
struct flow_outer {
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
};

/*
 * Biflow mode: the reverse direction's share of the entry with the same pool index. The
 * entry's packets/octets count both directions (so every "has packets" test and the
 * accounting stay as in uniflow mode); forward = entry - reverse at export. Only reverse
 * packets, exports and new flows touch it.
 */
struct flow_rev {
	uint64_t packets;  /* reverse packets since the last report (<= entry packets) */
	uint64_t octets;   /* reverse octets since the last report */
	uint64_t start_ms; /* first reverse packet; valid with FLOWTAB_BI_REV_SEEN */
	uint64_t end_ms;   /* last reverse packet; valid with FLOWTAB_BI_REV_SEEN */
	uint8_t tcp_flags; /* OR of reverse TCP flags since the last report */
	uint8_t direction; /* flow_key.direction of the flow's first packet */
	uint8_t pad[6];
};

/* FLOWTAB_BFLAGS */
#define FLOWTAB_BI_SWAPPED  0x01 /* the initiator's packets carry the reverse of the key */
#define FLOWTAB_BI_FIN_FWD  0x02 /* the initiator sent a FIN */
#define FLOWTAB_BI_FIN_REV  0x04 /* the responder sent a FIN */
#define FLOWTAB_BI_KNOWN    0x08 /* the first packet was an initiator's (biflowDirection 1) */
#define FLOWTAB_BI_REV_SEEN 0x10 /* a reverse packet was seen: flow_rev times are valid */

_Static_assert(sizeof(struct flow_key) == 52 && offsetof(struct flow_key, pad) == 50,
	       "flow_key is hashed as 6 x 8 + 2 bytes; its 2 padding bytes hold entry state");
_Static_assert(offsetof(struct flow_entry, lru_next) + sizeof(uint32_t) == 64,
	       "lookup and LRU link fields must share the first 64 bytes");
_Static_assert(sizeof(struct flow_entry) == 112, "documented in docs/flowtab.md");

struct flowtab {
	struct flow_entry *pool; /* owned: max_flows + 1 entries; pool[0] is the list sentinel */
	uint32_t *buckets;	 /* owned: n_buckets chain heads, pool index or 0 */
	uint64_t bucket_mask;	 /* n_buckets - 1 */
	uint32_t max_flows;
	uint32_t used_hwm;  /* entries 1..used_hwm have been handed out at least once */
	uint32_t free_head; /* free list through hnext; 0 = empty */
	uint32_t idle_timeout_ms;
	uint32_t active_timeout_ms;
	uint64_t pkt_clock_ms;	  /* max packet time seen: stamps start_ms/end_ms */
	uint64_t clock_ms;	  /* max(pkt_clock_ms, every expire now): timeouts, report_ms */
	uint64_t secret[6];	  /* per-table hash secrets (flow keys are attacker-chosen) */
	struct flow_rev *rev;	  /* owned, biflow mode only: max_flows + 1 entries; else NULL */
	struct flow_outer *outer; /* owned: max_flows + 1 entries, used by tunnelled flows */
	flowtab_export_fn export_fn;
	void *user; /* borrowed: passed to export_fn */
	struct flowtab_stats stats;
};

/* ------------------------------------------------------------------ hashing */

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t load16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Fold the full product of a and b: every input bit reaches every output bit. */
static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
	uint64_t x = a * 0x9e3779b97f4a7c15ull ^ b;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
#endif
}

/*
 * A key as six 64-bit words and the 16 bits after them (direction, tunnel type; the pad
 * bytes are left out). The packet's key is loaded once into registers: it was just
 * written field by field, and re-reading it per use would stall on store forwarding again
 * and again.
 */
struct key_words {
	uint64_t w[6];
	uint32_t t;
};

static inline void key_load(struct key_words *kw, const struct flow_key *key)
{
	const uint8_t *k = (const uint8_t *)key;

	for (size_t i = 0; i < 6; i++)
		kw->w[i] = load64(k + 8 * i);
	kw->t = load16(k + 48);
}

/* 50 key bytes -> 64 bits: three folded multiplies, the first two independent. */
static inline uint64_t key_hash(const struct flowtab *ft, const struct key_words *kw)
{
	uint64_t a = fold_mul(kw->w[0] ^ ft->secret[0], kw->w[1] ^ ft->secret[1]);
	uint64_t b = fold_mul(kw->w[2] ^ ft->secret[2], kw->w[3] ^ ft->secret[3]);

	return fold_mul(a ^ kw->w[4] ^ ft->secret[4], (b + (kw->w[5] ^ kw->t)) ^ ft->secret[5]);
}

static inline bool key_equal(const struct flow_key *key, const struct key_words *kw)
{
	const uint8_t *k = (const uint8_t *)key;
	uint64_t d = (load64(k) ^ kw->w[0]) | (load64(k + 8) ^ kw->w[1]) |
		     (load64(k + 16) ^ kw->w[2]) | (load64(k + 24) ^ kw->w[3]) |
		     (load64(k + 32) ^ kw->w[4]) | (load64(k + 40) ^ kw->w[5]) |
		     (load16(k + 48) ^ kw->t);

	return d == 0;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void seed_secrets(struct flowtab *ft)
{
	uint64_t seed = 0;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		/* No entropy yet (early boot): still unpredictable enough per process. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)ft;
	}
	for (size_t i = 0; i < 6; i++)
		ft->secret[i] = splitmix64(&seed) | 1;
}

/* ------------------------------------------------------------------ lists */

static inline void lru_unlink(struct flow_entry *pool, struct flow_entry *e)
{
	pool[e->lru_prev].lru_next = e->lru_next;
	pool[e->lru_next].lru_prev = e->lru_prev;
}

static inline void lru_append(struct flow_entry *pool, struct flow_entry *e, uint32_t idx)
{
	uint32_t tail = pool[0].lru_prev;

	e->lru_prev = tail;
	e->lru_next = FLOWTAB_NIL;
	pool[tail].lru_next = idx;
	pool[0].lru_prev = idx;
}

static inline void act_unlink(struct flow_entry *pool, struct flow_entry *e)
{
	pool[e->act_prev].act_next = e->act_next;
	pool[e->act_next].act_prev = e->act_prev;
	FLOWTAB_STATE(e) &= (uint8_t)~FLOWTAB_E_ON_ACTIVE;
}

static inline void act_append(struct flow_entry *pool, struct flow_entry *e, uint32_t idx)
{
	uint32_t tail = pool[0].act_prev;

	e->act_prev = tail;
	e->act_next = FLOWTAB_NIL;
	pool[tail].act_next = idx;
	pool[0].act_prev = idx;
	FLOWTAB_STATE(e) |= FLOWTAB_E_ON_ACTIVE;
}

/* ------------------------------------------------------------------ export and removal */

/* ------------------------------------------------------------------ biflow keys */

/* ICMP/ICMPv6 request types and their replies: the only ICMP messages that pair up. */
static int icmp_reply_type(uint8_t ip_version, uint8_t type)
{
	static const uint8_t v4[][2] = {{8, 0}, {13, 14}, {15, 16}, {17, 18}};
	static const uint8_t v6[][2] = {{128, 129}, {139, 140}};
	const uint8_t(*pairs)[2] = ip_version == 4 ? v4 : v6;
	size_t n = ip_version == 4 ? sizeof(v4) / sizeof(v4[0]) : sizeof(v6) / sizeof(v6[0]);

	for (size_t i = 0; i < n; i++) {
		if (pairs[i][0] == type)
			return pairs[i][1];
		if (pairs[i][1] == type)
			return pairs[i][0];
	}
	return -1;
}

/*
 * The key of the other direction: addresses and ports swapped; for ICMP the request and
 * reply types swapped. Returns false (ret untouched) for ICMP messages that have no
 * reply, which are never paired. Direction is not touched (it is not part of a biflow).
 */
static bool key_reverse(struct flow_key *ret, const struct flow_key *k)
{
	bool icmp = (k->ip_version == 4 && k->proto == FLOWTAB_PROTO_ICMP) ||
		    (k->ip_version == 6 && k->proto == FLOWTAB_PROTO_ICMPV6);
	int rtype = 0;

	if (icmp) {
		rtype = icmp_reply_type(k->ip_version, (uint8_t)(k->dst_port >> 8));
		if (rtype < 0)
			return false;
	}
	*ret = *k;
	memcpy(ret->src_addr, k->dst_addr, sizeof(ret->src_addr));
	memcpy(ret->dst_addr, k->src_addr, sizeof(ret->dst_addr));
	if (icmp) {
		ret->dst_port = (uint16_t)((unsigned)rtype << 8 | (k->dst_port & 0xff));
	} else {
		ret->src_port = k->dst_port;
		ret->dst_port = k->src_port;
	}
	return true;
}

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = load64(p);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/*
 * The canonical biflow key of a packet: the smaller (as bytes) of its key and the
 * reverse key, both with direction 0, so the two directions of a conversation meet in
 * one entry whichever interface direction each was seen in. Returns true when the
 * canonical key is the reverse of the packet's. The addresses come first in the key, so
 * they decide unless they are equal.
 */
static inline bool key_canonical(struct flow_key *ret, const struct flow_key *k)
{
	/* memcmp() order of 16 bytes = the order of two big-endian 64-bit words. */
	uint64_t s0 = load_be64(k->src_addr), d0 = load_be64(k->dst_addr);
	uint64_t s1 = load_be64(k->src_addr + 8), d1 = load_be64(k->dst_addr + 8);
	struct flow_key r;
	int c = s0 != d0 ? (s0 < d0 ? -1 : 1) : s1 != d1 ? (s1 < d1 ? -1 : 1) : 0;

	*ret = *k;
	ret->direction = 0;
	if (c < 0 && k->proto != FLOWTAB_PROTO_ICMP && k->proto != FLOWTAB_PROTO_ICMPV6)
		return false;
	if (!key_reverse(&r, ret))
		return false; /* an ICMP message without a reply */
	if (c == 0)
		c = memcmp(ret, &r, sizeof(r));
	if (c <= 0)
		return false;
	*ret = r;
	return true;
}

static inline struct flow_rev *rev_of(const struct flowtab *ft, uint32_t idx)
{
	return ft->rev ? &ft->rev[idx] : NULL;
}

static inline bool on_active(const struct flow_entry *e)
{
	return FLOWTAB_STATE(e) & FLOWTAB_E_ON_ACTIVE;
}

/* ------------------------------------------------------------------ export and removal */

/*
 * Hand one record to the callback and count it. The entry is not changed. rv is the
 * entry's reverse share in biflow mode, NULL in uniflow mode; ou its outer addresses,
 * read only when the entry has an outer IP version.
 */
static void emit(struct flowtab *ft, const struct flow_entry *e, const struct flow_rev *rv,
		 const struct flow_outer *ou, enum flowtab_end_reason reason)
{
	struct flow_record rec = {
		.key = e->key,
		.start_ms = e->start_ms,
		.end_ms = e->end_ms,
		.packets = e->packets,
		.octets = e->octets,
		.inner_vlan_id = e->inner_vlan_id,
		.tcp_flags = e->tcp_flags,
		.tos = e->tos,
		.end_reason = (uint8_t)reason,
		.outer_ip_version = FLOWTAB_STATE(e) & FLOWTAB_E_OUTER_VER,
	};

	if (rec.outer_ip_version) {
		memcpy(rec.outer_src_addr, ou->src_addr, sizeof(rec.outer_src_addr));
		memcpy(rec.outer_dst_addr, ou->dst_addr, sizeof(rec.outer_dst_addr));
	}
	if (rv) {
		/* The initiator's key: the canonical key, turned back if it was swapped. */
		if (FLOWTAB_BFLAGS(e) & FLOWTAB_BI_SWAPPED)
			key_reverse(&rec.key, &e->key);
		rec.key.direction = rv->direction;
		rec.packets = e->packets - rv->packets;
		rec.octets = e->octets - rv->octets;
		rec.rev_packets = rv->packets;
		rec.rev_octets = rv->octets;
		rec.rev_tcp_flags = rv->tcp_flags;
		if (FLOWTAB_BFLAGS(e) & FLOWTAB_BI_REV_SEEN) {
			rec.rev_start_ms = rv->start_ms;
			rec.rev_end_ms = rv->end_ms;
		}
		rec.biflow_direction = (FLOWTAB_BFLAGS(e) & FLOWTAB_BI_KNOWN)
					       ? FLOWTAB_BIFLOW_INITIATOR
					       : FLOWTAB_BIFLOW_ARBITRARY;
	}
	memset(rec.key.pad, 0, sizeof(rec.key.pad)); /* entry state, not key */

	ft->stats.records_exported++;
	ft->stats.ended[reason]++;
	if (reason == FLOWTAB_END_LACK_OF_RESOURCES)
		ft->stats.evictions++;
	ft->export_fn(&rec, ft->user);
}

/* Take entry idx out of the index and both lists and put it on the free list. */
static void remove_entry(struct flowtab *ft, uint32_t idx)
{
	struct flow_entry *pool = ft->pool, *e = &pool[idx];
	struct key_words kw;
	uint32_t *link;

	key_load(&kw, &e->key);
	link = &ft->buckets[key_hash(ft, &kw) & ft->bucket_mask];

	while (*link != idx)
		link = &pool[*link].hnext;
	*link = e->hnext;
	lru_unlink(pool, e);
	if (on_active(e))
		act_unlink(pool, e);
	e->hnext = ft->free_head;
	ft->free_head = idx;
	ft->stats.flows_active--;
}

/*
 * Export entry idx with reason and remove it. A flow with no packet since its last active
 * report has nothing to say and leaves silently: no record ever carries 0 packets.
 */
static void finish(struct flowtab *ft, uint32_t idx, enum flowtab_end_reason reason)
{
	if (ft->pool[idx].packets)
		emit(ft, &ft->pool[idx], rev_of(ft, idx), &ft->outer[idx], reason);
	remove_entry(ft, idx);
}

/*
 * Fill the counters of a fresh flow from its first packet, stamped t (packet clock), and
 * keep the packet's outer addresses in ou if it has any.
 */
static void init_counters(struct flow_entry *e, struct flow_outer *ou, const struct decode_pkt *pkt,
			  uint64_t t)
{
	e->start_ms = t;
	e->end_ms = t;
	e->packets = 1;
	e->octets = pkt->octets;
	e->tcp_flags = pkt->tcp_flags;
	e->tos = pkt->tos;
	e->inner_vlan_id = pkt->inner_vlan_id;
	FLOWTAB_STATE(e) = (uint8_t)((FLOWTAB_STATE(e) & ~FLOWTAB_E_OUTER_VER) |
				     (pkt->outer_ip_version & FLOWTAB_E_OUTER_VER));
	if (__builtin_expect(pkt->outer_ip_version != 0, 0)) {
		memcpy(ou->src_addr, pkt->outer_src_addr, sizeof(ou->src_addr));
		memcpy(ou->dst_addr, pkt->outer_dst_addr, sizeof(ou->dst_addr));
	}
}

/*
 * Biflow state of a fresh flow whose first packet is pkt, seen as swapped (the
 * canonical key is the reverse of the packet's) or not: that packet's sender is the
 * source of the flow's records.
 */
static void init_biflow(struct flow_entry *e, struct flow_rev *rv, const struct decode_pkt *pkt,
			bool swapped)
{
	bool tcp = pkt->key.proto == FLOWTAB_PROTO_TCP;
	bool syn = (pkt->tcp_flags & (FLOWTAB_TCP_SYN | FLOWTAB_TCP_ACK)) == FLOWTAB_TCP_SYN;

	FLOWTAB_BFLAGS(e) =
		(swapped ? FLOWTAB_BI_SWAPPED : 0) | (!tcp || syn ? FLOWTAB_BI_KNOWN : 0);
	if (tcp && (pkt->tcp_flags & FLOWTAB_TCP_FIN))
		FLOWTAB_BFLAGS(e) |= FLOWTAB_BI_FIN_FWD;
	memset(rv, 0, sizeof(*rv));
	rv->direction = pkt->key.direction;
}

static inline bool ends_flow(const struct decode_pkt *pkt)
{
	return pkt->key.proto == FLOWTAB_PROTO_TCP &&
	       (pkt->tcp_flags & (FLOWTAB_TCP_FIN | FLOWTAB_TCP_RST));
}

static inline bool is_rst(const struct decode_pkt *pkt)
{
	return pkt->key.proto == FLOWTAB_PROTO_TCP && (pkt->tcp_flags & FLOWTAB_TCP_RST);
}

/*
 * Biflow end of flow, for a packet already counted in e (fwd: sent by the initiator): an
 * RST, or any packet after FINs from both sides (normally the last ACK). Else records
 * this packet's FIN.
 */
static inline bool biflow_ends(struct flow_entry *e, const struct decode_pkt *pkt, bool fwd)
{
	if (pkt->key.proto != FLOWTAB_PROTO_TCP)
		return false;
	if ((pkt->tcp_flags & FLOWTAB_TCP_RST) ||
	    (FLOWTAB_BFLAGS(e) & (FLOWTAB_BI_FIN_FWD | FLOWTAB_BI_FIN_REV)) ==
		    (FLOWTAB_BI_FIN_FWD | FLOWTAB_BI_FIN_REV))
		return true;
	if (pkt->tcp_flags & FLOWTAB_TCP_FIN)
		FLOWTAB_BFLAGS(e) |= fwd ? FLOWTAB_BI_FIN_FWD : FLOWTAB_BI_FIN_REV;
	return false;
}

/* ------------------------------------------------------------------ public API */

struct flowtab *flowtab_new(const struct flowtab_config *config, flowtab_export_fn export_fn,
			    void *user)
{
	struct flowtab *ft;
	uint64_t n_buckets = 1;
	size_t pool_bytes, index_bytes;

	if (!config || !export_fn) {
		log_error("flowtab: missing config or export callback");
		return NULL;
	}
	if (config->max_flows == 0 || config->max_flows > FLOWTAB_MAX_FLOWS_LIMIT ||
	    config->idle_timeout_ms == 0 || config->active_timeout_ms == 0) {
		log_error("flowtab: invalid config: max_flows %u (1..%u), idle_timeout_ms %u and "
			  "active_timeout_ms %u (must be > 0)",
			  config->max_flows, FLOWTAB_MAX_FLOWS_LIMIT, config->idle_timeout_ms,
			  config->active_timeout_ms);
		return NULL;
	}
	while (n_buckets < 2 * (uint64_t)config->max_flows)
		n_buckets <<= 1;

	pool_bytes = ((size_t)config->max_flows + 1) *
		     (sizeof(struct flow_entry) + sizeof(struct flow_outer));
	index_bytes = n_buckets * sizeof(uint32_t);
	ft = calloc(1, sizeof(*ft));
	if (!ft)
		goto oom;
	/*
	 * Entries are only read after being handed out (used_hwm), and calloc'd chain heads
	 * are 0 = empty, so large tables commit pages as flows arrive, not up front.
	 */
	ft->pool = calloc((size_t)config->max_flows + 1, sizeof(*ft->pool));
	ft->buckets = calloc(n_buckets, sizeof(*ft->buckets));
	ft->outer = calloc((size_t)config->max_flows + 1, sizeof(*ft->outer));
	if (!ft->pool || !ft->buckets || !ft->outer)
		goto oom;
	if (config->biflow) {
		pool_bytes += ((size_t)config->max_flows + 1) * sizeof(struct flow_rev);
		ft->rev = calloc((size_t)config->max_flows + 1, sizeof(*ft->rev));
		if (!ft->rev)
			goto oom;
	}
	ft->bucket_mask = n_buckets - 1;
	ft->max_flows = config->max_flows;
	ft->idle_timeout_ms = config->idle_timeout_ms;
	ft->active_timeout_ms = config->active_timeout_ms;
	ft->export_fn = export_fn;
	ft->user = user;
	seed_secrets(ft);
	return ft;
oom:
	log_error("flowtab: out of memory for max_flows %u (%zu bytes of entries, %zu of index)",
		  config->max_flows, pool_bytes, index_bytes);
	flowtab_free(ft);
	return NULL;
}

void flowtab_free(struct flowtab *ft)
{
	if (!ft)
		return;
	free(ft->pool);
	free(ft->buckets);
	free(ft->rev);
	free(ft->outer);
	free(ft);
}

/*
 * A packet of a flow not in the cache, key its table key (the canonical key in biflow
 * mode, seen swapped or not). Kept out of line: the hot path is the update.
 */
static void __attribute__((noinline))
add_new(struct flowtab *ft, const struct decode_pkt *pkt, const struct flow_key *key, bool swapped,
	uint32_t *bucket, uint64_t t, uint64_t now)
{
	struct flow_entry *pool = ft->pool, *e;
	uint32_t idx;

	if (ft->rev ? is_rst(pkt) : ends_flow(pkt)) {
		/* A one-packet flow ending at once: export it directly, evict nothing. */
		struct flow_entry tmp = {.key = *key};
		struct flow_rev tmp_rev;
		struct flow_outer tmp_outer;

		memset(tmp.key.pad, 0, sizeof(tmp.key.pad));
		init_counters(&tmp, &tmp_outer, pkt, t);
		if (ft->rev)
			init_biflow(&tmp, &tmp_rev, pkt, swapped);
		ft->stats.flows_created++;
		emit(ft, &tmp, ft->rev ? &tmp_rev : NULL, &tmp_outer, FLOWTAB_END_EOF_DETECTED);
		return;
	}
	if (ft->free_head) {
		idx = ft->free_head;
		ft->free_head = pool[idx].hnext;
	} else if (ft->used_hwm < ft->max_flows) {
		idx = ++ft->used_hwm;
	} else {
		/* Full: the least recently seen flow goes; it is idle if its timer ran out. */
		idx = pool[0].lru_next;
		finish(ft, idx,
		       now - pool[idx].end_ms >= ft->idle_timeout_ms
			       ? FLOWTAB_END_IDLE
			       : FLOWTAB_END_LACK_OF_RESOURCES);
		ft->free_head = pool[idx].hnext; /* finish() freed idx: take it straight back */
	}
	e = &pool[idx];
	e->key = *key;
	memset(e->key.pad, 0, sizeof(e->key.pad)); /* entry state starts empty */
	e->hnext = *bucket;
	*bucket = idx;
	init_counters(e, &ft->outer[idx], pkt, t);
	if (ft->rev)
		init_biflow(e, &ft->rev[idx], pkt, swapped);
	e->report_ms = now;
	lru_append(pool, e, idx);
	act_append(pool, e, idx);
	ft->stats.flows_created++;
	ft->stats.flows_active++;
}

/* Report the interval of e that ends now (if it saw packets) and start the next one. */
static void report_active(struct flowtab *ft, struct flow_entry *e, uint32_t idx, uint64_t now)
{
	if (e->packets) {
		struct flow_rev *rv = rev_of(ft, idx);

		emit(ft, e, rv, &ft->outer[idx], FLOWTAB_END_ACTIVE);
		e->packets = 0;
		e->octets = 0;
		e->tcp_flags = 0;
		if (rv) {
			rv->packets = 0;
			rv->octets = 0;
			rv->tcp_flags = 0;
		}
	}
	e->report_ms = now;
	if (e->act_next != FLOWTAB_NIL) {
		act_unlink(ft->pool, e);
		act_append(ft->pool, e, idx);
	}
}

/*
 * The table key of pkt: its own key, or in biflow mode its canonical key, written to
 * *canon, with *ret_swapped saying whether that is the reverse of the packet's.
 */
static inline __attribute__((always_inline)) const struct flow_key *
table_key(const struct decode_pkt *pkt, struct flow_key *canon, bool *ret_swapped,
	  const bool biflow)
{
	if (!biflow) {
		*ret_swapped = false;
		return &pkt->key;
	}
	*ret_swapped = key_canonical(canon, &pkt->key);
	return canon;
}

/*
 * Meter one packet whose table key is key (seen swapped or not) with words kw and hash h;
 * biflow is a constant at every call site, so the uniflow copies compile to exactly the
 * uniflow code.
 */
static inline __attribute__((always_inline)) void
add_packet(struct flowtab *ft, const struct decode_pkt *pkt, const struct flow_key *key,
	   bool swapped, const struct key_words *kw, uint64_t h, const bool biflow)
{
	struct flow_entry *pool = ft->pool, *e;
	uint32_t *bucket, idx;
	uint64_t t, now;
	bool same_ms, fwd = true;

	/* Time is the maximum seen: merged captures may step back a little. */
	if (pkt->ts_ms > ft->pkt_clock_ms) {
		ft->pkt_clock_ms = pkt->ts_ms;
		if (pkt->ts_ms > ft->clock_ms)
			ft->clock_ms = pkt->ts_ms;
	}
	t = ft->pkt_clock_ms;
	now = ft->clock_ms;
	ft->stats.packets++;
	ft->stats.octets += pkt->octets;

	bucket = &ft->buckets[h & ft->bucket_mask];
	for (idx = *bucket; idx != FLOWTAB_NIL; idx = pool[idx].hnext)
		if (key_equal(&pool[idx].key, kw))
			break;
	if (idx == FLOWTAB_NIL) {
		add_new(ft, pkt, key, swapped, bucket, t, now);
		return;
	}
	e = &pool[idx];
	same_ms = e->end_ms == t;
	if (!same_ms) {
		/* The LRU neighbours are about to be written: start fetching them now. */
		__builtin_prefetch(&pool[e->lru_prev].lru_next, 1);
		__builtin_prefetch(&pool[e->lru_next].lru_prev, 1);
	}

	if (now - e->end_ms >= ft->idle_timeout_ms) {
		/* Idle before expire() came round: that flow ends, this packet starts a new one. */
		if (e->packets)
			emit(ft, e, biflow ? &ft->rev[idx] : NULL, &ft->outer[idx],
			     FLOWTAB_END_IDLE);
		init_counters(e, &ft->outer[idx], pkt, t);
		if (biflow)
			init_biflow(e, &ft->rev[idx], pkt, swapped);
		ft->stats.flows_created++;
		e->report_ms = now;
		if (on_active(e))
			act_unlink(pool, e);
		act_append(pool, e, idx);
	} else {
		if (!on_active(e)) {
			e->report_ms = now;
			act_append(pool, e, idx);
		} else if (now - e->report_ms >= ft->active_timeout_ms ||
			   __builtin_expect(e->packets == FLOWTAB_PACKETS_MAX, 0)) {
			/*
			 * The packet belongs to the next interval (or would not fit in this
			 * one's count): report the previous one first.
			 */
			report_active(ft, e, idx, now);
		}
		e->end_ms = t;
		e->packets++;
		e->octets += pkt->octets;
		if (biflow)
			fwd = swapped == !!(FLOWTAB_BFLAGS(e) & FLOWTAB_BI_SWAPPED);
		if (fwd) {
			e->tcp_flags |= pkt->tcp_flags;
		} else {
			struct flow_rev *rv = &ft->rev[idx];

			rv->packets++;
			rv->octets += pkt->octets;
			rv->tcp_flags |= pkt->tcp_flags;
			if (!(FLOWTAB_BFLAGS(e) & FLOWTAB_BI_REV_SEEN)) {
				FLOWTAB_BFLAGS(e) |= FLOWTAB_BI_REV_SEEN;
				rv->start_ms = t;
			}
			rv->end_ms = t;
		}
	}
	/*
	 * Keep the LRU list sorted by end_ms. An entry already stamped with the newest time
	 * sits in the tail run of equal times, so it stays where it is: bursts cost no relink.
	 */
	if (e->lru_next != FLOWTAB_NIL && !same_ms) {
		lru_unlink(pool, e);
		lru_append(pool, e, idx);
	}
	if (biflow ? biflow_ends(e, pkt, fwd) : ends_flow(pkt))
		finish(ft, idx, FLOWTAB_END_EOF_DETECTED);
}

/* One packet: the key is loaded into registers once, for the hash and the compares. */
static inline __attribute__((always_inline)) void
add_one(struct flowtab *ft, const struct decode_pkt *pkt, const bool biflow)
{
	struct flow_key canon;
	const struct flow_key *key;
	struct key_words kw;
	bool swapped;

	key = table_key(pkt, &canon, &swapped, biflow);
	key_load(&kw, key);
	add_packet(ft, pkt, key, swapped, &kw, key_hash(ft, &kw), biflow);
}

/*
 * Up to FLOWTAB_BURST packets in three passes: hash each and prefetch its bucket; read
 * each bucket and prefetch the first entry of its chain (the lines a lookup and an update
 * touch); meter each in order. The misses of the whole burst overlap instead of coming
 * one after the other. The prefetches are hints only: metering re-reads everything, so a
 * packet that changes the table for a later one of the same burst changes nothing here.
 */
static inline __attribute__((always_inline)) void
add_burst(struct flowtab *ft, const struct decode_pkt *pkts, size_t n, const bool biflow)
{
	struct flow_entry *pool = ft->pool;
	struct flow_key canon[FLOWTAB_BURST];
	const struct flow_key *key[FLOWTAB_BURST];
	uint64_t h[FLOWTAB_BURST];
	bool swapped[FLOWTAB_BURST];
	struct key_words kw;

	for (size_t i = 0; i < n; i++) {
		key[i] = table_key(&pkts[i], &canon[i], &swapped[i], biflow);
		key_load(&kw, key[i]);
		h[i] = key_hash(ft, &kw);
		__builtin_prefetch(&ft->buckets[h[i] & ft->bucket_mask]);
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t idx = ft->buckets[h[i] & ft->bucket_mask];
		const char *e = (const char *)&pool[idx];

		if (idx != FLOWTAB_NIL) {
			/* Key and chain link, counters, report time: bytes 0-95 of the entry. */
			__builtin_prefetch(e, 1);
			__builtin_prefetch(e + 64, 1);
			__builtin_prefetch(e + 95, 1);
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t idx = ft->buckets[h[i] & ft->bucket_mask];

		if (idx != FLOWTAB_NIL) {
			/* Its LRU neighbours, which a relink writes. */
			__builtin_prefetch(&pool[pool[idx].lru_prev].lru_next, 1);
			__builtin_prefetch(&pool[pool[idx].lru_next].lru_prev, 1);
		}
	}
	for (size_t i = 0; i < n; i++) {
		key_load(&kw, key[i]);
		add_packet(ft, &pkts[i], key[i], swapped[i], &kw, h[i], biflow);
	}
}

/* Separate copies per mode, so neither mode's registers or stack shape the other's. */
static void __attribute__((noinline)) add_uniflow(struct flowtab *ft, const struct decode_pkt *pkt)
{
	add_one(ft, pkt, false);
}

static void __attribute__((noinline)) add_biflow(struct flowtab *ft, const struct decode_pkt *pkt)
{
	add_one(ft, pkt, true);
}

static void __attribute__((noinline))
add_burst_uniflow(struct flowtab *ft, const struct decode_pkt *pkts, size_t n)
{
	add_burst(ft, pkts, n, false);
}

static void __attribute__((noinline))
add_burst_biflow(struct flowtab *ft, const struct decode_pkt *pkts, size_t n)
{
	add_burst(ft, pkts, n, true);
}

void flowtab_add(struct flowtab *ft, const struct decode_pkt *pkt)
{
	if (ft->rev)
		add_biflow(ft, pkt);
	else
		add_uniflow(ft, pkt);
}

void flowtab_add_burst(struct flowtab *ft, const struct decode_pkt *pkts, size_t n)
{
	while (n) {
		size_t m = n < FLOWTAB_BURST ? n : FLOWTAB_BURST;

		if (ft->rev)
			add_burst_biflow(ft, pkts, m);
		else
			add_burst_uniflow(ft, pkts, m);
		pkts += m;
		n -= m;
	}
}

void flowtab_expire(struct flowtab *ft, uint64_t now_ms)
{
	struct flow_entry *pool = ft->pool;
	uint32_t idx;
	uint64_t now;

	if (now_ms > ft->clock_ms)
		ft->clock_ms = now_ms;
	now = ft->clock_ms;

	/* Idle first, so a flow past both timers ends as idle. Stops at the first live flow. */
	while ((idx = pool[0].lru_next) != FLOWTAB_NIL &&
	       now - pool[idx].end_ms >= ft->idle_timeout_ms)
		finish(ft, idx, FLOWTAB_END_IDLE);

	/* Each visited flow is reported and moved to the tail, or leaves the list: O(expired). */
	while ((idx = pool[0].act_next) != FLOWTAB_NIL &&
	       now - pool[idx].report_ms >= ft->active_timeout_ms) {
		struct flow_entry *e = &pool[idx];

		if (e->packets)
			report_active(ft, e, idx, now);
		else
			act_unlink(pool, e); /* back on the list with its next packet */
	}
}

static enum flowtab_end_reason check_reason(enum flowtab_end_reason reason)
{
	if (reason >= FLOWTAB_END_IDLE && reason <= FLOWTAB_END_LACK_OF_RESOURCES)
		return reason;
	log_warn("flowtab: invalid flow end reason %d, using forced end", (int)reason);
	return FLOWTAB_END_FORCED;
}

/*
 * Every flow leaves, so none is unlinked on its own: export them in LRU order, empty each
 * one's bucket (its whole chain leaves as well), then reset the lists and the pool. The
 * next entry is fetched while this one is exported.
 */
void flowtab_flush(struct flowtab *ft, enum flowtab_end_reason reason)
{
	struct flow_entry *pool = ft->pool;
	uint32_t idx, next;

	reason = check_reason(reason);
	for (idx = pool[0].lru_next; idx != FLOWTAB_NIL; idx = next) {
		struct flow_entry *e = &pool[idx];
		struct key_words kw;
		uint32_t *bucket;

		next = e->lru_next;
		__builtin_prefetch(&pool[next]);
		__builtin_prefetch((const char *)&pool[next] + 64);
		__builtin_prefetch((const char *)&pool[next] + sizeof(*e) - 1);
		key_load(&kw, &e->key);
		bucket = &ft->buckets[key_hash(ft, &kw) & ft->bucket_mask];
		__builtin_prefetch(bucket, 1);
		if (e->packets)
			emit(ft, e, rev_of(ft, idx), &ft->outer[idx], reason);
		*bucket = FLOWTAB_NIL;
		ft->stats.flows_active--;
	}
	pool[0].lru_prev = pool[0].lru_next = FLOWTAB_NIL;
	pool[0].act_prev = pool[0].act_next = FLOWTAB_NIL;
	ft->free_head = FLOWTAB_NIL;
	ft->used_hwm = 0; /* every entry is free again: hand them out from the start */
}

void flowtab_flush_ifindex(struct flowtab *ft, uint32_t ifindex, enum flowtab_end_reason reason)
{
	uint32_t idx, next;

	reason = check_reason(reason);
	for (idx = ft->pool[0].lru_next; idx != FLOWTAB_NIL; idx = next) {
		next = ft->pool[idx].lru_next;
		if (ft->pool[idx].key.ifindex == ifindex)
			finish(ft, idx, reason);
	}
}

const struct flowtab_stats *flowtab_get_stats(const struct flowtab *ft)
{
	return &ft->stats;
}
