/*
 * Prefix lists read as address sets: aggregation (the fewest prefixes covering the same
 * addresses) and splitting (the same addresses, cut so that given prefixes stand alone). The
 * controller summarises the WAN prefix table with them (EdgeConfig.wan_summary).
 *
 * Plain arrays owned by the caller; nothing is allocated.
 */
#ifndef SDWAN_COMMON_PREFIX_SET_H
#define SDWAN_COMMON_PREFIX_SET_H

#include <stddef.h>

#include "common/prefix.h"

/* Sort set[0, n) by prefix_cmp (family, address, then shorter first). */
void prefix_set_sort(struct prefix *set, size_t n);

/*
 * Rewrite set[0, n) as the fewest prefixes covering exactly the same addresses: sorted
 * (prefix_cmp), duplicates and prefixes inside another dropped, sibling halves merged into their
 * parent (10.0.0.0/24 and 10.0.1.0/24 become 10.0.0.0/23). In place; returns the new count.
 */
size_t prefix_set_aggregate(struct prefix *set, size_t n);

/* The most prefixes prefix_set_split writes for n entries split at n_at prefixes: standing one
 * prefix alone in an entry d bits shorter turns the entry into d + 1. */
#define PREFIX_SET_SPLIT_MAX(n, n_at) ((n) + (n_at) * (size_t)128)

/*
 * Write to out the addresses of set[0, n) (sorted and disjoint, as prefix_set_aggregate leaves
 * it), split so that each prefix of at[0, n_at) (sorted by prefix_cmp) that lies inside an entry
 * is an entry of its own: an entry covering it is replaced by it and by the sibling halves that
 * make up the rest (10.0.0.0/22 split at 10.0.1.0/24 gives 10.0.0.0/24, 10.0.1.0/24 and
 * 10.0.2.0/23). Returns the count written, at most PREFIX_SET_SPLIT_MAX(n, n_at); out is sorted
 * and disjoint, and must not overlap set.
 */
size_t prefix_set_split(const struct prefix *set, size_t n, const struct prefix *at, size_t n_at,
			struct prefix *out);

#endif
