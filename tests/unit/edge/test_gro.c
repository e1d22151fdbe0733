/*
 * Coalescing of received TCP segments: a GSO -> GRO round trip gives back the original
 * super-packet octet for octet (and segmenting that again gives the same segments), over random
 * shapes with a fixed seed; out-of-order segments, other flows, changed flags or header fields,
 * short or long segments, corrupt checksums, the 64 KiB limit and every kind of packet that
 * must pass through are not merged, and a flow's packets keep their order. Last, the real
 * kernel: in a private network namespace, a TCP connection through a TUN takes a coalesced
 * super-packet written by us, and its TSO super-packets read by us segment into valid packets.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "edge/dp/gro.h"
#include "edge/dp/gso.h"
#include "edge/net/netlink.h"
#include "edge/net/tun.h"
#include "tests/unit/edge/pkt_reference.h"

#define NBUFS    4
#define BUF_CAP  65536
#define OUT_CAP  256
#define MAX_SEGS 1024

/* ---- building segments ---- */

struct seg {
	uint8_t family; /* IP_V4 or IP_V6 */
	uint8_t host;   /* last octet of the source address: tells flows apart */
	uint16_t sport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint16_t win;
	uint8_t ttl;
	uint8_t tos; /* IPv4 DSCP/ECN or IPv6 traffic class */
	uint16_t id;
	uint16_t frag; /* IPv4 flags and offset; 0 means DF */
	size_t optlen; /* TCP options: NOP NOP timestamps, then NOPs */
	uint32_t tsval;
	size_t payload;
	uint32_t stream; /* stream offset of the first payload octet (for its pattern) */
	bool seed_csum;  /* checksum field: the pseudo-header seed instead of the full sum */
};

static uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i * 13 + (i >> 9) + 1);
}

/* Defaults of flow A: IPv4 10.1.0.2:40000 -> 10.1.0.1:5001, ACK. */
static struct seg seg_a(uint32_t seq, size_t payload)
{
	struct seg s = {.family = IP_V4,
			.host = 2,
			.sport = 40000,
			.seq = seq,
			.ack = 777,
			.flags = PKT_TCP_ACK,
			.win = 1000,
			.ttl = 64,
			.payload = payload,
			.stream = seq};
	return s;
}

static size_t write_ip(uint8_t *p, const struct seg *s, size_t tot)
{
	if (s->family == IP_V4) {
		memset(p, 0, 20);
		p[0] = 0x45;
		p[1] = s->tos;
		pkt_put16(p + 2, (uint16_t)tot);
		pkt_put16(p + 4, s->id);
		pkt_put16(p + 6, s->frag ? s->frag : PKT_IP4_DF);
		p[8] = s->ttl;
		p[9] = PKT_PROTO_TCP;
		const uint8_t a[8] = {10, 1, 0, s->host, 10, 1, 0, 1};
		memcpy(p + 12, a, 8);
		pkt_ip4_csum_set(p, 20);
		return 20;
	}
	memset(p, 0, 40);
	p[0] = (uint8_t)(0x60 | s->tos >> 4);
	p[1] = (uint8_t)(s->tos << 4 | 0x0b);
	p[2] = 0xee;
	pkt_put16(p + 4, (uint16_t)(tot - 40));
	p[6] = PKT_PROTO_TCP;
	p[7] = s->ttl;
	p[8] = 0xfd;
	p[23] = s->host;
	p[24] = 0xfd;
	p[39] = 1;
	return 40;
}

/* Write segment s at p with a correct checksum (or the seed); returns its length. */
static size_t mk(uint8_t *p, const struct seg *s)
{
	size_t l4 = s->family == IP_V4 ? 20 : 40, thl = 20 + s->optlen;
	size_t tot = l4 + thl + s->payload;
	write_ip(p, s, tot);
	uint8_t *t = p + l4;
	memset(t, 0, thl);
	pkt_put16(t, s->sport);
	pkt_put16(t + 2, 5001);
	pkt_put32(t + 4, s->seq);
	pkt_put32(t + 8, s->ack);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = s->flags;
	pkt_put16(t + 14, s->win);
	memset(t + 20, 1, s->optlen);
	if (s->optlen >= 12) {
		t[22] = 8;
		t[23] = 10;
		pkt_put32(t + 24, s->tsval);
	}
	for (size_t i = 0; i < s->payload; i++)
		t[thl + i] = pattern(s->stream + (uint32_t)i);
	uint32_t ps = ref_pseudo(p, PKT_PROTO_TCP, thl + s->payload);
	if (s->seed_csum)
		pkt_put16(t + 16, (uint16_t)ps);
	else
		pkt_put16(t + 16, (uint16_t)~ref_sum(ps, t, thl + s->payload));
	return tot;
}

/* ---- a coalescer over static buffers ---- */

