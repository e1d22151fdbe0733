#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/lpm.h"

static struct prefix pfx(const char *s)
{
	struct prefix p;
	bool host_bits;
	cr_assert_eq(prefix_parse(s, &p, &host_bits), 0, "bad test prefix %s", s);
	return p;
}

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	cr_assert_eq(ip_addr_parse(s, &a), 0, "bad test address %s", s);
	return a;
}

struct route_row {
	const char *prefix;
	uint32_t value;
};

struct query_row {
	const char *addr;
	uint32_t want; /* LPM_NO_ROUTE: no match */
};

static void insert_rows(struct lpm_builder *b, const struct route_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct prefix p = pfx(rows[i].prefix);
		cr_assert_eq(lpm_insert(b, &p, rows[i].value), 0, "insert %s", rows[i].prefix);
	}
}

static void check_rows(const struct lpm *t, const struct query_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ip_addr a = addr(rows[i].addr);
		uint32_t got = LPM_NO_ROUTE;
		bool found = lpm_lookup(t, &a, &got);
		cr_expect_eq(found, rows[i].want != LPM_NO_ROUTE, "%s: found=%d", rows[i].addr,
			     found);
		cr_expect_eq(got, rows[i].want, "%s: got %u, want %u", rows[i].addr, got,
			     rows[i].want);
		uint32_t raw =
			a.family == IP_V4 ? lpm_lookup_v4(t, a.bytes) : lpm_lookup_v6(t, a.bytes);
		cr_expect_eq(raw, rows[i].want, "%s: raw lookup %u", rows[i].addr, raw);
	}
}

static struct lpm *build(const struct lpm_builder *b)
{
	struct lpm *t = NULL;
	cr_assert_eq(lpm_build(b, &t), 0);
	cr_assert_not_null(t);
	return t;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct route_row routes_main[] = {
	{"0.0.0.0/0", 1},
	{"10.0.0.0/8", 2},
	{"10.1.0.0/16", 3},
	{"10.1.2.0/24", 4},
	{"10.1.2.3/32", 5},
	{"10.1.2.128/25", 6},
	{"192.168.0.0/17", 7},
	{"255.255.255.255/32", 8},
	{"0.0.0.0/32", 9},
	{"2001:db8::/32", 20},
	{"2001:db8:1::/48", 21},
	{"2001:db8:1:2::/64", 22},
	{"2001:db8:1:2::1/128", 23},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 24},
	{"fe80::/10", 25},
};

static const struct query_row queries_main[] = {
	{"1.2.3.4", 1},
	{"0.0.0.0", 9},
	{"0.0.0.1", 1},
	{"10.0.0.0", 2},
	{"10.255.255.255", 2},
	{"10.1.0.0", 3},
	{"10.1.255.255", 3},
	{"10.1.2.0", 4},
	{"10.1.2.2", 4},
	{"10.1.2.3", 5},
	{"10.1.2.4", 4},
	{"10.1.2.127", 4},
	{"10.1.2.128", 6},
	{"10.1.2.255", 6},
	{"10.1.3.0", 3},
	{"11.0.0.0", 1},
	{"192.168.127.255", 7},
	{"192.168.128.0", 1},
	{"255.255.255.255", 8},
	{"255.255.255.254", 1},
	/* No IPv6 default route: the IPv4 one must not leak across families. */
	{"::", LPM_NO_ROUTE},
	{"::ffff:10.1.2.3", LPM_NO_ROUTE},
	{"2001:db8::", 20},
	{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 20},
	{"2001:db8:1::", 21},
	{"2001:db8:1:2::", 22},
	{"2001:db8:1:2::1", 23},
	{"2001:db8:1:2::2", 22},
	{"2001:db8:1:2:ffff::", 22},
	{"2001:db8:1:3::", 21},
	{"2001:db9::", LPM_NO_ROUTE},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 24},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", LPM_NO_ROUTE},
	{"fe80::1", 25},
	{"febf:ffff::", 25},
	{"fec0::", LPM_NO_ROUTE},
};

Test(lpm, table_driven_v4_and_v6_side_by_side)
{
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	insert_rows(b, routes_main, N(routes_main));
	cr_expect_eq(lpm_builder_count(b), N(routes_main));
	struct lpm *t = build(b);
	cr_expect_eq(lpm_count(t), N(routes_main));
	cr_expect_gt(lpm_memory(t), 0);
	check_rows(t, queries_main, N(queries_main));
	lpm_free(t);
	lpm_builder_free(b);
}

