/*
 * GSO/GRO benchmark: single-thread rate of segmenting 64 KiB TCP super-packets (as a TUN read
 * with TSO hands them over) into 1398-octet packets with full checksums, each written after 64
 * octets of headroom into its own buffer, and of coalescing those packets back into one
 * super-packet (checksums verified on the way, as gro_add() does). Also the raw checksum rate.
 * IPv4 and IPv6, TCP with timestamps (32-octet header). Figures count IP octets.
 *
 *   build/bin/bench-gso [super-packets-per-run]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge/dp/gro.h"
#include "edge/dp/gso.h"

enum {
	SEG_LEN = 1398,
	HEADROOM = 64,
	TAILROOM = 32,
	SEG_CAP = HEADROOM + SEG_LEN + TAILROOM,
	MAX_SEGS = 64,
	TCP_HLEN = 32,
};

static uint8_t super[65536];
static uint8_t seg_mem[MAX_SEGS][SEG_CAP];
static struct gso_seg segs[MAX_SEGS];
static uint8_t gro_mem[2][65536];
static uint8_t *const gro_bufs[2] = {gro_mem[0], gro_mem[1]};
static struct gro_pkt gro_out[MAX_SEGS];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TSO super-packet as the kernel hands it over: seeded checksum, NEEDS_CSUM. */
static size_t build_super(uint8_t family, struct pkt_vnet_hdr *vh)
{
	const size_t l4 = family == IP_V4 ? 20 : 40, hl = l4 + TCP_HLEN;
	const size_t gso = SEG_LEN - hl;
	const size_t nsegs = (65535 - hl) / gso;
	const size_t len = hl + nsegs * gso;

	memset(super, 0, hl);
	if (family == IP_V4) {
		super[0] = 0x45;
		pkt_put16(super + 2, (uint16_t)len);
		pkt_put16(super + 6, PKT_IP4_DF);
		super[8] = 64;
		super[9] = PKT_PROTO_TCP;
		const uint8_t a[8] = {10, 0, 0, 1, 10, 0, 1, 1};
		memcpy(super + 12, a, 8);
		pkt_ip4_csum_set(super, 20);
	} else {
		super[0] = 0x60;
		pkt_put16(super + 4, (uint16_t)(len - 40));
		super[6] = PKT_PROTO_TCP;
		super[7] = 64;
		super[8] = 0xfd;
		super[23] = 1;
		super[24] = 0xfd;
		super[39] = 2;
	}
	uint8_t *t = super + l4;
	pkt_put16(t, 40000);
	pkt_put16(t + 2, 443);
	pkt_put32(t + 4, 1);
	pkt_put32(t + 8, 1);
	t[12] = (TCP_HLEN / 4) << 4;
	t[13] = PKT_TCP_ACK | PKT_TCP_PSH;
	pkt_put16(t + 14, 1000);
	const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	memcpy(t + 20, ts, sizeof(ts));
	for (size_t i = hl; i < len; i++)
		super[i] = (uint8_t)(i * 31);
	struct pkt_ip ip;
	if (pkt_parse(super, len, &ip) != 0)
		abort();
	pkt_put16(t + 16,
		  pkt_csum_fold(pkt_pseudo(super, &ip, PKT_PROTO_TCP, (uint32_t)(len - l4))));

	*vh = (struct pkt_vnet_hdr){
		.flags = PKT_VNET_F_NEEDS_CSUM,
		.gso_type = family == IP_V4 ? PKT_VNET_GSO_TCPV4 : PKT_VNET_GSO_TCPV6,
		.hdr_len = (uint16_t)hl,
		.gso_size = (uint16_t)gso,
		.csum_start = (uint16_t)l4,
		.csum_offset = PKT_OFF_TCP_CSUM,
	};
	return len;
}

static void report(const char *what, double bytes, double pkts, double secs)
{
	printf("  %-34s %7.2f Gbit/s  %6.1f ns/packet\n", what, bytes * 8 / secs / 1e9,
	       secs / pkts * 1e9);
}

static int bench_family(uint8_t family, long runs)
{
	struct pkt_vnet_hdr vh;
	struct gso_plan plan;
	size_t len = build_super(family, &vh);
	if (gso_prepare(&vh, super, len, &plan) != 0)
		return 1;
	printf("IPv%u: %zu-octet super-packets, %u segments of %u octets (gso_size %u)\n", family,
	       len, plan.nsegs, plan.seg_len, plan.gso_size);

	/* segmentation */
	volatile int sink = 0;
	double t0 = now_s();
	for (long r = 0; r < runs; r++) {
		struct gso_plan pl;
		if (gso_prepare(&vh, super, len, &pl) != 0 ||
		    gso_split(&pl, super, segs, MAX_SEGS, HEADROOM, TAILROOM) != pl.nsegs)
			return 1;
		sink += segs[0].buf[HEADROOM];
	}
	double t = now_s() - t0;
	report("GSO (segment + checksums)", (double)len * (double)runs,
	       (double)plan.nsegs * (double)runs, t);

	/* coalescing the segments back */
	struct gro g;
	struct gro_config cfg = {.out = gro_out,
				 .out_cap = MAX_SEGS,
				 .bufs = gro_bufs,
				 .nbufs = 2,
				 .buf_cap = sizeof(gro_mem[0]),
				 .max_flows = 8};
	if (gro_init(&g, &cfg) != 0)
		return 1;
	t0 = now_s();
	for (long r = 0; r < runs; r++) {
		gro_begin(&g);
		for (size_t i = 0; i < plan.nsegs; i++)
			if (gro_add(&g, segs[i].buf + HEADROOM, segs[i].len) > GRO_QUEUED)
				return 1;
		if (gro_flush(&g) != 1 || gro_out[0].len != len)
			return 1;
	}
	t = now_s() - t0;
	report("GRO (verify + coalesce)", (double)len * (double)runs,
	       (double)plan.nsegs * (double)runs, t);

	/* the checksum alone, over the same octets */
	uint32_t s = 0;
	t0 = now_s();
	for (long r = 0; r < runs; r++)
		s += pkt_csum_add(s, super, len);
	t = now_s() - t0;
	sink += (int)s;
	report("checksum only (pkt_csum_add)", (double)len * (double)runs, (double)runs, t);
	(void)sink;
	return 0;
}

int main(int argc, char **argv)
{
	long runs = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	if (runs <= 0) {
		fprintf(stderr, "usage: bench-gso [super-packets-per-run]\n");
		return 2;
	}
	for (size_t i = 0; i < MAX_SEGS; i++) {
		segs[i].buf = seg_mem[i];
		segs[i].cap = SEG_CAP;
	}
	int rc = bench_family(IP_V4, runs) || bench_family(IP_V6, runs);
	if (rc)
		fprintf(stderr, "bench-gso: unexpected result\n");
	return rc;
}