static uint8_t bufs_mem[NBUFS][BUF_CAP];
static uint8_t *const bufs[NBUFS] = {bufs_mem[0], bufs_mem[1], bufs_mem[2], bufs_mem[3]};
static struct gro_pkt out[OUT_CAP];
static uint8_t in[MAX_SEGS][2200];
static size_t in_len[MAX_SEGS];

static void gro_setup(struct gro *g, size_t nbufs, unsigned max_flows)
{
	struct gro_config cfg = {.out = out,
				 .out_cap = OUT_CAP,
				 .bufs = bufs,
				 .nbufs = nbufs,
				 .buf_cap = BUF_CAP,
				 .max_flows = max_flows};
	require(gro_init(g, &cfg) == 0, "gro_init", 0);
}

/* Add in[0..n) and flush; returns the number of output entries. */
static size_t run(struct gro *g, size_t n)
{
	gro_begin(g);
	for (size_t i = 0; i < n; i++) {
		enum gro_verdict v = gro_add(g, in[i], in_len[i]);
		require(v == GRO_MERGED || v == GRO_QUEUED, "add", (long long)i);
	}
	return gro_flush(g);
}

static bool vnet_is_plain(const struct gro_pkt *o)
{
	static const uint8_t zero[PKT_VNET_HDR_LEN];
	return memcmp(o->vnet, zero, sizeof(zero)) == 0;
}

/* Output entry k passes input i through untouched. */
static void expect_pass(size_t k, size_t i)
{
	require(out[k].segs == 1 && vnet_is_plain(&out[k]), "plain entry", (long long)k);
	require(out[k].len == in_len[i] && memcmp(out[k].data, in[i], in_len[i]) == 0,
		"passed-through octets", (long long)k);
}

/* ---- round trip ---- */

static uint8_t super[70000];
static uint8_t pool[1u << 20];
static struct gso_seg segs[MAX_SEGS];

static size_t split(const struct pkt_vnet_hdr *vh, const uint8_t *p, size_t len, size_t base)
{
	struct gso_plan pl;
	require(gso_prepare(vh, p, len, &pl) == 0, "gso_prepare", (long long)len);
	require(pl.nsegs <= MAX_SEGS, "segments", pl.nsegs);
	size_t stride = (size_t)pl.seg_len + 16;
	for (size_t i = 0; i < pl.nsegs; i++) {
		segs[i].buf = pool + base + i * stride;
		segs[i].cap = stride;
	}
	require(base + pl.nsegs * stride <= sizeof(pool), "pool", (long long)pl.nsegs);
	require(gso_split(&pl, p, segs, pl.nsegs, 16, 0) == pl.nsegs, "gso_split", pl.nsegs);
	return pl.nsegs;
}

static void round_trip(const struct seg *shape, uint16_t gso)
{
	struct seg s = *shape;
	s.seed_csum = true;
	size_t len = mk(super, &s);
	size_t l4 = s.family == IP_V4 ? 20 : 40, hl = l4 + 20 + s.optlen;
	struct pkt_vnet_hdr vh = {
		.flags = PKT_VNET_F_NEEDS_CSUM,
		.gso_type = s.family == IP_V4 ? PKT_VNET_GSO_TCPV4 : PKT_VNET_GSO_TCPV6,
		.hdr_len = (uint16_t)hl,
		.gso_size = gso,
		.csum_start = (uint16_t)l4,
		.csum_offset = 16,
	};
	size_t n = split(&vh, super, len, 0);
	require(n <= MAX_SEGS, "segments", (long long)n);
	for (size_t i = 0; i < n; i++) {
		in_len[i] = segs[i].len;
		memcpy(in[i], segs[i].buf + 16, segs[i].len);
	}

	struct gro g;
	gro_setup(&g, NBUFS, 4);
	require(run(&g, n) == 1, "one output entry", (long long)n);
	if (n == 1) {
		expect_pass(0, 0);
		return;
	}
	require(out[0].segs == n, "all segments merged", out[0].segs);
	struct pkt_vnet_hdr got;
	pkt_vnet_hdr_read(out[0].vnet, &got);
	if (s.flags & PKT_TCP_CWR)
		vh.gso_type |= PKT_VNET_GSO_ECN;
	require(memcmp(&got, &vh, sizeof(vh)) == 0, "virtio-net header", got.gso_size);
	require(out[0].len == len, "length", (long long)out[0].len);
	require(memcmp(out[0].data, super, len) == 0, "super-packet octets", (long long)len);

	/* Segmenting the coalesced packet gives the same segments again. */
	size_t n2 = split(&got, out[0].data, out[0].len, 1u << 19);
	require(n2 == n, "resegmented count", (long long)n2);
	for (size_t i = 0; i < n; i++)
		require(segs[i].len == in_len[i] && memcmp(segs[i].buf + 16, in[i], in_len[i]) == 0,
			"resegmented octets", (long long)i);
}