Test(lpm, removal_uncovers_shorter_prefix)
{
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	insert_rows(b, routes_main, N(routes_main));

	static const char *const gone[] = {"10.1.0.0/16", "10.1.2.3/32", "2001:db8:1::/48",
					   "2001:db8:1:2::1/128", "0.0.0.0/0"};
	for (size_t i = 0; i < N(gone); i++) {
		struct prefix p = pfx(gone[i]);
		cr_assert_eq(lpm_remove(b, &p), 0, "remove %s", gone[i]);
		cr_expect_eq(lpm_remove(b, &p), -ENOENT, "second remove %s", gone[i]);
	}
	cr_expect_eq(lpm_builder_count(b), N(routes_main) - N(gone));

	static const struct query_row after[] = {
		{"10.1.0.0", 2},           /* was the /16, now the /8 */
		{"10.1.2.3", 4},           /* was the /32, now the /24 */
		{"10.1.2.200", 6},         /* untouched /25 */
		{"1.2.3.4", LPM_NO_ROUTE}, /* default route gone */
		{"0.0.0.0", 9},
		{"2001:db8:1::", 20},
		{"2001:db8:1:2::1", 22},
		{"2001:db8:1:2::2", 22},
	};
	struct lpm *t = build(b);
	check_rows(t, after, N(after));
	lpm_free(t);
	lpm_builder_free(b);
}

Test(lpm, default_routes_only)
{
	static const struct route_row routes[] = {{"0.0.0.0/0", 7}, {"::/0", 8}};
	static const struct query_row queries[] = {
		{"0.0.0.0", 7},
		{"255.255.255.255", 7},
		{"::", 8},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 8},
	};
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	insert_rows(b, routes, N(routes));
	struct lpm *t = build(b);
	check_rows(t, queries, N(queries));
	lpm_free(t);
	lpm_builder_free(b);
}

Test(lpm, empty_and_null_tables)
{
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	struct lpm *t = build(b);
	struct ip_addr a4 = addr("10.0.0.1"), a6 = addr("2001:db8::1");
	uint32_t v = 42;
	cr_expect_not(lpm_lookup(t, &a4, &v));
	cr_expect_not(lpm_lookup(t, &a6, &v));
	cr_expect_eq(v, 42, "a miss must not write the value");
	cr_expect_not(lpm_lookup(NULL, &a4, &v));
	cr_expect_eq(lpm_lookup_v4(NULL, a4.bytes), LPM_NO_ROUTE);
	cr_expect_eq(lpm_lookup_v6(NULL, a6.bytes), LPM_NO_ROUTE);
	cr_expect_eq(lpm_count(t), 0);
	cr_expect_eq(lpm_count(NULL), 0);
	struct ip_addr bogus = a4;
	bogus.family = 5;
	cr_expect_not(lpm_lookup(t, &bogus, &v));
	lpm_free(t);
	lpm_free(NULL);
	lpm_builder_free(b);
	lpm_builder_free(NULL);
}

Test(lpm, invalid_input_and_replacement)
{
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	struct prefix p = pfx("10.0.0.0/8");
	cr_expect_eq(lpm_insert(b, &p, LPM_NO_ROUTE), -EINVAL);
	struct prefix bad = p;
	bad.len = 33;
	cr_expect_eq(lpm_insert(b, &bad, 1), -EINVAL);
	cr_expect_eq(lpm_remove(b, &bad), -EINVAL);
	bad = pfx("::/0");
	bad.len = 129;
	cr_expect_eq(lpm_insert(b, &bad, 1), -EINVAL);
	bad.len = 0;
	bad.addr.family = 0;
	cr_expect_eq(lpm_insert(b, &bad, 1), -EINVAL);
	cr_expect_eq(lpm_builder_count(b), 0);

	/* Host bits are ignored: 10.9.9.9/8 is the same prefix as 10.0.0.0/8. */
	cr_assert_eq(lpm_insert(b, &p, 1), 0);
	struct prefix host = p;
	host.addr = addr("10.9.9.9");
	cr_assert_eq(lpm_insert(b, &host, 2), 0);
	cr_expect_eq(lpm_builder_count(b), 1);
	struct lpm *t = build(b);
	static const struct query_row q[] = {{"10.200.0.1", 2}, {"11.0.0.0", LPM_NO_ROUTE}};
	check_rows(t, q, N(q));
	lpm_free(t);
	cr_expect_eq(lpm_remove(b, &host), 0);
	cr_expect_eq(lpm_builder_count(b), 0);
	lpm_builder_free(b);
}

