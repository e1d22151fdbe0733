/*
 * A data-plane worker: one TUN queue and one UDP socket, batches in both directions, no lock and
 * no allocation per packet. Tables are read through dp.tables between quiescent points (the top
 * of the loop), never kept across one.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "edge/dp/dp_internal.h"
#include "edge/dp/gro.h"
#include "edge/dp/gso.h"
#include "edge/dp/mss.h"
#include "edge/dp/pkt.h"
#include "edge/dp/udp.h"
#include "edge/esp/esp_wire.h"

enum {
	W_TUN_BATCH = 256,   /* segments per outbound batch */
	W_SUPER_ROOM = 128,  /* slots a super-packet may need: stop reading below this */
	W_HEAD = 64,         /* room in front of an inner packet for the ESP header */
	W_SLOT = 2048 + 128, /* one inner packet (MTU <= 2000 here) with head- and tailroom */
	W_TAIL = 64,         /* room after a segment for ESP padding and ICV */
	W_RX_BATCH = 8,      /* GRO buffers per recvmmsg */
	W_RX_BUF = 65536,
	W_BUDGET = 4,     /* batches per direction before passing a quiescent point */
	W_GRO_BUFS = 8,   /* coalescing buffers per inbound batch */
	W_GRO_OUT = 1024, /* TUN writes per inbound batch at most */
	/* An ICMP error the data plane sends, with room for ESP around it. */
	W_ICMP = W_HEAD + MSS_ICMP6_REPLY_MAX + W_TAIL,
	/* ICMP unreachable answers per worker and second at most: a sender blasting at an
	 * unreachable site gets errors, not an amplifier (Linux allows 1000/s per host). */
	W_UNREACH_PER_S = 500,
};

struct dp__wbuf {
	uint8_t tun[W_TUN_BATCH][W_SLOT];
	struct {
		size_t off, len;
		uint32_t tunnel;
	} pkt[W_TUN_BATCH];
	struct iovec iov[W_TUN_BATCH];
	struct udp_tx tx[W_TUN_BATCH];
	uint8_t rx[W_RX_BATCH][W_RX_BUF];
	struct udp_rx rxd[W_RX_BATCH];
	/* With virtio-net headers: one TUN read (a super-packet), its segments, and GRO. */
	uint8_t super[PKT_VNET_HDR_LEN + PKT_IP_MAX];
	struct gso_seg segs[W_TUN_BATCH];
	struct gro gro;
	struct gro_pkt gro_out[W_GRO_OUT];
	uint8_t gro_buf[W_GRO_BUFS][GRO_SUPER_MAX];
	uint8_t *gro_bufs[W_GRO_BUFS];
	uint8_t icmp[W_ICMP];
	uint64_t unreach_second; /* the second (now_ms / 1000) unreach_sent counts in */
	unsigned unreach_sent;
	bool vnet;
};

struct dp__wbuf *dp__wbuf_new(bool vnet_hdr)
{
	struct dp__wbuf *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->vnet = vnet_hdr;
	for (unsigned i = 0; i < W_RX_BATCH; i++) {
		b->rxd[i].buf = b->rx[i];
		b->rxd[i].cap = W_RX_BUF;
	}
	for (unsigned i = 0; i < W_GRO_BUFS; i++)
		b->gro_bufs[i] = b->gro_buf[i];
	struct gro_config gc = {.out = b->gro_out,
				.out_cap = W_GRO_OUT,
				.bufs = b->gro_bufs,
				.nbufs = W_GRO_BUFS,
				.buf_cap = GRO_SUPER_MAX,
				.max_flows = GRO_FLOWS_MAX};
	if (gro_init(&b->gro, &gc) != 0) {
		free(b);
		return NULL;
	}
	return b;
}