Test(gro_roundtrip, ipv4_and_ipv6_known_shapes)
{
	struct seg s = seg_a(0xffffff00u, 20000);
	s.flags = PKT_TCP_ACK | PKT_TCP_PSH;
	s.id = 0xfff0;
	round_trip(&s, 1448);
	s.family = IP_V6;
	s.optlen = 12;
	s.flags = PKT_TCP_ACK | PKT_TCP_CWR | PKT_TCP_ECE;
	round_trip(&s, 1208);
	s.payload = 100; /* one segment: passes through */
	round_trip(&s, 1208);
}

Test(gro_roundtrip, random_shapes)
{
	struct rng r = {0x6e0};
	for (int it = 0; it < 300; it++) {
		struct seg s = seg_a((uint32_t)rng_next(&r), 0);
		s.family = rng_below(&r, 2) ? IP_V6 : IP_V4;
		s.optlen = (size_t)4 * rng_below(&r, 11);
		s.flags = (uint8_t)(PKT_TCP_ACK |
				    (rng_next(&r) & (PKT_TCP_PSH | PKT_TCP_CWR | PKT_TCP_ECE)));
		s.id = (uint16_t)rng_next(&r);
		s.tos = (uint8_t)rng_next(&r);
		s.tsval = (uint32_t)rng_next(&r);
		size_t hdrs = (s.family == IP_V4 ? 20 : 40) + 20 + s.optlen;
		s.payload = 1 + rng_below(&r, (unsigned)(65535 - hdrs));
		uint16_t gso = (uint16_t)(s.payload / MAX_SEGS + 1 + rng_below(&r, 1900));
		round_trip(&s, gso);
	}
}

/* ---- what must not merge ---- */

/* in[i] = flow A segment i of `pay` octets, contiguous from seq 1000. */
static void train(size_t n, size_t pay)
{
	for (size_t i = 0; i < n; i++) {
		struct seg s = seg_a(1000 + (uint32_t)(i * pay), pay);
		s.id = (uint16_t)i;
		in_len[i] = mk(in[i], &s);
	}
}

Test(gro_nomerge, out_of_order)
{
	struct gro g;
	const size_t order[4] = {0, 2, 1, 3};
	gro_setup(&g, NBUFS, 4);
	for (size_t i = 0; i < 4; i++) {
		struct seg s = seg_a(1000 + (uint32_t)(order[i] * 500), 500);
		in_len[i] = mk(in[i], &s);
	}
	cr_assert_eq(run(&g, 4), 4);
	for (size_t k = 0; k < 4; k++) {
		expect_pass(k, k);
		cr_assert_eq(out[k].data, in[k], "passed through without a copy");
	}
}

Test(gro_nomerge, flows_apart_and_the_flow_limit)
{
	struct gro g;
	for (size_t i = 0; i < 6; i++) {
		struct seg s = seg_a(1000 + (uint32_t)(i / 2 * 700), 700);
		if (i % 2)
			s.host = 9; /* flow B: another source */
		in_len[i] = mk(in[i], &s);
	}
	gro_setup(&g, NBUFS, 2);
	cr_assert_eq(run(&g, 6), 2);
	cr_assert_eq(out[0].segs, 3);
	cr_assert_eq(out[1].segs, 3);
	cr_assert_eq(out[0].len, 20 + 20 + 2100);
	cr_assert_eq(((const uint8_t *)out[0].data)[15], 2);
	cr_assert_eq(((const uint8_t *)out[1].data)[15], 9);

	/* One flow at a time: each new flow evicts the other, nothing merges. */
	gro_setup(&g, NBUFS, 1);
	cr_assert_eq(run(&g, 6), 6);
	for (size_t k = 0; k < 6; k++)
		expect_pass(k, k);
}

Test(gro_nomerge, other_port_or_family_is_another_flow)
{
	struct gro g;
	struct seg s = seg_a(1000, 500);
	in_len[0] = mk(in[0], &s);
	s.seq = 1500;
	s.sport = 40001;
	in_len[1] = mk(in[1], &s);
	s.sport = 40000;
	s.family = IP_V6;
	in_len[2] = mk(in[2], &s);
	gro_setup(&g, NBUFS, 4);
	cr_assert_eq(run(&g, 3), 3);
}

/* A two-segment train whose second segment is changed by `edit`: must not merge. */
static void expect_split_after(void (*edit)(struct seg *s), const char *what)
{
	struct gro g;
	struct seg a = seg_a(1000, 800), b = seg_a(1800, 800);
	edit(&b);
	in_len[0] = mk(in[0], &a);
	in_len[1] = mk(in[1], &b);
	gro_setup(&g, NBUFS, 4);
	size_t n = run(&g, 2);
	require(n == 2, what, (long long)n);
	expect_pass(0, 0);
	expect_pass(1, 1);
}

