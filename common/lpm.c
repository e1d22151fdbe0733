#include "common/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Keys. Both families are handled as 128-bit big-endian keys held in two words, IPv4 in the top
 * 32 bits of `hi`, so one set of build code serves both; the lookups have a path per family.
 */
struct lpm_key {
	uint64_t hi;
	uint64_t lo;
};

/* A route in the builder's hash table; len == LEN_EMPTY marks a free bucket. */
struct lpm_route {
	struct lpm_key key;
	uint32_t value;
	uint8_t family;
	uint8_t len;
};

#define LEN_EMPTY      0xff
#define BUILDER_MINCAP 16u

struct lpm_builder {
	struct lpm_route *buckets;
	size_t cap; /* power of two */
	size_t count;
};

/*
 * A trie node covers 6 bits of the key: 64 slots, each either an inner node or a leaf.
 *
 *   child_map  bit s set: slot s is an inner node, nodes[child_base + rank(child_map, s)]
 *   leaf_map   bit s set: slot s is a leaf whose value differs from the previous leaf slot's,
 *              i.e. it starts a new run; a leaf slot s reads leaves[leaf_base + rank - 1]
 *
 * where rank(m, s) counts the bits of m at positions <= s. The children of one node are
 * contiguous, as are its leaves.
 */
struct lpm_node {
	uint64_t child_map;
	uint64_t leaf_map;
	uint32_t child_base;
	uint32_t leaf_base;
};

#define STRIDE 6
/* A dir[] entry with this bit is an inner node index; without it, an index into leaves[]. */
#define DIR_NODE  0x80000000u
#define INDEX_MAX 0x7fffffffu

struct lpm_fam {
	const uint32_t *dir; /* 1 << dir_bits entries */
	const struct lpm_node *nodes;
	const uint32_t *leaves;
	unsigned dir_bits;
	size_t n_routes;
};

struct lpm {
	struct lpm_fam v4;
	struct lpm_fam v6;
	size_t bytes;
};

/* Bits ignored by a key of this length are cleared. */
static struct lpm_key key_mask(struct lpm_key k, unsigned len)
{
	if (len == 0) {
		k.hi = 0;
		k.lo = 0;
	} else if (len < 64) {
		k.hi &= ~(UINT64_MAX >> len);
		k.lo = 0;
	} else if (len < 128) {
		k.lo &= ~(UINT64_MAX >> (len - 64));
	}
	return k;
}

static uint64_t load_be64(const uint8_t *b)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static uint64_t load_be32_hi(const uint8_t *b)
{
	return ((uint64_t)b[0] << 56) | ((uint64_t)b[1] << 48) | ((uint64_t)b[2] << 40) |
	       ((uint64_t)b[3] << 32);
}

/* The masked key and family of a prefix, or -EINVAL. */
static int route_from_prefix(const struct prefix *p, struct lpm_route *r)
{
	memset(r, 0, sizeof(*r));
	if (p->addr.family == IP_V4 && p->len <= 32) {
		r->key.hi = load_be32_hi(p->addr.bytes);
	} else if (p->addr.family == IP_V6 && p->len <= 128) {
		r->key.hi = load_be64(p->addr.bytes);
		r->key.lo = load_be64(p->addr.bytes + 8);
	} else {
		return -EINVAL;
	}
	r->key = key_mask(r->key, p->len);
	r->family = p->addr.family;
	r->len = p->len;
	return 0;
}

/* ---- builder: open addressing, linear probing, backward-shift deletion ---- */

static size_t route_hash(const struct lpm_route *r)
{
	/* splitmix64 finaliser over the fields; routes come from the trusted controller. */
	uint64_t h = r->key.hi ^ (r->key.lo * 0x9e3779b97f4a7c15u) ^
		     ((uint64_t)r->family << 8 | r->len) * 0xc2b2ae3d27d4eb4fu;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebu;
	h ^= h >> 31;
	return (size_t)h;
}

static bool route_same(const struct lpm_route *a, const struct lpm_route *b)
{
	return a->len == b->len && a->family == b->family && a->key.hi == b->key.hi &&
	       a->key.lo == b->key.lo;
}

