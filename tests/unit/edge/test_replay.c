/*
 * Anti-replay window: table-driven rows for the cases RFC 4303 §3.4.3 and Appendix A name (in
 * order, reordered, duplicate, far behind, far ahead, ESN wrap across 2^32), slide and aliasing
 * checks, and a differential test against a set-based reference over random sequences.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/esp/replay.h"

#define W    ((uint64_t)REPLAY_WINDOW_SIZE)
#define B32  ((uint64_t)1 << 32)
#define ROWS 8

enum op {
	END,          /* end of a row's steps */
	CHECK,        /* replay_check only */
	CHECK_COMMIT, /* replay_check, and replay_commit if it said OK */
	COMMIT,       /* replay_commit of the full number `seq` */
};

struct step {
	enum op op;
	uint32_t seq_lo; /* wire value for CHECK / CHECK_COMMIT */
	uint64_t seq;    /* expected inferred number; the number for COMMIT */
	enum replay_verdict want;
};

struct replay_case {
	const char *name;
	bool esn;
	uint64_t top;
	struct step steps[ROWS + 1]; /* ends at the first END */
};

#define LO(x) ((uint32_t)(x))

static const struct replay_case cases[] = {
	{"in order",
	 false,
	 0,
	 {
		 {CHECK_COMMIT, 1, 1, REPLAY_OK},
		 {CHECK_COMMIT, 2, 2, REPLAY_OK},
		 {CHECK_COMMIT, 3, 3, REPLAY_OK},
		 {CHECK, 4, 4, REPLAY_OK},
		 {CHECK, 3, 3, REPLAY_REPLAYED},
	 }},
	{"reordered inside the window",
	 false,
	 0,
	 {
		 {CHECK_COMMIT, 100, 100, REPLAY_OK},
		 {CHECK_COMMIT, 99, 99, REPLAY_OK},
		 {CHECK_COMMIT, 50, 50, REPLAY_OK},
		 {CHECK_COMMIT, 2, 2, REPLAY_OK},
		 {CHECK, 1, 1, REPLAY_OK},
		 {CHECK, 50, 50, REPLAY_REPLAYED},
		 {CHECK, 98, 98, REPLAY_OK},
	 }},
	{"duplicate",
	 false,
	 0,
	 {
		 {CHECK_COMMIT, 7, 7, REPLAY_OK},
		 {CHECK, 7, 7, REPLAY_REPLAYED},
		 {COMMIT, 0, 7, REPLAY_REPLAYED},
		 {CHECK, 7, 7, REPLAY_REPLAYED},
	 }},
	{"window edges",
	 false,
	 0,
	 {
		 {CHECK_COMMIT, LO(5000), 5000, REPLAY_OK},
		 {CHECK, LO(5000 - W + 1), 5000 - W + 1, REPLAY_OK},
		 {CHECK, LO(5000 - W), 5000 - W, REPLAY_TOO_OLD},
		 {CHECK_COMMIT, LO(5000 - W + 1), 5000 - W + 1, REPLAY_OK},
		 {CHECK, LO(5000 - W + 1), 5000 - W + 1, REPLAY_REPLAYED},
	 }},
	{"far behind",
	 false,
	 0,
	 {
		 {CHECK_COMMIT, 100000, 100000, REPLAY_OK},
		 {CHECK, 1, 1, REPLAY_TOO_OLD},
		 {CHECK, LO(100000 - 2 * W), 100000 - 2 * W, REPLAY_TOO_OLD},
		 {COMMIT, 0, 1, REPLAY_TOO_OLD},
	 }},
	{"far ahead",
	 false,
	 0,
	 {
		 {CHECK_COMMIT, 5, 5, REPLAY_OK},
		 {CHECK_COMMIT, LO(5 + 10 * W), 5 + 10 * W, REPLAY_OK},
		 {CHECK, 5, 5, REPLAY_TOO_OLD},
		 {CHECK, 6, 6, REPLAY_TOO_OLD},
		 {CHECK, LO(5 + 10 * W - 1), 5 + 10 * W - 1, REPLAY_OK},
		 {CHECK, LO(5 + 10 * W), 5 + 10 * W, REPLAY_REPLAYED},
		 {CHECK, 0xffffffffu, 0xffffffffu, REPLAY_OK},
	 }},
	{"zero is never valid",
	 false,
	 0,
	 {
		 {CHECK, 0, 0, REPLAY_TOO_OLD},
		 {COMMIT, 0, 0, REPLAY_TOO_OLD},
		 {CHECK_COMMIT, 1, 1, REPLAY_OK},
		 {CHECK, 0, 0, REPLAY_TOO_OLD},
	 }},
	{"no ESN: the top of the 32-bit space does not wrap",
	 false,
	 B32 - 2,
	 {
		 {CHECK_COMMIT, 0xffffffffu, B32 - 1, REPLAY_OK},
		 {CHECK, 0, 0, REPLAY_TOO_OLD},
		 {CHECK, 1, 1, REPLAY_TOO_OLD},
		 {CHECK, 0xfffffffeu, B32 - 2, REPLAY_OK},
	 }},
	{"ESN: wrap across 2^32",
	 true,
	 B32 - 10,
	 {
		 {CHECK_COMMIT, 0xfffffff8u, B32 - 8, REPLAY_OK},
		 {CHECK_COMMIT, 0, B32, REPLAY_OK},
		 {CHECK_COMMIT, 5, B32 + 5, REPLAY_OK},
		 /* late packet from the previous 2^32 block: Appendix A2.2 case B, Th - 1 */
		 {CHECK_COMMIT, 0xfffffff9u, B32 - 7, REPLAY_OK},
		 {CHECK, 0xfffffff9u, B32 - 7, REPLAY_REPLAYED},
		 {CHECK, 0, B32, REPLAY_REPLAYED},
		 {CHECK, 0xffffffffu, B32 - 1, REPLAY_OK},
		 /* left of the window: read as the next block (the ICV will then fail) */
		 {CHECK, 0xfffff000u, 2 * B32 - 4096, REPLAY_OK},
	 }},
	{"ESN: case A, below the window means the next block",
	 true,
	 3 * B32 + 100000,
	 {
		 {CHECK, LO(100000 - W + 1), 3 * B32 + 100000 - W + 1, REPLAY_OK},
		 {CHECK, LO(100000 - W), 4 * B32 + 100000 - W, REPLAY_OK},
		 {CHECK, 100001, 3 * B32 + 100001, REPLAY_OK},
		 {CHECK, 0xffffffffu, 4 * B32 - 1, REPLAY_OK},
		 {CHECK_COMMIT, 0, 4 * B32, REPLAY_OK},
		 {CHECK, LO(100000), 4 * B32 + 100000, REPLAY_OK},
	 }},
	{"ESN: nothing below the first number",
	 true,
	 0,
	 {
		 {CHECK, 0xffffffffu, 0, REPLAY_TOO_OLD},
		 {CHECK, 0, 0, REPLAY_TOO_OLD},
		 {CHECK_COMMIT, 1, 1, REPLAY_OK},
		 {CHECK_COMMIT, LO(W + 10), W + 10, REPLAY_OK},
		 /* left of the window: Appendix A2.2 case A reads it as the next block */
		 {CHECK, LO(10), B32 + 10, REPLAY_OK},
		 {CHECK, 0xffffffffu, B32 - 1, REPLAY_OK},
	 }},
	{"ESN: the end of the 64-bit space",
	 true,
	 UINT64_MAX - 1,
	 {
		 {CHECK_COMMIT, 0xffffffffu, UINT64_MAX, REPLAY_OK},
		 {CHECK, 0, 0, REPLAY_TOO_OLD},
		 {CHECK, 0xfffffffeu, UINT64_MAX - 1, REPLAY_OK},
		 {CHECK, 0xffffffffu, UINT64_MAX, REPLAY_REPLAYED},
	 }},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

ParameterizedTestParameters(replay, table)
{
	static size_t idx[NCASES];
	for (size_t i = 0; i < NCASES; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, NCASES);
}

ParameterizedTest(size_t *i, replay, table)
{
	const struct replay_case *c = &cases[*i];
	struct replay_window w;

	replay_init(&w, c->top);
	for (size_t k = 0; c->steps[k].op != END; k++) {
		const struct step *s = &c->steps[k];
		uint64_t seq = 0;
		enum replay_verdict v;

		if (s->op == COMMIT) {
			v = replay_commit(&w, s->seq);
			cr_assert_eq(v, s->want, "%s, step %zu: commit %llu gave %d, want %d",
				     c->name, k, (unsigned long long)s->seq, v, s->want);
			continue;
		}
		v = replay_check(&w, s->seq_lo, c->esn, &seq);
		cr_assert_eq(v, s->want, "%s, step %zu: check 0x%08x gave %d, want %d", c->name, k,
			     s->seq_lo, v, s->want);
		if (v != REPLAY_TOO_OLD)
			cr_assert_eq(seq, s->seq, "%s, step %zu: inferred %llx, want %llx", c->name,
				     k, (unsigned long long)seq, (unsigned long long)s->seq);
		if (s->op == CHECK_COMMIT && v == REPLAY_OK)
			cr_assert_eq(replay_commit(&w, seq), REPLAY_OK, "%s, step %zu: commit",
				     c->name, k);
	}
}

Test(replay, check_does_not_change_the_window)
{
	struct replay_window w, before;
	uint64_t seq;

	replay_init(&w, 0);
	cr_assert_eq(replay_commit(&w, 10), REPLAY_OK);
	memcpy(&before, &w, sizeof(w));
	cr_assert_eq(replay_check(&w, 1000000, false, &seq), REPLAY_OK);
	cr_assert_eq(replay_check(&w, 9, false, &seq), REPLAY_OK);
	cr_assert_eq(memcmp(&before, &w, sizeof(w)), 0);
	cr_assert_eq(replay_top(&w), 10);
}

Test(replay, in_order_slide_keeps_exactly_the_window)
{
	struct replay_window w;
	uint64_t seq;
	const uint64_t n = 10 * W + 37;

	replay_init(&w, 0);
	for (uint64_t s = 1; s <= n; s++)
		cr_assert_eq(replay_commit(&w, s), REPLAY_OK, "commit %llu", (unsigned long long)s);
	cr_assert_eq(replay_top(&w), n);
	for (uint64_t s = n - W + 1; s <= n; s++)
		cr_assert_eq(replay_check(&w, LO(s), false, &seq), REPLAY_REPLAYED, "seq %llu",
			     (unsigned long long)s);
	cr_assert_eq(replay_check(&w, LO(n - W), false, &seq), REPLAY_TOO_OLD);
	cr_assert_eq(replay_check(&w, LO(n + 1), false, &seq), REPLAY_OK);
}

/* A jump of exactly one ring (window + one word) lands every old bit on a position the new
 * window uses: the slide must have cleared them all. Same for every jump length around it. */
Test(replay, jumps_clear_aliased_bits)
{
	const uint64_t ring = W + 64;

	for (uint64_t jump = ring - 130; jump <= ring + 130; jump++) {
		struct replay_window w;
		uint64_t seq;

		replay_init(&w, 0);
		for (uint64_t s = 1; s <= W; s++)
			cr_assert_eq(replay_commit(&w, s), REPLAY_OK);
		uint64_t top = W + jump;
		cr_assert_eq(replay_commit(&w, top), REPLAY_OK);
		for (uint64_t s = top - W + 1; s < top; s++) {
			enum replay_verdict want = s <= W ? REPLAY_REPLAYED : REPLAY_OK;
			cr_assert_eq(replay_check(&w, LO(s), false, &seq), want,
				     "jump %llu: seq %llu", (unsigned long long)jump,
				     (unsigned long long)s);
		}
		cr_assert_eq(replay_check(&w, LO(top), false, &seq), REPLAY_REPLAYED);
	}
}

/* ---- differential test against a set-based reference ---- */

/* Open-addressing set of non-zero 64-bit numbers. */
#define SET_BITS 20
#define SET_CAP  ((size_t)1 << SET_BITS)

struct ref {
	uint64_t *slots;
	uint64_t top;
	bool esn;
};

static size_t slot_of(uint64_t v)
{
	return (size_t)((v * 0x9e3779b97f4a7c15ull) >> (64 - SET_BITS));
}

static bool ref_has(const struct ref *r, uint64_t v)
{
	for (size_t i = slot_of(v);; i = (i + 1) & (SET_CAP - 1)) {
		if (r->slots[i] == v)
			return true;
		if (r->slots[i] == 0)
			return false;
	}
}

static void ref_add(struct ref *r, uint64_t v)
{
	size_t i = slot_of(v);
	while (r->slots[i] != 0 && r->slots[i] != v)
		i = (i + 1) & (SET_CAP - 1);
	r->slots[i] = v;
	if (v > r->top)
		r->top = v;
}

/*
 * The reference, written from the RFC's definition rather than its case analysis: with ESN, the
 * numbers a packet can carry are the 2^32 starting at the window's left edge (top - W + 1); the
 * low bits pick exactly one of them. Anything at or below 0 does not exist. Tops stay < 2^62.
 */
static enum replay_verdict ref_check(const struct ref *r, uint32_t lo, uint64_t *seq)
{
	int64_t s = lo;

	if (r->esn) {
		int64_t left = (int64_t)r->top - (int64_t)W + 1;
		s = left + (int64_t)(uint32_t)(lo - (uint32_t)left);
	}
	if (s <= 0)
		return REPLAY_TOO_OLD;
	*seq = (uint64_t)s;
	if ((uint64_t)s > r->top)
		return REPLAY_OK;
	if (r->top - (uint64_t)s >= W)
		return REPLAY_TOO_OLD;
	return ref_has(r, (uint64_t)s) ? REPLAY_REPLAYED : REPLAY_OK;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The next number to offer: mostly a little ahead, often behind or a duplicate, sometimes far
 * in either direction. */
static int64_t next_target(uint64_t *rng, int64_t top, int64_t last)
{
	uint64_t r = xorshift(rng);
	int64_t span = (int64_t)W;

	switch (r % 20) {
	case 0:
		return top + span + (int64_t)(xorshift(rng) % (uint64_t)(3 * span));
	case 1:
	case 2:
		return last;
	case 3:
	case 4:
	case 5:
	case 6:
		return top - (int64_t)(xorshift(rng) % (uint64_t)(span + 200));
	case 7:
	case 8:
		return top - 2 * span + (int64_t)(xorshift(rng) % (uint64_t)(4 * span));
	default:
		return top + 1 + (int64_t)(xorshift(rng) % 8);
	}
}

struct diff_case {
	bool esn;
	uint64_t top;
};

/* Walk `ops` random steps with the window and the reference side by side. Returns false with a
 * description in why at the first disagreement. (A helper, so it reports instead of asserting:
 * Criterion's macros nest deeper than clang-tidy's function-size check allows outside tests.) */
static bool run_differential(const struct diff_case *dc, uint64_t seed, unsigned ops, char *why,
			     size_t why_len)
{
	struct ref ref = {calloc(SET_CAP, sizeof(uint64_t)), dc->top, dc->esn};
	struct replay_window w;
	uint64_t rng = seed;
	int64_t last = (int64_t)dc->top;
	unsigned count[3] = {0};
	bool ok = false;

	snprintf(why, why_len, "seed %llu: ", (unsigned long long)seed);
	if (!ref.slots)
		goto out;
	replay_init(&w, dc->top);
	for (unsigned i = 0; i < ops; i++) {
		int64_t target = next_target(&rng, (int64_t)ref.top, last);
		/* Without ESN there is nothing below 0 to wrap to: offer 0 itself instead. */
		if (!dc->esn && target < 0)
			target = 0;
		uint32_t lo = (uint32_t)(uint64_t)target;
		uint64_t seq = 0, rseq = 0;
		enum replay_verdict v = replay_check(&w, lo, dc->esn, &seq);
		enum replay_verdict rv = ref_check(&ref, lo, &rseq);

		last = target;
		if (v != rv || (v != REPLAY_TOO_OLD && seq != rseq)) {
			snprintf(
				why, why_len,
				"seed %llu op %u: lo 0x%08x top %llu: got %d/%llu, reference %d/%llu",
				(unsigned long long)seed, i, lo, (unsigned long long)ref.top, v,
				(unsigned long long)seq, rv, (unsigned long long)rseq);
			goto out;
		}
		count[v]++;
		/* One in eight accepted numbers "fails its ICV" and is never committed. */
		if (v != REPLAY_OK || xorshift(&rng) % 8 == 0)
			continue;
		ref_add(&ref, rseq);
		if (replay_commit(&w, seq) != REPLAY_OK || replay_top(&w) != ref.top) {
			snprintf(why, why_len, "seed %llu op %u: commit %llu",
				 (unsigned long long)seed, i, (unsigned long long)seq);
			goto out;
		}
	}
	/* The walk must have exercised every verdict, or it tested little. With ESN nothing
	 * left of the window is "too old": it reads as the next 2^32 block (Appendix A2.2). */
	snprintf(why, why_len, "seed %llu: ok %u replayed %u too_old %u", (unsigned long long)seed,
		 count[REPLAY_OK], count[REPLAY_REPLAYED], count[REPLAY_TOO_OLD]);
	ok = count[REPLAY_OK] > ops / 10 && count[REPLAY_REPLAYED] > ops / 100 &&
	     (dc->esn || count[REPLAY_TOO_OLD] > ops / 100);
out:
	free(ref.slots);
	return ok;
}

static const struct diff_case diff_cases[] = {
	{false, 0},
	{true, 0},
	{true, B32 - 3 * W},          /* walks across the first 2^32 boundary */
	{true, 5 * B32 - 2 * W - 17}, /* and a later one, unaligned */
	{true, ((uint64_t)1 << 40) + 12345},
};

#define NDIFF (sizeof(diff_cases) / sizeof(diff_cases[0]))

ParameterizedTestParameters(replay, differential)
{
	static size_t idx[NDIFF];
	for (size_t i = 0; i < NDIFF; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, NDIFF);
}

ParameterizedTest(size_t *i, replay, differential)
{
	static const uint64_t seeds[] = {1, 0x2545f4914f6cdd1dull, 0xdeadbeefcafef00dull, 42};

	char why[256];

	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++)
		cr_assert(run_differential(&diff_cases[*i], seeds[k], 60000, why, sizeof(why)),
			  "%s", why);
}