static void edit_ece(struct seg *s)
{
	s->flags |= PKT_TCP_ECE;
}
static void edit_cwr(struct seg *s)
{
	s->flags |= PKT_TCP_CWR;
}
static void edit_syn(struct seg *s)
{
	s->flags |= PKT_TCP_SYN;
}
static void edit_fin(struct seg *s)
{
	s->flags |= PKT_TCP_FIN;
}
static void edit_rst(struct seg *s)
{
	s->flags |= PKT_TCP_RST;
}
static void edit_urg(struct seg *s)
{
	s->flags |= PKT_TCP_URG;
}
static void edit_ack(struct seg *s)
{
	s->ack++;
}
static void edit_win(struct seg *s)
{
	s->win++;
}
static void edit_ttl(struct seg *s)
{
	s->ttl--;
}
static void edit_tos(struct seg *s)
{
	s->tos = 0x03; /* CE */
}
static void edit_df(struct seg *s)
{
	s->frag = 0x0000 | 0x8000; /* reserved bit instead of DF */
}
static void edit_opts(struct seg *s)
{
	s->optlen = 12;
}
static void edit_long(struct seg *s)
{
	s->payload = 801;
}
static void edit_v6_flow_label(struct seg *s)
{
	s->family = IP_V6;
}

Test(gro_nomerge, any_header_change)
{
	expect_split_after(edit_ece, "ECE differs");
	expect_split_after(edit_cwr, "CWR after the first");
	expect_split_after(edit_syn, "SYN");
	expect_split_after(edit_fin, "FIN");
	expect_split_after(edit_rst, "RST");
	expect_split_after(edit_urg, "URG");
	expect_split_after(edit_ack, "ACK number");
	expect_split_after(edit_win, "window");
	expect_split_after(edit_ttl, "TTL");
	expect_split_after(edit_tos, "DSCP/ECN");
	expect_split_after(edit_df, "IPv4 flags");
	expect_split_after(edit_opts, "options");
	expect_split_after(edit_long, "longer than the first");
	expect_split_after(edit_v6_flow_label, "other family");
}

Test(gro_nomerge, timestamps_and_v6_fields)
{
	struct gro g;
	struct seg a = seg_a(1000, 800), b = seg_a(1800, 800);
	a.family = b.family = IP_V6;
	a.optlen = b.optlen = 12;
	a.tsval = 5;
	b.tsval = 6;
	in_len[0] = mk(in[0], &a);
	in_len[1] = mk(in[1], &b);
	gro_setup(&g, NBUFS, 4);
	cr_assert_eq(run(&g, 2), 2, "option values differ");

	b.tsval = 5;
	in_len[1] = mk(in[1], &b);
	in[1][2] ^= 0x01; /* flow label */
	cr_assert_eq(run(&g, 2), 2, "flow label differs");
	in[1][2] ^= 0x01;
	cr_assert_eq(run(&g, 2), 1, "identical headers merge");
}

Test(gro_order, psh_short_and_pure_ack_end_a_super_packet)
{
	struct gro g;
	gro_setup(&g, NBUFS, 4);

	/* A0 A1(PSH) A2: [A0 A1] [A2] with PSH kept on the super-packet */
	train(3, 1000);
	struct seg s = seg_a(2000, 1000);
	s.flags |= PKT_TCP_PSH;
	in_len[1] = mk(in[1], &s);
	cr_assert_eq(run(&g, 3), 2);
	cr_assert_eq(out[0].segs, 2);
	cr_assert(((const uint8_t *)out[0].data)[20 + 13] & PKT_TCP_PSH);
	expect_pass(1, 2);

	/* A0 A1(short) A2: [A0 A1] [A2] */
	train(3, 1000);
	s = seg_a(2000, 400);
	in_len[1] = mk(in[1], &s);
	s = seg_a(2400, 1000);
	in_len[2] = mk(in[2], &s);
	cr_assert_eq(run(&g, 3), 2);
	cr_assert_eq(out[0].segs, 2);
	cr_assert_eq(out[0].len, 40 + 1400);
	expect_pass(1, 2);

	/* A0 A1 ACK A2 A3: [A0 A1] [ACK] [A2 A3] */
	train(5, 1000);
	s = seg_a(3000, 0);
	in_len[2] = mk(in[2], &s);
	for (size_t i = 3; i < 5; i++) {
		s = seg_a(1000 + (uint32_t)((i - 1) * 1000), 1000);
		in_len[i] = mk(in[i], &s);
	}
	cr_assert_eq(run(&g, 5), 3);
	cr_assert_eq(out[0].segs, 2);
	expect_pass(1, 2);
	cr_assert_eq(out[2].segs, 2);
	cr_assert_eq(pkt_get32((const uint8_t *)out[2].data + 24), 3000);
}