/* The bucket holding r, or the free bucket where it would go. */
static size_t builder_find(const struct lpm_builder *b, const struct lpm_route *r)
{
	size_t mask = b->cap - 1;
	size_t i = route_hash(r) & mask;
	while (b->buckets[i].len != LEN_EMPTY && !route_same(&b->buckets[i], r))
		i = (i + 1) & mask;
	return i;
}

static struct lpm_route *buckets_new(size_t cap)
{
	struct lpm_route *t = calloc(cap, sizeof(*t));
	if (!t)
		return NULL;
	for (size_t i = 0; i < cap; i++)
		t[i].len = LEN_EMPTY;
	return t;
}

static int builder_grow(struct lpm_builder *b)
{
	size_t ncap = b->cap * 2;
	if (ncap < b->cap || ncap > SIZE_MAX / sizeof(struct lpm_route))
		return -ENOMEM;
	struct lpm_route *nb = buckets_new(ncap);
	if (!nb)
		return -ENOMEM;
	struct lpm_route *old = b->buckets;
	size_t ocap = b->cap;
	b->buckets = nb;
	b->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].len != LEN_EMPTY)
			b->buckets[builder_find(b, &old[i])] = old[i];
	free(old);
	return 0;
}

struct lpm_builder *lpm_builder_new(void)
{
	struct lpm_builder *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->cap = BUILDER_MINCAP;
	b->buckets = buckets_new(b->cap);
	if (!b->buckets) {
		free(b);
		return NULL;
	}
	return b;
}

void lpm_builder_free(struct lpm_builder *b)
{
	if (!b)
		return;
	free(b->buckets);
	free(b);
}

size_t lpm_builder_count(const struct lpm_builder *b)
{
	return b->count;
}

int lpm_insert(struct lpm_builder *b, const struct prefix *p, uint32_t value)
{
	struct lpm_route r;
	int rc = route_from_prefix(p, &r);
	if (rc != 0 || value == LPM_NO_ROUTE)
		return -EINVAL;
	r.value = value;
	/* Keep the load factor at or below 3/4 so probe runs stay short. */
	if ((b->count + 1) * 4 > b->cap * 3) {
		rc = builder_grow(b);
		if (rc != 0)
			return rc;
	}
	size_t i = builder_find(b, &r);
	if (b->buckets[i].len == LEN_EMPTY)
		b->count++;
	b->buckets[i] = r;
	return 0;
}

/* Whether bucket `home` lies cyclically in (hole, j]: then the entry at j must stay put. */
static bool home_between(size_t hole, size_t home, size_t j)
{
	if (hole <= j)
		return hole < home && home <= j;
	return hole < home || home <= j;
}

int lpm_remove(struct lpm_builder *b, const struct prefix *p)
{
	struct lpm_route r;
	if (route_from_prefix(p, &r) != 0)
		return -EINVAL;
	size_t hole = builder_find(b, &r);
	if (b->buckets[hole].len == LEN_EMPTY)
		return -ENOENT;
	/* Shift later members of the probe run back so lookups never cross a hole. */
	size_t mask = b->cap - 1;
	for (size_t j = (hole + 1) & mask; b->buckets[j].len != LEN_EMPTY; j = (j + 1) & mask) {
		size_t home = route_hash(&b->buckets[j]) & mask;
		if (home_between(hole, home, j))
			continue;
		b->buckets[hole] = b->buckets[j];
		hole = j;
	}
	b->buckets[hole].len = LEN_EMPTY;
	b->count--;
	return 0;
}

/* ---- compiling one family ---- */

/* A route as the compiler sees it: sorted by key, then length. */
struct lpm_rt {
	struct lpm_key key;
	uint32_t value;
	unsigned len;
};

struct lpm_fam_build {
	const struct lpm_rt *rt;
	uint32_t *dir;
	unsigned dir_bits;
	struct lpm_node *nodes;
	size_t n_nodes;
	size_t cap_nodes;
	uint32_t *leaves;
	size_t n_leaves;
	size_t cap_leaves;
};

