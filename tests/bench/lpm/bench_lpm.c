/*
 * LPM benchmark: build time, memory and single-thread lookup rate of tables of 10k and 100k
 * routes per family. Prefix lengths follow a routing-table-like mix (mostly /24 for IPv4 and /48
 * for IPv6, with shorter aggregates and host routes); half the probed addresses fall inside a
 * route, half are random. Fixed seed, so runs are comparable.
 *
 *   build/bin/bench-lpm [lookups-per-run]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/lpm.h"

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1du;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned pick_len(struct rng *r, uint8_t family)
{
	unsigned x = (unsigned)(rng_next(r) % 100);
	if (family == IP_V4) {
		if (x < 55)
			return 24;
		if (x < 75)
			return 16 + (unsigned)(rng_next(r) % 8);
		if (x < 85)
			return 8 + (unsigned)(rng_next(r) % 8);
		if (x < 95)
			return 25 + (unsigned)(rng_next(r) % 7);
		return 32;
	}
	if (x < 50)
		return 48;
	if (x < 70)
		return 32 + (unsigned)(rng_next(r) % 16);
	if (x < 85)
		return 49 + (unsigned)(rng_next(r) % 16);
	if (x < 95)
		return 20 + (unsigned)(rng_next(r) % 12);
	return 128;
}

static void random_addr(struct rng *r, uint8_t family, struct ip_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	for (unsigned i = 0; i < (family == IP_V4 ? 4u : 16u); i++)
		a->bytes[i] = (uint8_t)rng_next(r);
	if (family == IP_V6)
		a->bytes[0] = (uint8_t)(0x20 | (a->bytes[0] & 0x0f)); /* 2000::/4-like */
}

struct run {
	struct prefix *routes;
	size_t n_routes;
	uint8_t (*probes)[16];
	size_t n_probes;
};

static int make_run(struct run *run, uint8_t family, size_t n_routes, size_t n_probes)
{
	struct rng r = {0x1e57beefu + family + n_routes};
	run->routes = calloc(n_routes, sizeof(*run->routes));
	run->probes = calloc(n_probes, sizeof(*run->probes));
	if (!run->routes || !run->probes)
		return -1;
	run->n_routes = n_routes;
	run->n_probes = n_probes;
	for (size_t i = 0; i < n_routes; i++) {
		struct prefix *p = &run->routes[i];
		random_addr(&r, family, &p->addr);
		p->len = (uint8_t)pick_len(&r, family);
	}
	for (size_t i = 0; i < n_probes; i++) {
		struct ip_addr a;
		random_addr(&r, family, &a);
		if (rng_next(&r) & 1) {
			/* Inside a route: its network bits, random host bits. */
			const struct prefix *p = &run->routes[rng_next(&r) % n_routes];
			for (unsigned b = 0; b < p->len; b++) {
				uint8_t bit = (uint8_t)(0x80u >> (b % 8));
				a.bytes[b / 8] = (uint8_t)((a.bytes[b / 8] & ~bit) |
							   (p->addr.bytes[b / 8] & bit));
			}
		}
		memcpy(run->probes[i], a.bytes, 16);
	}
	return 0;
}

static void free_run(struct run *run)
{
	free(run->routes);
	free(run->probes);
}

static int bench(uint8_t family, size_t n_routes, size_t n_lookups)
{
	struct run run = {0};
	struct lpm_builder *b = NULL;
	struct lpm *t = NULL;
	int rc = -1;
	size_t n_probes = 1u << 20;

	if (make_run(&run, family, n_routes, n_probes) != 0)
		goto out;
	b = lpm_builder_new();
	if (!b)
		goto out;
	for (size_t i = 0; i < run.n_routes; i++)
		if (lpm_insert(b, &run.routes[i], (uint32_t)(i % 50000)) != 0)
			goto out;

	double t0 = now_s();
	if (lpm_build(b, &t) != 0)
		goto out;
	double build_ms = (now_s() - t0) * 1e3;

	uint64_t sum = 0;
	t0 = now_s();
	for (size_t i = 0; i < n_lookups; i++) {
		const uint8_t *a = run.probes[i & (n_probes - 1)];
		sum += family == IP_V4 ? lpm_lookup_v4(t, a) : lpm_lookup_v6(t, a);
	}
	double secs = now_s() - t0;

	printf("%-4s %7zu routes (%7zu distinct)  build %7.1f ms  %8.1f KiB  %7.1f M lookups/s"
	       "  (%.1f ns/lookup, checksum %llx)\n",
	       family == IP_V4 ? "IPv4" : "IPv6", n_routes, lpm_count(t), build_ms,
	       (double)lpm_memory(t) / 1024.0, (double)n_lookups / secs / 1e6,
	       secs * 1e9 / (double)n_lookups, (unsigned long long)sum);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "bench-lpm: setup failed (out of memory?)\n");
	lpm_free(t);
	lpm_builder_free(b);
	free_run(&run);
	return rc;
}

int main(int argc, char **argv)
{
	size_t n_lookups = (size_t)20 * 1000 * 1000;
	if (argc > 1) {
		char *end;
		unsigned long long v = strtoull(argv[1], &end, 10);
		if (*end != '\0' || v == 0) {
			fprintf(stderr, "usage: %s [lookups-per-run]\n", argv[0]);
			return 2;
		}
		n_lookups = (size_t)v;
	}
	static const size_t sizes[] = {10000, 100000};
	int rc = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		rc |= bench(IP_V4, sizes[i], n_lookups);
		rc |= bench(IP_V6, sizes[i], n_lookups);
	}
	return rc ? 1 : 0;
}
