/* Prefix lists as address sets: aggregation and splitting keep exactly the same addresses. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/prefix_set.h"

static struct prefix P(const char *s) {
	struct prefix p;
	bool host;
	cr_assert_eq(prefix_parse(s, &p, &host), 0, "%s", s);
	return p;
}

static void
expect_list(const struct prefix *got, size_t n, const char *const *want, size_t n_want)
{
	char b[PREFIX_STRLEN];
	cr_assert_eq(n, n_want, "%zu prefixes, expected %zu (first: %s)", n, n_want,
		     n ? prefix_format(&got[0], b) : "-");
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(prefix_format(&got[i], b), want[i], "entry %zu", i);
}

/* Whether address a is in any of set[0, n). */
static bool member(const struct prefix *set, size_t n, const struct ip_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_contains_addr(&set[i], a))
			return true;
	return false;
}

/* Sorted, pairwise disjoint. */
static void expect_sorted_disjoint(const struct prefix *set, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		cr_expect_lt(prefix_cmp(&set[i - 1], &set[i]), 0, "entry %zu out of order", i);
		cr_expect(!prefix_overlaps(&set[i - 1], &set[i]), "entries %zu and %zu overlap",
			  i - 1, i);
	}
}

Test(prefix_set, consecutive_sites_aggregate_to_their_supernet)
{
	struct prefix set[256];
	for (unsigned i = 0; i < 256; i++) {
		/* Shuffled: aggregation must not depend on the input order. */
		unsigned j = (i * 97u) % 256u;
		set[i] = (struct prefix){.addr = {.family = IP_V4, .bytes = {10, 7, (uint8_t)j}},
					 .len = 24};
	}
	size_t n = prefix_set_aggregate(set, 256);
	const char *want[] = {"10.7.0.0/16"};
	expect_list(set, n, want, 1);
}

Test(prefix_set, only_true_siblings_merge)
{
	struct prefix set[] = {P("10.0.1.0/24"),   P("10.0.2.0/24"),        P("10.0.4.0/24"),
			       P("10.0.5.0/24"),   P("10.0.7.0/24"),        P("0.0.0.0/1"),
			       P("2001:db8::/33"), P("2001:db8:8000::/33"), P("2001:db7::/32")};
	size_t n = prefix_set_aggregate(set, sizeof(set) / sizeof(set[0]));
	/* 10.0.1/24 and 10.0.2/24 are adjacent but halves of different parents; 0.0.0.0/1 covers
	 * all of 10/8; the two IPv6 /33s are one /32, adjacent to 2001:db7::/32 but not its
	 * sibling. */
	const char *want[] = {"0.0.0.0/1", "2001:db7::/32", "2001:db8::/32"};
	expect_list(set, n, want, 3);

	struct prefix v4[] = {P("10.0.1.0/24"), P("10.0.2.0/24"), P("10.0.4.0/24"),
			      P("10.0.5.0/24"), P("10.0.7.0/24"), P("10.0.6.0/24")};
	n = prefix_set_aggregate(v4, sizeof(v4) / sizeof(v4[0]));
	const char *want4[] = {"10.0.1.0/24", "10.0.2.0/24", "10.0.4.0/22"};
	expect_list(v4, n, want4, 3);
}

Test(prefix_set, duplicates_and_covered_prefixes_are_dropped)
{
	struct prefix set[] = {P("10.1.0.0/24"),   P("10.1.0.0/16"), P("10.1.0.0/24"),
			       P("10.1.200.0/24"), P("10.2.0.0/16"), P("10.2.0.0/16")};
	size_t n = prefix_set_aggregate(set, sizeof(set) / sizeof(set[0]));
	const char *want[] = {"10.1.0.0/16", "10.2.0.0/16"};
	expect_list(set, n, want, 2);
}

Test(prefix_set, halves_of_everything_make_the_default_route)
{
	struct prefix set[] = {P("128.0.0.0/1"), P("0.0.0.0/1"), P("::/1"), P("8000::/1")};
	size_t n = prefix_set_aggregate(set, 4);
	const char *want[] = {"0.0.0.0/0", "::/0"};
	expect_list(set, n, want, 2);
}

