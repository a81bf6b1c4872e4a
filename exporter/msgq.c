// SPDX-License-Identifier: Apache-2.0
/*
 * msgq: a ring of owned message buffers in wire order. The first n_sent slots form the
 * retransmit window (written, waiting for the peer's acknowledgement); the rest wait to be
 * written. Buffers stay with their slot when a message leaves, so steady state is
 * allocation-free; the ring grows by doubling up to its bound and never shrinks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msgq.h"

void msgq_init(struct msgq *q, size_t max_slots)
{
	memset(q, 0, sizeof(*q));
	q->max_slots = max_slots ? max_slots : 1;
}

void msgq_done(struct msgq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->cap; i++)
		free(q->ring[i].buf);
	free(q->ring);
	memset(q, 0, sizeof(*q));
}

static struct msgq_msg *at(struct msgq *q, size_t i)
{
	return &q->ring[(q->head + i) % q->cap];
}

/* Make room for one more message: grow (doubling, up to max_slots) when full. */
static int reserve(struct msgq *q)
{
	struct msgq_msg *n;
	size_t cap;

	if (q->count < q->cap)
		return 0;
	if (q->cap >= q->max_slots)
		return -ENOBUFS;
	cap = q->cap ? q->cap * 2 : 16;
	if (cap > q->max_slots)
		cap = q->max_slots;
	n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	/* Unroll into the new array in queue order; spare slots keep their buffers. */
	for (size_t i = 0; i < q->cap; i++)
		n[i] = q->ring[(q->head + i) % q->cap];
	free(q->ring);
	q->ring = n;
	q->cap = cap;
	q->head = 0;
	return 0;
}

int msgq_msg_set(struct msgq_msg *m, const uint8_t *msg, size_t len, uint32_t seq,
		 uint32_t n_records, bool is_template)
{
	if (m->cap < len) {
		uint8_t *b = realloc(m->buf, len);

		if (!b)
			return -ENOMEM;
		m->buf = b;
		m->cap = len;
	}
	memcpy(m->buf, msg, len);
	m->len = len;
	m->seq = seq;
	m->n_records = n_records;
	m->wire_end = 0;
	m->is_template = is_template;
	m->resend = false;
	return 0;
}

int msgq_push_back(struct msgq *q, const uint8_t *msg, size_t len, uint32_t seq, uint32_t n_records,
		   bool is_template)
{
	int ret = reserve(q);

	if (ret < 0)
		return ret;
	ret = msgq_msg_set(at(q, q->count), msg, len, seq, n_records, is_template);
	if (ret < 0)
		return ret;
	q->count++;
	q->n_data += !is_template;
	return 0;
}

int msgq_push_front(struct msgq *q, const struct msgq_msg *src)
{
	int ret;

	if (q->n_sent || q->head_off)
		return -EBUSY;
	ret = reserve(q);
	if (ret < 0)
		return ret;
	/* Fill the slot before the head first: on failure the queue is unchanged. */
	ret = msgq_msg_set(&q->ring[(q->head + q->cap - 1) % q->cap], src->buf, src->len, src->seq,
			   src->n_records, src->is_template);
	if (ret < 0)
		return ret;
	q->head = (q->head + q->cap - 1) % q->cap;
	q->count++;
	q->n_data += !src->is_template;
	return 0;
}

struct msgq_msg *msgq_unsent(struct msgq *q, size_t i)
{
	return q->n_sent + i < q->count ? at(q, q->n_sent + i) : NULL;
}

void msgq_sent(struct msgq *q, uint64_t wire_end)
{
	at(q, q->n_sent)->wire_end = wire_end;
	q->n_sent++;
	q->head_off = 0;
}

static void pop_front(struct msgq *q)
{
	q->n_data -= !at(q, 0)->is_template;
	q->head = (q->head + 1) % q->cap;
	q->count--;
}

void msgq_pop_unsent(struct msgq *q)
{
	if (q->n_sent || !q->count)
		return;
	pop_front(q);
	q->head_off = 0;
}

size_t msgq_ack(struct msgq *q, uint64_t acked_bytes)
{
	size_t n = 0;

	while (q->n_sent && at(q, 0)->wire_end <= acked_bytes) {
		pop_front(q);
		q->n_sent--;
		n++;
	}
	return n;
}

size_t msgq_requeue(struct msgq *q)
{
	size_t w = 0, n = 0;

	for (size_t i = 0; i < q->count; i++) {
		struct msgq_msg *m = at(q, i);

		if (m->is_template)
			continue;
		if (i < q->n_sent) {
			m->resend = true;
			n++;
		}
		if (w != i) {
			struct msgq_msg tmp = *at(q, w);

			*at(q, w) = *m;
			*m = tmp;
		}
		w++;
	}
	q->count = w;
	q->n_sent = 0;
	q->head_off = 0;
	return n;
}