Test(gro_nomerge, corrupt_checksums)
{
	struct gro g;
	gro_setup(&g, NBUFS, 4);
	train(3, 1000);
	in[1][100] ^= 0x40; /* payload octet of A1 */
	cr_assert_eq(run(&g, 3), 3);
	for (size_t k = 0; k < 3; k++)
		expect_pass(k, k);

	train(2, 1000);
	in[0][21] ^= 0x01; /* A0's port: A1 is another flow */
	cr_assert_eq(run(&g, 2), 2);
	train(2, 1000);
	in[0][60] ^= 0x01; /* A0's payload: the head does not verify */
	cr_assert_eq(run(&g, 2), 2);
	expect_pass(0, 0);
	expect_pass(1, 1);
}

Test(gro_limits, super_packet_stays_within_64k)
{
	struct gro g;
	gro_setup(&g, NBUFS, 4);
	train(50, 1400);
	cr_assert_eq(run(&g, 50), 2);
	cr_assert_eq(out[0].segs, 46); /* 40 + 46 * 1400 = 64440; one more would exceed 65535 */
	cr_assert_eq(out[0].len, 40 + 46 * 1400);
	cr_assert_eq(out[1].segs, 4);
	struct pkt_vnet_hdr vh;
	pkt_vnet_hdr_read(out[1].vnet, &vh);
	cr_assert_eq(vh.gso_size, 1400);
	cr_assert_eq(pkt_get16((const uint8_t *)out[1].data + 2), 40 + 4 * 1400);
}

Test(gro_limits, coalescing_buffers_run_out)
{
	struct gro g;
	gro_setup(&g, 2, 4);
	/* three flows of three segments each, interleaved; only two buffers */
	for (size_t i = 0; i < 9; i++) {
		struct seg s = seg_a(1000 + (uint32_t)(i / 3 * 600), 600);
		s.host = (uint8_t)(10 + i % 3);
		in_len[i] = mk(in[i], &s);
	}
	cr_assert_eq(run(&g, 9), 2 + 3);
	cr_assert_eq(out[0].segs, 3);
	cr_assert_eq(out[1].segs, 3);
	for (size_t k = 2; k < 5; k++)
		cr_assert_eq(out[k].segs, 1);

	gro_setup(&g, 0, 4);
	train(4, 1000);
	cr_assert_eq(run(&g, 4), 4, "no buffers: nothing merges");
}

Test(gro_pass, non_candidates_pass_through_in_place)
{
	struct gro g;
	gro_setup(&g, NBUFS, 4);
	struct seg s = seg_a(1000, 300);
	size_t k = 0;

	in_len[k] = mk(in[k], &s); /* UDP: protocol changed, header checksum fixed */
	in[k][9] = PKT_PROTO_UDP;
	pkt_ip4_csum_set(in[k], 20);
	k++;
	s.frag = PKT_IP4_MF; /* a fragment */
	in_len[k] = mk(in[k], &s);
	k++;
	s.frag = 0;
	in_len[k] = mk(in[k], &s); /* IPv4 with options: rebuilt with IHL 6 */
	memmove(in[k] + 24, in[k] + 20, in_len[k] - 20);
	memset(in[k] + 20, 1, 4);
	in[k][0] = 0x46;
	in_len[k] += 4;
	pkt_put16(in[k] + 2, (uint16_t)in_len[k]);
	pkt_ip4_csum_set(in[k], 24);
	k++;
	for (size_t i = 0; i < k; i++) {
		in_len[k + i] = in_len[i]; /* each twice: the copy would be the next segment */
		memcpy(in[k + i], in[i], in_len[i]);
	}
	cr_assert_eq(run(&g, 2 * k), 2 * k);
	for (size_t i = 0; i < 2 * k; i++) {
		expect_pass(i, i);
		cr_assert_eq(out[i].data, in[i]);
	}
}

