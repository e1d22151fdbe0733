#include "edge/esp/replay.h"

#include <string.h>

#define RING_BITS ((uint64_t)REPLAY_WORDS * REPLAY_WORD_BITS)

void replay_init(struct replay_window *w, uint64_t top)
{
	memset(w, 0, sizeof(*w));
	w->top = top;
}

uint64_t replay_top(const struct replay_window *w)
{
	return w->top;
}

/*
 * RFC 4303 Appendix A2.2: the high 32 bits of the number whose low bits are seq_lo. Tl/Th are
 * the low/high halves of the right edge, Bl = Tl - W + 1 (mod 2^32) the low half of the left
 * edge. The window and the 2^32 - W numbers to its right are the only ones a packet can carry;
 * seq_lo picks one of them. Returns false when that number would lie below 0 or above
 * 2^64 - 1.
 */
static bool esn_infer(uint64_t top, uint32_t seq_lo, uint64_t *seq)
{
	uint32_t tl = (uint32_t)top;
	uint32_t th = (uint32_t)(top >> 32);
	uint32_t bl = tl - (uint32_t)(REPLAY_WINDOW_SIZE - 1);
	uint32_t hi;

	if (tl >= REPLAY_WINDOW_SIZE - 1) {
		/* Case A: the window lies within one 2^32 block. Below Bl means the next block. */
		if (seq_lo >= bl) {
			hi = th;
		} else {
			if (th == UINT32_MAX)
				return false;
			hi = th + 1;
		}
	} else {
		/* Case B: the window spans two blocks. At or above Bl means the previous one. */
		if (seq_lo >= bl) {
			if (th == 0)
				return false;
			hi = th - 1;
		} else {
			hi = th;
		}
	}
	*seq = (uint64_t)hi << 32 | seq_lo;
	return true;
}

static uint64_t *word_of(struct replay_window *w, uint64_t seq)
{
	return &w->bitmap[(seq / REPLAY_WORD_BITS) % REPLAY_WORDS];
}

static bool seen(const struct replay_window *w, uint64_t seq)
{
	uint64_t word = w->bitmap[(seq / REPLAY_WORD_BITS) % REPLAY_WORDS];
	return (word >> (seq % REPLAY_WORD_BITS)) & 1;
}

/* The verdict for a full 64-bit number against the current window. */
static enum replay_verdict classify(const struct replay_window *w, uint64_t seq)
{
	/* RFC 4303 §3.3.3: the first packet carries 1; 0 is never sent. */
	if (seq == 0)
		return REPLAY_TOO_OLD;
	if (seq > w->top)
		return REPLAY_OK;
	if (w->top - seq >= REPLAY_WINDOW_SIZE)
		return REPLAY_TOO_OLD;
	return seen(w, seq) ? REPLAY_REPLAYED : REPLAY_OK;
}

enum replay_verdict replay_check(const struct replay_window *w, uint32_t seq_lo, bool esn,
				 uint64_t *seq)
{
	uint64_t s = seq_lo;

	if (esn && !esn_infer(w->top, seq_lo, &s))
		return REPLAY_TOO_OLD;
	*seq = s;
	return classify(w, s);
}

enum replay_verdict replay_commit(struct replay_window *w, uint64_t seq)
{
	enum replay_verdict v = classify(w, seq);

	if (v != REPLAY_OK)
		return v;
	if (seq > w->top) {
		/* Clear the words the right edge moves into, at most the whole ring: they last held
		 * numbers a ring's length to the left, all now outside the window. */
		uint64_t from = w->top / REPLAY_WORD_BITS;
		uint64_t steps = seq / REPLAY_WORD_BITS - from;

		if (steps > REPLAY_WORDS)
			steps = REPLAY_WORDS;
		for (uint64_t i = 1; i <= steps; i++)
			w->bitmap[(from + i) % REPLAY_WORDS] = 0;
		w->top = seq;
	}
	*word_of(w, seq) |= (uint64_t)1 << (seq % REPLAY_WORD_BITS);
	return REPLAY_OK;
}

_Static_assert(RING_BITS > REPLAY_WINDOW_SIZE, "ring longer than the window");