void dp__wbuf_free(struct dp__wbuf *b)
{
	free(b);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Every counter a worker touches is its own (per-worker slots), so a relaxed load and store
 * suffice: no locked read-modify-write on the packet path. Readers only need untorn values. */
static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* --- outbound: TUN -> ESP -> UDP ------------------------------------------------------- */

/* The tunnel a destination routes to, DP_ROUTE_UNREACHABLE, or UINT32_MAX (no route). */
static uint32_t route(const struct dp *dp, const struct dp__tables *t, const uint8_t *ip,
		      size_t len)
{
	uint32_t v;
	if (len >= 20 && (ip[0] >> 4) == 4)
		v = lpm_lookup_v4(t->routes, ip + 16);
	else if (len >= 40 && (ip[0] >> 4) == 6)
		v = lpm_lookup_v6(t->routes, ip + 24);
	else
		return UINT32_MAX;
	if (v != LPM_NO_ROUTE && (v & DP_ROUTE_GROUP_FLAG))
		v = (v & ~DP_ROUTE_GROUP_FLAG) < DP_MAX_GROUPS
			    ? atomic_load_explicit(&dp->groups[v & ~DP_ROUTE_GROUP_FLAG],
						   memory_order_relaxed)
			    : UINT32_MAX;
	return v == LPM_NO_ROUTE ? UINT32_MAX : v;
}

/* Write one packet into the TUN, behind a plain virtio-net header when the queue has them. */
static void tun_write_one(struct dp__worker *w, uint8_t *ip, size_t len)
{
	uint8_t vnet[PKT_VNET_HDR_LEN] = {0};
	struct iovec iov[2] = {{vnet, sizeof(vnet)}, {ip, len}};
	(void)!writev(w->tun_fd, w->buf->vnet ? iov : iov + 1, w->buf->vnet ? 2 : 1);
}

/*
 * Send an ICMP error the data plane built at b->icmp + W_HEAD. Its source is one of our own
 * addresses, which the kernel would drop as a martian coming in from the TUN: so when its
 * destination routes into a tunnel, encrypt it and send it there directly; only an error for
 * our own LAN goes through the TUN (the edge turns accept_local on for it, edge/tmgr.c).
 */
static void icmp_send(struct dp__worker *w, const struct dp__tables *t, size_t len)
{
	struct dp__wbuf *b = w->buf;
	uint8_t *ip = b->icmp + W_HEAD;
	uint32_t id = route(w->dp, t, ip, len);
	struct dp__tunnel *tun = id < t->n_tunnels ? t->tunnels[id] : NULL;
	struct dp__sa_out *sa = tun ? atomic_load_explicit(&tun->out, memory_order_acquire) : NULL;
	if (!sa) {
		tun_write_one(w, ip, len);
		return;
	}
	size_t off = W_HEAD, esp_len = len;
	if (esp_sa_encap(sa->ctx[w->idx], b->icmp, sizeof(b->icmp), &off, &esp_len) != 0)
		return;
	count(&tun->ctr[w->idx].tx_packets, 1);
	count(&tun->ctr[w->idx].tx_bytes, len);
	const struct dp__peer *peer = atomic_load_explicit(&tun->peer, memory_order_acquire);
	struct iovec iov = {b->icmp + off, esp_len};
	struct udp_tx tx = {
		.len = esp_len, .seg = esp_len, .peer = &peer->addr, .iov = &iov, .iovcnt = 1};
	(void)udp_send_batch(w->udp_fd, &tx, 1);
}

/* Answer a packet too big for its tunnel with ICMP "fragmentation needed" / "packet too big",
 * so path MTU discovery works and big transfers never hang. */
static void icmp_too_big(struct dp__worker *w, const struct dp__tables *t, const uint8_t *ip,
			 size_t len, unsigned mtu)
{
	const struct dp *dp = w->dp;
	const struct ip_addr *src = (ip[0] >> 4) == 4 ? &dp->icmp_src_v4 : &dp->icmp_src_v6;
	size_t out_len = 0;
	if (src->family == 0)
		return;
	if (mss_icmp_too_big(ip, len, mtu, src, w->buf->icmp + W_HEAD, MSS_ICMP6_REPLY_MAX,
			     &out_len) == MSS_ICMP_REPLY)
		icmp_send(w, t, out_len);
}

/* Answer a packet whose destination no hub reaches with ICMP Destination Unreachable, so that
 * its sender gives up at once (ping says "Destination Host Unreachable"). */
static void icmp_unreachable(struct dp__worker *w, const struct dp__tables *t, const uint8_t *ip,
			     size_t len)
{
	const struct dp *dp = w->dp;
	struct dp__wbuf *b = w->buf;
	const struct ip_addr *src = (ip[0] >> 4) == 4 ? &dp->icmp_src_v4 : &dp->icmp_src_v6;
	uint64_t second = now_ms() / 1000;
	size_t out_len = 0;
	if (src->family == 0)
		return;
	if (second != b->unreach_second) {
		b->unreach_second = second;
		b->unreach_sent = 0;
	}
	if (b->unreach_sent >= W_UNREACH_PER_S)
		return;
	if (mss_icmp_unreachable(ip, len, src, b->icmp + W_HEAD, MSS_ICMP6_REPLY_MAX, &out_len) ==
	    MSS_ICMP_REPLY) {
		b->unreach_sent++;
		icmp_send(w, t, out_len);
	}
}

/* Encrypt packet i in place; returns false (and counts why) when it is dropped. */
static bool encap_one(struct dp__worker *w, const struct dp__tables *t, unsigned i)
{
	struct dp__wbuf *b = w->buf;
	uint8_t *inner = b->tun[i] + b->pkt[i].off;
	uint32_t id = route(w->dp, t, inner, b->pkt[i].len);
	if (id == DP_ROUTE_UNREACHABLE) {
		count(&w->global.drops[DP_DROP_UNREACHABLE], 1);
		icmp_unreachable(w, t, inner, b->pkt[i].len);
		return false;
	}
	struct dp__tunnel *tun = id < t->n_tunnels ? t->tunnels[id] : NULL;
	if (!tun) {
		count(&w->global.drops[DP_DROP_NO_ROUTE], 1);
		return false;
	}
	struct dp__counters *c = &tun->ctr[w->idx];
	struct dp__sa_out *sa = atomic_load_explicit(&tun->out, memory_order_acquire);
	if (!sa) {
		count(&c->drops[DP_DROP_NO_SA], 1);
		return false;
	}
	if (b->pkt[i].len > tun->mtu) {
		count(&c->drops[DP_DROP_MTU], 1);
		icmp_too_big(w, t, inner, b->pkt[i].len, tun->mtu);
		return false;
	}
	/* Clamp the MSS of SYNs leaving through the tunnel (the reverse direction is clamped on
	 * the way in), so TCP never builds segments the tunnel cannot carry. */
	(void)mss_clamp(inner, b->pkt[i].len, tun->mtu, false);
	size_t inner_len = b->pkt[i].len;
	int rc = esp_sa_encap(sa->ctx[w->idx], b->tun[i], W_SLOT, &b->pkt[i].off, &b->pkt[i].len);
	if (rc != 0) {
		count(&c->drops[rc == -EKEYEXPIRED ? DP_DROP_SEQ_OVERFLOW : DP_DROP_MALFORMED], 1);
		return false;
	}
	count(&c->tx_packets, 1);
	count(&c->tx_bytes, inner_len);
	b->pkt[i].tunnel = id;
	return true;
}

/*
 * Group encrypted packets into transmits: a run of packets to one tunnel, all the size of the
 * first except possibly a shorter last one, goes out as one UDP GSO send.
 */
static unsigned build_transmits(struct dp__worker *w, const struct dp__tables *t, unsigned n)
{
	struct dp__wbuf *b = w->buf;
	unsigned ntx = 0;
	for (unsigned i = 0; i < n;) {
		const struct dp__tunnel *tun = t->tunnels[b->pkt[i].tunnel];
		const struct dp__peer *peer =
			atomic_load_explicit(&tun->peer, memory_order_acquire);
		size_t seg = b->pkt[i].len, total = 0;
		unsigned first = i;
		for (; i < n && b->pkt[i].tunnel == tun->id && i - first < UDP_GSO_MAX_SEGMENTS &&
		       total + b->pkt[i].len <= UDP_GSO_MAX_BYTES;
		     i++) {
			b->iov[i] = (struct iovec){b->tun[i] + b->pkt[i].off, b->pkt[i].len};
			total += b->pkt[i].len;
			if (b->pkt[i].len != seg) {
				if (b->pkt[i].len < seg)
					i++; /* a shorter datagram may end the run */
				else
					total -= b->pkt[i].len;
				break;
			}
		}
		b->tx[ntx++] = (struct udp_tx){.len = total,
					       .seg = i - first > 1 ? seg : total,
					       .peer = &peer->addr,
					       .iov = &b->iov[first],
					       .iovcnt = i - first};
	}
	return ntx;
}

/*
 * Read one TUN super-packet (virtio-net header + up to 64 KiB) and split it into MSS-sized
 * segments in the slots from *n on. Returns false when the queue is empty.
 */
static bool read_super(struct dp__worker *w, unsigned *n)
{
	struct dp__wbuf *b = w->buf;
	ssize_t len = read(w->tun_fd, b->super, sizeof(b->super));
	if (len <= 0)
		return false;
	unsigned room = W_TUN_BATCH - *n;
	for (unsigned k = 0; k < room; k++)
		b->segs[k] = (struct gso_seg){.buf = b->tun[*n + k], .cap = W_SLOT};
	int segs = gso_segment(b->super, (size_t)len, b->segs, room, W_HEAD, W_TAIL);
	if (segs < 0) {
		count(&w->global.drops[DP_DROP_MALFORMED], 1);
		return true;
	}
	for (int k = 0; k < segs; k++) {
		b->pkt[*n].off = W_HEAD;
		b->pkt[*n].len = b->segs[k].len;
		(*n)++;
	}
	return true;
}

/* Returns the number of TUN reads done (0: the queue is empty). */
static unsigned tun_to_udp(struct dp__worker *w, const struct dp__tables *t)
{
	struct dp__wbuf *b = w->buf;
	unsigned n = 0, reads = 0, kept = 0;
	if (b->vnet) {
		while (n + W_SUPER_ROOM <= W_TUN_BATCH && read_super(w, &n))
			reads++;
	} else {
		for (; n < W_TUN_BATCH; n++, reads++) {
			ssize_t len = read(w->tun_fd, b->tun[n] + W_HEAD, W_SLOT - W_HEAD - W_TAIL);
			if (len <= 0)
				break;
			b->pkt[n].off = W_HEAD;
			b->pkt[n].len = (size_t)len;
		}
	}
	/* Encrypt in place, compacting the survivors to the front. */
	for (unsigned i = 0; i < n; i++) {
		if (i != kept) {
			memcpy(b->tun[kept] + b->pkt[i].off, b->tun[i] + b->pkt[i].off,
			       b->pkt[i].len);
			b->pkt[kept] = b->pkt[i];
		}
		if (encap_one(w, t, kept))
			kept++;
	}
	if (kept == 0)
		return reads;
	unsigned ntx = build_transmits(w, t, kept);
	for (unsigned sent = 0; sent < ntx;) {
		int rc = udp_send_batch(w->udp_fd, b->tx + sent, ntx - sent);
		if (rc <= 0) {
			/* Socket buffer full or an error: the rest is lost like on a wire. */
			break;
		}
		sent += (unsigned)rc;
	}
	return reads;
}

/* --- inbound: UDP -> ESP -> TUN -------------------------------------------------------- */

static enum dp_drop verdict_drop(enum esp_verdict v)
{
	switch (v) {
	case ESP_DROP_REPLAY:
	case ESP_DROP_TOO_OLD:
		return DP_DROP_REPLAY;
	case ESP_DROP_AUTH:
		return DP_DROP_ICV;
	case ESP_DROP_DUMMY:
		return DP_DROP_DUMMY;
	default:
		return DP_DROP_MALFORMED;
	}
}

/* The inner packet's real length: TFC padding (RFC 4303 2.7) may follow it. */
static size_t inner_ip_len(const uint8_t *ip, size_t len)
{
	size_t l = 0;
	if (len >= 20 && (ip[0] >> 4) == 4)
		l = (size_t)ip[2] << 8 | ip[3];
	else if (len >= 40 && (ip[0] >> 4) == 6)
		l = 40 + ((size_t)ip[4] << 8 | ip[5]);
	return l && l <= len ? l : 0;
}

static bool source_allowed(const struct dp__tunnel *tun, const uint8_t *ip)
{
	uint32_t v = (ip[0] >> 4) == 4 ? lpm_lookup_v4(tun->allowed, ip + 12)
				       : lpm_lookup_v6(tun->allowed, ip + 8);
	return v == DP_SRC_ALLOW;
}

/* Write out what GRO coalesced so far and start a new batch. */
static void gro_write(struct dp__worker *w)
{
	struct dp__wbuf *b = w->buf;
	size_t n = gro_flush(&b->gro);
	for (size_t i = 0; i < n; i++) {
		struct gro_pkt *p = &b->gro_out[i];
		struct iovec iov[2] = {{p->vnet, sizeof(p->vnet)}, {(void *)p->data, p->len}};
		(void)!writev(w->tun_fd, iov, 2);
	}
	gro_begin(&b->gro);
}

/* Hand a decrypted, checked packet to the TUN: through GRO with virtio-net headers, else as
 * it is. GRO keeps pointers into the receive buffers until gro_write() at the end of the
 * batch. */
static void deliver(struct dp__worker *w, uint8_t *ip, size_t len)
{
	if (!w->buf->vnet) {
		(void)!write(w->tun_fd, ip, len);
		return;
	}
	enum gro_verdict v = gro_add(&w->buf->gro, ip, len);
	if (v == GRO_FULL) {
		gro_write(w);
		v = gro_add(&w->buf->gro, ip, len);
	}
	if (v == GRO_MALFORMED)
		count(&w->global.drops[DP_DROP_MALFORMED], 1);
}

static bool same_endpoint(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
	return a->sin6_port == b->sin6_port &&
	       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

/* Authenticated ESP from elsewhere than the tunnel's peer (a NAT gave the peer a new public
 * port or address): tell the control thread, once per new source and worker. */
static void peer_check(struct dp__worker *w, struct dp__tunnel *tun,
		       const struct sockaddr_in6 *from)
{
	const struct dp__peer *peer = atomic_load_explicit(&tun->peer, memory_order_acquire);
	struct sockaddr_in6 *seen = &tun->moved_seen[w->idx];
	if (same_endpoint(&peer->addr, from) || same_endpoint(seen, from))
		return;
	if (dp__peer_moved_push(w->dp, tun->id, from))
		*seen = *from;
}

/* Split horizon: whether a packet that came in over tun would go straight back out over a tunnel
 * of the same horizon (from one hub to another), which must never happen. */
static bool relays_within_horizon(const struct dp__worker *w, const struct dp__tables *t,
				  const struct dp__tunnel *tun, const uint8_t *ip, size_t len)
{
	uint8_t horizon = atomic_load_explicit(&tun->horizon, memory_order_relaxed);
	if (!horizon)
		return false;
	uint32_t id = route(w->dp, t, ip, len);
	const struct dp__tunnel *out = id < t->n_tunnels ? t->tunnels[id] : NULL;
	return out && atomic_load_explicit(&out->horizon, memory_order_relaxed) == horizon;
}

static void esp_in(struct dp__worker *w, const struct dp__tables *t, uint8_t *p, size_t len,
		   const struct sockaddr_in6 *from, uint64_t now)
{
	uint32_t spi = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	struct dp__sa_in *sa = dp__spi_find(t->spi[w->idx], spi);
	struct dp__tunnel *tun = sa && sa->tunnel < t->n_tunnels ? t->tunnels[sa->tunnel] : NULL;
	if (!tun) {
		count(&w->global.drops[DP_DROP_NO_SA], 1);
		return;
	}
	struct dp__counters *c = &tun->ctr[w->idx];
	struct esp_decap_result res;
	enum esp_verdict v = esp_sa_decap(sa->esp, p, len, &res);
	if (v != ESP_OK) {
		count(&c->drops[verdict_drop(v)], 1);
		/* An authentic dummy packet still proves the peer alive. */
		if (v == ESP_DROP_DUMMY)
			atomic_store_explicit(&tun->last_rx_ms, now, memory_order_relaxed);
		return;
	}
	uint8_t *ip = p + res.inner_off;
	size_t ip_len = inner_ip_len(ip, res.inner_len);
	atomic_store_explicit(&tun->last_rx_ms, now, memory_order_relaxed);
	peer_check(w, tun, from);
	if (ip_len == 0) {
		count(&c->drops[DP_DROP_MALFORMED], 1);
		return;
	}
	if (!source_allowed(tun, ip)) {
		count(&c->drops[DP_DROP_POLICY], 1);
		return;
	}
	if (relays_within_horizon(w, t, tun, ip, ip_len)) {
		count(&c->drops[DP_DROP_LOOP], 1);
		return;
	}
	(void)mss_clamp(ip, ip_len, tun->mtu, false);
	count(&c->rx_packets, 1);
	count(&c->rx_bytes, ip_len);
	deliver(w, ip, ip_len);
}

static void datagram_in(struct dp__worker *w, const struct dp__tables *t, uint8_t *p, size_t len,
			const struct sockaddr_in6 *from, uint64_t now)
{
	switch (udp_classify(p, len)) {
	case UDP_KIND_ESP:
		esp_in(w, t, p, len, from, now);
		break;
	case UDP_KIND_IKE:
		dp__ike_push(w->dp, p + 4, len - 4, from);
		break;
	case UDP_KIND_KEEPALIVE:
		break;
	default:
		count(&w->global.drops[DP_DROP_MALFORMED], 1);
		break;
	}
}

/* Returns the number of UDP buffers received (0: nothing pending). */
static unsigned udp_to_tun(struct dp__worker *w, const struct dp__tables *t)
{
	struct dp__wbuf *b = w->buf;
	int got = udp_recv_batch(w->udp_fd, b->rxd, W_RX_BATCH);
	if (got <= 0)
		return 0;
	uint64_t now = now_ms();
	for (int i = 0; i < got; i++) {
		struct udp_rx *r = &b->rxd[i];
		for (size_t off = 0; off < r->len; off += r->seg) {
			size_t len = r->len - off < r->seg ? r->len - off : r->seg;
			datagram_in(w, t, r->buf + off, len, &r->peer, now);
		}
	}
	if (b->vnet)
		gro_write(w);
	return (unsigned)got;
}

void *dp__worker_main(void *arg)
{
	struct dp__worker *w = arg;
	struct dp *dp = w->dp;
	struct pollfd pfd[2] = {{w->tun_fd, POLLIN, 0}, {w->udp_fd, POLLIN, 0}};
	while (!atomic_load(&dp->stop)) {
		/* Quiescent point: no table pointer is held here. */
		atomic_fetch_add(&w->epoch, 1);
		atomic_store(&w->idle, true);
		int ready = poll(pfd, 2, 100);
		atomic_store(&w->idle, false);
		if (ready <= 0)
			continue;
		const struct dp__tables *t = atomic_load(&dp->tables);
		bool in = pfd[1].revents & POLLIN, out = pfd[0].revents & POLLIN;
		for (int round = 0; round < W_BUDGET && (in || out); round++) {
			if (in)
				in = udp_to_tun(w, t) > 0;
			if (out)
				out = tun_to_udp(w, t) > 0;
		}
	}
	return NULL;
}