/* A table built earlier is a snapshot: later edits of the builder do not reach it. */
Test(lpm, tables_are_snapshots)
{
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	struct prefix p = pfx("192.0.2.0/24");
	cr_assert_eq(lpm_insert(b, &p, 1), 0);
	struct lpm *t1 = build(b);
	cr_assert_eq(lpm_insert(b, &p, 2), 0);
	struct lpm *t2 = build(b);
	lpm_builder_free(b);
	struct ip_addr a = addr("192.0.2.9");
	cr_expect(lpm_match(t1, &a, 1));
	cr_expect(lpm_match(t2, &a, 2));
	lpm_free(t1);
	lpm_free(t2);
}

/*
 * Anti-spoofing as the data plane uses it: a spoke's tunnel to a hub may carry every WAN prefix
 * except the spoke's own; the deny value carves the own prefixes out of the WAN aggregate.
 */
#define ALLOW 1
#define DENY  0

Test(lpm, anti_spoofing_sets)
{
	static const struct route_row set[] = {
		{"10.0.0.0/8", ALLOW},      {"10.20.0.0/16", DENY},   {"2001:db8::/32", ALLOW},
		{"2001:db8:20::/48", DENY}, {"172.16.5.0/24", ALLOW},
	};
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	insert_rows(b, set, N(set));
	struct lpm *t = build(b);
	lpm_builder_free(b);

	struct ip_addr ok = addr("10.30.1.1"), own = addr("10.20.1.1"), out = addr("8.8.8.8");
	struct ip_addr ok6 = addr("2001:db8:30::1"), own6 = addr("2001:db8:20::1");
	cr_expect(lpm_match(t, &ok, ALLOW));
	cr_expect_not(lpm_match(t, &own, ALLOW));
	cr_expect_not(lpm_match(t, &out, ALLOW));
	cr_expect(lpm_match(t, &ok6, ALLOW));
	cr_expect_not(lpm_match(t, &own6, ALLOW));
	cr_expect(lpm_contains(t, &own), "the deny entry is still a member of the set");
	cr_expect_not(lpm_contains(t, &out));
	struct ip_addr edge = addr("172.16.5.255"), past = addr("172.16.6.0");
	cr_expect(lpm_match(t, &edge, ALLOW));
	cr_expect_not(lpm_contains(t, &past));
	lpm_free(t);
}

Test(lpm, slot_publish_swaps_and_returns_old)
{
	struct lpm_slot slot;
	lpm_slot_init(&slot);
	cr_expect_null(lpm_current(&slot));

	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	struct prefix p = pfx("0.0.0.0/0");
	cr_assert_eq(lpm_insert(b, &p, 3), 0);
	struct lpm *t1 = build(b);
	struct lpm *t2 = build(b);
	lpm_builder_free(b);

	struct lpm *keep1 = t1;
	struct lpm *old = lpm_publish(&slot, &t1);
	cr_expect_null(old);
	cr_expect_null(t1, "publish takes ownership");
	cr_expect_eq(lpm_current(&slot), keep1);
	old = lpm_publish(&slot, &t2);
	cr_expect_eq(old, keep1);
	struct ip_addr a = addr("198.51.100.1");
	cr_expect(lpm_match(lpm_current(&slot), &a, 3));
	lpm_free(old);
	struct lpm *none = NULL;
	old = lpm_publish(&slot, &none);
	cr_expect_not_null(old);
	cr_expect_null(lpm_current(&slot));
	lpm_free(old);
}

/* ---- differential test against a linear scan ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1du;
}

static unsigned rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

struct ref_route {
	struct prefix p;
	uint32_t value;
	bool live;
};

struct ref {
	struct ref_route *r;
	size_t n;
};

static void mask_prefix(struct prefix *p)
{
	unsigned bits = ip_family_bits(p->addr.family);
	for (unsigned i = p->len; i < bits; i++)
		p->addr.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	for (unsigned i = bits / 8; i < 16; i++)
		p->addr.bytes[i] = 0;
}

static void random_bytes(struct rng *r, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)rng_next(r);
}

/* A random prefix; half of them nested under (or next to) one already in the set, so that
 * nesting, shared paths and equal keys of different lengths are common. */