Test(gro_pass, malformed_full_and_bad_config)
{
	struct gro g;
	struct gro_config cfg = {.out = out,
				 .out_cap = 2,
				 .bufs = bufs,
				 .nbufs = NBUFS,
				 .buf_cap = BUF_CAP,
				 .max_flows = 4};
	cr_assert_eq(gro_init(&g, &cfg), 0);
	train(3, 100);
	uint8_t junk[30] = {0x45};
	cr_assert_eq(gro_add(&g, junk, sizeof(junk)), GRO_MALFORMED);
	cr_assert_eq(gro_add(&g, in[0], in_len[0]), GRO_QUEUED);
	cr_assert_eq(gro_add(&g, in[0], in_len[0]), GRO_QUEUED); /* a duplicate */
	cr_assert_eq(gro_add(&g, in[1], in_len[1]), GRO_FULL);
	cr_assert_eq(gro_flush(&g), 2);
	gro_begin(&g);
	cr_assert_eq(gro_add(&g, in[1], in_len[1]), GRO_QUEUED);
	cr_assert_eq(gro_add(&g, in[2], in_len[2]), GRO_MERGED);
	cr_assert_eq(gro_flush(&g), 1);

	cfg.max_flows = 0;
	cr_assert_eq(gro_init(&g, &cfg), -EINVAL);
	cfg.max_flows = GRO_FLOWS_MAX + 1;
	cr_assert_eq(gro_init(&g, &cfg), -EINVAL);
	cfg.max_flows = 1;
	cfg.buf_cap = GRO_SUPER_MAX - 1;
	cr_assert_eq(gro_init(&g, &cfg), -EINVAL);
	cfg.nbufs = 0;
	cr_assert_eq(gro_init(&g, &cfg), 0);
	cfg.out_cap = 0;
	cr_assert_eq(gro_init(&g, &cfg), -EINVAL);
}

/* ---- the real kernel ---- */

#define K_PEER_PORT 40000
#define K_PORT      5001
#define K_SEGS      30
#define K_MSS       1400

struct kconn {
	struct net *net;
	struct tun tun;
	int lfd, cfd;
	uint32_t iss; /* ours */
	uint32_t irs; /* the kernel's */
	uint16_t wnd; /* the kernel's receive window (unscaled: we offer no window scaling) */
};

/* A segment from the peer 10.66.0.2 to `dst` (flow A with other addresses). */
static size_t k_seg_to(uint8_t *p, const struct kconn *k, uint32_t seq, uint8_t flags, size_t pay,
		       uint16_t id, const uint8_t dst[4])
{
	struct seg s = seg_a(seq, pay);
	s.host = 2;
	s.ack = k->irs + 1;
	s.flags = flags;
	s.win = 65535;
	s.id = id;
	s.stream = seq - (k->iss + 1);
	s.sport = K_PEER_PORT;
	size_t len = mk(p, &s);
	p[13] = 66; /* 10.66.0.2 instead of 10.1.0.2 */
	memcpy(p + 16, dst, 4);
	pkt_ip4_csum_set(p, 20);
	p[36] = p[37] = 0;
	uint32_t ps = ref_pseudo(p, PKT_PROTO_TCP, len - 20);
	pkt_put16(p + 36, (uint16_t)~ref_sum(ps, p + 20, len - 20));
	return len;
}

/* A segment from the peer to the kernel's 10.66.0.1. */
static size_t k_seg(uint8_t *p, const struct kconn *k, uint32_t seq, uint8_t flags, size_t pay,
		    uint16_t id)
{
	static const uint8_t local[4] = {10, 66, 0, 1};
	return k_seg_to(p, k, seq, flags, pay, id, local);
}

static void k_write(const struct kconn *k, const uint8_t vnet[PKT_VNET_HDR_LEN], const void *p,
		    size_t len)
{
	struct iovec iov[2] = {{(void *)vnet, PKT_VNET_HDR_LEN}, {(void *)p, len}};
	ssize_t w = writev(k->tun.fds[0], iov, 2);
	require(w == (ssize_t)(PKT_VNET_HDR_LEN + len), "TUN write", w < 0 ? -errno : w);
}

/* Read the next IPv4 TCP packet from the kernel's port to the peer; false on timeout. */
static bool k_read(const struct kconn *k, uint8_t *buf, size_t cap, size_t *len)
{
	for (int tries = 0; tries < 200; tries++) {
		struct pollfd pfd = {.fd = k->tun.fds[0], .events = POLLIN};
		if (poll(&pfd, 1, 2000) <= 0)
			return false;
		ssize_t n = read(k->tun.fds[0], buf, cap);
		if (n < PKT_VNET_HDR_LEN + 40)
			continue;
		const uint8_t *ip = buf + PKT_VNET_HDR_LEN;
		if ((ip[0] >> 4) == 4 && ip[9] == PKT_PROTO_TCP && pkt_get16(ip + 20) == K_PORT) {
			*len = (size_t)n;
			return true;
		}
	}
	return false;
}