static int rt_cmp(const void *pa, const void *pb)
{
	const struct lpm_rt *a = pa;
	const struct lpm_rt *b = pb;
	if (a->key.hi != b->key.hi)
		return a->key.hi < b->key.hi ? -1 : 1;
	if (a->key.lo != b->key.lo)
		return a->key.lo < b->key.lo ? -1 : 1;
	return (int)a->len - (int)b->len;
}

/* Bits [d, d + stride) of the key as a slot number; stride <= 16, d < 128. */
static unsigned rt_slot(const struct lpm_rt *r, unsigned d, unsigned stride)
{
	uint64_t w;
	if (stride == 0)
		return 0;
	if (d == 0)
		w = r->key.hi;
	else if (d < 64)
		w = r->key.hi << d | r->key.lo >> (64 - d);
	else
		w = r->key.lo << (d - 64);
	return (unsigned)(w >> (64 - stride));
}

/*
 * Write into val[] the value of each slot's longest covering route among rt[lo, hi) whose
 * length ends inside this level (d < len <= d + stride). In (key, length) order a route that
 * overlaps an earlier one is always inside it, so painting in order leaves the longest match.
 */
static void paint(const struct lpm_rt *rt, size_t lo, size_t hi, unsigned d, unsigned stride,
		  uint32_t *val)
{
	for (size_t i = lo; i < hi; i++) {
		if (rt[i].len > d + stride)
			continue;
		size_t first = rt_slot(&rt[i], d, stride);
		size_t n = (size_t)1 << (d + stride - rt[i].len);
		for (size_t s = first; s < first + n; s++)
			val[s] = rt[i].value;
	}
}

/*
 * The next group of routes longer than this level, all falling into one slot: returns false at
 * the end, else the group is rt[*start, *pos) in *slot. Such a group is contiguous in sorted
 * order: a shorter route inside the same slot has the slot's base as key and sorts first.
 */
static bool next_group(const struct lpm_rt *rt, size_t *pos, size_t hi, unsigned d, unsigned stride,
		       size_t *start, unsigned *slot)
{
	size_t i = *pos;
	unsigned lim = d + stride;
	while (i < hi && rt[i].len <= lim)
		i++;
	if (i == hi) {
		*pos = i;
		return false;
	}
	unsigned s = rt_slot(&rt[i], d, stride);
	*start = i;
	for (i++; i < hi && rt[i].len > lim && rt_slot(&rt[i], d, stride) == s; i++)
		;
	*pos = i;
	*slot = s;
	return true;
}

static int grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	if (need > INDEX_MAX)
		return -ENOMEM; /* indices are 31 bits; unreachable in practice */
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

static int push_leaf(struct lpm_fam_build *fb, uint32_t value, uint32_t *index)
{
	void *arr = fb->leaves;
	int rc = grow_array(&arr, &fb->cap_leaves, fb->n_leaves + 1, sizeof(uint32_t));
	fb->leaves = arr;
	if (rc != 0)
		return rc;
	*index = (uint32_t)fb->n_leaves;
	fb->leaves[fb->n_leaves++] = value;
	return 0;
}

static int alloc_nodes(struct lpm_fam_build *fb, size_t n, uint32_t *first)
{
	void *arr = fb->nodes;
	int rc = grow_array(&arr, &fb->cap_nodes, fb->n_nodes + n, sizeof(struct lpm_node));
	fb->nodes = arr;
	if (rc != 0)
		return rc;
	*first = (uint32_t)fb->n_nodes;
	fb->n_nodes += n;
	return 0;
}

static unsigned popcount64(uint64_t x)
{
#if defined(__POPCNT__)
	return (unsigned)__builtin_popcountll(x);
#else
	x = x - ((x >> 1) & 0x5555555555555555u);
	x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
	return (unsigned)((x * 0x0101010101010101u) >> 56);
#endif
}

