/*
 * What dp.c (control side) and dp_worker.c (workers) share. Not for other modules.
 */
#ifndef SDWAN_EDGE_DP_DP_INTERNAL_H
#define SDWAN_EDGE_DP_DP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "edge/dp/dp.h"

/* Counters written by one worker and read (relaxed) by the control thread. */
struct dp__counters {
	_Atomic uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	_Atomic uint64_t drops[DP_DROP_COUNT];
};

/* An outbound SA: one cipher context per worker, one shared sequence counter. */
struct dp__sa_out {
	uint32_t spi;
	_Atomic uint64_t seq;
	struct esp_sa *ctx[DP_MAX_WORKERS];
};

/* An inbound SA, used only by worker spi % workers. */
struct dp__sa_in {
	uint32_t spi;
	uint32_t tunnel;
	struct esp_sa *esp;
};

struct dp__peer {
	struct sockaddr_in6 addr;
};

/* A tunnel lives across table generations; its pointers are swapped atomically. */
struct dp__tunnel {
	uint32_t id;
	uint16_t mtu;
	_Atomic(struct dp__sa_out *) out;
	_Atomic(struct dp__peer *) peer;
	struct lpm *allowed;     /* immutable for the tunnel's life */
	_Atomic uint8_t horizon; /* split-horizon group, 0 = none */
	_Atomic uint64_t last_rx_ms;
	/* The last new source each worker reported (dp_peer_moved_pop); each worker's own. */
	struct sockaddr_in6 moved_seen[DP_MAX_WORKERS];
	struct dp__counters ctr[DP_MAX_WORKERS];
};

/* Inbound SPI -> SA, open addressing, immutable once published. */
struct dp__spi_table {
	uint32_t mask; /* capacity - 1 (power of two), or 0 when empty */
	struct dp__spi_slot {
		uint32_t spi; /* 0 = empty */
		struct dp__sa_in *sa;
	} slots[];
};

/* What workers read through dp.tables: replaced as a whole, never modified. */
struct dp__tables {
	struct lpm *routes;
	uint32_t n_tunnels; /* capacity of the tunnels array (ids are indices) */
	struct dp__tunnel **tunnels;
	struct dp__spi_table *spi[DP_MAX_WORKERS];
};

struct dp__worker {
	struct dp *dp;
	unsigned idx;
	int tun_fd, udp_fd;
	pthread_t thread;
	bool started;
	/* Quiescent-state tracking: epoch advances between batches; idle while in poll(). */
	_Atomic uint64_t epoch;
	_Atomic bool idle;
	struct dp__counters global; /* drops with no tunnel */
	struct dp__wbuf *buf;       /* the worker's packet buffers */
};

/* Retired objects waiting for a grace period. */
struct dp__retired {
	struct dp__retired *next;
	void (*free_fn)(void *);
	void *obj;
	uint64_t epochs[DP_MAX_WORKERS];
};

struct dp__ike_item {
	uint16_t len;
	struct sockaddr_in6 from;
	uint8_t data[DP_IKE_MAX];
};

struct dp__moved_item {
	uint32_t tunnel;
	struct sockaddr_in6 from;
};

enum {
	DP__IKE_QUEUE = 32,
	DP__MOVED_QUEUE = 64,
};

struct dp {
	unsigned workers;
	bool vnet_hdr;
	struct ip_addr icmp_src_v4, icmp_src_v6;
	_Atomic(struct dp__tables *) tables;
	_Atomic uint32_t groups[DP_MAX_GROUPS];
	_Atomic bool stop;
	struct dp__worker w[DP_MAX_WORKERS];
	struct dp__retired *retired;
	int event_fd;
	/* The IKE hand-off: workers push, the control thread pops; rare, so a mutex is fine. */
	pthread_mutex_t ike_lock;
	unsigned ike_head, ike_count;
	struct dp__ike_item *ike; /* DP__IKE_QUEUE items */
	_Atomic uint64_t ike_dropped;
	/* Peer-moved reports, under ike_lock too (rarer still). */
	unsigned moved_head, moved_count;
	struct dp__moved_item moved[DP__MOVED_QUEUE];
};

/* Worker thread entry (dp_worker.c). */
void *dp__worker_main(void *arg);

/* Allocate / free a worker's buffers (dp_worker.c). */
struct dp__wbuf *dp__wbuf_new(bool vnet_hdr);
void dp__wbuf_free(struct dp__wbuf *b);

/* Queue an IKE message for the control thread (dp.c); worker threads. */
void dp__ike_push(struct dp *dp, const uint8_t *msg, size_t len, const struct sockaddr_in6 *from);

/* Report that tunnel's authenticated ESP came from `from` (dp.c); worker threads. False when
 * the queue is full (the report is not made). */
bool dp__peer_moved_push(struct dp *dp, uint32_t tunnel, const struct sockaddr_in6 *from);

/* Lookup helpers used by workers. */
struct dp__sa_in *dp__spi_find(const struct dp__spi_table *t, uint32_t spi);

#endif