static void k_handshake(struct kconn *k)
{
	static uint8_t buf[70000];
	static const uint8_t plain[PKT_VNET_HDR_LEN];
	size_t n;

	/* SYN with MSS 1400 (no window scaling, no timestamps) */
	uint8_t syn[64];
	size_t len = k_seg(syn, k, k->iss, PKT_TCP_SYN, 0, 1);
	/* add the MSS option: data offset 6 */
	syn[3] = (uint8_t)(len + 4);
	pkt_ip4_csum_set(syn, 20);
	syn[32] = 6 << 4;
	syn[40] = 2;
	syn[41] = 4;
	pkt_put16(syn + 42, K_MSS);
	pkt_put32(syn + 28, 0);
	syn[36] = syn[37] = 0;
	pkt_put16(syn + 36, (uint16_t)~ref_sum(ref_pseudo(syn, PKT_PROTO_TCP, 24), syn + 20, 24));
	k_write(k, plain, syn, len + 4);

	require(k_read(k, buf, sizeof(buf), &n), "SYN-ACK from the kernel", 0);
	const uint8_t *t = buf + PKT_VNET_HDR_LEN + 20;
	require(t[13] == (PKT_TCP_SYN | PKT_TCP_ACK), "SYN-ACK flags", t[13]);
	require(pkt_get32(t + 8) == k->iss + 1, "SYN-ACK acknowledges", pkt_get32(t + 8));
	k->irs = pkt_get32(t + 4);
	k->wnd = pkt_get16(t + 14);

	len = k_seg(syn, k, k->iss + 1, PKT_TCP_ACK, 0, 2);
	k_write(k, plain, syn, len);
	struct pollfd pfd = {.fd = k->lfd, .events = POLLIN};
	require(poll(&pfd, 1, 2000) == 1, "connection established", 0);
	k->cfd = accept(k->lfd, NULL, NULL);
	require(k->cfd >= 0, "accept", -errno);
}

static void k_netns(struct kconn *k)
{
	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("needs root for a private network namespace (errno %d)", errno);
	memset(k, 0, sizeof(*k));
	k->lfd = k->cfd = -1;
	k->iss = 0x7ffffff0u;
	require(net_open(&k->net) == 0, "net_open", 0);
}

/* Bring TUN `name` up with address a/24. */
static void k_link(const struct kconn *k, const char *name, const char *a)
{
	int ifindex;
	struct ip_addr addr;
	require(net_link_index(k->net, name, &ifindex) == 0, "link index", 0);
	require(net_link_up(k->net, ifindex, 1500) == 0, "link up", 0);
	require(ip_addr_parse(a, &addr) == 0, "address", 0);
	require(net_addr_add(k->net, ifindex, &addr, 24) == 0, "address add", 0);
}