/* Leaves of one node: a leaf per run of equal values over the leaf slots, in slot order. */
static int node_leaves(struct lpm_fam_build *fb, const uint32_t val[64], uint64_t child_map,
		       uint64_t *leaf_map, uint32_t *leaf_base)
{
	bool have = false;
	uint32_t prev = 0;
	*leaf_map = 0;
	*leaf_base = (uint32_t)fb->n_leaves;
	for (unsigned s = 0; s < 64; s++) {
		uint64_t bit = (uint64_t)1 << s;
		if ((child_map & bit) || (have && val[s] == prev))
			continue;
		uint32_t unused;
		int rc = push_leaf(fb, val[s], &unused);
		if (rc != 0)
			return rc;
		*leaf_map |= bit;
		prev = val[s];
		have = true;
	}
	return 0;
}

/* Fill node idx at depth d from rt[lo, hi) (all longer than d, all inside the node's range),
 * over a covering value `inherited`; then its children, depth first. */
static int build_node(struct lpm_fam_build *fb, uint32_t idx, unsigned d, uint32_t inherited,
		      size_t lo, size_t hi)
{
	uint32_t val[64];
	for (unsigned s = 0; s < 64; s++)
		val[s] = inherited;
	paint(fb->rt, lo, hi, d, STRIDE, val);

	uint64_t child_map = 0;
	size_t pos = lo, start;
	unsigned slot;
	while (next_group(fb->rt, &pos, hi, d, STRIDE, &start, &slot))
		child_map |= (uint64_t)1 << slot;

	struct lpm_node node = {.child_map = child_map};
	int rc = node_leaves(fb, val, child_map, &node.leaf_map, &node.leaf_base);
	if (rc == 0)
		rc = alloc_nodes(fb, popcount64(child_map), &node.child_base);
	if (rc != 0)
		return rc;
	fb->nodes[idx] = node;

	uint32_t child = node.child_base;
	pos = lo;
	while (next_group(fb->rt, &pos, hi, d, STRIDE, &start, &slot)) {
		rc = build_node(fb, child++, d + STRIDE, val[slot], start, pos);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The direct-indexed first level over rt[lo, hi) (all longer than 0) under `inherited`. */
static int build_dir(struct lpm_fam_build *fb, uint32_t inherited, size_t lo, size_t hi)
{
	size_t n = (size_t)1 << fb->dir_bits;
	for (size_t s = 0; s < n; s++)
		fb->dir[s] = inherited;
	paint(fb->rt, lo, hi, 0, fb->dir_bits, fb->dir);

	/* Values become leaf indices, one leaf per run of equal values. */
	uint32_t prev = 0;
	for (size_t s = 0; s < n; s++) {
		uint32_t v = fb->dir[s];
		if (s == 0 || v != fb->leaves[prev]) {
			int rc = push_leaf(fb, v, &prev);
			if (rc != 0)
				return rc;
		}
		fb->dir[s] = prev;
	}

	size_t pos = lo, start;
	unsigned slot;
	while (next_group(fb->rt, &pos, hi, 0, fb->dir_bits, &start, &slot)) {
		uint32_t idx;
		int rc = alloc_nodes(fb, 1, &idx);
		if (rc == 0)
			rc = build_node(fb, idx, fb->dir_bits, fb->leaves[fb->dir[slot]], start,
					pos);
		if (rc != 0)
			return rc;
		fb->dir[slot] = DIR_NODE | idx;
	}
	return 0;
}

/* Size the direct level to the table: a per-tunnel set of three prefixes should not carry a
 * 256 KiB array, a full routing table should not walk six nodes. */
static unsigned dir_bits_for(size_t n_routes)
{
	if (n_routes < 32)
		return 0;
	if (n_routes < 2048)
		return 8;
	return 16;
}

/* Compile the sorted routes rt[0, n) of one family into fb (arrays owned by fb). */
static int build_family(struct lpm_fam_build *fb, const struct lpm_rt *rt, size_t n)
{
	fb->rt = rt;
	fb->dir_bits = dir_bits_for(n);
	fb->dir = calloc((size_t)1 << fb->dir_bits, sizeof(uint32_t));
	if (!fb->dir)
		return -ENOMEM;
	/* Only a default route can be as short as the root; it covers everything. */
	uint32_t inherited = LPM_NO_ROUTE;
	size_t lo = 0;
	if (n > 0 && rt[0].len == 0) {
		inherited = rt[0].value;
		lo = 1;
	}
	return build_dir(fb, inherited, lo, n);
}

static void fam_build_free(struct lpm_fam_build *fb)
{
	free(fb->dir);
	free(fb->nodes);
	free(fb->leaves);
}

/* The routes of one family, sorted, in a new array (*out owned by the caller). */
static int collect_family(const struct lpm_builder *b, uint8_t family, struct lpm_rt **out,
			  size_t *n_out)
{
	size_t n = 0;
	for (size_t i = 0; i < b->cap; i++)
		if (b->buckets[i].len != LEN_EMPTY && b->buckets[i].family == family)
			n++;
	struct lpm_rt *rt = calloc(n ? n : 1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < b->cap; i++) {
		const struct lpm_route *r = &b->buckets[i];
		if (r->len == LEN_EMPTY || r->family != family)
			continue;
		rt[k].key = r->key;
		rt[k].value = r->value;
		rt[k].len = r->len;
		k++;
	}
	qsort(rt, n, sizeof(*rt), rt_cmp);
	*out = rt;
	*n_out = n;
	return 0;
}

static int compile_family(const struct lpm_builder *b, uint8_t family, struct lpm_fam_build *fb,
			  size_t *n_routes)
{
	struct lpm_rt *rt = NULL;
	int rc = collect_family(b, family, &rt, n_routes);
	if (rc == 0)
		rc = build_family(fb, rt, *n_routes);
	free(rt);
	fb->rt = NULL;
	return rc;
}

static size_t fam_bytes(const struct lpm_fam_build *fb)
{
	return fb->n_nodes * sizeof(struct lpm_node) +
	       (((size_t)1 << fb->dir_bits) + fb->n_leaves) * sizeof(uint32_t);
}

/* Copy one family's arrays into the table's block at *at (8-byte aligned), advancing it. */
static void place_family(struct lpm_fam *f, const struct lpm_fam_build *fb, size_t n_routes,
			 unsigned char **at)
{
	size_t nb = fb->n_nodes * sizeof(struct lpm_node);
	size_t db = ((size_t)1 << fb->dir_bits) * sizeof(uint32_t);
	size_t lb = fb->n_leaves * sizeof(uint32_t);
	/* Nodes first: the block start is suitably aligned and each node is a multiple of 8. */
	if (nb)
		memcpy(*at, fb->nodes, nb);
	f->nodes = (const struct lpm_node *)(void *)*at;
	memcpy(*at + nb, fb->dir, db);
	f->dir = (const uint32_t *)(void *)(*at + nb);
	memcpy(*at + nb + db, fb->leaves, lb);
	f->leaves = (const uint32_t *)(void *)(*at + nb + db);
	f->dir_bits = fb->dir_bits;
	f->n_routes = n_routes;
	*at += (nb + db + lb + 7) & ~(size_t)7;
}

_Static_assert(sizeof(struct lpm_node) % 8 == 0, "nodes keep the block 8-byte aligned");
_Static_assert(sizeof(struct lpm) % 8 == 0, "the arrays after the header stay aligned");

int lpm_build(const struct lpm_builder *b, struct lpm **out)
{
	struct lpm_fam_build f4 = {0}, f6 = {0};
	size_t n4 = 0, n6 = 0;
	struct lpm *t = NULL;
	*out = NULL;

	int rc = compile_family(b, IP_V4, &f4, &n4);
	if (rc == 0)
		rc = compile_family(b, IP_V6, &f6, &n6);
	if (rc != 0)
		goto out;

	size_t bytes = sizeof(*t) + ((fam_bytes(&f4) + 7) & ~(size_t)7) + fam_bytes(&f6);
	t = malloc(bytes);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	unsigned char *at = (unsigned char *)(t + 1);
	place_family(&t->v4, &f4, n4, &at);
	place_family(&t->v6, &f6, n6, &at);
	t->bytes = bytes;
	*out = t;
out:
	fam_build_free(&f4);
	fam_build_free(&f6);
	return rc;
}

void lpm_free(struct lpm *t)
{
	free(t);
}

/* ---- lookups ---- */

/*
 * The key is consumed from the top: after the direct level and after each node it is shifted
 * left by the bits used, so the next slot is always the top 6 bits. Shifts are written as two
 * steps where the count may be 64, to stay defined for dir_bits == 0.
 */
uint32_t lpm_lookup_v4(const struct lpm *t, const uint8_t addr[static 4])
{
	if (!t)
		return LPM_NO_ROUTE;
	const struct lpm_fam *f = &t->v4;
	uint64_t k = load_be32_hi(addr);
	uint32_t e = f->dir[(k >> 1) >> (63 - f->dir_bits)];
	if (!(e & DIR_NODE))
		return f->leaves[e];
	const struct lpm_node *n = &f->nodes[e & INDEX_MAX];
	k <<= f->dir_bits;
	for (;;) {
		uint64_t bit = (uint64_t)1 << (k >> (64 - STRIDE));
		uint64_t upto = (bit << 1) - 1; /* all ones for slot 63 */
		if (!(n->child_map & bit))
			return f->leaves[n->leaf_base + popcount64(n->leaf_map & upto) - 1];
		n = &f->nodes[n->child_base + popcount64(n->child_map & upto) - 1];
		k <<= STRIDE;
	}
}

uint32_t lpm_lookup_v6(const struct lpm *t, const uint8_t addr[static 16])
{
	if (!t)
		return LPM_NO_ROUTE;
	const struct lpm_fam *f = &t->v6;
	uint64_t hi = load_be64(addr);
	uint64_t lo = load_be64(addr + 8);
	unsigned d = f->dir_bits;
	uint32_t e = f->dir[(hi >> 1) >> (63 - d)];
	if (!(e & DIR_NODE))
		return f->leaves[e];
	const struct lpm_node *n = &f->nodes[e & INDEX_MAX];
	hi = hi << d | (lo >> 1) >> (63 - d);
	lo <<= d;
	for (;;) {
		uint64_t bit = (uint64_t)1 << (hi >> (64 - STRIDE));
		uint64_t upto = (bit << 1) - 1;
		if (!(n->child_map & bit))
			return f->leaves[n->leaf_base + popcount64(n->leaf_map & upto) - 1];
		n = &f->nodes[n->child_base + popcount64(n->child_map & upto) - 1];
		hi = hi << STRIDE | lo >> (64 - STRIDE);
		lo <<= STRIDE;
	}
}

bool lpm_lookup(const struct lpm *t, const struct ip_addr *a, uint32_t *value)
{
	uint32_t v;
	if (a->family == IP_V4)
		v = lpm_lookup_v4(t, a->bytes);
	else if (a->family == IP_V6)
		v = lpm_lookup_v6(t, a->bytes);
	else
		return false;
	if (v == LPM_NO_ROUTE)
		return false;
	*value = v;
	return true;
}

bool lpm_contains(const struct lpm *t, const struct ip_addr *a)
{
	uint32_t v;
	return lpm_lookup(t, a, &v);
}

bool lpm_match(const struct lpm *t, const struct ip_addr *a, uint32_t value)
{
	uint32_t v;
	return lpm_lookup(t, a, &v) && v == value;
}

size_t lpm_count(const struct lpm *t)
{
	return t ? t->v4.n_routes + t->v6.n_routes : 0;
}

size_t lpm_memory(const struct lpm *t)
{
	return t ? t->bytes : 0;
}

/* ---- publication ---- */

void lpm_slot_init(struct lpm_slot *s)
{
	atomic_init(&s->cur, NULL);
}

struct lpm *lpm_publish(struct lpm_slot *s, struct lpm **next)
{
	struct lpm *n = *next;
	*next = NULL;
	return atomic_exchange_explicit(&s->cur, n, memory_order_acq_rel);
}

const struct lpm *lpm_current(struct lpm_slot *s)
{
	return atomic_load_explicit(&s->cur, memory_order_acquire);
}