static struct prefix random_prefix(struct rng *r, uint8_t family, const struct ref *ref)
{
	unsigned bits = family == IP_V4 ? 32 : 128;
	struct prefix p;
	memset(&p, 0, sizeof(p));
	p.addr.family = family;
	random_bytes(r, p.addr.bytes, bits / 8);
	if (ref->n > 0 && rng_below(r, 2) == 0) {
		const struct prefix *base = &ref->r[rng_below(r, (unsigned)ref->n)].p;
		unsigned keep = base->len;
		for (unsigned i = 0; i < keep; i++) {
			uint8_t bit = (uint8_t)(0x80u >> (i % 8));
			p.addr.bytes[i / 8] = (uint8_t)((p.addr.bytes[i / 8] & ~bit) |
							(base->addr.bytes[i / 8] & bit));
		}
		p.len = (uint8_t)(keep + rng_below(r, bits - keep + 1));
	} else {
		/* Mostly realistic lengths, with the extremes present. */
		unsigned pick = rng_below(r, 8);
		if (pick == 0)
			p.len = (uint8_t)rng_below(r, bits + 1);
		else if (pick == 1)
			p.len = (uint8_t)bits;
		else
			p.len = (uint8_t)(family == IP_V4 ? 8 + rng_below(r, 17)
							  : 16 + rng_below(r, 49));
	}
	mask_prefix(&p);
	return p;
}

static uint32_t ref_lookup(const struct ref *ref, const struct ip_addr *a)
{
	int best = -1;
	uint32_t v = LPM_NO_ROUTE;
	for (size_t i = 0; i < ref->n; i++) {
		const struct ref_route *rr = &ref->r[i];
		if (rr->live && (int)rr->p.len > best && prefix_contains_addr(&rr->p, a)) {
			best = rr->p.len;
			v = rr->value;
		}
	}
	return v;
}

static void ref_put(struct ref *ref, const struct prefix *p, uint32_t value)
{
	for (size_t i = 0; i < ref->n; i++) {
		if (ref->r[i].live && prefix_cmp(&ref->r[i].p, p) == 0) {
			ref->r[i].value = value;
			return;
		}
	}
	ref->r[ref->n++] = (struct ref_route){.p = *p, .value = value, .live = true};
}

/* An address inside a random live route (host bits random), or a fully random one. */
static struct ip_addr probe_addr(struct rng *r, uint8_t family, const struct ref *ref)
{
	struct ip_addr a;
	memset(&a, 0, sizeof(a));
	a.family = family;
	random_bytes(r, a.bytes, family == IP_V4 ? 4 : 16);
	if (ref->n == 0 || rng_below(r, 4) == 0)
		return a;
	const struct prefix *p = &ref->r[rng_below(r, (unsigned)ref->n)].p;
	for (unsigned i = 0; i < p->len; i++) {
		uint8_t bit = (uint8_t)(0x80u >> (i % 8));
		a.bytes[i / 8] = (uint8_t)((a.bytes[i / 8] & ~bit) | (p->addr.bytes[i / 8] & bit));
	}
	return a;
}

static void compare(const struct lpm *t, struct rng *r, uint8_t family, const struct ref *ref,
		    unsigned n_probes)
{
	for (unsigned i = 0; i < n_probes; i++) {
		struct ip_addr a = probe_addr(r, family, ref);
		uint32_t want = ref_lookup(ref, &a);
		uint32_t got =
			family == IP_V4 ? lpm_lookup_v4(t, a.bytes) : lpm_lookup_v6(t, a.bytes);
		if (got != want) {
			char buf[IP_ADDR_STRLEN];
			cr_assert_fail("family %u, %zu routes: %s -> %u, reference says %u", family,
				       ref->n, ip_addr_format(&a, buf), got, want);
		}
	}
}

static void differential(uint8_t family, size_t n_routes, uint64_t seed)
{
	struct rng r = {seed};
	struct ref ref = {calloc(n_routes, sizeof(struct ref_route)), 0};
	cr_assert_not_null(ref.r);
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);

	for (size_t i = 0; i < n_routes; i++) {
		struct prefix p = random_prefix(&r, family, &ref);
		uint32_t v = rng_below(&r, 1000);
		cr_assert_eq(lpm_insert(b, &p, v), 0);
		ref_put(&ref, &p, v);
	}
	struct lpm *t = build(b);
	cr_expect_eq(lpm_count(t), lpm_builder_count(b));
	compare(t, &r, family, &ref, 3000);
	lpm_free(t);

	/* Remove a third of the routes and compare again. */
	size_t live = 0;
	for (size_t i = 0; i < ref.n; i++) {
		if (rng_below(&r, 3) == 0) {
			cr_assert_eq(lpm_remove(b, &ref.r[i].p), 0);
			ref.r[i].live = false;
		} else {
			live++;
		}
	}
	cr_expect_eq(lpm_builder_count(b), live);
	t = build(b);
	compare(t, &r, family, &ref, 3000);
	lpm_free(t);
	lpm_builder_free(b);
	free(ref.r);
}