static void k_setup(struct kconn *k)
{
	k_netns(k);
	if (tun_open("sdw-gro0", 1, TUN_VNET_HDR, &k->tun) != 0)
		cr_skip_test("no TUN device here");
	k_link(k, "sdw-gro0", "10.66.0.1");

	k->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(K_PORT)};
	inet_pton(AF_INET, "10.66.0.1", &sa.sin_addr);
	require(bind(k->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind", -errno);
	require(listen(k->lfd, 1) == 0, "listen", -errno);
	k_handshake(k);
}

Test(gro_kernel, accepts_coalesced_super_packet)
{
	struct kconn k;
	struct gro g;
	k_setup(&k);
	gro_setup(&g, NBUFS, 4);
	gro_begin(&g);
	/* all of it inside the kernel's initial receive window (10 MSS by default) */
	const size_t nseg = k.wnd / K_MSS < K_SEGS ? k.wnd / K_MSS : K_SEGS;
	cr_assert_geq(nseg, 2, "window %u", k.wnd);
	for (size_t i = 0; i < nseg; i++) {
		uint8_t fl = PKT_TCP_ACK | (i + 1 == nseg ? PKT_TCP_PSH : 0);
		in_len[i] = k_seg(in[i], &k, k.iss + 1 + (uint32_t)(i * K_MSS), fl, K_MSS,
				  (uint16_t)(3 + i));
		require(gro_add(&g, in[i], in_len[i]) != GRO_FULL, "add", (long long)i);
	}
	cr_assert_eq(gro_flush(&g), 1);
	cr_assert_eq(out[0].segs, nseg);
	k_write(&k, out[0].vnet, out[0].data, out[0].len);

	static uint8_t rx[K_SEGS * K_MSS];
	const size_t want = nseg * K_MSS;
	size_t got = 0;
	while (got < want) {
		struct pollfd pfd = {.fd = k.cfd, .events = POLLIN};
		require(poll(&pfd, 1, 2000) == 1, "data arrives at the socket", (long long)got);
		ssize_t n = recv(k.cfd, rx + got, want - got, 0);
		require(n > 0, "recv", n);
		got += (size_t)n;
	}
	for (size_t i = 0; i < want; i++)
		require(rx[i] == pattern((uint32_t)i), "stream octet", (long long)i);
	close(k.cfd);
	close(k.lfd);
	tun_close(&k.tun);
	net_close(k.net);
}

Test(gro_kernel, tso_reads_segment_into_valid_packets)
{
	static uint8_t buf[70000];
	static uint8_t tx[10 * K_MSS];
	struct kconn k;
	k_setup(&k);
	for (size_t i = 0; i < sizeof(tx); i++)
		tx[i] = pattern((uint32_t)i * 3);
	require(send(k.cfd, tx, sizeof(tx), 0) == (ssize_t)sizeof(tx), "send", -errno);

	size_t got = 0, gso_reads = 0, n;
	while (got < sizeof(tx) && k_read(&k, buf, sizeof(buf), &n)) {
		struct pkt_vnet_hdr vh;
		pkt_vnet_hdr_read(buf, &vh);
		gso_reads += vh.gso_type != PKT_VNET_GSO_NONE;
		size_t ns = split(&vh, buf + PKT_VNET_HDR_LEN, n - PKT_VNET_HDR_LEN, 0);
		for (size_t i = 0; i < ns; i++) {
			const uint8_t *o = segs[i].buf + 16;
			struct pkt_ip ip;
			require(pkt_parse(o, segs[i].len, &ip) == 0, "segment parses",
				(long long)i);
			require(pkt_ip4_csum_ok(o, &ip) && pkt_l4_csum_ok(o, &ip), "checksums",
				(long long)i);
			require(ref_sum(ref_pseudo(o, PKT_PROTO_TCP, ip.len - 20), o + 20,
					ip.len - 20) == 0xffff,
				"reference checksum", (long long)i);
			require(ip.len <= 20 + 20 + K_MSS, "MSS respected", ip.len);
			size_t off = pkt_get32(o + 24) - (k.irs + 1), pay = ip.len - 40;
			require(off == got && memcmp(o + 40, tx + off, pay) == 0, "stream",
				(long long)off);
			got += pay;
		}
	}
	cr_assert_eq(got, sizeof(tx));
	cr_assert_gt(gso_reads, 0, "the kernel sent at least one TSO super-packet");
	close(k.cfd);
	close(k.lfd);
	tun_close(&k.tun);
	net_close(k.net);
}

/*
 * The kernel forwards a coalesced super-packet out of a second TUN that has no offloads, so it
 * must segment it in software, completing each segment's checksum from the pseudo-header sum
 * that GRO seeded: every segment read there must verify.
 */
Test(gro_kernel, forwards_super_packet_as_valid_segments)
{
	static const uint8_t remote[4] = {10, 77, 0, 5};
	static uint8_t rx[2048];
	struct kconn k;
	struct tun out_tun;
	struct gro g;

	k_netns(&k);
	if (tun_open("sdw-gro0", 1, TUN_VNET_HDR, &k.tun) != 0 ||
	    tun_open("sdw-plain0", 1, 0, &out_tun) != 0)
		cr_skip_test("no TUN device here");
	k_link(&k, "sdw-gro0", "10.66.0.1");
	k_link(&k, "sdw-plain0", "10.77.0.1");
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "w");
	require(f && fputs("1", f) >= 0 && fclose(f) == 0, "enable forwarding", 0);

	gro_setup(&g, NBUFS, 4);
	gro_begin(&g);
	for (size_t i = 0; i < K_SEGS; i++) {
		in_len[i] = k_seg_to(in[i], &k, k.iss + (uint32_t)(i * K_MSS), PKT_TCP_ACK, K_MSS,
				     (uint16_t)i, remote);
		require(gro_add(&g, in[i], in_len[i]) != GRO_FULL, "add", (long long)i);
	}
	cr_assert_eq(gro_flush(&g), 1);
	cr_assert_eq(out[0].segs, K_SEGS);
	k_write(&k, out[0].vnet, out[0].data, out[0].len);

	for (size_t i = 0; i < K_SEGS; i++) {
		struct pollfd pfd = {.fd = out_tun.fds[0], .events = POLLIN};
		struct pkt_ip ip;
		require(poll(&pfd, 1, 2000) == 1, "forwarded segment", (long long)i);
		ssize_t n = read(out_tun.fds[0], rx, sizeof(rx));
		require(n > 0 && pkt_parse(rx, (size_t)n, &ip) == 0, "segment parses", n);
		if (ip.family != IP_V4 || ip.proto != PKT_PROTO_TCP) {
			i--; /* something else the kernel sent on the link */
			continue;
		}
		require(ip.len == 40 + K_MSS && rx[8] == 63, "forwarded size and TTL", ip.len);
		require(ref_sum(0, rx, 20) == 0xffff, "IPv4 header checksum", (long long)i);
		require(ref_sum(ref_pseudo(rx, PKT_PROTO_TCP, ip.len - 20), rx + 20, ip.len - 20) ==
				0xffff,
			"TCP checksum completed from the seed", (long long)i);
		require(pkt_get32(rx + 24) == k.iss + i * K_MSS, "in order", (long long)i);
		require(memcmp(rx + 40, in[i] + 40, K_MSS) == 0, "payload", (long long)i);
	}
	tun_close(&out_tun);
	tun_close(&k.tun);
	net_close(k.net);
}