Test(prefix_set, split_stands_each_prefix_alone)
{
	struct prefix set[] = {P("10.0.0.0/22"), P("10.9.0.0/16")};
	struct prefix at[] = {P("10.0.1.0/24"), P("10.9.0.0/16"), P("192.0.2.0/24")};
	struct prefix out[PREFIX_SET_SPLIT_MAX(2, 3)];
	size_t n = prefix_set_split(set, 2, at, 3, out);
	/* A prefix equal to an entry leaves it whole; one outside the set changes nothing. */
	const char *want[] = {"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/23", "10.9.0.0/16"};
	expect_list(out, n, want, 4);
}

Test(prefix_set, split_at_several_prefixes_of_one_entry)
{
	struct prefix set[] = {P("10.0.0.0/8")};
	struct prefix at[] = {P("10.0.0.0/24"), P("10.0.3.0/24"), P("10.255.255.255/32")};
	struct prefix out[PREFIX_SET_SPLIT_MAX(1, 3)];
	size_t n = prefix_set_split(set, 1, at, 3, out);
	expect_sorted_disjoint(out, n);
	for (size_t i = 0; i < 3; i++) {
		bool alone = false;
		for (size_t k = 0; k < n; k++)
			alone = alone || prefix_cmp(&out[k], &at[i]) == 0;
		cr_expect(alone, "at[%zu] is not an entry of its own", i);
	}
	/* 10/8 cut at a /24 is 17 entries; the second /24 splits one of them (a /23) in two, the
	 * /32 another (10.128.0.0/9) in 24. */
	cr_expect_eq(n, 17u + 1 + 23, "%zu entries", n);
}

/* Random sets inside 10.0.0.0/16: the results hold exactly the input's addresses, checked at
 * every /28 boundary and one address inside each. */
Test(prefix_set, random_sets_keep_their_addresses)
{
	unsigned seed = 20261206;
	for (int round = 0; round < 200; round++) {
		struct prefix in[64], set[64], at[8];
		size_t n = (size_t)(rand_r(&seed) % 64) + 1, n_at = (size_t)(rand_r(&seed) % 8);
		for (size_t i = 0; i < n; i++) {
			uint8_t len = (uint8_t)(18 + rand_r(&seed) % 11);
			uint32_t a = 0x0a000000u | ((uint32_t)rand_r(&seed) & 0xffffu);
			a &= ~0u << (32 - len);
			in[i] = (struct prefix){
				.addr = {.family = IP_V4,
					 .bytes = {(uint8_t)(a >> 24), (uint8_t)(a >> 16),
						   (uint8_t)(a >> 8), (uint8_t)a}},
				.len = len};
		}
		memcpy(set, in, sizeof(in));
		size_t m = prefix_set_aggregate(set, n);
		expect_sorted_disjoint(set, m);
		for (size_t i = 1; i < m; i++)
			cr_expect(!(set[i - 1].len == set[i].len &&
				    prefix_set_aggregate((struct prefix[]){set[i - 1], set[i]},
							 2) == 1),
				  "round %d: entries %zu and %zu could merge", round, i - 1, i);
		/* Split at some of the input's own prefixes, as the controller does with sites. */
		for (size_t i = 0; i < n_at; i++)
			at[i] = in[(size_t)rand_r(&seed) % n];
		n_at = prefix_set_aggregate(at, n_at);
		struct prefix out[PREFIX_SET_SPLIT_MAX(64, 8)];
		size_t w = prefix_set_split(set, m, at, n_at, out);
		cr_assert_leq(w, PREFIX_SET_SPLIT_MAX(m, n_at));
		expect_sorted_disjoint(out, w);
		for (size_t i = 0; i < n_at; i++) {
			bool alone = false;
			for (size_t k = 0; k < w; k++)
				alone = alone || prefix_cmp(&out[k], &at[i]) == 0;
			cr_expect(alone, "round %d: at[%zu] is not an entry of its own", round, i);
		}
		for (uint32_t a = 0x0a000000u; a < 0x0a010000u; a += 16) {
			for (uint32_t off = 0; off < 16; off += 9) {
				uint32_t v = a + off;
				struct ip_addr x = {.family = IP_V4,
						    .bytes = {(uint8_t)(v >> 24),
							      (uint8_t)(v >> 16), (uint8_t)(v >> 8),
							      (uint8_t)v}};
				bool want = member(in, n, &x);
				cr_assert_eq(member(set, m, &x), want, "round %d: aggregate",
					     round);
				cr_assert_eq(member(out, w, &x), want, "round %d: split", round);
			}
		}
	}
}