/* Sizes cover each size of the direct level (0, 8 and 16 bits). */
Test(lpm, differential_v4)
{
	static const size_t sizes[] = {1, 20, 300, 4000};
	for (size_t i = 0; i < N(sizes); i++)
		differential(IP_V4, sizes[i], 0x5eed0004u + i);
}

Test(lpm, differential_v6)
{
	static const size_t sizes[] = {1, 20, 300, 4000};
	for (size_t i = 0; i < N(sizes); i++)
		differential(IP_V6, sizes[i], 0x5eed0006u + i);
}

/* Both families in one table, so neither family's build disturbs the other's. */
Test(lpm, differential_mixed)
{
	struct rng r = {0x5eed00aau};
	struct ref ref4 = {calloc(3000, sizeof(struct ref_route)), 0};
	struct ref ref6 = {calloc(3000, sizeof(struct ref_route)), 0};
	cr_assert(ref4.r && ref6.r);
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	for (size_t i = 0; i < 3000; i++) {
		struct prefix p4 = random_prefix(&r, IP_V4, &ref4);
		struct prefix p6 = random_prefix(&r, IP_V6, &ref6);
		cr_assert_eq(lpm_insert(b, &p4, (uint32_t)i), 0);
		cr_assert_eq(lpm_insert(b, &p6, (uint32_t)i + 100000), 0);
		ref_put(&ref4, &p4, (uint32_t)i);
		ref_put(&ref6, &p6, (uint32_t)i + 100000);
	}
	struct lpm *t = build(b);
	compare(t, &r, IP_V4, &ref4, 3000);
	compare(t, &r, IP_V6, &ref6, 3000);
	lpm_free(t);
	lpm_builder_free(b);
	free(ref4.r);
	free(ref6.r);
}

/* ---- readers during publication ---- */

struct reader_arg {
	struct lpm_slot *slot;
	atomic_bool *stop;
	unsigned bad;
	unsigned reads;
};

static void *reader(void *p)
{
	struct reader_arg *ra = p;
	const uint8_t a[4] = {10, 1, 2, 3};
	while (!atomic_load(ra->stop)) {
		const struct lpm *t = lpm_current(ra->slot);
		uint32_t v = lpm_lookup_v4(t, a);
		/* Every published table maps 10.0.0.0/8 to an even value. */
		if (v == LPM_NO_ROUTE || v % 2 != 0)
			ra->bad++;
		ra->reads++;
	}
	return NULL;
}

Test(lpm, readers_see_whole_tables)
{
	enum {
		VERSIONS = 200
	};
	struct lpm *old[VERSIONS + 1];
	size_t n_old = 0;
	struct lpm_slot slot;
	lpm_slot_init(&slot);
	struct lpm_builder *b = lpm_builder_new();
	cr_assert_not_null(b);
	struct prefix p = pfx("10.0.0.0/8");
	cr_assert_eq(lpm_insert(b, &p, 0), 0);
	struct lpm *t = build(b);
	cr_expect_null(lpm_publish(&slot, &t));

	atomic_bool stop;
	atomic_init(&stop, false);
	struct reader_arg ra = {.slot = &slot, .stop = &stop};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, reader, &ra), 0);
	for (uint32_t v = 1; v <= VERSIONS; v++) {
		cr_assert_eq(lpm_insert(b, &p, 2 * v), 0);
		/* Grow the table so each version has real nodes behind the pointer. */
		struct prefix q = {.addr = {.family = IP_V4, .bytes = {10, (uint8_t)v, 0, 0}},
				   .len = 24};
		cr_assert_eq(lpm_insert(b, &q, 2 * v), 0);
		t = build(b);
		/* No grace-period machinery here: keep every old table until the reader is done. */
		old[n_old++] = lpm_publish(&slot, &t);
	}
	atomic_store(&stop, true);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_expect_eq(ra.bad, 0, "%u of %u reads saw no or a torn route", ra.bad, ra.reads);
	old[n_old++] = lpm_publish(&slot, &t);
	for (size_t i = 0; i < n_old; i++)
		lpm_free(old[i]);
	lpm_builder_free(b);
}
