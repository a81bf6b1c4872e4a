// SPDX-License-Identifier: Apache-2.0
/*
 * msgq through its header: FIFO order, the bound, the retransmit window (sent, acked,
 * requeued ahead of newer messages, templates dropped on requeue) and buffer reuse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "msgq.h"

/* Push message number i: its bytes say "m<i>", its sequence number is 10 * i. */
static void push(struct msgq *q, int i, bool is_template)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "m%d", i);

	cr_assert_eq(msgq_push_back(q, (const uint8_t *)buf, (size_t)n, (uint32_t)(10 * i),
				    is_template ? 0 : 1, is_template),
		     0);
}

/* Which message waits at unsent position i ("m<i>" -> i), -1 when none. */
static int unsent_id(struct msgq *q, size_t i)
{
	struct msgq_msg *m = msgq_unsent(q, i);
	char text[16] = "";
	int id = -1;

	if (m) {
		/* The message holds its bytes only, no terminating NUL. */
		cr_assert_lt(m->len, sizeof(text));
		memcpy(text, m->buf, m->len);
		cr_assert_eq(sscanf(text, "m%d", &id), 1);
	}
	return id;
}

Test(msgq, keeps_fifo_order_and_its_bound)
{
	struct msgq q;

	msgq_init(&q, 4);
	for (int i = 0; i < 4; i++)
		push(&q, i, false);
	cr_assert_eq(msgq_push_back(&q, (const uint8_t *)"x", 1, 0, 1, false), -ENOBUFS);
	cr_assert_eq(msgq_n_unsent(&q), 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(unsent_id(&q, 0), i);
		cr_assert_eq(msgq_unsent(&q, 0)->seq, (uint32_t)(10 * i));
		msgq_pop_unsent(&q);
	}
	cr_assert_eq(msgq_n_unsent(&q), 0);
	cr_assert_null(msgq_unsent(&q, 0));
	msgq_done(&q);
}

Test(msgq, window_holds_sent_messages_until_acknowledged)
{
	struct msgq q;

	msgq_init(&q, 16);
	for (int i = 0; i < 3; i++)
		push(&q, i, false);
	msgq_sent(&q, 100); /* m0 ends at wire byte 100 */
	msgq_sent(&q, 250); /* m1 at 250 */
	cr_assert_eq(q.n_sent, 2);
	cr_assert_eq(q.count, 3, "the window still holds its messages");
	cr_assert_eq(msgq_ack(&q, 99), 0, "m0 not acknowledged to its last byte");
	cr_assert_eq(msgq_ack(&q, 100), 1);
	cr_assert_eq(q.n_sent, 1);
	cr_assert_eq(msgq_ack(&q, 1000), 1);
	cr_assert_eq(q.n_sent, 0);
	cr_assert_eq(unsent_id(&q, 0), 2);
	msgq_done(&q);
}

Test(msgq, requeue_puts_the_window_back_first_and_drops_templates)
{
	struct msgq q;

	msgq_init(&q, 16);
	push(&q, 0, true); /* a template message */
	push(&q, 1, false);
	push(&q, 2, false);
	push(&q, 3, false);
	msgq_sent(&q, 50);  /* template */
	msgq_sent(&q, 120); /* m1 */
	msgq_sent(&q, 200); /* m2 */
	cr_assert_eq(msgq_ack(&q, 120), 2, "template and m1 acknowledged");
	q.head_off = 5; /* m3 half written when the connection is lost */
	cr_assert_eq(msgq_requeue(&q), 1, "only m2 was sent and not acknowledged");
	cr_assert_eq(q.n_sent, 0);
	cr_assert_eq(q.head_off, 0, "the half-written message is written whole again");
	cr_assert_eq(unsent_id(&q, 0), 2);
	cr_assert(msgq_unsent(&q, 0)->resend);
	cr_assert_eq(unsent_id(&q, 1), 3);
	cr_assert_not(msgq_unsent(&q, 1)->resend, "the peer never had all of m3");
	cr_assert_eq(unsent_id(&q, 2), -1);
	msgq_done(&q);
}

Test(msgq, requeue_removes_unacknowledged_templates)
{
	struct msgq q;

	msgq_init(&q, 16);
	push(&q, 0, true);
	push(&q, 1, false);
	msgq_sent(&q, 40);
	msgq_sent(&q, 90);
	cr_assert_eq(msgq_requeue(&q), 1);
	cr_assert_eq(unsent_id(&q, 0), 1, "the caller replays its own template cache");
	cr_assert_eq(msgq_n_unsent(&q), 1);
	cr_assert_eq(q.n_data, 1);
	msgq_done(&q);
}

Test(msgq, push_front_goes_ahead_of_unsent_messages)
{
	struct msgq q;
	struct msgq_msg tmpl = {0};

	msgq_init(&q, 16);
	push(&q, 1, false);
	cr_assert_eq(msgq_msg_set(&tmpl, (const uint8_t *)"m9", 2, 90, 0, true), 0);
	cr_assert_eq(msgq_push_front(&q, &tmpl), 0);
	cr_assert_eq(unsent_id(&q, 0), 9);
	cr_assert(msgq_unsent(&q, 0)->is_template);
	cr_assert_eq(unsent_id(&q, 1), 1);
	free(tmpl.buf);
	msgq_done(&q);
}

Test(msgq, slots_keep_their_buffers)
{
	struct msgq q;
	uint8_t big[4096];
	const uint8_t *first;

	memset(big, 'x', sizeof(big));
	msgq_init(&q, 2);
	cr_assert_eq(msgq_push_back(&q, big, sizeof(big), 1, 1, false), 0);
	first = msgq_unsent(&q, 0)->buf;
	msgq_pop_unsent(&q);
	cr_assert_eq(msgq_push_back(&q, big, 100, 2, 1, false), 0);
	cr_assert_eq(msgq_push_back(&q, big, 100, 3, 1, false), 0);
	cr_assert(msgq_unsent(&q, 0)->buf == first || msgq_unsent(&q, 1)->buf == first,
		  "a freed slot's buffer is reused, not reallocated");
	msgq_done(&q);
}
