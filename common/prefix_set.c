/*
 * Prefix lists as address sets (see prefix_set.h).
 */
#include "common/prefix_set.h"

#include <stdbool.h>
#include <stdlib.h>

static int prefix_qcmp(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

static bool bit_is_set(const struct ip_addr *a, unsigned i)
{
	return a->bytes[i / 8] & (0x80u >> (i % 8));
}

/* Whether p lies inside (or is) outer. */
static bool prefix_within(const struct prefix *p, const struct prefix *outer)
{
	return p->len >= outer->len && prefix_contains_addr(outer, &p->addr);
}

/* Whether a and b are the two halves of one prefix, a the lower. */
static bool siblings(const struct prefix *a, const struct prefix *b)
{
	if (a->addr.family != b->addr.family || a->len != b->len || a->len == 0)
		return false;
	unsigned last = a->len - 1u;
	if (bit_is_set(&a->addr, last) || !bit_is_set(&b->addr, last))
		return false;
	struct prefix parent = {.addr = a->addr, .len = (uint8_t)last};
	return prefix_contains_addr(&parent, &b->addr);
}

void prefix_set_sort(struct prefix *set, size_t n)
{
	if (n > 1)
		qsort(set, n, sizeof(*set), prefix_qcmp);
}

size_t prefix_set_aggregate(struct prefix *set, size_t n)
{
	size_t kept = 0;

	prefix_set_sort(set, n);
	for (size_t i = 0; i < n; i++) {
		/* In address order, an entry covering this one is the last kept: everything between
		 * the two lies inside it and was dropped. */
		if (kept && prefix_within(&set[i], &set[kept - 1]))
			continue;
		set[kept++] = set[i];
		while (kept >= 2 && siblings(&set[kept - 2], &set[kept - 1])) {
			set[kept - 2].len--;
			kept--;
		}
	}
	return kept;
}

/* Split a around at[0, n_at): the sorted prefixes whose addresses lie inside a. */
static size_t split_entry(struct prefix a, const struct prefix *at, size_t n_at, struct prefix *out)
{
	bool cut = false;
	for (size_t i = 0; i < n_at && !cut; i++)
		cut = at[i].len > a.len;
	if (!cut) {
		*out = a;
		return 1;
	}
	struct prefix lo = a, hi = a;
	lo.len = hi.len = (uint8_t)(a.len + 1);
	hi.addr.bytes[a.len / 8] |= (uint8_t)(0x80u >> (a.len % 8));
	size_t k = 0;
	while (k < n_at && !prefix_contains_addr(&hi, &at[k].addr))
		k++;
	size_t w = split_entry(lo, at, k, out);
	return w + split_entry(hi, at + k, n_at - k, out + w);
}

size_t prefix_set_split(const struct prefix *set, size_t n, const struct prefix *at, size_t n_at,
			struct prefix *out)
{
	size_t w = 0, j = 0;

	for (size_t i = 0; i < n; i++) {
		while (j < n_at && ip_addr_cmp(&at[j].addr, &set[i].addr) < 0)
			j++;
		size_t k = j;
		while (k < n_at && prefix_contains_addr(&set[i], &at[k].addr))
			k++;
		w += split_entry(set[i], at + j, k - j, out + w);
		j = k;
	}
	return w;
}
