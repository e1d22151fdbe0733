/*
 * The bounds-checked reader every parser in this project reads through.
 *
 * A reader is a borrowed view of a byte buffer with a cursor. Every read checks the remaining
 * length first; a read that does not fit returns false and leaves the cursor where it was, so a
 * parser can chain reads and test once. Multi-byte integers are network byte order.
 *
 * Length-prefixed structures open a sub-reader (rd_sub) over exactly their declared length, so a
 * payload parser cannot read past its payload. Readers own nothing; the buffer must outlive them.
 * Any thread may use its own reader.
 */
#ifndef SDWAN_COMMON_RD_H
#define SDWAN_COMMON_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

/* A reader over buf[0..len). */
struct rd rd_init(const uint8_t *buf, size_t len);

/* Bytes left to read. */
size_t rd_left(const struct rd *r);

/* Whether every byte has been consumed. */
bool rd_done(const struct rd *r);

bool rd_u8(struct rd *r, uint8_t *out) __attribute__((warn_unused_result));
bool rd_u16(struct rd *r, uint16_t *out) __attribute__((warn_unused_result));
bool rd_u32(struct rd *r, uint32_t *out) __attribute__((warn_unused_result));
bool rd_u64(struct rd *r, uint64_t *out) __attribute__((warn_unused_result));

/* Copy n bytes into out. */
bool rd_copy(struct rd *r, void *out, size_t n) __attribute__((warn_unused_result));

/* Borrow a view of the next n bytes (*out points into the reader's buffer). */
bool rd_bytes(struct rd *r, size_t n, const uint8_t **out) __attribute__((warn_unused_result));

/* Skip n bytes. */
bool rd_skip(struct rd *r, size_t n) __attribute__((warn_unused_result));

/* Borrow everything left and consume it; *n receives its length (may be 0). */
void rd_tail(struct rd *r, const uint8_t **out, size_t *n);

/* Open a sub-reader over the next n bytes and advance past them. */
bool rd_sub(struct rd *r, size_t n, struct rd *sub) __attribute__((warn_unused_result));

/* Look at the next byte without consuming it. */
bool rd_peek_u8(const struct rd *r, uint8_t *out) __attribute__((warn_unused_result));

#endif
