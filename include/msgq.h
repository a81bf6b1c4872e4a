/* SPDX-License-Identifier: Apache-2.0 */
/*
 * msgq: the bounded FIFO of owned message copies one collector's transport holds, with a
 * retransmit window at its head. A message written to a stream stays in the window, in wire
 * order, until the peer has acknowledged its last byte; when the connection is lost the
 * window goes back in front of the unsent messages. Knows nothing of sockets or formats.
 */
#ifndef LABELFLOW_MSGQ_H
#define LABELFLOW_MSGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msgq_msg {
	uint8_t *buf; /* owned; cap bytes, kept for reuse by later messages */
	size_t cap;
	size_t len;
	uint32_t seq;	    /* header sequence number as handed over */
	uint32_t n_records; /* what the message adds to the sequence (seq_after - seq) */
	uint64_t wire_end; /* in the window: the connection's wire byte count after its last byte */
	bool is_template;
	bool resend; /* written whole on a connection lost before its acknowledgement */
};

/*
 * Slots [0, n_sent) are the window (written, not yet acknowledged), [n_sent, count) wait to
 * be written, and head_off bytes of slot n_sent are already written. Slots are allocated on
 * demand, doubling, up to max_slots; a slot keeps its buffer, so a warm queue does not
 * allocate. Every operation is O(1) amortised except msgq_requeue, which is O(count).
 */
struct msgq {
	struct msgq_msg *ring; /* owned; cap slots */
	size_t cap, max_slots, head;
	size_t count;	 /* messages held: window and unsent */
	size_t n_sent;	 /* window length */
	size_t head_off; /* bytes of the first unsent message already written */
	size_t n_data;	 /* data (non-template) messages held, window included */
};

/* Copy a message into m, reusing its buffer. Returns 0 or -ENOMEM (m unchanged). */
int msgq_msg_set(struct msgq_msg *m, const uint8_t *msg, size_t len, uint32_t seq,
		 uint32_t n_records, bool is_template);

void msgq_init(struct msgq *q, size_t max_slots);
void msgq_done(struct msgq *q);

/* Copy a message to the back. Returns 0, -ENOBUFS (max_slots held) or -ENOMEM. */
int msgq_push_back(struct msgq *q, const uint8_t *msg, size_t len, uint32_t seq, uint32_t n_records,
		   bool is_template);
/*
 * Copy src (e.g. a cached template message) to the front. Only while the window is empty and
 * nothing of the first unsent message is written. Returns 0, -ENOBUFS or -ENOMEM.
 */
int msgq_push_front(struct msgq *q, const struct msgq_msg *src);

/* The i-th message waiting to be written (0: the next one), or NULL. */
struct msgq_msg *msgq_unsent(struct msgq *q, size_t i);
static inline size_t msgq_n_unsent(const struct msgq *q)
{
	return q->count - q->n_sent;
}

/* The first unsent message is now fully written: it joins the window, ending at wire_end. */
void msgq_sent(struct msgq *q, uint64_t wire_end);
/* Forget the first unsent message (a datagram sent or given up). Only with an empty window. */
void msgq_pop_unsent(struct msgq *q);
/* Release window messages whose last byte is within acked_bytes. Returns how many. */
size_t msgq_ack(struct msgq *q, uint64_t acked_bytes);
/*
 * The connection is lost: window messages become unsent again (flagged resend), ahead of every
 * newer message; a half-written first message will be written whole (not flagged: the peer
 * never had all of it); template messages are removed (the caller replays its cache). Returns
 * the data messages flagged resend.
 */
size_t msgq_requeue(struct msgq *q);

#endif
