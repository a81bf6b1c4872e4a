/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capture: the one interface every capture backend implements (struct capture_ops:
 * open, dispatch, stats, close). A backend hands frames, with their link type, capture
 * time and interface index, to a callback; the frame bytes are the backend's and live
 * only during the callback. Only the backend modules include their library's headers.
 */
#ifndef LABELFLOW_CAPTURE_H
#define LABELFLOW_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

/* One captured frame. Borrowed: valid only during the callback. */
struct capture_frame {
	const uint8_t *data;
	uint32_t caplen;
	uint32_t wirelen;
	uint64_t ts_ms;
	int linktype;	  /* enum decode_linktype value */
	uint32_t ifindex; /* interface index; 0 for offline files */
};

typedef void (*capture_frame_fn)(const struct capture_frame *frame, void *user);

struct capture_stats {
	uint64_t received;	 /* frames handed to the callback */
	uint64_t kernel_dropped; /* dropped by the kernel before we saw them (ps_drop) */
	uint64_t ifdropped;	 /* dropped by the interface/driver (ps_ifdrop) */
};

/* What a live capture is opened with. */
struct capture_live_config {
	uint32_t snaplen;	/* bytes kept per frame (default 256: headers, incl. tunnels) */
	uint32_t buffer_bytes;	/* kernel ring size (default 4 MiB) */
	bool promiscuous;	/* default off: a pod's own traffic needs no promiscuous mode */
	const char *bpf_filter; /* borrowed; NULL or "" = everything */
};

struct capture;

struct capture_ops {
	const char *name;
	/*
	 * Hand up to max_frames available frames to cb without blocking. Returns the number
	 * handed over (0 = nothing now), -ENODATA at the end of an offline file, -errno on
	 * an error (logged by the backend).
	 */
	int (*dispatch)(struct capture *c, int max_frames, capture_frame_fn cb, void *user);
	/* A file descriptor that becomes readable when frames wait, or -1 (offline). */
	int (*fd)(const struct capture *c);
	void (*stats)(const struct capture *c, struct capture_stats *ret_stats);
	void (*close)(struct capture *c);
};

/* Every backend's handle starts with this, so generic code can reach ops and names. */
struct capture {
	const struct capture_ops *ops;
	char name[64];	  /* interface name or file name, for messages */
	uint32_t ifindex; /* 0 for files */
};

static inline int capture_dispatch(struct capture *c, int max_frames, capture_frame_fn cb,
				   void *user)
{
	return c->ops->dispatch(c, max_frames, cb, user);
}

static inline void capture_close(struct capture *c)
{
	if (c)
		c->ops->close(c);
}

#endif
