/*
 * The ESP anti-replay window (RFC 4303 §3.4.3) with 64-bit Extended Sequence Numbers (RFC 4303
 * §2.2.1 and Appendix A).
 *
 * The receiver tracks the highest sequence number it has accepted (the window's right edge,
 * `top`) and which of the REPLAY_WINDOW_SIZE numbers ending at `top` it has seen. With ESN only
 * the low 32 bits travel in the packet; the high 32 bits are inferred from the window
 * (Appendix A2.2), and a wrong guess shows up as an ICV failure because the high bits are part
 * of the AAD.
 *
 * Use is split in two, so that a forged packet cannot move the window:
 *
 *   replay_check()   read-only, before the ICV is verified: verdict and the inferred 64-bit number
 *   replay_commit()  after the ICV verified: records the number and slides the window
 *
 * Both are O(1) (the window is a ring of 64-bit words; a slide clears at most every word once)
 * and never allocate. A window is plain memory embedded in its owner (the inbound SA) and is
 * used by one thread at a time: the thread that decrypts that SA's packets.
 */
#ifndef SDWAN_EDGE_ESP_REPLAY_H
#define SDWAN_EDGE_ESP_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

/* Sequence numbers the window covers, right edge included. Change it here only (every user must
 * agree on the struct layout): a multiple of 64, at least 1024 (RFC 4303 §3.4.3 asks for 32 at
 * least and 64 by default; reordering multipath links need more), and far below 2^31 so ESN
 * inference stays unambiguous. */
#define REPLAY_WINDOW_SIZE 2048

/* The ring holds one word more than the window, so that clearing whole words as the window
 * slides never clears a bit still inside it. */
#define REPLAY_WORD_BITS 64
#define REPLAY_WORDS     (REPLAY_WINDOW_SIZE / REPLAY_WORD_BITS + 1)

_Static_assert(REPLAY_WINDOW_SIZE >= 1024, "window of at least 1024 packets");
_Static_assert(REPLAY_WINDOW_SIZE % REPLAY_WORD_BITS == 0, "window of whole words");
_Static_assert(REPLAY_WINDOW_SIZE < (1u << 30), "ESN inference needs a window << 2^32");

/* What the window says about a sequence number. */
enum replay_verdict {
	REPLAY_OK,       /* not seen yet: new to the right, or a gap inside the window */
	REPLAY_REPLAYED, /* inside the window and already received */
	REPLAY_TOO_OLD,  /* left of the window, or a number that cannot occur (0, before the
			  * SA's first number, beyond 2^64 - 1) */
};

/* The state of one inbound SA's window. Fields are private to replay.c; the struct is public
 * so that it can be embedded without allocation. */
struct replay_window {
	uint64_t top;                  /* highest number accepted; the window's right edge */
	uint64_t bitmap[REPLAY_WORDS]; /* bit (n % bits) set: n was received */
};

/*
 * Reset a window to empty with its right edge at `top`: 0 for a new SA (sequence numbers start
 * at 1, RFC 4303 §3.3.3). Any other value places the edge there with nothing marked received;
 * numbers at or below top - REPLAY_WINDOW_SIZE are then too old. Caller owns the memory.
 */
void replay_init(struct replay_window *w, uint64_t top);

/*
 * Classify the sequence number `seq_lo` of a packet not yet authenticated, without changing
 * the window. With `esn` the high 32 bits are inferred as in RFC 4303 Appendix A2.2; without,
 * the number is seq_lo itself. *seq receives the full 64-bit number (also for REPLAY_REPLAYED;
 * undefined for REPLAY_TOO_OLD): it goes into the AAD and, once the ICV verified, into
 * replay_commit().
 */
enum replay_verdict replay_check(const struct replay_window *w, uint32_t seq_lo, bool esn,
				 uint64_t *seq);

/*
 * Record `seq` as received, after its packet's ICV verified, sliding the window right if seq is
 * beyond its edge. Returns REPLAY_OK when recorded, or the verdict replay_check() would give now
 * (REPLAY_REPLAYED, REPLAY_TOO_OLD) if seq is no longer acceptable; the packet must then be
 * dropped. Idempotent for a number already recorded.
 */
enum replay_verdict replay_commit(struct replay_window *w, uint64_t seq)
	__attribute__((warn_unused_result));

/* The window's right edge: the highest sequence number committed (or given to replay_init). */
uint64_t replay_top(const struct replay_window *w);

#endif
